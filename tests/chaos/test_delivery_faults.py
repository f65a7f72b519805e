"""Delivery under hostile partners and dying workers, checked where it matters: at the partner.

Every scenario streams articles through the live intake to real worker subprocesses over real
Redis while one thing goes wrong, then checks what the partners received (`check_receiver`)
and that the API agrees (`check_database`). Clocks are compressed with settings only
(conftest.CHAOS_SETTINGS); each scenario is bounded well under a minute. SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from pressroom_shared.config import Settings
from tests.support.chaos import (
    Intake,
    Stream,
    Streamed,
    Workers,
    check_database,
    check_receiver,
    describe_hits,
    pressroom_cli,
    wait_all_finished,
)
from tests.support.chaos_receiver import Behaviour, ChaosReceiver, Hit
from tests.support.services import wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

TIMEOUT_ERROR = re.compile(r"deadline|time ?out|timed out", re.IGNORECASE)


def partner_delivery(intake: Intake, article_id: str) -> dict[str, Any]:
    return intake.delivery(article_id, "partner")


def version_states(intake: Intake, article_id: str, outlet: str) -> dict[int, str]:
    return {v["version"]: v["deliveries"].get(outlet, "") for v in intake.versions(article_id)}


# -- 1 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"delivery_retry_schedule": "0.5,1,2"}])
def test_a_partner_down_past_the_retry_budget_is_redriven_by_an_operator(
    settings: Settings,
    intake: Intake,
    operator: Intake,
    partner: ChaosReceiver,
    receivers: dict[str, ChaosReceiver],
    workers: Workers,
) -> None:
    """503s, then connection refused, past the schedule's 4 attempts: `failed`, and it stays
    failed; an operator re-drives one delivery through the API and the rest with the CLI, and
    each arrives under the webhook-id its first attempts carried."""
    workers.start()
    workers.beat()
    partner.behave(Behaviour(503))
    with Stream(intake, count=6, per_second=10, prefix="Outage") as stream:
        articles = stream.join()
    partner.wait_for(lambda r: {h.article_id for h in partner.hits} >= {a.id for a in articles})
    partner.go_down()  # from now on: connection refused

    def every_delivery_failed() -> bool:
        return all(partner_delivery(intake, a.id)["state"] == "failed" for a in articles)

    wait_until(every_delivery_failed, 30, "every partner delivery to fail")
    refused_somewhere = False
    for article in articles:
        delivery = partner_delivery(intake, article.id)
        assert delivery["attempts"] == 4, delivery  # the schedule's 3 delays: 4 attempts
        # Attempts that never reached the partner met a refused connection.
        refused = len(partner.hits_for(article.id)) < delivery["attempts"]
        refused_somewhere |= refused
        wanted = r"connect|refused" if refused else r"\b503\b"
        assert re.search(wanted, delivery["last_error"] or "", re.IGNORECASE), delivery
    assert refused_somewhere, "the partner went down too late: every attempt met a 503"
    # The healthy outlet never noticed.
    assert all(intake.delivery(a.id, "healthy")["state"] == "delivered" for a in articles)
    original = {a.id: {h.webhook_id for h in partner.hits_for(a.id)} for a in articles}
    assert all(len(ids) == 1 for ids in original.values()), original

    # Failed is final: the partner is back, yet nothing goes out by itself.
    partner.come_back()
    seen = len(partner.hits)
    time.sleep(5 * settings.sweep_interval_seconds)
    assert len(partner.hits) == seen
    assert every_delivery_failed()

    first, rest = articles[0], articles[1:]
    first_id = partner_delivery(intake, first.id)["id"]
    refused = intake.retry_delivery(first_id)  # the newsroom's token: submit, read
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    answer = operator.retry_delivery(first_id)
    assert answer.status_code in (200, 202), answer.text
    wait_until(
        lambda: partner_delivery(intake, first.id)["state"] == "delivered", 15, "the API retry"
    )
    assert all(partner_delivery(intake, a.id)["state"] == "failed" for a in rest)

    cli = pressroom_cli(settings, "deliveries", "retry", "--outlet", "partner", "--state", "failed")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    wait_all_finished(intake, articles, 20)

    check_receiver(partner, articles)
    check_database(intake, articles, receivers, operator=operator)
    for article in articles:
        accepted = partner.accepted_for(article.id)
        assert len(accepted) == 1, accepted
        assert {accepted[0].webhook_id} == original[article.id]


# -- 2 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings_overrides",
    [{"delivery_retry_schedule": "2,2,2", "retry_max_seconds": 10.0}],
)
def test_a_kill_and_an_update_during_a_retry_reach_the_partner_in_order(
    settings: Settings,
    intake: Intake,
    operator: Intake,
    partner: ChaosReceiver,
    receivers: dict[str, ChaosReceiver],
    workers: Workers,
) -> None:
    """v1 is refused (503, Retry-After) and waits to be retried; v2 and a kill arrive meanwhile.
    The partner was attempted, so it must hear of the kill, last, and v1 never comes back."""
    workers.start()
    workers.beat()
    headline = "Retrying story"
    partner.for_article(headline, Behaviour(503, {"Retry-After": "2"}))
    with Stream(intake, count=8, per_second=4, updates=1, kill_every=4, prefix="Traffic") as s:
        story = intake.submit(headline)
        wait_until(
            lambda: partner_delivery(intake, story["id"])["state"] == "retrying",
            15,
            "v1's delivery to be refused and wait for its retry",
        )
        v2 = intake.update(story["id"], 1, headline, "The story, updated during the retry.")
        killed = intake.kill(story["id"], "Withdrawn during a retry")
        background = s.join()
    target = Streamed(story["id"], headline, [1, v2, killed], killed=True)
    articles = [target, *background]
    wait_all_finished(intake, articles, 30)
    # Past the moment v1's retry was due, and a few sweeps more.
    v1_refused = partner.hits_for(target.id)[0]
    left = v1_refused.received_at + 2 + 4 * settings.sweep_interval_seconds - time.time()
    time.sleep(max(0.0, left))

    seen = check_receiver(partner, articles, ordered_arrivals=True)
    hits = seen[target.id].hits
    assert [h.version for h in hits].count(1) == 1, "v1 was retried after being replaced"
    last = [(h.event, h.version) for h in seen[target.id].accepted][-1:]
    assert last == [("killed", killed)], (
        "the kill did not reach the partner last:\n" + describe_hits(hits)
    )
    assert version_states(intake, target.id, "partner")[1] == "canceled"
    check_database(intake, articles, receivers, operator=operator)
    check_receiver(receivers["healthy"], articles, ordered_arrivals=True)


# -- 3 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "delivery_retry_schedule": "0.3,0.3,0.3",
            # Room for v1's slow answer: it is a 503 the partner sends, not a cut.
            "delivery_deadline_seconds": 5.0,
            # Per phase: the 3 s wait for v1's answer must not race a 3 s read timeout.
            "http_timeout_seconds": 5.0,
            "lease_seconds": 10.0,
        }
    ],
)
def test_a_slow_refused_v1_never_follows_v2(
    settings: Settings,
    intake: Intake,
    operator: Intake,
    partner: ChaosReceiver,
    receivers: dict[str, ChaosReceiver],
    workers: Workers,
) -> None:
    """v1's request hangs 3 s and is then refused; v2 is submitted meanwhile. v2 goes out after
    v1's attempt ended, is delivered (slowly), and v1's retry is fenced off: canceled as
    superseded, never sent after v2."""
    workers.start()
    workers.beat()
    headline = "Slow then refused"
    # v2 is answered slowly too: an unfenced v1 retry (due 0.3 s after its 503) would be sent
    # while v2 is still in flight, and arrive after it.
    partner.for_article(headline, Behaviour(503, delay=3), Behaviour(200, delay=1.5))
    with Stream(intake, count=6, per_second=3, updates=1, prefix="Traffic") as s:
        story = intake.submit(headline)
        partner.wait_for(lambda _: partner.hits_for(story["id"]), timeout=15)
        v2 = intake.update(story["id"], 1, headline, "Version 2, sent while v1 hangs.")
        background = s.join()
    target = Streamed(story["id"], headline, [1, v2])
    articles = [target, *background]
    wait_all_finished(intake, articles, 30)
    # Give an unfenced v1 retry (0.3 s on) every chance to show up.
    time.sleep(6 * settings.sweep_interval_seconds)

    seen = check_receiver(partner, articles, ordered_arrivals=True)
    hits = seen[target.id].hits
    assert [(h.version, h.accepted) for h in hits] == [(1, False), (v2, True)], hits
    v1, second = hits
    assert v1.completed, "v1's slow 503 should have been read, not cut"
    assert v1.ended_at is not None
    assert second.received_at >= v1.ended_at - 0.05, "v2 went out while v1 was in flight"
    assert version_states(intake, target.id, "partner") == {1: "canceled", v2: "delivered"}
    check_database(intake, articles, receivers, operator=operator)


# -- 4 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "delivery_deadline_seconds": 2.0,
            "http_timeout_seconds": 3.0,  # per phase: a 1 byte/s drip never trips it
            "delivery_retry_schedule": "1,1,1,1,1,1,1,1",
        }
    ],
)
def test_a_partner_that_drips_bytes_is_cut_at_the_deadline(
    settings: Settings,
    intake: Intake,
    operator: Intake,
    partner: ChaosReceiver,
    healthy: ChaosReceiver,
    receivers: dict[str, ChaosReceiver],
    workers: Workers,
) -> None:
    """One byte a second would hold the sender for minutes. Each attempt is cut at the total
    deadline and recorded as a transient timeout; the one worker thread is free for other work
    meanwhile; once the partner answers properly the story is delivered, and accepted once."""
    workers.start(concurrency=1)  # one thread: if the drip held it, nothing else would move
    workers.beat()
    deadline = settings.delivery_deadline_seconds
    headline = "Dripped story"
    partner.for_article(headline, then=Behaviour(200, drip=1.0))
    dripped = intake.submit(headline)
    partner.wait_for(lambda _: partner.hits_for(dripped["id"]), timeout=15)

    with Stream(intake, count=3, per_second=5, prefix="Meanwhile") as s:
        others = s.join()
    wait_all_finished(intake, others, 20)  # while the drip goes on
    delivery = partner_delivery(intake, dripped["id"])
    assert delivery["state"] in ("retrying", "in_progress"), delivery
    wait_until(
        lambda: partner_delivery(intake, dripped["id"])["last_error"],
        10,
        "the first dripped attempt to be recorded",
    )
    delivery = partner_delivery(intake, dripped["id"])
    assert delivery["error_kind"] == "transient", delivery
    assert TIMEOUT_ERROR.search(delivery["last_error"]), delivery

    assert partner.settle(timeout=deadline + 2)
    cut = [h for h in partner.hits_for(dripped["id"]) if h.ended_at is not None]
    assert cut, partner.hits_for(dripped["id"])
    for hit in cut:
        assert not hit.completed
        assert hit.ended_at is not None
        held = hit.ended_at - hit.received_at
        assert held < deadline + 1.0, f"an attempt held the connection {held:.1f} s"

    partner.clear_article(headline)  # the partner recovers
    target = Streamed(dripped["id"], headline, [1])
    articles = [target, *others]
    wait_all_finished(intake, articles, 20)
    check_receiver(partner, articles)
    check_database(intake, articles, receivers, operator=operator)
    assert len(partner.accepted_for(target.id)) == 1
    assert len({h.webhook_id for h in partner.hits_for(target.id)}) == 1
    assert partner_delivery(intake, target.id)["attempts"] >= 2
    assert healthy.accepted_for(target.id)


# -- 5 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "delivery_deadline_seconds": 1.0,
            "lease_seconds": 6.0,
            "max_lost_attempts": 3,
            "delivery_retry_schedule": "0.5,1,2",
        }
    ],
)
def test_a_step_that_kills_every_worker_ends_failed_and_stays_failed(
    settings: Settings,
    intake: Intake,
    operator: Intake,
    partner: ChaosReceiver,
    receivers: dict[str, ChaosReceiver],
    workers: Workers,
) -> None:
    """Whenever the partner sees the poison article, its worker is SIGKILLed (as by an OOM or
    a native crash) and a new one started. After `max_lost_attempts` lost workers the step is
    failed with "worker lost" and is never sent again; other articles keep flowing."""
    budget = settings.max_lost_attempts
    headline = "Poison story"
    partner.for_article(headline, then=Behaviour(hang=True))
    kills: list[float] = []

    def kill_the_worker(hit: Hit) -> None:
        if hit.headline == headline:
            kills.append(time.time())
            workers.kill_all()

    partner.on_request(kill_the_worker)
    # One step at a time, so the poison dies alone; a step in flight beside it shares its
    # fate (the next test).
    workers.start(concurrency=1)
    workers.beat()
    poison = intake.submit(headline)
    failed = threading.Event()

    def poison_failed() -> bool:
        if partner_delivery(intake, poison["id"])["state"] == "failed":
            failed.set()
        return failed.is_set()

    with Stream(intake, count=10, per_second=1, prefix="Bystander") as stream:
        deadline = time.monotonic() + 45
        while not poison_failed():
            assert time.monotonic() < deadline, f"still not failed after {len(kills)} kills"
            if not workers.alive():
                workers.start(concurrency=1)
            time.sleep(0.1)
        bystanders = stream.join()
    if not workers.alive():
        workers.start(concurrency=1)

    delivery = partner_delivery(intake, poison["id"])
    assert "worker lost" in (delivery["last_error"] or ""), delivery
    sent = len(partner.hits_for(poison["id"]))
    assert sent == budget, f"{sent} requests for the poison article, budget {budget}"
    assert len(kills) == budget
    # Never re-driven again: several sweeps (and a lease) later, still failed and silent.
    time.sleep(max(6 * settings.sweep_interval_seconds, 2.0))
    assert len(partner.hits_for(poison["id"])) == sent
    assert partner_delivery(intake, poison["id"])["state"] == "failed"

    wait_all_finished(intake, bystanders, 30)
    check_receiver(partner, [*bystanders, Streamed(poison["id"], headline, [1])])
    check_database(intake, bystanders, receivers, operator=operator)


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "delivery_deadline_seconds": 3.0,
            "lease_seconds": 8.0,
            "max_lost_attempts": 3,
            "delivery_retry_schedule": "0.5,1,2",
        }
    ],
)
def test_a_step_in_flight_beside_a_poison_step_is_not_failed_with_it(
    settings: Settings,
    intake: Intake,
    partner: ChaosReceiver,
    healthy: ChaosReceiver,
    workers: Workers,
) -> None:
    """A bystander's slow (2.5 s) delivery is in flight on the same worker when the poison
    kills it, every time, since both are re-driven together when their leases expire. The
    bystander did nothing wrong: it should end delivered, not failed as a lost worker's."""
    healthy.for_article("Bystander in flight", then=Behaviour(200, delay=2.5))
    partner.for_article("Poison story", then=Behaviour(hang=True))
    partner.on_request(lambda hit: workers.kill_all() if hit.headline == "Poison story" else None)
    workers.start()
    workers.beat()
    bystander = intake.submit("Bystander in flight")
    healthy.wait_for(lambda _: healthy.hits_for(bystander["id"]), timeout=15)
    poison = intake.submit("Poison story")
    deadline = time.monotonic() + 90
    while partner_delivery(intake, poison["id"])["state"] != "failed":
        assert time.monotonic() < deadline, "the poison step never failed"
        if not workers.alive():
            workers.start()
        time.sleep(0.1)
    if not workers.alive():
        workers.start()
    article = Streamed(bystander["id"], "Bystander in flight", [1])
    wait_all_finished(intake, [article], 30)
    delivery = intake.delivery(bystander["id"], "healthy")
    assert delivery["state"] == "delivered", (delivery["attempts"], delivery["last_error"])


