from __future__ import annotations

from collections.abc import Mapping

import structlog
from celery import shared_task
from celery.app.task import Task

from pressroom_shared.contracts import TASK_PURGE, TASK_SWEEP
from pressroom_shared.db import transaction
from pressroom_shared.dispatch import broker_client, queue_head_reader, send_steps
from pressroom_shared.plugins import Flushable
from pressroom_shared.retention import purge_finished
from pressroom_shared.steps import take_due
from pressroom_shared.timeutil import utcnow
from pressroom_workers.app import context_of

log = structlog.get_logger(__name__)

SWEEP_BATCHES = 10  # at most, per sweep


@shared_task(bind=True, name=TASK_SWEEP, acks_late=True, ignore_result=True)
def sweep(self: Task) -> int:  # type: ignore[type-arg]
    """Re-drive work whose message was lost, whose worker died, or whose retry is due."""
    ctx = context_of(self)
    client = broker_client(ctx.settings)
    sent = 0
    try:
        # Short transactions (each holds SQLite's write lock only for one bounded batch); a few
        # of them when there is much to do, e.g. after Redis lost its queues.
        for _ in range(SWEEP_BATCHES):
            with transaction(ctx.sessions) as session:
                refs = take_due(
                    session,
                    now=utcnow(),
                    policy=ctx.policy,
                    queue_head=queue_head_reader(client),
                    limit=ctx.settings.sweep_batch,
                )
            sent += send_steps(self.app, refs)
            if len(refs) < ctx.settings.sweep_batch:
                break
    finally:
        client.close()
        flush_outlets(ctx.outlets)
    return sent


def flush_outlets(outlets: Mapping[str, object]) -> None:
    """Finish what outlets deferred (Flushable): one outlet's trouble never stops the others'."""
    for name, outlet in outlets.items():
        if isinstance(outlet, Flushable):
            try:
                outlet.flush()
            except Exception as exc:
                log.warning("outlet.flush_failed", outlet=name, error=str(exc))


@shared_task(bind=True, name=TASK_PURGE, acks_late=True, ignore_result=True)
def purge(self: Task) -> int:  # type: ignore[type-arg]
    """Purge finished work past its retention, one bounded batch per transaction."""
    ctx = context_of(self)
    total = 0
    for _ in range(100):  # at most 100 batches a run; the next run goes on
        with transaction(ctx.sessions) as session:
            purged = purge_finished(
                session, now=utcnow(), retention_days=ctx.settings.retention_days
            )
        total += purged.total
        if purged.total == 0:
            break
    log.info("retention.purged", rows=total)
    return total
