"""The step state machine: plan, claim, finish, retry and re-drive pipeline work.

Every transition is a conditional UPDATE, so two workers (a duplicate message, a redelivery after
a crash, a re-drive by the sweeper) can never both own a step, and a finished step never runs
again. This is what makes late-acked Celery tasks safe to repeat.

    pending ──claim──▶ in_progress ──▶ done
       ▲                 │  │  └────▶ failed   (permanent error, or the attempt budget spent)
       │                 │  └───────▶ unknown  (the outcome cannot be known; operators decide)
       └── retrying ◀────┘ (transient error: due again after a jittered, capped backoff)
    pending/retrying ──▶ canceled (superseded by a newer version, or an operator's action)
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from pressroom_shared.contracts import Lane, Stage
from pressroom_shared.models import Step, StepAttempt


class StepState(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    RETRYING = "retrying"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELED = "canceled"


FINISHED = frozenset({StepState.DONE, StepState.FAILED, StepState.UNKNOWN, StepState.CANCELED})


@dataclass(frozen=True)
class StepRef:
    """What a queue message needs: the id, and where to send it."""

    id: str
    stage: Stage
    lane: Lane
    outlet: str = ""

    @classmethod
    def of(cls, step: Step) -> StepRef:
        return cls(step.id, Stage(step.stage), Lane(step.lane), step.outlet)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with equal jitter, capped, and never sooner than Retry-After."""
        ceiling = min(self.max_seconds, self.base_seconds * float(2 ** max(attempt - 1, 0)))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.max_seconds)


def new_step(
    *, article_id: str, version: int, stage: Stage, event: str, lane: Lane, outlet: str = ""
) -> Step:
    return Step(
        id=str(uuid.uuid4()),
        article_id=article_id,
        version=version,
        stage=str(stage),
        outlet=outlet,
        event=event,
        lane=str(lane),
        state=StepState.PENDING,
        attempts=0,
        receipt={},
    )


def plan_version(
    session: Session,
    *,
    article_id: str,
    version: int,
    event: str,
    lane: Lane,
    deliveries: Mapping[str, str],
    now: datetime,
    hold_until: datetime | None = None,
) -> list[StepRef]:
    """Record all work for a new version in the caller's transaction; returns what to send now.

    `deliveries` maps each outlet to the event it should carry (an outlet that never had the
    story gets `published`, even for a later version). Only the render step is sent at once:
    index and delivery steps wait for it, and the render task sends them when it is done.
    An embargo (`hold_until`) holds index and deliveries until then; the sweeper releases them.
    """
    render = new_step(
        article_id=article_id, version=version, stage=Stage.RENDER, event=event, lane=lane
    )
    render.enqueued_at = now
    held = [
        new_step(article_id=article_id, version=version, stage=Stage.INDEX, event=event, lane=lane),
        *(
            new_step(
                article_id=article_id,
                version=version,
                stage=Stage.DELIVER,
                event=outlet_event,
                lane=lane,
                outlet=outlet,
            )
            for outlet, outlet_event in deliveries.items()
        ),
    ]
    if hold_until is not None and hold_until > now:
        for step in held:
            step.next_attempt_at = hold_until
    session.add_all([render, *held])
    return [StepRef.of(render)]


def outlets_reached(session: Session, article_id: str) -> set[str]:
    """Outlets that have, or may have, any version of the article: they must hear of changes."""
    return set(
        session.scalars(
            select(Step.outlet).where(
                Step.article_id == article_id,
                Step.stage == Stage.DELIVER,
                Step.state.in_([StepState.DONE, StepState.IN_PROGRESS, StepState.UNKNOWN]),
            )
        ).all()
    )