# -- 6 -----------------------------------------------------------------------------------------


def test_postgresql_backends_terminated_mid_run_lose_and_duplicate_nothing(
    settings: Settings,
    database_url: str,
    intake: Intake,
    operator: Intake,
    partner: ChaosReceiver,
    healthy: ChaosReceiver,
    receivers: dict[str, ChaosReceiver],
    workers: Workers,
) -> None:
    """`pg_terminate_backend` on every connection of the intake, the workers and the scheduler,
    several times while articles, updates and kills stream: every article is delivered to
    both partners, each version under one webhook-id, and the database agrees."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("terminating server backends is a PostgreSQL fault")
    workers.start()
    workers.beat()
    admin_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    terminated: list[int] = []
    with Stream(
        intake, count=20, per_second=8, updates=1, kill_every=5, prefix="Backend"
    ) as stream:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            for _ in range(5):
                time.sleep(0.6)
                rows = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (url.database,),
                ).fetchall()
                terminated.append(sum(1 for (done,) in rows if done))
        articles = stream.join()
    assert sum(terminated) > 0, "no backend was terminated: the fault never happened"
    wait_all_finished(intake, articles, 45)

    for receiver in (partner, healthy):
        seen = check_receiver(receiver, articles)
        # A story killed before any attempt reaches no one; every other one reaches all.
        assert {a.id for a in articles if not a.killed} <= set(seen)
    check_database(intake, articles, receivers, operator=operator)
    duplicates = sum(
        len(at.accepted) - len({h.webhook_id for h in at.accepted})
        for receiver in (partner, healthy)
        for at in check_receiver(receiver, articles).values()
    )
    print(
        f"\nterminated backends per round: {terminated}; intake calls retried: "
        f"{intake.retried}; repeated deliveries: {duplicates}"
    )


# -- 10 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings_overrides", [{"outlet_concurrency": 2, "worker_queue_order": "round_robin"}]
)
def test_a_slow_partner_holds_two_threads_and_never_holds_up_the_other_outlet(
    settings: Settings,
    intake: Intake,
    operator: Intake,
    partner: ChaosReceiver,
    healthy: ChaosReceiver,
    receivers: dict[str, ChaosReceiver],
    workers: Workers,
) -> None:
    """One worker's threads serve both outlets (taking their queues in turn, as the delivery
    worker of `pressroom run` does), and the partner answers in 1.5 s. It never has more than
    `outlet_concurrency` requests in flight; its other deliveries wait parked in the database,
    so the healthy outlet gets every article long before the partner's queue is worked off
    instead of behind it; and each parked delivery still arrives, once."""
    workers.start(concurrency=6)
    workers.beat()
    partner.behave(Behaviour(200, delay=1.5))
    with Stream(intake, count=10, per_second=10, prefix="Slow partner") as stream:
        articles = stream.join()
    wait_all_finished(intake, articles, 45)

    partner.settle()
    spans = [(h.received_at, h.ended_at or time.time()) for h in partner.hits]
    most_at_once = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most_at_once <= 2, f"{most_at_once} requests in flight at the slow partner"
    # Two at a time, 1.5 s each: the partner takes ~7.5 s for the ten; the healthy outlet had
    # them all within the first few seconds. Without the cap, the partner's requests held every
    # thread and the healthy outlet finished about when the partner's last request started.
    healthy_done = max(h.received_at for h in healthy.hits)
    partner_done = max(h.received_at for h in partner.hits)
    assert partner_done - healthy_done > 4.0, "the healthy outlet waited behind the slow one"
    check_receiver(partner, articles)
    check_receiver(healthy, articles)
    check_database(intake, articles, receivers, operator=operator)
