"""The step state machine: plan, claim, finish, retry and re-drive pipeline work.

Every transition is a conditional UPDATE, so two workers (a duplicate message, a redelivery after
a crash, a re-drive by the sweeper) can never both own a step, and a finished step never runs
again. This is what makes late-acked Celery tasks safe to repeat.

    pending ──claim──▶ in_progress ──▶ done
       ▲                 │  │  └────▶ failed   (permanent error, the retry schedule spent,
       │                 │  │                   or its worker lost too often)
       │                 │  └───────▶ unknown  (the outcome cannot be known; operators decide)
       └── retrying ◀────┘ (transient error: due again on the retry schedule; also a lost
                             worker's step, whose lease expired)
    pending/retrying ──▶ canceled (superseded by a newer version, or an operator's action)
    failed/unknown/canceled ──operator retry──▶ pending (a fresh retry schedule)

Deliveries are fenced per outlet: once a newer version's delivery to an outlet exists, an older
one is never claimed nor sent again (it is canceled as superseded), and a newer one waits while
an older one is in flight there. A send happens only under a lease that outlives the send's
deadline, so a hung attempt can never land after its successor.

`due_at` is when the sweeper must next look at an unfinished step (a retry or embargo falls due,
a lease expires, a sent message may have been lost); finished steps have none. The sweeper reads
only due rows through one index, so its cost does not grow with the backlog.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.dml import Insert, ReturningUpdate, Update

from pressroom_shared.config import Settings, parse_schedule
from pressroom_shared.contracts import Lane, Stage, queue_name
from pressroom_shared.models import OutletState, Step, StepAttempt


class StepState(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    RETRYING = "retrying"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELED = "canceled"


FINISHED = frozenset({StepState.DONE, StepState.FAILED, StepState.UNKNOWN, StepState.CANCELED})
WAITING = (StepState.PENDING, StepState.RETRYING)
# Step.error_kind of a delivery parked until its outlet has a free slot (release_parked).
PARKED = "parked"
# What an operator may send again: the work ended without being done.
RETRYABLE_BY_OPERATOR = (StepState.FAILED, StepState.UNKNOWN, StepState.CANCELED)

WORKER_LOST = "worker lost during the step"


class OutletMode(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # by an operator
    DISABLED = "disabled"  # the remote said 410 Gone; an operator resumes it


@dataclass(frozen=True)
class StepRef:
    """What a queue message needs: the id, and where to send it."""

    id: str
    stage: Stage
    lane: Lane
    outlet: str = ""
    # The send stamp recorded in the database; the message carries it, so the sweeper can tell
    # whether a queue still holds the message (see take_due).
    stamp: datetime | None = None

    @classmethod
    def of(cls, step: Step) -> StepRef:
        return cls(step.id, Stage(step.stage), Lane(step.lane), step.outlet, step.enqueued_at)

    @property
    def queue(self) -> str:
        return queue_name(self.stage, self.lane, self.outlet)


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again: `schedule[n-1]` seconds after attempt n fails, with upward jitter."""

    schedule: tuple[float, ...]
    max_seconds: float
    jitter: float = 0.2

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1

    @property
    def horizon_seconds(self) -> float:
        """From the first attempt to the last, before jitter."""
        return sum(self.schedule)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Delay after the `attempt`-th attempt failed; never sooner than the remote's Retry-After.

        Jitter only ever adds (0-20 %), so the documented schedule is a lower bound and many
        deliveries failing together do not come back together.
        """
        if not self.schedule:
            return 0.0
        base = self.schedule[min(max(attempt, 1), len(self.schedule)) - 1]
        delay = base * (1 + random.uniform(0, self.jitter))  # noqa: S311 - jitter, not crypto
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.max_seconds)

    @classmethod
    def exponential(cls, attempts: int, base: float, max_seconds: float) -> RetryPolicy:
        return cls(
            tuple(min(max_seconds, base * 2.0**n) for n in range(max(attempts - 1, 0))),
            max_seconds,
        )


@dataclass(frozen=True)
class StepPolicy:
    """Everything the state machine needs to know about time and budgets, from Settings."""

    delivery: RetryPolicy
    stage: RetryPolicy  # render and index: local work, a short exponential budget
    lease_seconds: float = 120.0
    redrive_after: float = 30.0
    max_lost_attempts: int = 3
    short_retry_max: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> StepPolicy:
        s = settings
        return cls(
            delivery=RetryPolicy(parse_schedule(s.delivery_retry_schedule), s.retry_max_seconds),
            stage=RetryPolicy.exponential(
                s.max_stage_attempts, s.retry_base_seconds, s.retry_max_seconds
            ),
            lease_seconds=s.lease_seconds,
            redrive_after=s.redrive_after_seconds,
            max_lost_attempts=s.max_lost_attempts,
            short_retry_max=s.short_retry_max_seconds,
        )

    def retry(self, stage: str) -> RetryPolicy:
        return self.delivery if stage == Stage.DELIVER else self.stage

    def lease(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.lease_seconds)

    def sent(self, step: Step, now: datetime, *, due: datetime | None = None) -> None:
        """Record that a message for `step` goes out now (or, with a countdown, runs at `due`)."""
        step.enqueued_at = now
        step.due_at = self.redrive_at(now, due=due)

    def redrive_at(self, now: datetime, *, due: datetime | None = None) -> datetime:
        """When the sweeper looks again at a step whose message goes out now (see `sent`)."""
        return (due or now) + timedelta(seconds=self.redrive_after)


def new_step(
    *, article_id: str, version: int, stage: Stage, event: str, lane: Lane, outlet: str = ""
) -> Step:
    row = _step_row(
        article_id=article_id, version=version, stage=stage, event=event, lane=lane, outlet=outlet
    )
    return Step(**row)


def _step_row(
    *, article_id: str, version: int, stage: Stage, event: str, lane: Lane, outlet: str = ""
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "article_id": article_id,
        "version": version,
        "stage": str(stage),
        "outlet": outlet,
        "event": event,
        "lane": str(lane),
        "state": StepState.PENDING,
        "attempts": 0,
        "lost_attempts": 0,
        "retry_from": 0,
        "receipt": {},
    }


def plan_version(
    session: Session,
    *,
    article_id: str,
    version: int,
    event: str,
    lane: Lane,
    deliveries: Mapping[str, str],
    now: datetime,
    policy: StepPolicy,
    hold_until: datetime | None = None,
    unheld: Collection[str] = (),
) -> list[StepRef]:
    """Record all work for a new version in the caller's transaction; returns what to send now.

    `deliveries` maps each outlet to the event it should carry (an outlet that never had the
    story gets `published`, even for a later version). Only the render step is sent at once:
    index and delivery steps wait for it, and the render task sends them when it is done.
    An embargo (`hold_until`) holds index and deliveries until then; the sweeper releases them.
    Deliveries to the `unheld` outlets (`embargo = "flag"`) go with the render, flagged.

    The article row must already be in the transaction (flushed): the steps go in as one
    Core multi-row INSERT, not as ORM objects (the unit of work for them was the largest part
    of an intake POST's CPU), so they are not in the session afterwards.
    """

    def row(stage: Stage, outlet: str = "", step_event: str = event) -> dict[str, Any]:
        return _step_row(
            article_id=article_id,
            version=version,
            stage=stage,
            event=step_event,
            lane=lane,
            outlet=outlet,
        )

    held = hold_until is not None and hold_until > now
    render = row(Stage.RENDER) | {
        "enqueued_at": now,
        "due_at": policy.redrive_at(now),
        "next_attempt_at": None,
    }
    rows = [
        render,
        row(Stage.INDEX),
        *(row(Stage.DELIVER, outlet, outlet_event) for outlet, outlet_event in deliveries.items()),
    ]
    for waiting in rows[1:]:
        # Every row names the same columns: one statement, many VALUES.
        waits = held and not (waiting["stage"] == Stage.DELIVER and waiting["outlet"] in unheld)
        waiting |= {
            "enqueued_at": None,
            "due_at": hold_until if waits else None,
            "next_attempt_at": hold_until if waits else None,
        }
    for each in rows:
        each["created_at"] = each["updated_at"] = now
    session.execute(insert(_STEPS), rows)
    return [StepRef(render["id"], Stage.RENDER, lane, "", now)]


def cancel_waiting(session: Session, article_id: str, *, now: datetime, reason: str) -> int:
    """Cancel the not-yet-started work of earlier versions: a newer version replaces it.

    Call it before `outlets_reached`: the UPDATE locks the rows it cancels, so a worker's claim
    either lands first (and the step counts as reached) or finds the step canceled.
    """
    result = session.execute(
        update(Step)
        .where(
            Step.article_id == article_id,
            Step.stage != Stage.RENDER,
            Step.state.in_(WAITING),
        )
        .values(
            state=StepState.CANCELED,
            finished_at=now,
            last_error=reason,
            updated_at=now,
            due_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount  # type: ignore[attr-defined,no-any-return]


def outlets_reached(session: Session, article_id: str) -> set[str]:
    """Outlets that have, or may have, any version of the article: they must hear of changes.

    Any delivery attempted at least once counts, whatever its state: a partner may have
    processed a request it then answered with a 500 or a timeout.
    """
    return set(
        session.scalars(
            select(Step.outlet)
            .where(Step.article_id == article_id, Step.stage == Stage.DELIVER, Step.attempts > 0)
            .distinct()
        ).all()
    )


def reschedule_held(
    session: Session,
    article_id: str,
    version: int,
    *,
    until: datetime | None,
    now: datetime,
    policy: StepPolicy,
    unheld: Collection[str] = (),
) -> list[StepRef]:
    """An embargo changed or was lifted: move the held steps; returns those due now.

    Deliveries to `unheld` outlets (`embargo = "flag"`) were never held and are left alone."""
    steps = [
        step
        for step in session.scalars(
            select(Step).where(
                Step.article_id == article_id,
                Step.version == version,
                Step.stage != Stage.RENDER,
                Step.state.in_(WAITING),
            )
        ).all()
        if not (step.stage == Stage.DELIVER and step.outlet in unheld)
    ]
    due = until is None or until <= now
    for step in steps:
        step.next_attempt_at = None if due else until
        if due:
            policy.sent(step, now)
        else:
            step.enqueued_at = None
            step.due_at = until
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


def _outlet_active() -> ColumnElement[bool]:
    return or_(
        Step.stage != Stage.DELIVER,
        ~exists().where(OutletState.name == Step.outlet, OutletState.mode != OutletMode.ACTIVE),
    )


def _newer_delivery_exists() -> ColumnElement[bool]:
    """The fence: a later version's delivery to the same outlet exists, whatever its state."""
    newer = aliased(Step)
    return and_(
        Step.stage == Stage.DELIVER,
        exists().where(
            newer.article_id == Step.article_id,
            newer.outlet == Step.outlet,
            newer.stage == Stage.DELIVER,
            newer.version > Step.version,
        ),
    )


def _older_delivery_in_flight(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """An earlier version is being carried to the same outlet right now.

    Its successor waits (the runner sends it when the earlier one ends), so an outlet never
    gets version N+1, or a kill, and then version N from a slower worker. Once the lease has
    expired the earlier attempt cannot send any more (it sends only under a lease that outlives
    its deadline), so the successor may go.
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


def _ready(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """What a waiting, due step still waits for: its render, its outlet, an older delivery."""
    return and_(_render_done(), _outlet_active(), ~_older_delivery_in_flight(now))


def _runnable(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    return and_(
        Step.state.in_(WAITING),
        or_(Step.next_attempt_at.is_(None), Step.next_attempt_at <= now),
        _ready(now),
    )


def successors(session: Session, step: Step, *, now: datetime, policy: StepPolicy) -> list[StepRef]:
    """After a delivery ends: newer versions' deliveries to that outlet, which waited for it."""
    return _send_rows(
        session,
        _successors_statement(),
        {
            "succ_article_id": step.article_id,
            "succ_outlet": step.outlet,
            "succ_version": step.version,
            "succ_now": now,
        },
        now=now,
        policy=policy,
    )


@functools.cache
def _successors_statement() -> Select[str, str, str, str]:
    now = bindparam("succ_now", type_=Step.updated_at.type)
    return select(Step.id, Step.stage, Step.lane, Step.outlet).where(
        Step.article_id == bindparam("succ_article_id"),
        Step.outlet == bindparam("succ_outlet"),
        Step.stage == Stage.DELIVER,
        Step.version > bindparam("succ_version"),
        Step.state.in_(WAITING),
        or_(Step.next_attempt_at.is_(None), Step.next_attempt_at <= now),
        _render_done(),
    )


def recover_lost(
    session: Session, *, now: datetime, policy: StepPolicy, step_ids: Iterable[str] | None = None
) -> list[str]:
    """Steps whose lease expired lost their worker (killed, OOM, frozen): the attempt is lost.

    The open attempt is closed as lost and the step is due again soon, or failed with
    WORKER_LOST once its worker was lost `max_lost_attempts` times (a poison step that kills
    every worker that takes it) or its attempt budget is spent. Returns the failed steps' ids.

    Who is to blame: a worker process that dies takes every step it was running with it. The
    loss is counted against the step that process took up last — the likeliest cause, as a
    poison step kills its worker as soon as it runs — and not against one it had taken up
    before and was still running beside it (a bystander), which is run again without charge.
    Nor does that lost attempt use up its retry schedule; three schedules' worth of attempts
    bound it all the same.
    """
    query = select(Step).where(Step.state == StepState.IN_PROGRESS, Step.lease_expires_at < now)
    if step_ids is not None:
        query = query.where(Step.id.in_(list(step_ids)))
    failed = []
    for step in session.scalars(query.with_for_update(skip_locked=True)).all():
        charged = not _a_later_claim_by_the_same_worker(session, step)
        lost = step.lost_attempts + (1 if charged else 0)
        budget = policy.retry(step.stage).max_attempts
        if not charged:
            step.retry_from += 1  # a bystander's lost attempt does not use up its schedule
        # ... but nothing runs for ever, whatever the blame: three schedules at most.
        spent = step.attempts - step.retry_from >= budget or step.attempts >= 3 * budget
        error = (
            f"{WORKER_LOST} (attempt {step.attempts}; lost {lost} times)"
            if charged
            else f"{WORKER_LOST}, beside a step its worker took up later (not counted)"
        )
        session.execute(
            update(StepAttempt)
            .where(StepAttempt.step_id == step.id, StepAttempt.number == step.attempts)
            .values(finished_at=now, outcome="lost", error=error)
            .execution_options(synchronize_session=False)
        )
        step.lost_attempts = lost
        step.last_error = error
        step.error_kind = "lost"
        step.lease_expires_at = None
        step.updated_at = now
        if _superseded(session, step):
            # As in `fail`: a newer version carries the story to this outlet now.
            step.state = StepState.CANCELED
            step.last_error = f"{error}; superseded: a newer version goes to this outlet"
            step.finished_at = now
            step.due_at = None
        elif lost >= policy.max_lost_attempts or spent:
            step.state = StepState.FAILED
            step.finished_at = now
            step.due_at = None
            failed.append(step.id)
        else:
            # Steps that died together are run again apart, a little spread out: a poison step
            # then dies alone, and its bystanders are not next to it the moment it strikes.
            again = now + timedelta(seconds=random.uniform(0, policy.redrive_after))  # noqa: S311
            step.state = StepState.RETRYING
            step.next_attempt_at = again
            step.enqueued_at = None
            step.due_at = again
    return failed


def _superseded(session: Session, step: Step) -> bool:
    """A delivery whose outlet a newer version's delivery goes to (the fence)."""
    return bool(
        session.scalar(
            select(func.count())
            .select_from(Step)
            .where(Step.id == step.id, _newer_delivery_exists())
        )
    )


def _a_later_claim_by_the_same_worker(session: Session, step: Step) -> bool:
    mine = aliased(StepAttempt)
    later = aliased(StepAttempt)
    return bool(
        session.scalar(
            select(func.count())
            .select_from(mine)
            .join(
                later,
                and_(
                    later.worker == mine.worker,
                    later.started_at > mine.started_at,
                    later.step_id != mine.step_id,
                ),
            )
            .where(
                mine.step_id == step.id,
                mine.number == step.attempts,
                mine.worker.is_not(None),
                mine.worker != "",
            )
        )
    )


def fence_superseded(session: Session, step_id: str, *, now: datetime) -> bool:
    """Cancel a waiting delivery that a newer version's delivery to its outlet replaces."""
    result = session.execute(
        update(Step)
        .where(Step.id == step_id, Step.state.in_(WAITING), _newer_delivery_exists())
        .values(
            state=StepState.CANCELED,
            finished_at=now,
            updated_at=now,
            due_at=None,
            last_error="superseded: a newer version goes to this outlet",
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def claim(
    session: Session, step_id: str, *, now: datetime, policy: StepPolicy, worker: str = ""
) -> Step | None:
    """Take a step if it is runnable now; None if another worker has it or it is finished.

    Every claim is an attempt: a worker that dies during the step has still spent one.
    `worker` names the claiming process (host:pid), to tell who a lost worker's loss is on.
    """
    lease = policy.lease(now)
    # The common case in one statement: the step waits, is due, and nothing newer replaced it.
    step = _take(session, step_id, now=now, lease=lease)
    if step is None:
        # Otherwise, the rare cases first: a lost worker's lease, a superseded delivery.
        recover_lost(session, now=now, policy=policy, step_ids=[step_id])
        if fence_superseded(session, step_id, now=now):
            return None
        step = _take(session, step_id, now=now, lease=lease)
        if step is None:
            return None
    session.execute(
        _open_attempt_statement(),
        {
            "open_step_id": step.id,
            "open_number": step.attempts,
            "open_started_at": now,
            "open_worker": worker or None,
        },
    )
    return step


def _take(session: Session, step_id: str, *, now: datetime, lease: datetime) -> Step | None:
    row = session.execute(
        _claim_statement(),
        {"claim_id": step_id, "claim_now": now, "claim_lease": lease},
    ).one_or_none()
    # A plain Step built from the returned row (not loaded into the session): the ORM's
    # RETURNING path cost more than the UPDATE itself, and the claimed step is only read.
    return None if row is None else Step(**row._asdict())


@functools.cache
def _claim_statement() -> ReturningUpdate[Any]:
    """Built once: SQLAlchemy caches the compiled SQL, but building the expression (the
    runnable test's subqueries) cost more Python time per claim than running it."""
    now = bindparam("claim_now", type_=Step.updated_at.type)
    lease = bindparam("claim_lease", type_=Step.lease_expires_at.type)
    return (
        update(_STEPS)
        .where(_STEPS.c.id == bindparam("claim_id"), _runnable(now), ~_newer_delivery_exists())
        .values(
            state=StepState.IN_PROGRESS,
            attempts=_STEPS.c.attempts + 1,
            lease_expires_at=lease,
            due_at=lease,
            updated_at=now,
        )
        .returning(*_STEPS.c)
    )


class SendRefused(Exception):
    """The step may not send now: its lease was lost, or a newer version replaced it."""

    def __init__(self, reason: str, *, superseded: bool) -> None:
        super().__init__(reason)
        self.superseded = superseded


# A lease taken or renewed at most this long ago still outlives any send begun now by the
# margin Settings demands less this; a send needs no renewal then (see may_send).
FRESH_LEASE_SECONDS = 1.0


def may_send(session: Session, step: Step, *, now: datetime, policy: StepPolicy) -> bool:
    """The cheap form of `confirm_send`, a read: True when the step's lease is fresh enough to
    outlive the send, this worker still owns the attempt, and no newer delivery exists.

    False means "not proven": the caller runs `confirm_send`, which renews the lease or says
    why the step may not send. Most deliveries send a moment after their claim, so this saves
    a write transaction per delivery; the fence is checked just as late as before.
    """
    if step.lease_expires_at is None or step.lease_expires_at - now < timedelta(
        seconds=policy.lease_seconds - FRESH_LEASE_SECONDS
    ):
        return False
    return bool(
        session.scalar(_may_send_statement(), {"send_id": step.id, "send_attempts": step.attempts})
    )


@functools.cache
def _may_send_statement() -> Select[int]:
    return (
        select(func.count())
        .select_from(Step)
        .where(
            Step.id == bindparam("send_id"),
            Step.state == StepState.IN_PROGRESS,
            Step.attempts == bindparam("send_attempts"),
            ~_newer_delivery_exists(),
        )
    )


def confirm_send(session: Session, step: Step, *, now: datetime, policy: StepPolicy) -> None:
    """Just before a delivery sends: renew the lease and check the fence, in one UPDATE.

    The lease then outlives the send's deadline, so no other worker takes the step over while
    the request may still be travelling; and no newer delivery to the outlet exists, so this one
    cannot overwrite newer state. Raises SendRefused otherwise.
    """
    lease = policy.lease(now)
    result = session.execute(
        update(Step)
        .where(
            Step.id == step.id,
            Step.state == StepState.IN_PROGRESS,
            Step.attempts == step.attempts,
            ~_newer_delivery_exists(),
        )
        .values(lease_expires_at=lease, due_at=lease, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return
    owned = session.scalar(
        select(func.count())
        .select_from(Step)
        .where(
            Step.id == step.id,
            Step.state == StepState.IN_PROGRESS,
            Step.attempts == step.attempts,
        )
    )
    if owned:
        raise SendRefused("a newer version goes to this outlet", superseded=True)
    raise SendRefused("lease lost to another worker", superseded=False)


def complete(session: Session, step: Step, *, now: datetime, receipt: dict[str, object]) -> bool:
    return _end_attempt(
        session,
        step,
        now=now,
        outcome="done",
        error=None,
        state=StepState.DONE,
        finished_at=now,
        next_attempt_at=None,
        receipt=receipt,
    )


def cancel(session: Session, step: Step, *, now: datetime, reason: str) -> bool:
    return _end_attempt(
        session,
        step,
        now=now,
        outcome="canceled",
        error=reason,
        state=StepState.CANCELED,
        finished_at=now,
        last_error=reason,
    )


def _end_attempt(
    session: Session,
    step: Step,
    *,
    now: datetime,
    outcome: str,
    error: str | None,
    **values: object,
) -> bool:
    """Close this worker's attempt and move the step on; False when the lease was lost.

    The attempt number is the fencing token: a late worker whose step was taken over (or
    recovered as lost) finds another number, or another state, and changes nothing. Whatever
    follows, the lease is given up and the sweeper has nothing to look at unless `values`
    says when (a retry's `due_at`).
    """
    changes = {"lease_expires_at": None, "due_at": None, "updated_at": now, **values}
    result = session.execute(
        _end_statement(tuple(sorted(changes))),
        {
            "end_id": step.id,
            "end_attempts": step.attempts,
            **{f"end_{name}": value for name, value in changes.items()},
        },
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.execute(
        _close_attempt_statement(),
        {
            "close_step_id": step.id,
            "close_number": step.attempts,
            "close_finished_at": now,
            "close_outcome": outcome,
            "close_error": error,
        },
    )
    return True


# The hot path's statements are built once (functools.cache) and bound per call, on the tables
# rather than through the ORM: SQLAlchemy caches compiled SQL, but building each expression
# and its cache key, and the ORM's bulk-update machinery, cost more CPU per step than SQLite
# took to run them (py-spy of a drained backlog, bench/README.md).
_STEPS = cast(Table, Step.__table__)
_ATTEMPTS = cast(Table, StepAttempt.__table__)


@functools.cache
def _end_statement(columns: tuple[str, ...]) -> Update:
    return (
        update(_STEPS)
        .where(
            _STEPS.c.id == bindparam("end_id"),
            _STEPS.c.state == StepState.IN_PROGRESS,
            _STEPS.c.attempts == bindparam("end_attempts"),
        )
        .values({name: bindparam(f"end_{name}", type_=_STEPS.c[name].type) for name in columns})
    )


@functools.cache
def _close_attempt_statement() -> Update:
    return (
        update(_ATTEMPTS)
        .where(
            _ATTEMPTS.c.step_id == bindparam("close_step_id"),
            _ATTEMPTS.c.number == bindparam("close_number"),
        )
        .values(
            finished_at=bindparam("close_finished_at", type_=_ATTEMPTS.c.finished_at.type),
            outcome=bindparam("close_outcome"),
            error=bindparam("close_error"),
        )
    )


@functools.cache
def _open_attempt_statement() -> Insert:
    return insert(_ATTEMPTS).values(
        step_id=bindparam("open_step_id"),
        number=bindparam("open_number"),
        started_at=bindparam("open_started_at", type_=_ATTEMPTS.c.started_at.type),
        worker=bindparam("open_worker"),
    )


def _send_rows(
    session: Session,
    query: Select[str, str, str, str],
    params: dict[str, object],
    *,
    now: datetime,
    policy: StepPolicy,
) -> list[StepRef]:
    """The steps `query` finds (id, stage, lane, outlet), recorded as sent now (`policy.sent`
    for plain rows): the caller sends their messages after the commit."""
    rows = session.execute(query, params).all()
    _mark_sent(session, [row.id for row in rows], now=now, policy=policy)
    return [StepRef(row.id, Stage(row.stage), Lane(row.lane), row.outlet, now) for row in rows]


def _mark_sent(session: Session, ids: list[str], *, now: datetime, policy: StepPolicy) -> None:
    """`policy.sent` for steps known by id only, in one UPDATE."""
    if ids:
        session.execute(
            update(_STEPS)
            .where(_STEPS.c.id.in_(ids))
            .values(enqueued_at=now, due_at=policy.redrive_at(now))
        )


def defer(
    session: Session,
    step: Step,
    *,
    now: datetime,
    until: datetime,
    why: tuple[str, str] | None = None,
    resent_after: float | None = None,
) -> bool:
    """Put a claimed step back, unattempted, until `until` (an embargo still in force, an open
    breaker, a paced outlet). `why` is (error_kind, last_error) to show while it waits;
    `resent_after`: the caller sends its message with a countdown, so the sweeper looks at it
    only that long after `until`."""
    extra: dict[str, object] = {}
    if why is not None:
        extra = {"error_kind": why[0], "last_error": why[1]}
    result = session.execute(
        update(Step)
        .where(
            Step.id == step.id, Step.state == StepState.IN_PROGRESS, Step.attempts == step.attempts
        )
        .values(
            # A step that had failed before keeps waiting as a retry.
            state=StepState.RETRYING if step.attempts > 1 else StepState.PENDING,
            attempts=Step.attempts - 1,
            next_attempt_at=until,
            enqueued_at=None if resent_after is None else now,
            due_at=until if resent_after is None else until + timedelta(seconds=resent_after),
            lease_expires_at=None,
            updated_at=now,
            **extra,
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
    policy: StepPolicy,
    retry_after: float | None = None,
) -> FailureDecision | None:
    """Record a failed attempt and decide what follows; None when the lease was lost.

    `kind` is "transient" (retry on the schedule while it lasts), "permanent" or "unknown".
    A transient failure of a delivery that a newer version has replaced is not retried: the
    newer one carries the story now. A retry due within `short_retry_max` seconds is sent at
    once with a countdown; a later one is left to the sweeper, since long Celery countdowns
    break with Redis' visibility timeout.
    """
    retry = policy.retry(step.stage)
    superseded = kind == "transient" and _superseded(session, step)
    values: dict[str, object]
    last_error = error
    if superseded:
        decision = FailureDecision(StepState.CANCELED, None)
        values = {"state": StepState.CANCELED, "finished_at": now, "next_attempt_at": None}
        last_error = f"{error}; superseded: a newer version goes to this outlet"
    elif kind == "transient" and step.attempts - step.retry_from < retry.max_attempts:
        delay = retry.delay(step.attempts - step.retry_from, retry_after)
        due = now + timedelta(seconds=delay)
        decision = FailureDecision(StepState.RETRYING, delay)
        countdown = delay <= policy.short_retry_max
        values = {
            "state": StepState.RETRYING,
            "next_attempt_at": due,
            "enqueued_at": now if countdown else None,
            "due_at": due + timedelta(seconds=policy.redrive_after) if countdown else due,
        }
    else:
        state = StepState.UNKNOWN if kind == "unknown" else StepState.FAILED
        decision = FailureDecision(state, None)
        values = {"state": state, "finished_at": now, "next_attempt_at": None}
    ended = _end_attempt(
        session,
        step,
        now=now,
        outcome=kind,
        error=error,
        last_error=last_error,
        error_kind=kind,
        **values,
    )
    return decision if ended else None


def hold_for_outlet(
    session: Session, step: Step, *, now: datetime, error: str, kind: str = "gone"
) -> bool:
    """The outlet was disabled or paused by this attempt (410, refused credentials): the step
    waits, unfailed, for a resume (`operations.resume_outlet` makes it due again)."""
    return _end_attempt(
        session,
        step,
        now=now,
        outcome=kind,
        error=error,
        state=StepState.RETRYING,
        last_error=error,
        error_kind=kind,
        next_attempt_at=None,
        enqueued_at=None,
    )


def release_followers(
    session: Session, render_step: Step, *, now: datetime, policy: StepPolicy
) -> list[StepRef]:
    """After a render: the index and delivery steps of that version become sendable."""
    return _send_rows(
        session,
        _followers_statement(),
        {
            "follow_article_id": render_step.article_id,
            "follow_version": render_step.version,
            "follow_now": now,
        },
        now=now,
        policy=policy,
    )


@functools.cache
def _followers_statement() -> Select[str, str, str, str]:
    now = bindparam("follow_now", type_=Step.updated_at.type)
    return select(Step.id, Step.stage, Step.lane, Step.outlet).where(
        Step.article_id == bindparam("follow_article_id"),
        Step.version == bindparam("follow_version"),
        Step.stage != Stage.RENDER,
        Step.state == StepState.PENDING,
        or_(Step.next_attempt_at.is_(None), Step.next_attempt_at <= now),
    )


def release_parked(
    session: Session, outlet: str, *, now: datetime, policy: StepPolicy, limit: int = 1
) -> list[StepRef]:
    """Deliveries parked while their outlet had no free slot, oldest first: sendable now.

    A worker parks a delivery (`defer` with PARKED) rather than holding a thread while the
    outlet has PRESSROOM_OUTLET_CONCURRENCY deliveries in flight; each delivery that ends lets
    one parked delivery go. The parked step's own due time is the backstop when none ends.
    """
    parked = session.scalars(
        select(Step)
        .where(
            Step.outlet == outlet,
            Step.stage == Stage.DELIVER,
            Step.state.in_(WAITING),
            Step.error_kind == PARKED,
        )
        .order_by(Step.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for step in parked:
        step.next_attempt_at = now
        step.error_kind = None
        step.last_error = None
        policy.sent(step, now)
    return [StepRef.of(step) for step in parked]


def take_due(
    session: Session,
    *,
    now: datetime,
    policy: StepPolicy,
    queue_head: Callable[[str], datetime | None] | None = None,
    limit: int = 500,
) -> list[StepRef]:
    """The sweeper's pass over due steps (oldest due first, at most `limit`); returns what to send.

    - a lease expired: the worker was lost; the step is recovered (or failed, see recover_lost)
      and sent again;
    - never sent, or its retry or embargo fell due: sent now;
    - sent but not started after `redrive_after`: sent again only if its message is no longer in
      its queue. `queue_head(queue)` answers when the oldest message still waiting there was
      sent (None: the queue is empty); queues are first in, first out, so a step sent before
      that is not waiting there any more: its message was lost (Redis restarted without it, a
      publish that failed). Without `queue_head` (Redis unreachable) nothing sent is re-sent.
    - not runnable yet (waiting for its render, an older delivery, a paused outlet): looked at
      again later.
    """
    # Plain rows, not ORM objects, and set-wise UPDATEs: a sweep that finds a full batch of
    # work still queued must stay cheap (bench/sweep.py).
    due = [
        _Due(*row)
        for row in session.execute(
            select(
                Step.id,
                Step.state,
                Step.stage,
                Step.lane,
                Step.outlet,
                Step.enqueued_at,
                Step.next_attempt_at,
                Step.lease_expires_at,
            )
            .where(Step.due_at.is_not(None), Step.due_at <= now)
            .order_by(Step.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
    ]
    if not due:
        return []
    expired = [
        r.id
        for r in due
        if r.state == StepState.IN_PROGRESS
        and r.lease_expires_at is not None
        and r.lease_expires_at < now
    ]
    if expired:
        # Recovered steps are due again a little later (see recover_lost), or failed.
        recover_lost(session, now=now, policy=policy, step_ids=expired)
        due = [r for r in due if r.id not in expired]
    # State and due time are known from the rows; asking the database only for the rest keeps
    # the query on the primary key (given `state`, SQLite would scan the whole backlog).
    waiting = [
        r.id
        for r in due
        if r.state in WAITING and (r.next_attempt_at is None or r.next_attempt_at <= now)
    ]
    runnable = set(
        session.scalars(select(Step.id).where(Step.id.in_(waiting), _ready(now))).all()
        if waiting
        else ()
    )
    heads: dict[str, datetime | None] = {}
    send, later, finished = [], [], []
    back_off: dict[int, list[str]] = {}
    not_yet: dict[datetime, list[str]] = {}
    for row in due:
        if row.state in FINISHED:
            finished.append(row.id)
        elif row.state not in WAITING:
            continue  # in progress under a live lease: due again when it expires
        elif row.id not in runnable:
            # Waiting for its render, an older delivery or a paused outlet (looked at again
            # later), or not due yet (an embargo: due then).
            if row.next_attempt_at is not None and row.next_attempt_at > now:
                not_yet.setdefault(row.next_attempt_at, []).append(row.id)
            else:
                later.append(row.id)
        elif row.enqueued_at is None or _message_lost(
            row.enqueued_at,
            queue_name(Stage(row.stage), Lane(row.lane), row.outlet),
            queue_head,
            heads,
        ):
            send.append(row)
        else:
            # Still in its queue. The longer it has waited, the later it is looked at again
            # (the wait doubles), so a long backlog costs the sweeper less and less.
            # Powers of two of REDRIVE_AFTER, so one UPDATE moves each group.
            waited = (now - row.enqueued_at).total_seconds() / max(policy.redrive_after, 0.001)
            doublings = max(int(waited), 1).bit_length() - 1
            back_off.setdefault(min(doublings, 16), []).append(row.id)
    _set_due(session, finished, None)
    _set_due(session, later, now + timedelta(seconds=policy.redrive_after))
    for doublings, ids in back_off.items():
        _set_due(session, ids, now + timedelta(seconds=policy.redrive_after * 2**doublings))
    for when, ids in not_yet.items():
        _set_due(session, ids, when)
    _mark_sent(session, [r.id for r in send], now=now, policy=policy)
    refs = [StepRef(r.id, Stage(r.stage), Lane(r.lane), r.outlet, now) for r in send]
    refs.sort(key=lambda r: r.lane != Lane.URGENT)
    return refs


@dataclass(frozen=True)
class _Due:
    id: str
    state: str
    stage: str
    lane: str
    outlet: str
    enqueued_at: datetime | None
    next_attempt_at: datetime | None
    lease_expires_at: datetime | None


def _set_due(session: Session, ids: list[str], when: datetime | None) -> None:
    if ids:
        session.execute(
            update(Step)
            .where(Step.id.in_(ids))
            .values(due_at=when)
            .execution_options(synchronize_session=False)
        )


def _message_lost(
    sent_at: datetime,
    queue: str,
    queue_head: Callable[[str], datetime | None] | None,
    heads: dict[str, datetime | None],
) -> bool:
    """Whether a message sent at `sent_at` has left `queue` without its step being started."""
    if queue_head is None:
        return False
    if queue not in heads:
        heads[queue] = queue_head(queue)
    head = heads[queue]
    return head is None or head > sent_at
