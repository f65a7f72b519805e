"""What operators do to deliveries and outlets; the CLI and the API share these functions.

Each runs in the caller's transaction and returns what to send after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, aliased

from pressroom_shared.contracts import Stage
from pressroom_shared.models import OperatorAction, OutletState, Step
from pressroom_shared.steps import (
    RETRYABLE_BY_OPERATOR,
    WAITING,
    OutletMode,
    StepPolicy,
    StepRef,
    StepState,
)

log = structlog.get_logger(__name__)

# The API and CLI call a done step "delivered"; every other state keeps its name.
DELIVERY_STATES = (
    "pending",
    "in_progress",
    "retrying",
    "delivered",
    "failed",
    "unknown",
    "canceled",
)


def state_of(step_state: str) -> str:
    return "delivered" if step_state == StepState.DONE else step_state


def _step_state(delivery_state: str) -> str:
    return StepState.DONE if delivery_state == "delivered" else delivery_state


@dataclass(frozen=True)
class DeliveryFilter:
    state: str | None = None  # a DELIVERY_STATES name
    outlet: str | None = None
    article_id: str | None = None
    limit: int = 100
    since: datetime | None = None  # last changed at or after
    until: datetime | None = None  # last changed before

    def query(self) -> Select[Any]:
        query = select(Step).where(Step.stage == Stage.DELIVER)
        if self.state:
            query = query.where(Step.state == _step_state(self.state))
        if self.outlet:
            query = query.where(Step.outlet == self.outlet)
        if self.article_id:
            query = query.where(Step.article_id == self.article_id)
        if self.since:
            query = query.where(Step.updated_at >= self.since)
        if self.until:
            query = query.where(Step.updated_at < self.until)
        return query

    @property
    def narrows(self) -> bool:
        """Whether it picks some deliveries rather than all (bulk actions insist on it)."""
        return bool(self.state or self.outlet or self.article_id or self.since or self.until)

    def describe(self) -> dict[str, str]:
        fields = {
            "state": self.state,
            "outlet": self.outlet,
            "article": self.article_id,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }
        return {k: v for k, v in fields.items() if v}


def list_deliveries(session: Session, where: DeliveryFilter) -> list[Step]:
    query = where.query().order_by(Step.updated_at.desc(), Step.id).limit(where.limit)
    return list(session.scalars(query).all())


def delivery_view(step: Step) -> dict[str, Any]:
    return {
        "id": step.id,
        "article_id": step.article_id,
        "outlet": step.outlet,
        "version": step.version,
        "event": step.event,
        "state": state_of(step.state),
        "attempts": step.attempts,
        "last_error": step.last_error,
        "error_kind": step.error_kind,
        "next_attempt_at": step.next_attempt_at,
        "created_at": step.created_at,
        "updated_at": step.updated_at,
        "delivered_at": step.finished_at if step.state == StepState.DONE else None,
        "receipt": step.receipt,
    }


@dataclass(frozen=True)
class ActionResult:
    """What an operator's action did: the steps it changed, and why it left the others."""

    changed: list[str]
    skipped: dict[str, str]  # step id -> reason
    to_send: list[StepRef]


