"""docker-compose.yml runs the same system: every queue of the contract has a worker; and it
runs it safely: restart policies, health checks, no unauthenticated Flower, no literal secrets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from pressroom_shared.config import SECRET_PREFIX, Settings
from pressroom_shared.contracts import MAINTENANCE_QUEUE, all_queues
from pressroom_shared.outlets_config import EXAMPLE_WEBHOOK_SECRET, parse_outlets

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


def test_urgent_lane_is_never_behind_a_routine_one() -> None:
    """A worker polling in priority order lists each urgent lane just before its routine one;
    a worker taking its queues in turn (round robin) serves one lane only, so a routine backlog
    never stands before an urgent story."""
    round_robin = 0
    for service in compose()["services"].values():
        argv = command(service)
        if "-Q" not in argv:
            continue
        queues = argv[argv.index("-Q") + 1].split(",")
        environment = service.get("environment") or {}
        if environment.get("PRESSROOM_WORKER_QUEUE_ORDER") == "round_robin":
            round_robin += 1
            assert len({q.endswith(".urgent") for q in queues}) == 1, queues
            continue
        for i, queue in enumerate(queues):
            if queue.endswith(".urgent"):
                assert queues[i + 1] == queue.removesuffix(".urgent")
    assert round_robin == 2, "the routine and the urgent delivery workers"


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


# -- deployment safety -----------------------------------------------------------------------------

# `${NAME:?message}`: compose refuses to start while NAME is unset or empty.
REQUIRED_VARIABLE = re.compile(r"^\$\{(?P<name>[A-Z][A-Z0-9_]*):\?[^}]+\}$")
SECRET_WORDS = ("PASSWORD", "SECRET", "AUTH", "TOKEN", "KEY")


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(service.get("environment") or {}).items()}


def node_name(argv: list[str]) -> str:
    return argv[argv.index("-n") + 1]


def test_every_long_running_service_restarts_and_the_migration_does_not() -> None:
    services = compose()["services"]
    assert services["migrate"]["restart"] == "no"
    for name, service in services.items():
        if name != "migrate":
            assert service.get("restart") in ("unless-stopped", "on-failure", "always"), name


def test_every_worker_has_a_health_check_that_pings_that_very_worker() -> None:
    services = compose()["services"]
    workers = {n: s for n, s in services.items() if "worker" in command(s)}
    assert len(workers) >= 5
    for name, service in workers.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no health check"
        test = check["test"]
        assert test[0] == "CMD-SHELL", name
        # %h is the container's host name, which the shell knows as $HOSTNAME ($$ escapes it
        # from compose's own interpolation).
        node = node_name(command(service)).replace("%h", "$$HOSTNAME")
        assert f"inspect ping -d {node} " in test[1] + " ", (name, test)
        assert "--timeout" in test[1], name
        assert {"interval", "timeout", "retries"} <= check.keys(), name
    for name in ("redis", "postgres", "intake"):
        assert services[name].get("healthcheck"), name


def test_flower_is_published_only_on_loopback_and_behind_basic_auth() -> None:
    services = compose()["services"]
    [flower] = [s for s in services.values() if "flower" in command(s)]
    auth = environment(flower).get("FLOWER_BASIC_AUTH", "")
    assert REQUIRED_VARIABLE.match(auth), "Flower must require FLOWER_BASIC_AUTH from the env"
    assert not any("basic" in part for part in command(flower)), "keep the password out of argv"
    for port in flower.get("ports", []):
        host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).rsplit(":", 2)[0]
        assert host_ip == "127.0.0.1", f"Flower published beyond loopback: {port!r}"
    # No other service publishes Flower's port.
    for name, service in services.items():
        for port in service.get("ports", []):
            assert "5555" not in str(port) or "flower" in command(service), name


def test_no_secret_is_written_in_compose_or_its_outlets_file() -> None:
    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    outlets_text = (REPO / "deploy" / "outlets.toml").read_text(encoding="utf-8")
    key = re.compile(r"whsec_[A-Za-z0-9+/=]{8,}")
    assert not key.search(text + outlets_text), "a webhook secret is written in the file"
    assert EXAMPLE_WEBHOOK_SECRET not in text + outlets_text
    services = compose()["services"]
    assert REQUIRED_VARIABLE.match(environment(services["postgres"])["POSTGRES_PASSWORD"])
    for name, service in services.items():
        env = environment(service)
        for key, value in env.items():
            if any(word in key for word in SECRET_WORDS):
                assert REQUIRED_VARIABLE.match(value), f"{name}: {key} is written in the file"
        url = env.get("PRESSROOM_DATABASE_URL")
        if url is not None:
            password = re.match(r"^postgresql\+psycopg://[^:/@]+:(?P<p>.+)@[^@]+$", url)
            assert password, f"{name}: the database URL has no password"
            assert REQUIRED_VARIABLE.match(password["p"]), f"{name}: a literal database password"


def test_webhook_outlets_take_their_secret_from_compose_s_environment() -> None:
    outlets = parse_outlets((REPO / "deploy" / "outlets.toml").read_text(encoding="utf-8"))
    webhooks = [o for o in outlets if o.type == "webhook"]
    assert webhooks
    services = compose()["services"]
    for outlet in webhooks:
        assert "secret" not in outlet.options, outlet.name
        variable = outlet.options["secret_env"]
        assert variable.startswith(SECRET_PREFIX)
        queue = f"deliver.{outlet.name}"
        [worker] = [s for s in services.values() if queue in consumed_queues({"w": s})]
        value = environment(worker).get(variable, "")
        match = REQUIRED_VARIABLE.match(value)
        assert match, f"{variable} must be passed as ${{{variable}:?...}}"
        assert match["name"] == variable


def test_compose_runs_as_many_routine_delivery_workers_as_pressroom_run() -> None:
    worker = compose()["services"]["worker-deliver"]
    assert "%h" in node_name(command(worker)), "replicas tell themselves apart by hostname"
    assert worker["deploy"]["replicas"] == Settings().delivery_processes