def cancel_waiting(session: Session, article_id: str, *, now: datetime, reason: str) -> int:
    """Cancel the not-yet-started work of earlier versions: a newer version replaces it."""
    result = session.execute(
        update(Step)
        .where(
            Step.article_id == article_id,
            Step.stage != Stage.RENDER,
            Step.state.in_([StepState.PENDING, StepState.RETRYING]),
        )
        .values(state=StepState.CANCELED, finished_at=now, last_error=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount  # type: ignore[attr-defined,no-any-return]


def reschedule_held(
    session: Session, article_id: str, version: int, *, until: datetime | None, now: datetime
) -> list[StepRef]:
    """An embargo changed or was lifted: move the held steps; returns those due now."""
    steps = session.scalars(
        select(Step).where(
            Step.article_id == article_id,
            Step.version == version,
            Step.stage != Stage.RENDER,
            Step.state.in_([StepState.PENDING, StepState.RETRYING]),
        )
    ).all()
    due = until is None or until <= now
    for step in steps:
        step.next_attempt_at = None if due else until
        step.enqueued_at = now if due else None
    return [StepRef.of(step) for step in steps] if due else []


def _render_done() -> ColumnElement[bool]:
    render = aliased(Step)
    return or_(
        Step.stage == Stage.RENDER,
        exists().where(
            render.article_id == Step.article_id,
            render.version == Step.version,
            render.stage == Stage.RENDER,
            render.state == StepState.DONE,
        ),
    )


def _runnable(now: datetime) -> ColumnElement[bool]:
    return and_(
        or_(
            and_(
                Step.state.in_([StepState.PENDING, StepState.RETRYING]),
                or_(Step.next_attempt_at.is_(None), Step.next_attempt_at <= now),
            ),
            and_(Step.state == StepState.IN_PROGRESS, Step.lease_expires_at < now),
        ),
        _render_done(),
        ~_older_delivery_in_flight(now),
    )


def _older_delivery_in_flight(now: datetime) -> ColumnElement[bool]:
    """An earlier version is being carried to the same outlet right now.

    Its successor waits (the runner sends it when the earlier one ends), so an outlet never
    gets version N+1, or a kill, and then version N from a slower worker.
    """
    older = aliased(Step)
    return exists().where(
        Step.stage == Stage.DELIVER,
        older.article_id == Step.article_id,
        older.outlet == Step.outlet,
        older.stage == Stage.DELIVER,
        older.version < Step.version,
        older.state == StepState.IN_PROGRESS,
        older.lease_expires_at >= now,
    )


def successors(session: Session, step: Step, *, now: datetime) -> list[StepRef]:
    """After a delivery ends: newer versions' deliveries to that outlet, which waited for it."""
    waiting = session.scalars(
        select(Step).where(
            Step.article_id == step.article_id,
            Step.outlet == step.outlet,
            Step.stage == Stage.DELIVER,
            Step.version > step.version,
            Step.state.in_([StepState.PENDING, StepState.RETRYING]),
            or_(Step.next_attempt_at.is_(None), Step.next_attempt_at <= now),
            _render_done(),
        )
    ).all()
    for waiting_step in waiting:
        waiting_step.enqueued_at = now
    return [StepRef.of(waiting_step) for waiting_step in waiting]


def claim(session: Session, step_id: str, *, now: datetime, lease_seconds: float) -> Step | None:
    """Take a step if it is runnable now; None if another worker has it or it is finished."""
    result = session.execute(
        update(Step)
        .where(Step.id == step_id, _runnable(now))
        .values(
            state=StepState.IN_PROGRESS,
            attempts=Step.attempts + 1,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    step = session.get(Step, step_id, populate_existing=True)
    assert step is not None
    session.add(StepAttempt(step_id=step.id, number=step.attempts, started_at=now))
    return step


def _finish_attempt(
    session: Session, step: Step, *, now: datetime, outcome: str, error: str | None
) -> bool:
    """Close the attempt this worker owns; False when the lease was lost to another worker."""
    result = session.execute(
        update(Step)
        .where(
            Step.id == step.id,
            Step.state == StepState.IN_PROGRESS,
            Step.attempts == step.attempts,
        )
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(StepAttempt)
        .where(StepAttempt.step_id == step.id, StepAttempt.number == step.attempts)
        .values(finished_at=now, outcome=outcome, error=error)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def complete(session: Session, step: Step, *, now: datetime, receipt: dict[str, object]) -> bool:
    if not _finish_attempt(session, step, now=now, outcome="done", error=None):
        return False
    session.execute(
        update(Step)
        .where(Step.id == step.id)
        .values(
            state=StepState.DONE,
            finished_at=now,
            lease_expires_at=None,
            next_attempt_at=None,
            receipt=receipt,
        )
        .execution_options(synchronize_session=False)
    )
    return True


def cancel(session: Session, step: Step, *, now: datetime, reason: str) -> bool:
    if not _finish_attempt(session, step, now=now, outcome="canceled", error=reason):
        return False
    session.execute(
        update(Step)
        .where(Step.id == step.id)
        .values(state=StepState.CANCELED, finished_at=now, lease_expires_at=None, last_error=reason)
        .execution_options(synchronize_session=False)
    )
    return True


def defer(session: Session, step: Step, *, now: datetime, until: datetime) -> bool:
    """Put a claimed step back, unattempted, until `until` (an embargo still in force)."""
    result = session.execute(
        update(Step)
        .where(
            Step.id == step.id, Step.state == StepState.IN_PROGRESS, Step.attempts == step.attempts
        )
        .values(
            state=StepState.PENDING,
            attempts=Step.attempts - 1,
            next_attempt_at=until,
            enqueued_at=None,
            lease_expires_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    # Not an attempt: nothing was tried, so the attempt log does not keep it.
    session.execute(
        delete(StepAttempt).where(
            StepAttempt.step_id == step.id, StepAttempt.number == step.attempts
        )
    )
    return True


@dataclass(frozen=True)
class FailureDecision:
    state: StepState
    retry_in: float | None  # seconds, when state is RETRYING


def fail(
    session: Session,
    step: Step,
    *,
    now: datetime,
    kind: str,
    error: str,
    policy: RetryPolicy,
    retry_after: float | None = None,
    short_retry_max: float,
) -> FailureDecision | None:
    """Record a failed attempt and decide what follows; None when the lease was lost.

    `kind` is "transient" (retry while the budget lasts), "permanent" or "unknown".
    A retry due within `short_retry_max` seconds is sent at once with a countdown (and marked
    enqueued for that moment); a later one is left to the sweeper, since long Celery countdowns
    break with Redis' visibility timeout.
    """
    if not _finish_attempt(session, step, now=now, outcome=kind, error=error):
        return None
    if kind == "transient" and step.attempts < policy.max_attempts:
        delay = policy.delay(step.attempts, retry_after)
        due = now + timedelta(seconds=delay)
        decision = FailureDecision(StepState.RETRYING, delay)
        values: dict[str, object] = {
            "state": StepState.RETRYING,
            "next_attempt_at": due,
            "enqueued_at": due if delay <= short_retry_max else None,
        }
    else:
        state = StepState.UNKNOWN if kind == "unknown" else StepState.FAILED
        decision = FailureDecision(state, None)
        values = {"state": state, "finished_at": now, "next_attempt_at": None}
    session.execute(
        update(Step)
        .where(Step.id == step.id)
        .values(last_error=error, error_kind=kind, lease_expires_at=None, **values)
        .execution_options(synchronize_session=False)
    )
    return decision


def release_followers(session: Session, render_step: Step, *, now: datetime) -> list[StepRef]:
    """After a render: the index and delivery steps of that version become sendable."""
    followers = session.scalars(
        select(Step).where(
            Step.article_id == render_step.article_id,
            Step.version == render_step.version,
            Step.stage != Stage.RENDER,
            Step.state == StepState.PENDING,
        )
    ).all()
    for step in followers:
        step.enqueued_at = now
    return [StepRef.of(step) for step in followers]


def take_due(
    session: Session, *, now: datetime, redrive_after: float, limit: int = 500
) -> list[StepRef]:
    """The sweeper's query: runnable steps whose message is missing, lost or stale.

    Covers a publish that failed after commit, a message lost with Redis, a worker killed
    mid-step (its lease expires), and retries too far ahead for a Celery countdown.
    """
    stale = now - timedelta(seconds=redrive_after)
    steps = session.scalars(
        select(Step)
        .where(_runnable(now), or_(Step.enqueued_at.is_(None), Step.enqueued_at < stale))
        .order_by(Step.lane.desc(), Step.created_at)  # desc: "urgent" before "normal"
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for step in steps:
        step.enqueued_at = now
    return [StepRef.of(step) for step in steps]
