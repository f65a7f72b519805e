"""Retention: finished work does not pile up for ever.

After `retention_days`, a finished step's attempt log is purged, and so is a finished step that a
newer version's *done* step of the same stage and outlet replaces. What every later decision
reads is kept: the newest delivery per outlet (its receipt, e.g. a remote message id), proof that
an outlet was reached (kills must go there), and each step's attempt count and last error.
The per-recipient send records (`outlet_sends`) go too, so a newsletter's correction or kill
notice reaches only readers of issues sent within the retention period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session, aliased

from pressroom_shared.models import OutletSend, Step, StepAttempt
from pressroom_shared.sends import SETTLED
from pressroom_shared.steps import FINISHED, StepState


@dataclass(frozen=True)
class Purged:
    attempts: int
    steps: int
    sends: int = 0

    @property
    def total(self) -> int:
        return self.attempts + self.steps + self.sends


def purge_finished(
    session: Session, *, now: datetime, retention_days: float, batch: int = 1000
) -> Purged:
    """One bounded batch; call again while it purges a full batch."""
    cutoff = now - timedelta(days=retention_days)
    old_finished = select(Step.id).where(
        Step.finished_at < cutoff, Step.state.in_([str(s) for s in FINISHED])
    )
    attempt_ids = session.scalars(
        select(StepAttempt.id)
        .where(StepAttempt.step_id.in_(old_finished))
        .order_by(StepAttempt.id)
        .limit(batch)
    ).all()
    if attempt_ids:
        session.execute(delete(StepAttempt).where(StepAttempt.id.in_(attempt_ids)))
    newer = aliased(Step)
    step_ids = session.scalars(
        old_finished.where(
            exists().where(
                newer.article_id == Step.article_id,
                newer.stage == Step.stage,
                newer.outlet == Step.outlet,
                newer.version > Step.version,
                newer.state == StepState.DONE,
            ),
            ~exists().where(StepAttempt.step_id == Step.id),
        ).limit(batch)
    ).all()
    if step_ids:
        session.execute(delete(Step).where(Step.id.in_(step_ids)))
    # Settled sends only: a row still pending or sending belongs to a send in progress.
    send_ids = session.scalars(
        select(OutletSend.id)
        .where(OutletSend.updated_at < cutoff, OutletSend.state.in_(SETTLED))
        .order_by(OutletSend.id)
        .limit(batch)
    ).all()
    if send_ids:
        session.execute(delete(OutletSend).where(OutletSend.id.in_(send_ids)))
    return Purged(len(attempt_ids), len(step_ids), len(send_ids))