def retry_deliveries(
    session: Session, steps: Sequence[Step], *, now: datetime, policy: StepPolicy, by: str
) -> ActionResult:
    """Send failed, unknown or canceled deliveries again, each with a fresh retry schedule.

    A delivery that a newer version's delivery to the same outlet replaces is left alone: the
    newer one carries the story (an older version must never overwrite it).
    """
    changed, skipped, refs = [], {}, []
    newer = aliased(Step)
    for step in steps:
        if step.state not in RETRYABLE_BY_OPERATOR:
            skipped[step.id] = f"it is {state_of(step.state)}"
            continue
        superseded = session.scalar(
            select(func.max(newer.version)).where(
                newer.article_id == step.article_id,
                newer.outlet == step.outlet,
                newer.stage == step.stage,
                newer.version > step.version,
            )
        )
        if superseded is not None:
            skipped[step.id] = f"version {superseded} replaces it at {step.outlet}"
            continue
        result = session.execute(
            update(Step)
            .where(Step.id == step.id, Step.state.in_(RETRYABLE_BY_OPERATOR))
            .values(
                state=StepState.PENDING,
                retry_from=Step.attempts,
                lost_attempts=0,
                next_attempt_at=None,
                finished_at=None,
                lease_expires_at=None,
                enqueued_at=now,
                # Re-sent by the sweeper if this message is lost.
                due_at=now + timedelta(seconds=policy.redrive_after),
                updated_at=now,
                last_error=f"retried by {by} (was: {step.last_error or step.state})",
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            skipped[step.id] = "changed meanwhile"
            continue
        session.refresh(step)
        changed.append(step.id)
        refs.append(StepRef.of(step))
    log.info("deliveries.retried", by=by, changed=len(changed), skipped=len(skipped))
    record_actions(session, "retry", changed, now=now, by=by)
    return ActionResult(changed, skipped, refs)


def cancel_deliveries(
    session: Session, steps: Sequence[Step], *, now: datetime, by: str
) -> ActionResult:
    """Stop deliveries that have not started (pending, retrying) or that failed."""
    changed, skipped = [], {}
    for step in steps:
        result = session.execute(
            update(Step)
            .where(Step.id == step.id, Step.state.in_([*WAITING, StepState.FAILED]))
            .values(
                state=StepState.CANCELED,
                finished_at=now,
                due_at=None,
                updated_at=now,
                last_error=f"canceled by {by}",
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            changed.append(step.id)
        else:
            skipped[step.id] = f"it is {state_of(step.state)}"
    log.info("deliveries.canceled", by=by, changed=len(changed), skipped=len(skipped))
    record_actions(session, "cancel", changed, now=now, by=by)
    return ActionResult(changed, skipped, [])


# An operator's verdict on a delivery whose outcome could not be known.
MARK_OUTCOMES = {"delivered": StepState.DONE, "failed": StepState.FAILED}


def mark_deliveries(
    session: Session, steps: Sequence[Step], outcome: str, *, now: datetime, by: str
) -> ActionResult:
    """Settle `unknown` deliveries as delivered or failed, once the operator has checked the
    outlet (e.g. the partner confirms it has the story)."""
    state = MARK_OUTCOMES[outcome]
    changed, skipped = [], {}
    for step in steps:
        result = session.execute(
            update(Step)
            .where(Step.id == step.id, Step.state == StepState.UNKNOWN)
            .values(
                state=state,
                finished_at=now,
                due_at=None,
                updated_at=now,
                last_error=None
                if state == StepState.DONE
                else f"marked failed by {by} (was: {step.last_error or 'unknown'})",
                receipt={"marked_by": by} if state == StepState.DONE else step.receipt,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            changed.append(step.id)
        else:
            skipped[step.id] = f"it is {state_of(step.state)}, not unknown"
    log.info("deliveries.marked", by=by, outcome=outcome, changed=len(changed))
    record_actions(session, f"mark-{outcome}", changed, now=now, by=by)
    return ActionResult(changed, skipped, [])


DELIVERY_ACTIONS = ("retry", "cancel", "mark-delivered", "mark-failed")


def act_on_deliveries(
    session: Session,
    action: str,
    steps: Sequence[Step],
    *,
    now: datetime,
    policy: StepPolicy,
    by: str,
) -> ActionResult:
    """One of DELIVERY_ACTIONS on the given deliveries; the console, API and CLI all call it."""
    if action == "retry":
        return retry_deliveries(session, steps, now=now, policy=policy, by=by)
    if action == "cancel":
        return cancel_deliveries(session, steps, now=now, by=by)
    if action.startswith("mark-") and action[5:] in MARK_OUTCOMES:
        return mark_deliveries(session, steps, action[5:], now=now, by=by)
    raise ValueError(f"unknown action {action!r}")


def record_actions(
    session: Session,
    action: str,
    targets: Sequence[str],
    *,
    now: datetime,
    by: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """The audit trail: one row per thing changed (nothing changed, nothing recorded)."""
    session.add_all(
        OperatorAction(at=now, actor=by, action=action, target=target, detail=detail or {})
        for target in targets
    )


def recent_actions(session: Session, limit: int = 50) -> list[OperatorAction]:
    return list(
        session.scalars(
            select(OperatorAction).order_by(OperatorAction.at.desc()).limit(limit)
        ).all()
    )


def outlet_modes(session: Session) -> dict[str, OutletState]:
    return {row.name: row for row in session.scalars(select(OutletState)).all()}


def set_outlet_mode(
    session: Session, name: str, mode: OutletMode, *, now: datetime, by: str, reason: str | None
) -> None:
    row = session.get(OutletState, name, with_for_update=True)
    if row is None:
        row = OutletState(name=name)
        session.add(row)
    row.mode = mode
    row.reason = reason
    row.changed_by = by
    row.changed_at = now
    record_actions(
        session, f"outlet-{mode}", [f"outlet:{name}"], now=now, by=by, detail={"reason": reason}
    )
    if mode is OutletMode.DISABLED:
        log.error("outlet.disabled", outlet=name, reason=reason, alert=True)
    elif mode is OutletMode.PAUSED and by == "remote":
        log.error("outlet.paused", outlet=name, reason=reason, by=by, alert=True)
    else:
        log.warning("outlet.mode", outlet=name, mode=str(mode), by=by, reason=reason)


def resume_outlet(session: Session, name: str, *, now: datetime, by: str) -> int:
    """Make a paused or disabled outlet active again; its held deliveries are due at once."""
    set_outlet_mode(session, name, OutletMode.ACTIVE, now=now, by=by, reason=None)
    result = session.execute(
        update(Step)
        .where(Step.stage == Stage.DELIVER, Step.outlet == name, Step.state.in_(WAITING))
        .values(due_at=now, enqueued_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount  # type: ignore[attr-defined,no-any-return]
