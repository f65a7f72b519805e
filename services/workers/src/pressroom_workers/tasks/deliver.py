from __future__ import annotations

from celery import shared_task
from celery.app.task import Task

from pressroom_shared.contracts import TASK_BY_STAGE, Stage
from pressroom_workers.app import context_of
from pressroom_workers.runner import run_step


@shared_task(bind=True, name=TASK_BY_STAGE[Stage.DELIVER], acks_late=True, ignore_result=True)
def deliver(self: Task, step_id: str) -> str:  # type: ignore[type-arg]
    """Carry one article version to one outlet (the queue names the outlet)."""
    return run_step(context_of(self), self.app, Stage.DELIVER, step_id).state
