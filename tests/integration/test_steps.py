"""The step state machine on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from pressroom_shared.article import Event, PubStatus
from pressroom_shared.config import Settings
from pressroom_shared.contracts import Lane, Stage
from pressroom_shared.db import make_engine, make_sessionmaker, transaction
from pressroom_shared.migrate import upgrade
from pressroom_shared.models import Article, Step, StepAttempt
from pressroom_shared.steps import (
    RetryPolicy,
    StepState,
    claim,
    complete,
    fail,
    plan_version,
    release_followers,
    successors,
    take_due,
)
from pressroom_shared.timeutil import utcnow

POLICY = RetryPolicy(max_attempts=3, base_seconds=1.0, max_seconds=30.0)


@pytest.fixture
def sessions(database_url: str) -> sessionmaker[Session]:
    engine = make_engine(Settings(database_url=database_url))
    upgrade(engine)
    return make_sessionmaker(engine)


def planned(sessions: sessionmaker[Session], now: datetime) -> dict[str, str]:
    article_id = str(uuid.uuid4())
    with transaction(sessions) as session:
        session.add(Article(id=article_id, slug="s", current_version=1, pubstatus=PubStatus.USABLE))
        session.flush()
        refs = plan_version(
            session,
            article_id=article_id,
            version=1,
            event=Event.PUBLISHED,
            lane=Lane.NORMAL,
            deliveries={"site": Event.PUBLISHED, "partner": Event.PUBLISHED},
            now=now,
        )
        assert [r.stage for r in refs] == [Stage.RENDER]
        steps = session.query(Step).filter_by(article_id=article_id).all()
        return {f"{s.stage}:{s.outlet}": s.id for s in steps}


def test_a_step_is_claimed_once(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    with transaction(sessions) as session:
        first = claim(session, ids["render:"], now=now, lease_seconds=60)
    with transaction(sessions) as session:
        second = claim(session, ids["render:"], now=now, lease_seconds=60)
    assert first is not None
    assert first.attempts == 1
    assert second is None


def test_followers_wait_for_the_render(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    with transaction(sessions) as session:
        assert claim(session, ids["deliver:site"], now=now, lease_seconds=60) is None
        render = claim(session, ids["render:"], now=now, lease_seconds=60)
        assert render is not None
        assert complete(session, render, now=now, receipt={})
        refs = release_followers(session, render, now=now)
    assert sorted((r.stage, r.outlet) for r in refs) == [
        (Stage.DELIVER, "partner"),
        (Stage.DELIVER, "site"),
        (Stage.INDEX, ""),
    ]
    with transaction(sessions) as session:
        assert claim(session, ids["deliver:site"], now=now, lease_seconds=60) is not None


def test_an_expired_lease_can_be_taken_over_and_the_old_owner_cannot_finish(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    with transaction(sessions) as session:
        stale = claim(session, ids["render:"], now=now, lease_seconds=5)
    assert stale is not None
    later = now + timedelta(seconds=6)
    with transaction(sessions) as session:
        fresh = claim(session, ids["render:"], now=later, lease_seconds=5)
    assert fresh is not None
    assert fresh.attempts == 2
    with transaction(sessions) as session:
        assert not complete(session, stale, now=later, receipt={})
        assert complete(session, fresh, now=later, receipt={"detail": "ok"})
        assert session.get(Step, ids["render:"]).state == StepState.DONE  # type: ignore[union-attr]


def test_transient_failures_retry_then_fail_after_the_budget(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    step_id = ids["render:"]
    states = []
    for attempt in range(1, 4):
        with transaction(sessions) as session:
            step = claim(session, step_id, now=now, lease_seconds=60)
            assert step is not None, f"attempt {attempt} could not claim"
            decision = fail(
                session,
                step,
                now=now,
                kind="transient",
                error=f"HTTP 503 #{attempt}",
                policy=POLICY,
                short_retry_max=60,
            )
            assert decision is not None
            states.append(decision.state)
            if decision.retry_in is not None:
                assert 0.5 * 2 ** (attempt - 1) <= decision.retry_in <= 2 ** (attempt - 1)
                now += timedelta(seconds=decision.retry_in)
    assert states == [StepState.RETRYING, StepState.RETRYING, StepState.FAILED]
    with sessions() as session:
        step = session.get(Step, step_id)
        assert step is not None
        assert step.last_error == "HTTP 503 #3"
        attempts = (
            session.query(StepAttempt).filter_by(step_id=step_id).order_by(StepAttempt.number).all()
        )
        assert [(a.number, a.outcome) for a in attempts] == [
            (1, "transient"),
            (2, "transient"),
            (3, "transient"),
        ]


def test_a_retry_is_not_claimed_before_it_is_due(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    step_id = planned(sessions, now)["render:"]
    with transaction(sessions) as session:
        step = claim(session, step_id, now=now, lease_seconds=60)
        assert step is not None
        decision = fail(
            session,
            step,
            now=now,
            kind="transient",
            error="x",
            policy=POLICY,
            retry_after=20,
            short_retry_max=60,
        )
    assert decision is not None
    assert decision.retry_in == 20
    with transaction(sessions) as session:
        assert claim(session, step_id, now=now + timedelta(seconds=19), lease_seconds=60) is None
        assert (
            claim(session, step_id, now=now + timedelta(seconds=21), lease_seconds=60) is not None
        )


def test_permanent_and_unknown_outcomes_are_final(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    for step_id, kind, state in [(ids["render:"], "permanent", StepState.FAILED)]:
        with transaction(sessions) as session:
            step = claim(session, step_id, now=now, lease_seconds=60)
            assert step is not None
            decision = fail(
                session,
                step,
                now=now,
                kind=kind,
                error="HTTP 400",
                policy=POLICY,
                short_retry_max=60,
            )
        assert decision is not None
        assert decision.state == state
        with transaction(sessions) as session:
            assert claim(session, step_id, now=now + timedelta(days=1), lease_seconds=60) is None


def test_the_sweeper_redrives_lost_and_stuck_work_only(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    with transaction(sessions) as session:
        assert take_due(session, now=now, redrive_after=30) == []  # just sent: not lost yet
    later = now + timedelta(seconds=31)
    with transaction(sessions) as session:
        assert [r.id for r in take_due(session, now=later, redrive_after=30)] == [ids["render:"]]
    with transaction(sessions) as session:
        assert take_due(session, now=later, redrive_after=30) == []  # marked as sent again
        step = claim(session, ids["render:"], now=later, lease_seconds=10)
        assert step is not None
    much_later = later + timedelta(seconds=45)  # the worker died: its lease ran out
    with transaction(sessions) as session:
        assert [r.id for r in take_due(session, now=much_later, redrive_after=30)] == [
            ids["render:"]
        ]


def test_a_newer_delivery_waits_while_an_older_one_is_in_flight(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    first = planned(sessions, now)
    article_id = _article_of(sessions, first["render:"])
    with transaction(sessions) as session:
        for step_id in (first["render:"], first["deliver:site"]):
            step = claim(session, step_id, now=now, lease_seconds=60)
            assert step is not None
            if step.stage == "render":
                assert complete(session, step, now=now, receipt={})
        older = session.get(Step, first["deliver:site"])
        assert older is not None
        assert older.state == StepState.IN_PROGRESS
        session.get(Article, article_id).current_version = 2  # type: ignore[union-attr]
        plan_version(
            session,
            article_id=article_id,
            version=2,
            event=Event.KILLED,
            lane=Lane.NORMAL,
            deliveries={"site": Event.KILLED},
            now=now,
        )
    with transaction(sessions) as session:
        render = (
            session.query(Step).filter_by(article_id=article_id, version=2, stage="render").one()
        )
        claimed = claim(session, render.id, now=now, lease_seconds=60)
        assert claimed is not None
        assert complete(session, claimed, now=now, receipt={})
        newer_id = (
            session.query(Step).filter_by(article_id=article_id, version=2, outlet="site").one().id
        )
    with transaction(sessions) as session:
        assert claim(session, newer_id, now=now, lease_seconds=60) is None, "v1 is still in flight"
        due = take_due(session, now=now + timedelta(seconds=31), redrive_after=30)
        assert newer_id not in [r.id for r in due], "nor does the sweeper send it"
    with transaction(sessions) as session:
        older = session.get(Step, first["deliver:site"])
        assert older is not None
        assert complete(session, older, now=now, receipt={})
        assert [r.id for r in successors(session, older, now=now)] == [newer_id]
    with transaction(sessions) as session:
        assert claim(session, newer_id, now=now, lease_seconds=60) is not None


def _article_of(sessions: sessionmaker[Session], step_id: str) -> str:
    with sessions() as session:
        step = session.get(Step, step_id)
        assert step is not None
        return step.article_id
