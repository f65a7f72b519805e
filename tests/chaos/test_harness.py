"""The chaos harness itself: the switchable partner does what it says, and the checks bite.

No workers here: requests are signed and sent with httpx, as the webhook outlet would.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.conftest import WEBHOOK_SECRET
from tests.support.chaos import Streamed, check_receiver
from tests.support.chaos_receiver import Behaviour, ChaosReceiver

pytestmark = pytest.mark.chaos


def send(
    receiver: ChaosReceiver,
    article: str,
    version: int,
    *,
    event: str = "updated",
    webhook_id: str | None = None,
    headline: str = "Headline",
    timeout: httpx.Timeout | float = 5.0,
) -> httpx.Response:
    body = json.dumps(
        {
            "type": f"article.{event}",
            "timestamp": datetime.now(UTC).isoformat(),
            "data": {
                "uri": f"urn:pressroom:article:{article}",
                "version": str(version),
                "headlines": [{"role": "main", "value": headline}],
            },
        }
    )
    msg_id = webhook_id or f"dlv_{article}v{version}"
    now = datetime.fromtimestamp(int(time.time()), UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(WEBHOOK_SECRET).sign(msg_id, now, body),
    }
    return httpx.post(receiver.url, content=body, headers=headers, timeout=timeout)


def test_switches_between_answers_going_down_and_coming_back(partner: ChaosReceiver) -> None:
    assert send(partner, "a", 1).status_code == 200
    partner.behave(Behaviour(503, {"Retry-After": "7"}))
    refused = send(partner, "a", 1)
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "7")
    url = partner.url
    partner.go_down()
    with pytest.raises(httpx.ConnectError):
        send(partner, "a", 1)
    partner.come_back()
    assert partner.url == url
    assert send(partner, "a", 1).status_code == 200
    assert partner.settle()
    hits = partner.hits_for("a")
    assert [h.behaviour.status for h in hits] == [200, 503, 200]
    assert [h.accepted for h in hits] == [True, False, True]
    assert all(h.signed and h.version == 1 and h.event == "updated" for h in hits)


def test_per_article_scripts_by_headline_or_id(partner: ChaosReceiver) -> None:
    partner.for_article("Slow story", Behaviour(503, delay=0.3))
    partner.for_article("b", then=Behaviour(500))
    started = time.monotonic()
    assert send(partner, "x", 1, headline="Slow story").status_code == 503
    assert time.monotonic() - started >= 0.3
    assert send(partner, "x", 1, headline="Slow story").status_code == 200  # script used up
    assert [send(partner, "b", 1).status_code for _ in range(2)] == [500, 500]
    partner.clear_article("b")
    assert send(partner, "b", 1).status_code == 200
    assert send(partner, "c", 1).status_code == 200


def test_a_drip_defeats_per_phase_timeouts_but_not_a_total_deadline(
    partner: ChaosReceiver,
) -> None:
    partner.behave(Behaviour(200, drip=0.01))
    started = time.monotonic()
    # Each read waits at most one drip interval, so a per-phase timeout never fires...
    assert send(partner, "a", 1, timeout=httpx.Timeout(0.5)).status_code == 200
    assert time.monotonic() - started > 1.0  # ~130 bytes, one every 10 ms
    # ...while a sender that gives up noticed by the partner at once.
    partner.behave(Behaviour(200, drip=1.0))
    with pytest.raises(httpx.TimeoutException):
        send(partner, "a", 2, timeout=httpx.Timeout(0.5))
    time.sleep(0.3)
    dripped = partner.hits_for("a")[-1]
    assert not dripped.completed
    assert not dripped.accepted
    assert dripped.ended_at is not None
    assert dripped.ended_at - dripped.received_at < 1.0


def test_hooks_run_before_the_answer(partner: ChaosReceiver) -> None:
    seen: list[str] = []
    partner.on_request(lambda hit: seen.append(f"{hit.article_id} v{hit.version}"))
    send(partner, "a", 3)
    assert seen == ["a v3"]


def test_the_checks_catch_a_regression_a_late_version_and_a_split_id(
    partner: ChaosReceiver,
) -> None:
    story = [Streamed("a", "A", [1, 2, 3], killed=True), Streamed("b", "B", [1, 2])]
    send(partner, "a", 1)
    send(partner, "a", 3, event="killed")
    check_receiver(partner, story)  # fine so far: v2 may be skipped (canceled by the kill)

    send(partner, "b", 2)
    partner.behave(503)
    send(partner, "b", 1)  # refused: only an arrival-order check sees it
    check_receiver(partner, story)
    with pytest.raises(AssertionError, match="older version arrived"):
        check_receiver(partner, story, ordered_arrivals=True)

    partner.behave(200)
    send(partner, "a", 2)
    with pytest.raises(AssertionError, match="regressed"):
        check_receiver(partner, story)


def test_the_checks_catch_two_ids_for_one_version(partner: ChaosReceiver) -> None:
    story = [Streamed("a", "A", [1])]
    send(partner, "a", 1, webhook_id="dlv_one")
    send(partner, "a", 1, webhook_id="dlv_two")
    with pytest.raises(AssertionError, match="two webhook-ids"):
        check_receiver(partner, story)


def test_the_checks_catch_anything_accepted_after_a_kill(partner: ChaosReceiver) -> None:
    story = [Streamed("a", "A", [1, 2], killed=True)]
    send(partner, "a", 2, event="killed")
    send(partner, "a", 2, event="killed")  # a repeat of the kill is fine
    check_receiver(partner, story)
    send(partner, "a", 2, event="updated", webhook_id="dlv_av2")
    with pytest.raises(AssertionError):
        check_receiver(partner, story)
