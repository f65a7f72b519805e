"""docker-compose.yml runs the same system: every queue of the contract has a worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pressroom_shared.contracts import MAINTENANCE_QUEUE, all_queues
from pressroom_shared.outlets_config import parse_outlets

REPO = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "docker-compose.yml").read_text()))


def command(service: dict[str, Any]) -> list[str]:
    return [str(part) for part in service.get("command", [])]


def consumed_queues(services: dict[str, Any]) -> dict[str, list[str]]:
    consumers: dict[str, list[str]] = {}
    for name, service in services.items():
        argv = command(service)
        if "worker" in argv and "-Q" in argv:
            for queue in argv[argv.index("-Q") + 1].split(","):
                consumers.setdefault(queue, []).append(name)
    return consumers


def test_every_queue_in_the_contract_has_a_worker() -> None:
    services = compose()["services"]
    outlets_file = REPO / "deploy" / "outlets.toml"
    mounted = services["intake"]["volumes"][0].split(":")[0]
    assert (REPO / mounted).resolve() == outlets_file.resolve()
    outlets = [o.name for o in parse_outlets(outlets_file.read_text())]
    expected = set(all_queues(outlets))
    consumers = consumed_queues(services)
    assert expected - consumers.keys() == set(), "queues nobody consumes"
    assert consumers.keys() - expected == set(), "workers listening on queues nobody sends to"
    assert MAINTENANCE_QUEUE in consumers


def test_urgent_lane_is_listed_first_by_every_worker() -> None:
    for service in compose()["services"].values():
        argv = command(service)
        if "-Q" in argv:
            queues = argv[argv.index("-Q") + 1].split(",")
            for i, queue in enumerate(queues):
                if queue.endswith(".urgent"):
                    assert queues[i + 1] == queue.removesuffix(".urgent")


def test_services_run_the_real_entry_points() -> None:
    services = compose()["services"]
    assert "pressroom_intake.wsgi:app" in command(services["intake"])
    # The same worker class, threads and request limits as `pressroom run`.
    intake = command(services["intake"])
    assert intake[intake.index("--config") + 1] == "python:pressroom_intake.gunicorn_conf"
    assert "--workers" not in intake
    assert any("beat" in command(s) for s in services.values())
    assert any("flower" in command(s) for s in services.values())
    for name, service in services.items():
        argv = command(service)
        if "celery" in argv:
            assert argv[argv.index("-A") + 1] == "pressroom_workers.celery", name
    assert {"redis", "postgres"} <= services.keys()
    environment = services["intake"]["environment"]
    assert environment["PRESSROOM_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert environment["PRESSROOM_REDIS_URL"].startswith("redis://")
