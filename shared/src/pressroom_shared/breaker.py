"""Each outlet's circuit breaker and send pacing, kept in `outlet_states` so every worker
shares them and operators see them.

    closed ──N consecutive failures──▶ open ──cooldown──▶ half_open (one probe) ──ok──▶ closed
                                         ▲                      │
                                         └──────failure─────────┘

Called by the runner before a delivery sends (`admit`) and after (`record`). A step that may
not send now is put back unattempted until the answer's time (see steps.defer): it waits in the
database, not in a worker thread, and since every outlet has its own queue, an open breaker or
a paced outlet never delays another outlet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pressroom_shared.contracts import Stage
from pressroom_shared.models import OutletState, Step
from pressroom_shared.outlets_config import BreakerPolicy
from pressroom_shared.steps import WAITING, OutletMode

log = structlog.get_logger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
# Step.error_kind of a step the breaker holds; `record` releases them when it closes.
HELD_BY_BREAKER = "breaker"
HELD_BY_PACING = "paced"


@dataclass(frozen=True)
class Wait:
    seconds: float
    why: str  # HELD_BY_BREAKER or HELD_BY_PACING
    detail: str


def _row(session: Session, outlet: str, now: datetime) -> OutletState:
    """The outlet's row, locked; created (active) when absent, without racing another worker."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(OutletState)
        .values(name=outlet, mode=OutletMode.ACTIVE, changed_at=now, breaker=CLOSED, failures=0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    row = session.get(OutletState, outlet, with_for_update=True, populate_existing=True)
    assert row is not None
    return row


def quiet(session: Session, outlet: str) -> bool:
    """No breaker business: the breaker is closed with no failure counted (or no row yet)."""
    found = session.execute(
        select(OutletState.breaker, OutletState.failures).where(OutletState.name == outlet)
    ).first()
    return found is None or (found.breaker == CLOSED and found.failures == 0)


def admit(
    session: Session,
    outlet: str,
    *,
    now: datetime,
    policy: BreakerPolicy,
    per_minute: float | None,
    probe_lease: float,
) -> Wait | None:
    """None: send now (a pacing token is taken; in half-open, this send is the probe).
    Otherwise how long to wait, unattempted."""
    if per_minute is None and (not policy.enabled or quiet(session, outlet)):
        return None  # the common case, read without a lock or a write
    row = _row(session, outlet, now)
    breaking = policy.enabled and row.breaker in (OPEN, HALF_OPEN)
    if breaking and row.breaker_until and row.breaker_until > now:
        wait = (row.breaker_until - now).total_seconds()
        what = "open" if row.breaker == OPEN else "half-open, a probe is in flight"
        return Wait(wait, HELD_BY_BREAKER, f"breaker {what}: waiting {wait:.0f} s")
    if per_minute:
        rate = per_minute / 60.0
        capacity = max(1.0, per_minute / 20.0)
        tokens = capacity if row.tokens is None or row.tokens_at is None else row.tokens
        if row.tokens_at is not None:
            tokens = min(capacity, tokens + (now - row.tokens_at).total_seconds() * rate)
        if tokens < 1.0 - 1e-9:  # float rounding must not hold a send for nothing
            row.tokens, row.tokens_at = tokens, now
            wait = (1.0 - tokens) / rate
            return Wait(wait, HELD_BY_PACING, f"paced at {per_minute:g}/min: waiting {wait:.1f} s")
        row.tokens, row.tokens_at = tokens - 1.0, now
    if breaking:
        # The cool-down is over (or the last probe's worker was lost): this send is the probe.
        row.breaker = HALF_OPEN
        row.breaker_until = now + timedelta(seconds=probe_lease)
        row.breaker_changed_at = now
        log.warning("outlet.breaker_probe", outlet=outlet)
    return None


def slow_down(
    session: Session, outlet: str, *, now: datetime, seconds: float, per_minute: float
) -> None:
    """The remote asked for a pause (a 429's retry_after): every delivery to the outlet waits
    it out, not only the one that was told, so the others do not each spend an attempt on
    their own 429."""
    row = _row(session, outlet, now)
    rate = per_minute / 60.0
    tokens = 1.0 - seconds * rate  # `admit` finds a whole token again in `seconds`
    if row.tokens is None or row.tokens_at is None or tokens < row.tokens:
        row.tokens, row.tokens_at = tokens, now


def record(session: Session, outlet: str, *, now: datetime, ok: bool, policy: BreakerPolicy) -> int:
    """Count a send's outcome. `ok`: the remote answered (even to reject the content).

    Returns how many held steps a closing breaker made due again.
    """
    if not policy.enabled or (ok and quiet(session, outlet)):
        return 0
    row = _row(session, outlet, now)
    if ok:
        was = row.breaker
        row.failures = 0
        if was == CLOSED:
            return 0
        row.breaker, row.breaker_until, row.breaker_changed_at = CLOSED, None, now
        log.warning("outlet.breaker_closed", outlet=outlet)
        result = session.execute(
            update(Step)
            .where(
                Step.stage == Stage.DELIVER,
                Step.outlet == outlet,
                Step.state.in_(WAITING),
                Step.error_kind == HELD_BY_BREAKER,
            )
            .values(next_attempt_at=now, due_at=now, enqueued_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount  # type: ignore[attr-defined,no-any-return]
    row.failures += 1
    if row.breaker == HALF_OPEN or (row.breaker == CLOSED and row.failures >= policy.failures):
        row.breaker = OPEN
        row.breaker_until = now + timedelta(seconds=policy.cooldown)
        row.breaker_changed_at = now
        log.error(
            "outlet.breaker_open",
            outlet=outlet,
            failures=row.failures,
            cooldown=policy.cooldown,
            alert=True,
        )
    return 0
