"""`pressroom queues` and `pressroom workers` over real Redis and a real database: the same
functions as the console, and a health check that fails a worker that stopped making progress
while its process still heartbeats."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import redis
from click.testing import CliRunner, Result

from pressroom_cli.main import cli
from pressroom_shared.config import Settings
from pressroom_shared.contracts import all_queues
from pressroom_shared.dispatch import STAMP_HEADER
from pressroom_shared.monitoring import write_worker_record
from pressroom_shared.outlets_config import load_outlets
from pressroom_shared.timeutil import utcnow

pytestmark = pytest.mark.integration


def run(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=settings.to_env(), catch_exceptions=False)


def queue_a_message(client: redis.Redis, queue: str, age_seconds: float) -> None:
    """A message as kombu's Redis transport keeps it, sent `age_seconds` ago."""
    stamp = (utcnow() - timedelta(seconds=age_seconds)).isoformat()
    client.lpush(queue, json.dumps({"body": "", "headers": {STAMP_HEADER: stamp}}))


def test_queues_lists_every_contract_queue_with_depth_and_age(
    settings: Settings, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    queue_a_message(client, "deliver.partner", 42)
    queue_a_message(client, "deliver.partner", 1)
    answer = run(settings, "queues", "--json", "--timeout", "0.2")
    assert answer.exit_code == 0, answer.output
    rows = {row["name"]: row for row in json.loads(answer.output)}
    assert set(rows) == set(all_queues(o.name for o in load_outlets(settings)))
    assert rows["deliver.partner"]["depth"] == 2
    assert 41 < rows["deliver.partner"]["oldest_age"] < 60
    assert rows["render"]["depth"] == 0
    assert rows["render"]["oldest_age"] is None
    table = run(settings, "queues", "--timeout", "0.2").output
    assert "deliver.partner.urgent" in table


def test_the_worker_check_fails_a_worker_that_heartbeats_but_does_not_progress(
    settings: Settings, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    long_ago = time.time() - settings.stall_after_seconds - 60
    record = {
        "queues": json.dumps(["deliver.partner"]),
        "concurrency": 2,
        "started_at": long_ago,
        "last_task_at": long_ago,
        "processed": 7,
    }
    write_worker_record(client, "partner@box", {**record, "heartbeat_at": time.time()})
    assert run(settings, "workers", "--check", "partner@").exit_code == 0  # idle, nothing waits

    queue_a_message(client, "deliver.partner", settings.stall_after_seconds + 30)
    stalled = run(settings, "workers", "--check", "partner@")
    assert stalled.exit_code == 1
    assert "hold work older than" in stalled.output

    # It takes a task: progress again.
    write_worker_record(
        client, "partner@box", {**record, "heartbeat_at": time.time(), "last_task_at": time.time()}
    )
    assert run(settings, "workers", "--check", "partner@box").exit_code == 0

    # A worker that stopped heartbeating is silent, whatever its queues hold.
    write_worker_record(client, "partner@box", {**record, "heartbeat_at": time.time() - 30})
    assert run(settings, "workers", "--check", "partner@box").exit_code == 1
    assert run(settings, "workers", "--check", "nobody@").exit_code == 1

    listing = json.loads(run(settings, "workers", "--json", "--timeout", "0.2").output)
    assert [(w["hostname"], w["silent"], w["processed"]) for w in listing] == [
        ("partner@box", True, 7)
    ]
