"""HTTP → real Redis → a real Celery worker subprocess (and the scheduler) → outlets and search.

Runs on SQLite and on PostgreSQL (skipped, with the reason, where PostgreSQL is unreachable).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from celery import Celery

from pressroom_shared.config import Settings
from tests.conftest import sample_text
from tests.support.services import beat_process, wait_until, worker_process
from tests.support.webhook_receiver import Reply, WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def post_sample(base: str, token: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/articles",
        content=sample_text(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain; charset=utf-8"},
        timeout=10,
    )


def view(base: str, token: str, article_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{base}/v1/articles/{article_id}", headers={"Authorization": f"Bearer {token}"}
    )
    return dict(response.json())


def test_sample_travels_from_http_to_every_outlet_and_search(
    settings: Settings,
    live_server: str,
    token: str,
    receiver: WebhookReceiver,
    producer: Celery,
    tmp_path: Path,
) -> None:
    worker = worker_process(settings, tmp_path / "worker.log", producer)
    beat = beat_process(settings, tmp_path / "beat.log")
    try:
        started = time.monotonic()
        response = post_sample(live_server, token)
        assert response.status_code == 202, response.text
        accepted = response.json()
        page = tmp_path / "site" / "articles" / f"{accepted['slug']}.html"
        wait_until(
            lambda: page.exists() and receiver.verified_events(),
            15,
            "the site page and the webhook",
        )
        print(f"\nPOST → site page and signed webhook in {time.monotonic() - started:.3f} s")

        wait_until(
            lambda: view(live_server, token, accepted["id"])["status"] == "delivered",
            10,
            "delivered",
        )
        feed = (tmp_path / "site" / "feed.rss").read_text(encoding="utf-8")
        assert accepted["headline"] in feed
        assert [e["type"] for e in receiver.verified_events()] == ["article.published"]
        found = httpx.get(
            f"{live_server}/v1/search",
            params={"q": "пленный"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert [hit["id"] for hit in found["results"]] == [accepted["id"]]
        served = httpx.get(f"{live_server}/site/articles/{accepted['slug']}.html")
        assert served.status_code == 200
        assert "text/html" in served.headers["content-type"]
    finally:
        worker.stop()
        beat.stop()


def test_work_whose_message_was_lost_is_redriven_by_the_scheduler(
    settings: Settings,
    live_server: str,
    token: str,
    receiver: WebhookReceiver,
    producer: Celery,
    tmp_path: Path,
) -> None:
    response = post_sample(live_server, token)
    assert response.status_code == 202
    redis.Redis.from_url(
        settings.redis_url
    ).flushdb()  # the queued message is gone; the database is not

    worker = worker_process(settings, tmp_path / "worker.log", producer)
    beat = beat_process(settings, tmp_path / "beat.log")
    try:
        article_id = response.json()["id"]
        wait_until(
            lambda: view(live_server, token, article_id)["status"] == "delivered",
            30,
            "re-driven delivery",
        )
        assert len(receiver.verified_events()) == 1
    finally:
        worker.stop()
        beat.stop()


def test_a_worker_killed_mid_delivery_is_replaced_and_the_story_arrives_once(
    settings: Settings,
    live_server: str,
    token: str,
    receiver: WebhookReceiver,
    producer: Celery,
    tmp_path: Path,
) -> None:
    receiver.script(Reply(200, delay=5))  # the first delivery hangs; its worker dies meanwhile
    doomed = worker_process(settings, tmp_path / "doomed.log", producer, name="doomed")
    beat = beat_process(settings, tmp_path / "beat.log")
    heir = None
    try:
        response = post_sample(live_server, token)
        assert response.status_code == 202
        article_id = response.json()["id"]
        wait_until(lambda: receiver.requests, 15, "the webhook delivery to be in flight")
        doomed.kill()  # SIGKILL: no goodbye, the message stays unacked, the lease stays taken
        heir = worker_process(settings, tmp_path / "heir.log", producer, name="heir")
        wait_until(
            lambda: view(live_server, token, article_id)["status"] == "delivered",
            45,
            "the lease to expire and the heir to deliver",
        )
        ids = [r.headers["webhook-id"] for r in receiver.requests]
        assert len(ids) >= 2
        assert len(set(ids)) == 1, "a repeat carries the same webhook-id, so receivers dedupe"
        partner = next(
            d
            for d in view(live_server, token, article_id)["deliveries"]
            if d["outlet"] == "partner"
        )
        assert partner["attempts"] == 2
    finally:
        doomed.stop()
        beat.stop()
        if heir is not None:
            heir.stop()
