"""Sending step messages: always after the transaction that recorded the step has committed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import cast

import redis
import structlog
from celery import Celery

from pressroom_shared.config import Settings
from pressroom_shared.contracts import TASK_BY_STAGE
from pressroom_shared.steps import StepRef

log = structlog.get_logger(__name__)

# Message header carrying the step's send stamp from the database (see steps.take_due).
STAMP_HEADER = "pressroom_stamp"


def send_steps(app: Celery, refs: Iterable[StepRef], *, countdown: float | None = None) -> int:
    """Publish one message per step, in order, in one Redis round trip; returns how many went
    out (all or none).

    The messages are kombu's own (`send_task` through a producer), buffered by kombu's publish
    batch and written by one pipeline when the batch closes: each message, and the task-sent
    event Flower reads, cost a round trip and a new Redis client object each before.

    A failure is logged, not raised: the step is in the database and the sweeper re-drives it.
    Against a stalled Redis the request (or worker) waits for one socket timeout, not one per
    step. A pipeline that fails half-way may have written some messages; they count as not
    sent, and a message sent twice is harmless (a step is claimed once).
    """
    pending = list(refs)
    if not pending:
        return 0
    try:
        with app.producer_or_acquire() as producer, producer.batch():
            for ref in pending:
                app.send_task(
                    TASK_BY_STAGE[ref.stage],
                    kwargs={"step_id": ref.id},
                    queue=ref.queue,
                    countdown=countdown,
                    headers={STAMP_HEADER: ref.stamp.isoformat()} if ref.stamp else None,
                    producer=producer,
                )
    except Exception as exc:  # kombu and redis-py raise many kinds; all mean "not sent now"
        log.warning(
            "step.send_failed",
            step_ids=[ref.id for ref in pending],
            stages=sorted({str(ref.stage) for ref in pending}),
            error=str(exc),
            left_for_the_sweeper=len(pending),
        )
        return 0
    return len(pending)


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


def broker_client(settings: Settings) -> redis.Redis:
    """A plain Redis client on the broker's database, with the timeouts every client has."""
    url = settings.redis_url.replace("redis+socket://", "unix://", 1)
    return redis.Redis.from_url(url, **settings.redis_client_options())
