"""Sending step messages: always after the transaction that recorded the step has committed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import cast

import redis
import structlog
from celery import Celery

from pressroom_shared.contracts import TASK_BY_STAGE
from pressroom_shared.steps import StepRef

log = structlog.get_logger(__name__)

# Message header carrying the step's send stamp from the database (see steps.take_due).
STAMP_HEADER = "pressroom_stamp"


def send_steps(app: Celery, refs: Iterable[StepRef], *, countdown: float | None = None) -> int:
    """Publish one message per step; returns how many went out.

    A failure is logged, not raised: the step is in the database and the sweeper re-drives it.
    """
    sent = 0
    for ref in refs:
        try:
            app.send_task(
                TASK_BY_STAGE[ref.stage],
                kwargs={"step_id": ref.id},
                queue=ref.queue,
                countdown=countdown,
                headers={STAMP_HEADER: ref.stamp.isoformat()} if ref.stamp else None,
            )
        except Exception as exc:  # kombu raises many kinds; all mean "not sent now"
            log.warning("step.send_failed", step_id=ref.id, stage=str(ref.stage), error=str(exc))
        else:
            sent += 1
    return sent


# When the head of a queue cannot be read or has no stamp: assume it holds everything, so the
# sweeper re-sends nothing rather than everything.
UNKNOWN_HEAD = datetime.min.replace(tzinfo=UTC)


def queue_head_reader(client: redis.Redis) -> Callable[[str], datetime | None]:
    """`queue -> send stamp of the oldest message waiting there` (None: the queue is empty).

    Kombu's Redis transport keeps a queue as a list, LPUSHed by producers and BRPOPed by
    workers, so the oldest message is at index -1.
    """

    def head(queue: str) -> datetime | None:
        try:
            raw = cast(bytes | None, client.lindex(queue, -1))
        except redis.RedisError as exc:
            log.warning("sweep.queue_unreadable", queue=queue, error=str(exc))
            return UNKNOWN_HEAD
        if raw is None:
            return None
        try:
            stamp = json.loads(raw)["headers"][STAMP_HEADER]
            return datetime.fromisoformat(stamp)
        except (ValueError, KeyError, TypeError):
            return UNKNOWN_HEAD

    return head


def broker_client(redis_url: str, *, timeout: float = 2.0) -> redis.Redis:
    """A plain Redis client on the broker's database, with timeouts (a stall never hangs us)."""
    url = redis_url.replace("redis+socket://", "unix://", 1)
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
