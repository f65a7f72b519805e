"""Chaos under `pressroom run`: a delivery worker is SIGKILLed while articles stream in.

The real `pressroom run` (gunicorn intake, worker subprocesses, beat) against a private Redis,
SQLite or PostgreSQL, and a real webhook receiver. Checked at the receiver and in the database:
the intake never stopped answering 202, the supervisor restarted the worker (and nothing
else), and every article reached the partner under exactly one `webhook-id`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pressroom_shared.config import Settings
from tests.conftest import make_settings, write_outlets
from tests.e2e.test_run_command import PRESSROOM, clean_env
from tests.support.services import free_port, wait_until
from tests.support.webhook_receiver import Reply, WebhookReceiver

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.integration]

ARTICLES = 24
KILL_AFTER = 8  # articles posted before the kill; the rest stream in during and after it
BUDGET = 60.0  # seconds, from the first POST to the last check


def programs(var_dir: Path) -> dict[str, Any]:
    return dict(json.loads((var_dir / "supervisor.json").read_text(encoding="utf-8"))["programs"])


def urn_id(event: dict[str, Any]) -> str:
    return str(event["data"]["uri"]).removeprefix("urn:pressroom:article:")


@pytest.mark.timeout(150)
@pytest.mark.parametrize("delivery_processes", [1, 2])
def test_a_delivery_worker_killed_mid_stream_is_restarted_and_every_article_arrives_once(
    tmp_path: Path,
    redis_url: str,
    database_url: str,
    receiver: WebhookReceiver,
    delivery_processes: int,
) -> None:
    # With two, the killed worker's twin claims the same lanes throughout: the database, not
    # the process, decides who sends what.
    settings: Settings = make_settings(
        tmp_path,
        redis_url=redis_url,
        database_url=database_url,
        outlets_file=write_outlets(tmp_path, receiver),
    )
    var_dir = settings.var_dir
    env = {
        **clean_env(var_dir),
        **settings.to_env(),
        "PRESSROOM_LOG_LEVEL": "INFO",
        "PRESSROOM_DELIVERY_PROCESSES": str(delivery_processes),
    }
    # Each webhook takes a moment to answer, so the kill lands on deliveries in flight.
    receiver.script(*[Reply(200, delay=0.25)] * (ARTICLES * 2))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "run.log"
    log = log_path.open("wb")
    runner = subprocess.Popen(
        [PRESSROOM, "run", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until(lambda: _up(base), 60, "the intake to answer /healthz", interval=0.3)
        before = programs(var_dir)
        assert {p["state"] for p in before.values()} == {"running"}, before
        token = subprocess.run(
            [PRESSROOM, "keys", "create", "desk", "--scopes", "submit,read"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}

        started = time.monotonic()
        statuses: list[int] = []
        ids: list[str] = []
        with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
            for i in range(ARTICLES):
                arrived = len(receiver.requests)
                response = client.post(
                    "/v1/articles",
                    json={"headline": f"Chaos {i}", "body": f"Article {i}.", "language": "en"},
                )
                statuses.append(response.status_code)
                if response.status_code == 202:
                    ids.append(response.json()["id"])
                if i == KILL_AFTER:
                    # Kill right after a webhook arrived: it is still waiting for its answer.
                    # (Waited for after a submission: the workers may have caught up with
                    # every earlier one.)
                    receiver.wait_for(more_requests_than(arrived), 30)
                    os.killpg(before["worker-deliver"]["pid"], signal.SIGKILL)
                time.sleep(0.1)
            assert statuses == [202] * ARTICLES, statuses

            def everything_delivered() -> bool:
                return all(
                    client.get(f"/v1/articles/{i}").json()["status"] == "delivered" for i in ids
                )

            remaining = BUDGET - (time.monotonic() - started)
            wait_until(everything_delivered, remaining, "every article delivered", interval=0.5)

        after = programs(var_dir)
        worker = after["worker-deliver"]
        assert worker["restarts"] >= 1, after
        assert worker["last_exit_code"] == -signal.SIGKILL
        assert worker["state"] == "running"
        for name, program in after.items():
            if name != "worker-deliver":
                assert program["restarts"] == 0, (name, program)
                assert program["pid"] == before[name]["pid"], name

        webhook_ids: dict[str, set[str]] = defaultdict(set)
        requests = receiver.requests
        assert len(receiver.verified_events()) == len(requests), "a signature did not verify"
        for request in requests:
            webhook_ids[urn_id(request.json())].add(request.headers["webhook-id"])
        assert set(webhook_ids) == set(ids), "articles missing at the partner"
        assert all(len(v) == 1 for v in webhook_ids.values()), webhook_ids
        every_id = [next(iter(v)) for v in webhook_ids.values()]
        assert len(set(every_id)) == ARTICLES, "two articles share a webhook-id"
        print(
            f"\n{ARTICLES} articles, {len(requests)} webhook requests, worker restarted "
            f"{worker['restarts']}x; all delivered in {time.monotonic() - started:.1f} s"
        )
    finally:
        runner.send_signal(signal.SIGINT)
        code = runner.wait(timeout=40)
        log.close()
    output = log_path.read_text(errors="replace")
    assert code == 0, output[-5000:]
    exits = [line for line in output.splitlines() if "program.exited" in line]
    assert any("worker-deliver" in line for line in exits), output[-5000:]
    assert {p["state"] for p in programs(var_dir).values()} == {"stopped"}


def more_requests_than(count: int) -> Callable[[WebhookReceiver], bool]:
    return lambda receiver: len(receiver.requests) > count


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
