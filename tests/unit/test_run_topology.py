"""`pressroom run`'s processes: a fixed set whatever the number of outlets."""

from __future__ import annotations

from pathlib import Path

from pressroom_cli.supervisor import Program, programs
from pressroom_shared.config import Settings
from pressroom_shared.outlets_config import load_outlets


def option(program: Program, flag: str) -> str:
    return program.argv[program.argv.index(flag) + 1]


def topology(tmp_path: Path, outlets: int, **environ: str) -> dict[str, Program]:
    toml = "".join(
        f'[outlets.hook{n}]\ntype = "webhook"\nurl = "http://127.0.0.1:9/{n}"\n'
        f'secret_env = "PRESSROOM_SECRET_HOOK{n}"\n\n'
        for n in range(outlets)
    )
    (tmp_path / "outlets.toml").write_text(toml)
    secrets = {f"PRESSROOM_SECRET_HOOK{n}": f"s3cret-{n}-for-the-tests" for n in range(outlets)}
    settings = Settings.from_env(
        {"PRESSROOM_OUTLETS_FILE": str(tmp_path / "outlets.toml"), **secrets, **environ}
    )
    return {p.name: p for p in programs(settings, load_outlets(settings), "127.0.0.1", 8000)}


def test_fifty_outlets_are_served_by_the_same_six_processes(tmp_path: Path) -> None:
    run = topology(tmp_path, 50)
    assert sorted(run) == [
        "intake",
        "scheduler",
        "worker-deliver",
        "worker-deliver-2",
        "worker-deliver-urgent",
        "worker-pipeline",
    ]
    routine = option(run["worker-deliver"], "-Q").split(",")
    urgent = option(run["worker-deliver-urgent"], "-Q").split(",")
    assert len(routine) == len(urgent) == 50
    assert not set(routine) & set(urgent), "a routine backlog must never stand before urgent work"
    assert option(run["worker-deliver-2"], "-Q") == option(run["worker-deliver"], "-Q")


def test_one_delivery_process_when_asked(tmp_path: Path) -> None:
    run = topology(tmp_path, 2, PRESSROOM_DELIVERY_PROCESSES="1")
    assert [name for name in run if name.startswith("worker-deliver")] == [
        "worker-deliver",
        "worker-deliver-urgent",
    ]


def test_more_delivery_processes_share_the_routine_lanes(tmp_path: Path) -> None:
    run = topology(
        tmp_path, 3, PRESSROOM_DELIVERY_PROCESSES="3", PRESSROOM_DELIVERY_CONCURRENCY="8"
    )
    routine = [run["worker-deliver"], run["worker-deliver-2"], run["worker-deliver-3"]]
    assert len({option(p, "-Q") for p in routine}) == 1
    assert len({option(p, "-n") for p in routine}) == 3, "Celery tells workers apart by name"
    assert {option(p, "--concurrency") for p in routine} == {"8"}
    assert "worker-deliver-4" not in run
    assert option(run["worker-deliver-urgent"], "--concurrency") == "2"
