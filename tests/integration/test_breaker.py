"""Circuit breakers and pacing on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from pressroom_shared import breaker
from pressroom_shared.article import Event, PubStatus
from pressroom_shared.config import Settings
from pressroom_shared.contracts import Lane, Stage
from pressroom_shared.db import make_engine, make_sessionmaker, transaction
from pressroom_shared.migrate import upgrade
from pressroom_shared.models import Article, OutletState, Step
from pressroom_shared.outlets_config import BreakerPolicy
from pressroom_shared.steps import RetryPolicy, StepPolicy, StepState, claim, defer, plan_version
from pressroom_shared.timeutil import utcnow

pytestmark = pytest.mark.integration

POLICY = BreakerPolicy(failures=3, cooldown=60.0)
STEPS = StepPolicy(
    delivery=RetryPolicy((1.0, 2.0), max_seconds=30.0),
    stage=RetryPolicy.exponential(3, 1.0, 30.0),
    lease_seconds=60,
)


@pytest.fixture
def sessions(database_url: str) -> sessionmaker[Session]:
    engine = make_engine(Settings(database_url=database_url))
    upgrade(engine)
    return make_sessionmaker(engine)


def admit(
    sessions: sessionmaker[Session], now: datetime, per_minute: float | None = None
) -> breaker.Wait | None:
    with transaction(sessions) as session:
        return breaker.admit(
            session, "tg", now=now, policy=POLICY, per_minute=per_minute, probe_lease=60.0
        )


def record(sessions: sessionmaker[Session], now: datetime, ok: bool) -> int:
    with transaction(sessions) as session:
        return breaker.record(session, "tg", now=now, ok=ok, policy=POLICY)


def state(sessions: sessionmaker[Session]) -> tuple[str, int]:
    with sessions() as session:
        row = session.get(OutletState, "tg")
        assert row is not None
        return row.breaker, row.failures


def test_pacing_spaces_sends_at_the_configured_rate(sessions: sessionmaker[Session]) -> None:
    t0 = utcnow()
    assert admit(sessions, t0, per_minute=20) is None
    wait = admit(sessions, t0, per_minute=20)
    assert wait is not None
    assert wait.why == breaker.HELD_BY_PACING
    assert wait.seconds == pytest.approx(3.0, abs=0.01)  # 20 a minute
    assert admit(sessions, t0 + timedelta(seconds=1), per_minute=20) is not None
    assert admit(sessions, t0 + timedelta(seconds=3), per_minute=20) is None
    # Another outlet has a bucket of its own.
    with transaction(sessions) as session:
        assert (
            breaker.admit(session, "other", now=t0, policy=POLICY, per_minute=20, probe_lease=1)
            is None
        )


def test_breaker_opens_probes_and_closes(sessions: sessionmaker[Session]) -> None:
    t0 = utcnow()
    for n in range(POLICY.failures - 1):
        assert admit(sessions, t0) is None
        record(sessions, t0, ok=False)
        assert state(sessions) == ("closed", n + 1)
    record(sessions, t0, ok=False)
    assert state(sessions) == ("open", 3)
    wait = admit(sessions, t0 + timedelta(seconds=10))
    assert wait is not None
    assert wait.why == breaker.HELD_BY_BREAKER
    assert wait.seconds == pytest.approx(50.0, abs=0.01)
    # After the cool-down one probe goes; the others wait while it is in flight.
    t1 = t0 + timedelta(seconds=61)
    assert admit(sessions, t1) is None
    assert state(sessions)[0] == "half_open"
    assert admit(sessions, t1) is not None
    # The probe fails: open again for a whole cool-down.
    record(sessions, t1, ok=False)
    assert state(sessions)[0] == "open"
    t2 = t1 + timedelta(seconds=61)
    assert admit(sessions, t2) is None
    record(sessions, t2, ok=True)
    assert state(sessions) == ("closed", 0)
    assert admit(sessions, t2) is None


def test_a_closing_breaker_releases_the_steps_it_held(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    article_id = str(uuid.uuid4())
    with transaction(sessions) as session:
        session.add(Article(id=article_id, slug="s", current_version=1, pubstatus=PubStatus.USABLE))
        session.flush()
        plan_version(
            session,
            article_id=article_id,
            version=1,
            event=Event.PUBLISHED,
            lane=Lane.NORMAL,
            deliveries={"tg": Event.PUBLISHED},
            now=now,
            policy=STEPS,
        )
        for step in session.query(Step).filter_by(article_id=article_id).all():
            if step.stage == Stage.RENDER:
                step.state = StepState.DONE
            else:
                step_id = step.id
    with transaction(sessions) as session:
        step = claim(session, step_id, now=now, policy=STEPS)
        assert step is not None
        later = now + timedelta(seconds=50)
        assert defer(
            session, step, now=now, until=later, why=(breaker.HELD_BY_BREAKER, "breaker open")
        )
    with sessions() as session:
        held = session.get(Step, step_id)
        assert held is not None
        assert (held.state, held.attempts, held.error_kind) == ("pending", 0, "breaker")
    with transaction(sessions) as session:
        row = breaker._row(session, "tg", now)
        row.breaker = breaker.HALF_OPEN
    assert record(sessions, now, ok=True) == 1
    with sessions() as session:
        released = session.get(Step, step_id)
        assert released is not None
        assert released.next_attempt_at == now
        assert released.due_at == now


def test_retention_purges_settled_send_records_only(sessions: sessionmaker[Session]) -> None:
    from pressroom_shared.models import OutletSend
    from pressroom_shared.retention import purge_finished

    old, fresh = utcnow() - timedelta(days=40), utcnow()
    with transaction(sessions) as session:
        for n, (state, when) in enumerate(
            [("sent", old), ("unknown", old), ("pending", old), ("sending", old), ("sent", fresh)]
        ):
            session.add(
                OutletSend(
                    outlet="letters",
                    delivery_id="dlv_x",
                    article_id="a",
                    version=1,
                    kind="issue",
                    recipient=f"r{n}@example.org",
                    state=state,
                    attempt=1,
                    data={},
                    created_at=when,
                    updated_at=when,
                )
            )
    with transaction(sessions) as session:
        assert purge_finished(session, now=utcnow(), retention_days=30).sends == 2
    with sessions() as session:
        left = {r.state for r in session.query(OutletSend).all()}
        assert left == {"pending", "sending", "sent"}


def test_a_retry_after_holds_every_paced_delivery_to_the_outlet(
    sessions: sessionmaker[Session],
) -> None:
    t0 = utcnow()
    assert admit(sessions, t0, per_minute=20) is None
    with transaction(sessions) as session:
        breaker.slow_down(session, "tg", now=t0, seconds=30, per_minute=20)
    wait = admit(sessions, t0 + timedelta(seconds=10), per_minute=20)
    assert wait is not None
    assert wait.seconds == pytest.approx(20.0, abs=0.01)
    assert admit(sessions, t0 + timedelta(seconds=30), per_minute=20) is None
