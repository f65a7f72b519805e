"""The supervisor of `pressroom run` with real child processes: short Python programs."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from pressroom_cli.supervisor import Program, RestartPolicy, Supervisor
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

FAST = RestartPolicy(
    first_delay=0.05, max_delay=0.2, stable_after=5.0, loop_exits=3, loop_window=10
)
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
CRASHER = [sys.executable, "-c", "import sys; sys.exit(3)"]


@pytest.fixture
def status_file(tmp_path: Path) -> Path:
    return tmp_path / "var" / "supervisor.json"


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    with capture_logs() as captured:
        yield captured


def read(status_file: Path) -> dict[str, Any]:
    return dict(json.loads(status_file.read_text(encoding="utf-8"))["programs"])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run_until(supervisor: Supervisor, condition: Any, what: str) -> None:
    def step() -> bool:
        supervisor.check()
        return bool(condition())

    wait_until(step, 10, what, interval=0.02)


def test_a_killed_child_is_restarted_while_the_others_keep_running(
    status_file: Path, logs: list[dict[str, Any]]
) -> None:
    supervisor = Supervisor(
        [Program("intake", SLEEPER), Program("worker", SLEEPER)], os.environ, status_file, FAST
    )
    supervisor.start()
    try:
        intake = read(status_file)["intake"]["pid"]
        worker = read(status_file)["worker"]["pid"]
        os.killpg(worker, signal.SIGKILL)
        run_until(supervisor, lambda: read(status_file)["worker"]["restarts"] == 1, "a restart")
        programs = read(status_file)
        assert programs["worker"]["state"] == "running"
        assert programs["worker"]["last_exit_code"] == -signal.SIGKILL
        assert programs["worker"]["pid"] not in (None, worker)
        assert alive(programs["worker"]["pid"])
        assert programs["intake"] == {**programs["intake"], "pid": intake, "restarts": 0}
        assert alive(intake), "the intake was touched when a worker died"
    finally:
        supervisor.stop()
    programs = read(status_file)
    assert {p["state"] for p in programs.values()} == {"stopped"}
    assert not alive(intake)
    events = [(e["event"], e["program"]) for e in logs if e["event"].startswith("program.")]
    assert ("program.exited", "worker") in events
    assert ("program.restarted", "worker") in events
    assert ("program.exited", "intake") not in events


def test_a_crash_loop_is_reported_and_still_restarted(
    status_file: Path, logs: list[dict[str, Any]]
) -> None:
    supervisor = Supervisor(
        [Program("intake", SLEEPER), Program("crasher", CRASHER)], os.environ, status_file, FAST
    )
    supervisor.start()
    seen: set[str] = set()
    try:
        intake = read(status_file)["intake"]["pid"]

        def looped() -> bool:
            seen.add(read(status_file)["crasher"]["state"])
            return "crash-looping" in seen and read(status_file)["crasher"]["restarts"] >= 4

        run_until(supervisor, looped, "the crash loop to be reported and restarted through")
        crasher = read(status_file)["crasher"]
        assert crasher["last_exit_code"] == 3
        assert read(status_file)["intake"]["pid"] == intake
        assert alive(intake)
    finally:
        supervisor.stop()
    loops = [e for e in logs if e["event"] == "program.crash_loop"]
    assert loops, [e["event"] for e in logs]
    assert loops[0]["log_level"] == "error"
    assert loops[0]["program"] == "crasher"
    assert loops[0]["exit_code"] == 3
    assert loops[0]["exits"] >= FAST.loop_exits
    # Backoff: the waits grow (0.05, 0.1, 0.2, 0.2 …) rather than a tight restart loop.
    waits = [
        e["restart_in"] for e in logs if e["event"] in ("program.exited", "program.crash_loop")
    ]
    assert waits[:3] == [0.05, 0.1, 0.2]
    assert max(waits) == FAST.max_delay


def test_the_status_file_is_replaced_whole(status_file: Path) -> None:
    supervisor = Supervisor([Program("intake", SLEEPER)], os.environ, status_file, FAST)
    supervisor.start()
    try:
        document = json.loads(status_file.read_text(encoding="utf-8"))
        assert document["supervisor_pid"] == os.getpid()
        entry = document["programs"]["intake"]
        assert set(entry) == {"state", "pid", "restarts", "last_exit_code", "since", "restart_at"}
        assert entry["since"].endswith("+00:00")
        assert abs(time.time() - datetime.fromisoformat(entry["since"]).timestamp()) < 5
    finally:
        supervisor.stop()
    assert [p.name for p in status_file.parent.iterdir()] == ["supervisor.json"]
