from __future__ import annotations

from celery import shared_task
from celery.app.task import Task

from pressroom_shared.contracts import TASK_SWEEP
from pressroom_shared.db import transaction
from pressroom_shared.dispatch import send_steps
from pressroom_shared.steps import take_due
from pressroom_shared.timeutil import utcnow
from pressroom_workers.app import context_of


@shared_task(bind=True, name=TASK_SWEEP, acks_late=True, ignore_result=True)
def sweep(self: Task) -> int:  # type: ignore[type-arg]
    """Re-drive work whose message was lost, whose worker died, or whose retry is due."""
    ctx = context_of(self)
    with transaction(ctx.sessions) as session:
        refs = take_due(session, now=utcnow(), redrive_after=ctx.settings.redrive_after_seconds)
    return send_steps(self.app, refs)
