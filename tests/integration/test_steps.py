"""The step state machine on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from pressroom_shared.article import Event, PubStatus
from pressroom_shared.config import Settings
from pressroom_shared.contracts import Lane, Stage
from pressroom_shared.db import make_engine, make_sessionmaker, transaction
from pressroom_shared.migrate import upgrade
from pressroom_shared.models import Article, Step, StepAttempt
from pressroom_shared.operations import resume_outlet, retry_deliveries, set_outlet_mode
from pressroom_shared.retention import Purged, purge_finished
from pressroom_shared.steps import (
    WORKER_LOST,
    OutletMode,
    RetryPolicy,
    SendRefused,
    StepPolicy,
    StepState,
    cancel_waiting,
    claim,
    complete,
    confirm_send,
    fail,
    hold_for_outlet,
    new_step,
    outlets_reached,
    plan_version,
    recover_lost,
    release_followers,
    successors,
    take_due,
)
from pressroom_shared.timeutil import utcnow

POLICY = StepPolicy(
    delivery=RetryPolicy((1.0, 2.0), max_seconds=30.0),
    stage=RetryPolicy.exponential(3, 1.0, 30.0),
    lease_seconds=60,
    redrive_after=30,
    max_lost_attempts=2,
    short_retry_max=60,
)


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
            policy=POLICY,
        )
        assert [r.stage for r in refs] == [Stage.RENDER]
        steps = session.query(Step).filter_by(article_id=article_id).all()
        return {f"{s.stage}:{s.outlet}": s.id for s in steps}


def test_a_step_is_claimed_once(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    with transaction(sessions) as session:
        first = claim(session, ids["render:"], now=now, policy=POLICY)
    with transaction(sessions) as session:
        second = claim(session, ids["render:"], now=now, policy=POLICY)
    assert first is not None
    assert first.attempts == 1
    assert second is None


def test_followers_wait_for_the_render(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    with transaction(sessions) as session:
        assert claim(session, ids["deliver:site"], now=now, policy=POLICY) is None
        render = claim(session, ids["render:"], now=now, policy=POLICY)
        assert render is not None
        assert complete(session, render, now=now, receipt={})
        refs = release_followers(session, render, now=now, policy=POLICY)
    assert sorted((r.stage, r.outlet) for r in refs) == [
        (Stage.DELIVER, "partner"),
        (Stage.DELIVER, "site"),
        (Stage.INDEX, ""),
    ]
    with transaction(sessions) as session:
        assert claim(session, ids["deliver:site"], now=now, policy=POLICY) is not None


def test_an_expired_lease_can_be_taken_over_and_the_old_owner_cannot_finish(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    with transaction(sessions) as session:
        stale = claim(session, ids["render:"], now=now, policy=replace(POLICY, lease_seconds=5))
    assert stale is not None
    later = now + timedelta(seconds=6)
    with transaction(sessions) as session:
        # The lease ran out: the step is recovered, and due again a little later.
        assert (
            claim(session, ids["render:"], now=later, policy=replace(POLICY, lease_seconds=5))
            is None
        )
    later += timedelta(seconds=POLICY.redrive_after)
    with transaction(sessions) as session:
        fresh = claim(session, ids["render:"], now=later, policy=replace(POLICY, lease_seconds=5))
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
            step = claim(session, step_id, now=now, policy=POLICY)
            assert step is not None, f"attempt {attempt} could not claim"
            decision = fail(
                session,
                step,
                now=now,
                kind="transient",
                error=f"HTTP 503 #{attempt}",
                policy=POLICY,
            )
            assert decision is not None
            states.append(decision.state)
            if decision.retry_in is not None:
                assert 2 ** (attempt - 1) <= decision.retry_in <= 1.2 * 2 ** (attempt - 1)
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
        step = claim(session, step_id, now=now, policy=POLICY)
        assert step is not None
        decision = fail(
            session,
            step,
            now=now,
            kind="transient",
            error="x",
            policy=POLICY,
            retry_after=20,
        )
    assert decision is not None
    assert decision.retry_in == 20
    with transaction(sessions) as session:
        assert claim(session, step_id, now=now + timedelta(seconds=19), policy=POLICY) is None
        assert claim(session, step_id, now=now + timedelta(seconds=21), policy=POLICY) is not None


def test_permanent_and_unknown_outcomes_are_final(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    for step_id, kind, state in [(ids["render:"], "permanent", StepState.FAILED)]:
        with transaction(sessions) as session:
            step = claim(session, step_id, now=now, policy=POLICY)
            assert step is not None
            decision = fail(
                session,
                step,
                now=now,
                kind=kind,
                error="HTTP 400",
                policy=POLICY,
            )
        assert decision is not None
        assert decision.state == state
        with transaction(sessions) as session:
            assert claim(session, step_id, now=now + timedelta(days=1), policy=POLICY) is None


def test_the_sweeper_resends_only_messages_that_left_their_queue(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    waiting_behind: dict[str, datetime | None] = {"render": now - timedelta(seconds=5)}
    with transaction(sessions) as session:
        assert take_due(session, now=now, policy=POLICY, queue_head=waiting_behind.get) == []
    later = now + timedelta(seconds=31)
    with transaction(sessions) as session:
        # The oldest message in `render` was sent before ours: ours is still waiting there.
        assert take_due(session, now=later, policy=POLICY, queue_head=waiting_behind.get) == []
        # Redis unreachable: nothing sent is sent again.
        assert take_due(session, now=later + timedelta(seconds=31), policy=POLICY) == []
    much_later = later + timedelta(seconds=120)  # each look at a queued step waits longer
    with transaction(sessions) as session:
        # The queue is empty (Redis restarted without it): the message was lost.
        refs = take_due(session, now=much_later, policy=POLICY, queue_head=lambda _: None)
        assert [r.id for r in refs] == [ids["render:"]]
    with transaction(sessions) as session:
        assert take_due(session, now=much_later, policy=POLICY, queue_head=lambda _: None) == []
        step = claim(
            session, ids["render:"], now=much_later, policy=replace(POLICY, lease_seconds=10)
        )
        assert step is not None
    lease_gone = much_later + timedelta(seconds=11)  # the worker died: its lease ran out
    with transaction(sessions) as session:
        assert take_due(session, now=lease_gone, policy=POLICY, queue_head=lambda _: None) == []
        step = session.get(Step, ids["render:"])
        assert step is not None
        assert (step.state, step.lost_attempts) == (StepState.RETRYING, 1)
    spread = lease_gone + timedelta(seconds=POLICY.redrive_after + 1)  # run again soon after
    with transaction(sessions) as session:
        refs = take_due(session, now=spread, policy=POLICY, queue_head=lambda _: None)
        assert [r.id for r in refs] == [ids["render:"]]


def test_a_poison_step_that_kills_every_worker_ends_failed(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    step_id = planned(sessions, now)["render:"]
    short = replace(POLICY, lease_seconds=5, max_lost_attempts=2)
    for _ in range(2):
        with transaction(sessions) as session:
            assert claim(session, step_id, now=now, policy=short) is not None
        now += timedelta(seconds=6)  # the worker died with the step
        with transaction(sessions) as session:
            recover_lost(session, now=now, policy=short)
        now += timedelta(seconds=short.redrive_after)  # lost steps run again a little later
    with transaction(sessions) as session:
        assert claim(session, step_id, now=now, policy=short) is None
        assert take_due(session, now=now, policy=short, queue_head=lambda _: None) == []
    with sessions() as session:
        step = session.get(Step, step_id)
        assert step is not None
        assert step.state == StepState.FAILED
        assert step.last_error is not None
        assert WORKER_LOST in step.last_error
        outcomes = [a.outcome for a in session.query(StepAttempt).filter_by(step_id=step_id)]
        assert outcomes == ["lost", "lost"]
    with transaction(sessions) as session:
        later = now + timedelta(days=1)
        assert take_due(session, now=later, policy=short, queue_head=lambda _: None) == []


def test_a_lost_worker_is_counted_against_the_step_it_took_up_last(
    sessions: sessionmaker[Session],
) -> None:
    """A bystander running when the poison step killed their worker is run again, uncharged."""
    now = utcnow()
    ids = planned(sessions, now)
    _rendered(sessions, ids, now)
    short = replace(POLICY, lease_seconds=5)
    with transaction(sessions) as session:
        assert claim(session, ids["deliver:site"], now=now, policy=short, worker="w:1")
    with transaction(sessions) as session:
        later = now + timedelta(seconds=1)
        assert claim(session, ids["deliver:partner"], now=later, policy=short, worker="w:1")
    with transaction(sessions) as session:
        recover_lost(session, now=now + timedelta(seconds=7), policy=short)
    with sessions() as session:
        bystander = session.get(Step, ids["deliver:site"])
        poison = session.get(Step, ids["deliver:partner"])
        assert bystander is not None
        assert poison is not None
        assert (bystander.state, bystander.lost_attempts) == (StepState.RETRYING, 0)
        assert (poison.state, poison.lost_attempts) == (StepState.RETRYING, 1)
        assert bystander.last_error is not None
        assert "not counted" in bystander.last_error


def _rendered(sessions: sessionmaker[Session], ids: dict[str, str], now: datetime) -> None:
    with transaction(sessions) as session:
        render = claim(session, ids["render:"], now=now, policy=POLICY)
        assert render is not None
        assert complete(session, render, now=now, receipt={})


def _plan_v2(sessions: sessionmaker[Session], article_id: str, now: datetime) -> str:
    with transaction(sessions) as session:
        session.get(Article, article_id).current_version = 2  # type: ignore[union-attr]
        plan_version(
            session,
            article_id=article_id,
            version=2,
            event=Event.UPDATED,
            lane=Lane.NORMAL,
            deliveries={"partner": Event.UPDATED},
            now=now,
            policy=POLICY,
        )
        return str(
            session.query(Step)
            .filter_by(article_id=article_id, version=2, outlet="partner")
            .one()
            .id
        )


def test_kills_reach_every_outlet_whose_delivery_was_ever_attempted(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    article_id = _article_of(sessions, ids["render:"])
    _rendered(sessions, ids, now)
    with transaction(sessions) as session:
        assert outlets_reached(session, article_id) == set()
        step = claim(session, ids["deliver:partner"], now=now, policy=POLICY)
        assert step is not None
        # A 500 after the partner may have processed it: still reached.
        fail(session, step, now=now, kind="transient", error="HTTP 500", policy=POLICY)
    with transaction(sessions) as session:
        assert session.get(Step, ids["deliver:partner"]).state == StepState.RETRYING  # type: ignore[union-attr]
        assert outlets_reached(session, article_id) == {"partner"}


def test_a_claim_racing_with_a_kill_is_either_canceled_or_counted_as_reached(
    sessions: sessionmaker[Session],
) -> None:
    """Cancel first, then read: a claim that commits while the kill waits is seen by it."""
    now = utcnow()
    ids = planned(sessions, now)
    article_id = _article_of(sessions, ids["render:"])
    _rendered(sessions, ids, now)
    claimed = threading.Event()
    kill_started = threading.Event()
    reached: list[set[str]] = []

    def kill() -> None:
        with transaction(sessions) as session:
            kill_started.set()
            cancel_waiting(session, article_id, now=now, reason="killed")
            reached.append(outlets_reached(session, article_id))

    with transaction(sessions) as session:
        assert claim(session, ids["deliver:partner"], now=now, policy=POLICY) is not None
        session.flush()
        killer = threading.Thread(target=kill)
        killer.start()
        kill_started.wait(5)
        time.sleep(0.3)  # the kill is now waiting for the claim's lock (or write lock)
        claimed.set()
    killer.join(10)
    assert reached == [{"partner"}]


def test_an_older_delivery_is_fenced_once_a_newer_one_exists(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    article_id = _article_of(sessions, ids["render:"])
    _rendered(sessions, ids, now)
    with transaction(sessions) as session:
        older = claim(session, ids["deliver:partner"], now=now, policy=POLICY)
        assert older is not None
    _plan_v2(sessions, article_id, now)
    # v1 in flight when v2 arrived: it may not send any more ...
    with transaction(sessions) as session, pytest.raises(SendRefused) as refused:
        confirm_send(session, older, now=now, policy=POLICY)
    assert refused.value.superseded
    # ... and a 503 it got does not make it retry: it is canceled as superseded.
    with transaction(sessions) as session:
        decision = fail(session, older, now=now, kind="transient", error="HTTP 503", policy=POLICY)
    assert decision is not None
    assert decision.state == StepState.CANCELED
    # A v1 that is merely waiting is never claimed again either.
    with transaction(sessions) as session:
        waiting = session.get(Step, ids["deliver:site"])
        assert waiting is not None
        waiting.state = StepState.RETRYING
    _plan_v2_site(sessions, article_id, now)
    with transaction(sessions) as session:
        assert claim(session, ids["deliver:site"], now=now, policy=POLICY) is None
        assert session.get(Step, ids["deliver:site"]).state == StepState.CANCELED  # type: ignore[union-attr]


def test_a_lost_older_delivery_is_canceled_not_retried_once_a_newer_one_exists(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    article_id = _article_of(sessions, ids["render:"])
    _rendered(sessions, ids, now)
    short = replace(POLICY, lease_seconds=5)
    with transaction(sessions) as session:
        assert claim(session, ids["deliver:partner"], now=now, policy=short) is not None
    _plan_v2(sessions, article_id, now)
    with transaction(sessions) as session:
        recover_lost(session, now=now + timedelta(seconds=6), policy=short)  # its worker died
    with sessions() as session:
        older = session.get(Step, ids["deliver:partner"])
        assert older is not None
        assert older.state == StepState.CANCELED
        assert older.due_at is None


def _plan_v2_site(sessions: sessionmaker[Session], article_id: str, now: datetime) -> None:
    with transaction(sessions) as session:
        session.add(
            new_step(
                article_id=article_id,
                version=2,
                stage=Stage.DELIVER,
                event=Event.UPDATED,
                lane=Lane.NORMAL,
                outlet="site",
            )
        )


def test_a_failed_delivery_is_retried_by_an_operator_with_a_fresh_schedule(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    _rendered(sessions, ids, now)
    step_id = ids["deliver:partner"]
    for _ in range(POLICY.delivery.max_attempts):
        with transaction(sessions) as session:
            step = claim(session, step_id, now=now, policy=POLICY)
            assert step is not None
            fail(session, step, now=now, kind="transient", error="HTTP 503", policy=POLICY)
        now += timedelta(seconds=3)
    with transaction(sessions) as session:
        step = session.get(Step, step_id)
        assert step is not None
        assert step.state == StepState.FAILED
        result = retry_deliveries(session, [step], now=now, policy=POLICY, by="test")
        assert result.changed == [step_id]
        assert [r.id for r in result.to_send] == [step_id]
    with transaction(sessions) as session:
        step = claim(session, step_id, now=now, policy=POLICY)
        assert step is not None
        assert step.attempts == POLICY.delivery.max_attempts + 1
        decision = fail(session, step, now=now, kind="transient", error="HTTP 503", policy=POLICY)
        assert decision is not None
        assert decision.state == StepState.RETRYING  # a fresh schedule


def test_a_gone_outlet_holds_its_deliveries_until_an_operator_resumes_it(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    ids = planned(sessions, now)
    _rendered(sessions, ids, now)
    with transaction(sessions) as session:
        step = claim(session, ids["deliver:partner"], now=now, policy=POLICY)
        assert step is not None
        assert hold_for_outlet(session, step, now=now, error="HTTP 410")
        set_outlet_mode(
            session, "partner", OutletMode.DISABLED, now=now, by="remote", reason="HTTP 410"
        )
    with transaction(sessions) as session:
        assert claim(session, ids["deliver:partner"], now=now, policy=POLICY) is None
        assert claim(session, ids["deliver:site"], now=now, policy=POLICY) is not None
    with transaction(sessions) as session:
        assert resume_outlet(session, "partner", now=now, by="test") == 1
        refs = take_due(session, now=now, policy=POLICY, queue_head=lambda _: None)
        assert [r.id for r in refs] == [ids["deliver:partner"]]
        assert claim(session, ids["deliver:partner"], now=now, policy=POLICY) is not None


def test_retention_purges_superseded_steps_and_old_attempt_logs(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow() - timedelta(days=40)
    ids = planned(sessions, now)
    article_id = _article_of(sessions, ids["render:"])
    _rendered(sessions, ids, now)
    with transaction(sessions) as session:
        step = claim(session, ids["deliver:partner"], now=now, policy=POLICY)
        assert step is not None
        assert complete(session, step, now=now, receipt={})
    v2 = _plan_v2(sessions, article_id, now)
    with transaction(sessions) as session:
        render_v2 = session.query(Step).filter_by(article_id=article_id, version=2, stage="render")
        for step_id in (render_v2.one().id, v2):
            step = claim(session, step_id, now=now, policy=POLICY)
            assert step is not None
            assert complete(session, step, now=now, receipt={"message_id": 7})
    with transaction(sessions) as session:
        purged = purge_finished(session, now=utcnow(), retention_days=30)
        assert purged.attempts == 4  # both renders, both deliveries to the partner
        assert purged.steps == 2  # v1's render and delivery, replaced by v2's
        assert purge_finished(session, now=utcnow(), retention_days=30) == Purged(0, 0)
    with sessions() as session:
        assert session.get(Step, ids["deliver:partner"]) is None
        assert session.get(Step, v2) is not None
        assert outlets_reached(session, article_id) == {"partner"}


def test_a_newer_delivery_waits_while_an_older_one_is_in_flight(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    first = planned(sessions, now)
    article_id = _article_of(sessions, first["render:"])
    with transaction(sessions) as session:
        for step_id in (first["render:"], first["deliver:site"]):
            step = claim(session, step_id, now=now, policy=POLICY)
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
            policy=POLICY,
        )
    with transaction(sessions) as session:
        render = (
            session.query(Step).filter_by(article_id=article_id, version=2, stage="render").one()
        )
        claimed = claim(session, render.id, now=now, policy=POLICY)
        assert claimed is not None
        assert complete(session, claimed, now=now, receipt={})
        newer_id = (
            session.query(Step).filter_by(article_id=article_id, version=2, outlet="site").one().id
        )
    with transaction(sessions) as session:
        assert claim(session, newer_id, now=now, policy=POLICY) is None, "v1 is still in flight"
        due = take_due(session, now=now + timedelta(seconds=31), policy=POLICY)
        assert newer_id not in [r.id for r in due], "nor does the sweeper send it"
    with transaction(sessions) as session:
        older = session.get(Step, first["deliver:site"])
        assert older is not None
        assert complete(session, older, now=now, receipt={})
        assert [r.id for r in successors(session, older, now=now, policy=POLICY)] == [newer_id]
    with transaction(sessions) as session:
        assert claim(session, newer_id, now=now, policy=POLICY) is not None


def _article_of(sessions: sessionmaker[Session], step_id: str) -> str:
    with sessions() as session:
        step = session.get(Step, step_id)
        assert step is not None
        return step.article_id
