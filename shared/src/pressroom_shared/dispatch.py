"""Sending step messages: always after the transaction that recorded the step has committed."""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from celery import Celery

from pressroom_shared.contracts import TASK_BY_STAGE, queue_name
from pressroom_shared.steps import StepRef

log = structlog.get_logger(__name__)


def send_steps(app: Celery, refs: Iterable[StepRef], *, countdown: float | None = None) -> int:
    """Publish one message per step, in order; returns how many went out.

    A failure is logged, not raised: the step is in the database and the sweeper re-drives it.
    After the first failure the rest are not tried: against a stalled Redis each attempt costs
    a socket timeout, and a request (or a worker) must not spend one per step.
    """
    pending = list(refs)
    for sent, ref in enumerate(pending):
        try:
            app.send_task(
                TASK_BY_STAGE[ref.stage],
                kwargs={"step_id": ref.id},
                queue=queue_name(ref.stage, ref.lane, ref.outlet),
                countdown=countdown,
            )
        except Exception as exc:  # kombu raises many kinds; all mean "not sent now"
            log.warning(
                "step.send_failed",
                step_id=ref.id,
                stage=str(ref.stage),
                error=str(exc),
                left_for_the_sweeper=len(pending) - sent,
            )
            return sent
    return len(pending)
