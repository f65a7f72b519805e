"""Versions, corrections, kills, embargoes, listing and rate limits, with a real worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from flask.testing import FlaskClient

from pressroom_shared.config import Settings
from pressroom_shared.contracts import MAINTENANCE_QUEUE, TASK_SWEEP
from tests.integration.test_intake_api import ARTICLE, assert_problem, auth
from tests.support.services import wait_until
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


def post(client: FlaskClient, token: str, **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/articles", json={**ARTICLE, **changes}, headers=auth(token))
    assert response.status_code == 202, response.get_data(as_text=True)
    return dict(response.get_json())


def get(client: FlaskClient, token: str, article_id: str) -> dict[str, Any]:
    return dict(client.get(f"/v1/articles/{article_id}", headers=auth(token)).get_json())


def deliveries(client: FlaskClient, token: str, article_id: str) -> dict[str, str]:
    return {d["outlet"]: d["state"] for d in get(client, token, article_id)["deliveries"]}


def swept_until(
    producer: Celery, predicate: Callable[[], object], timeout: float, what: str
) -> None:
    """Wait while sending the scheduler's sweep task now and then, as beat would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        producer.send_task(TASK_SWEEP, queue=MAINTENANCE_QUEUE)
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class TestVersions:
    def test_put_adds_a_version_and_honours_if_match(self, client: FlaskClient, token: str) -> None:
        accepted = post(client, token)
        article_id = accepted["id"]
        stale = client.get(f"/v1/articles/{article_id}", headers=auth(token)).headers["ETag"]
        assert stale == '"v1"'
        first = client.put(
            f"/v1/articles/{article_id}",
            json={**ARTICLE, "headline": "Обмен пленными: обновлено"},
            headers=auth(token, **{"If-Match": stale}),
        )
        assert first.status_code == 202, first.get_data(as_text=True)
        assert first.get_json()["version"] == 2
        assert first.get_json()["event"] == "updated"
        assert first.headers["ETag"] == '"v2"'
        again = client.put(
            f"/v1/articles/{article_id}", json=ARTICLE, headers=auth(token, **{"If-Match": stale})
        )
        assert_problem(again, 412, "If-Match")
        view = get(client, token, article_id)
        assert view["version"] == 2
        assert view["headline"] == "Обмен пленными: обновлено"
        assert view["slug"] == accepted["slug"], "a new headline keeps the URL"

    def test_a_correction_carries_its_note(self, client: FlaskClient, token: str) -> None:
        article_id = post(client, token)["id"]
        response = client.put(
            f"/v1/articles/{article_id}",
            json={**ARTICLE, "correction_note": "Исправлено число пленных."},
            headers=auth(token),
        )
        assert response.status_code == 202
        assert response.get_json()["event"] == "corrected"
        versions = client.get(f"/v1/articles/{article_id}/versions", headers=auth(token)).get_json()
        assert [(v["version"], v["event"]) for v in versions["versions"]] == [
            (1, "published"),
            (2, "corrected"),
        ]
        assert versions["versions"][1]["correction_note"] == "Исправлено число пленных."

    def test_a_new_article_cannot_be_a_correction(self, client: FlaskClient, token: str) -> None:
        response = client.post(
            "/v1/articles", json={**ARTICLE, "correction_note": "x"}, headers=auth(token)
        )
        assert_problem(response, 422, "correction_note")

    def test_unknown_article_versions_are_404(self, client: FlaskClient, token: str) -> None:
        missing = "00000000-0000-4000-8000-000000000000"
        assert_problem(
            client.put(f"/v1/articles/{missing}", json=ARTICLE, headers=auth(token)), 404
        )
        assert_problem(client.delete(f"/v1/articles/{missing}", headers=auth(token)), 404)


def test_update_then_kill_reach_every_outlet_and_search_forgets(
    client: FlaskClient,
    token: str,
    settings: Settings,
    receiver: WebhookReceiver,
    thread_worker: Celery,
) -> None:
    article_id = post(client, token)["id"]
    wait_until(lambda: get(client, token, article_id)["status"] == "delivered", 15, "v1 delivered")
    correction = client.put(
        f"/v1/articles/{article_id}",
        json={
            **ARTICLE,
            "body": "Исправленный текст о пленных.",
            "correction_note": "Уточнены данные.",
        },
        headers=auth(token),
    )
    assert correction.status_code == 202
    wait_until(lambda: get(client, token, article_id)["status"] == "delivered", 15, "v2 delivered")
    killed = client.delete(
        f"/v1/articles/{article_id}", json={"reason": "Юридическая претензия"}, headers=auth(token)
    )
    assert killed.status_code == 202, killed.get_data(as_text=True)
    assert killed.get_json()["status"] == "killed"
    assert killed.get_json()["version"] == 3
    wait_until(
        lambda: set(deliveries(client, token, article_id).values()) == {"delivered"},
        15,
        "kill delivered",
    )
    assert [e["type"] for e in receiver.verified_events()] == [
        "article.published",
        "article.corrected",
        "article.killed",
    ]
    assert receiver.verified_events()[-1]["data"]["pubStatus"] == "canceled"
    slug = get(client, token, article_id)["slug"]
    page = (Path(str(settings.var_dir.parent)) / "site" / "articles" / f"{slug}.html").read_text()
    assert "Исправленный текст" not in page
    # The page is a tombstone at once; the feeds follow at the site's rebuild rate.
    feed = Path(str(settings.var_dir.parent)) / "site" / "feed.rss"
    wait_until(lambda: slug not in feed.read_text(), 10, "the kill in the feed")
    found = client.get("/v1/search?q=пленных", headers=auth(token)).get_json()
    assert found["results"] == []
    assert_problem(client.delete(f"/v1/articles/{article_id}", headers=auth(token)), 409)
    assert_problem(client.put(f"/v1/articles/{article_id}", json=ARTICLE, headers=auth(token)), 409)


def test_kill_before_delivery_cancels_the_waiting_work(
    client: FlaskClient, token: str, settings: Settings
) -> None:
    article_id = post(client, token)["id"]  # no worker runs: nothing is delivered yet
    assert (
        client.delete(f"/v1/articles/{article_id}?reason=ошибка", headers=auth(token)).status_code
        == 202
    )
    versions = client.get(f"/v1/articles/{article_id}/versions", headers=auth(token)).get_json()
    assert versions["versions"][0]["deliveries"] == {"site": "canceled", "partner": "canceled"}
    assert versions["versions"][1]["deliveries"] == {}  # nobody had it: nobody needs the kill
    assert versions["versions"][1]["kill_reason"] == "ошибка"


def test_an_embargoed_story_is_held_until_release(
    client: FlaskClient,
    token: str,
    receiver: WebhookReceiver,
    thread_worker: Celery,
    producer: Celery,
) -> None:
    release = datetime.now(UTC) + timedelta(seconds=3)
    article_id = post(client, token, embargoed_until=release.isoformat())["id"]
    wait_until(lambda: get(client, token, article_id)["progress"]["rendered_at"], 10, "render")
    time.sleep(1)
    assert receiver.requests == []
    assert set(deliveries(client, token, article_id).values()) == {"pending"}
    assert client.get("/v1/search?q=пленных", headers=auth(token)).get_json()["results"] == []
    swept_until(producer, lambda: receiver.verified_events(), 20, "release at the embargo time")
    assert datetime.now(UTC) >= release
    swept_until(
        producer, lambda: get(client, token, article_id)["status"] == "delivered", 20, "delivered"
    )


def test_an_embargo_can_be_lifted(
    client: FlaskClient, token: str, receiver: WebhookReceiver, thread_worker: Celery
) -> None:
    held = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    article_id = post(client, token, embargoed_until=held)["id"]
    listed = client.get("/v1/articles?status=embargoed", headers=auth(token)).get_json()
    assert [a["id"] for a in listed["articles"]] == [article_id]
    wait_until(lambda: get(client, token, article_id)["progress"]["rendered_at"], 10, "render")
    lifted = client.put(
        f"/v1/articles/{article_id}/embargo", json={"embargoed_until": None}, headers=auth(token)
    )
    assert lifted.status_code == 200, lifted.get_data(as_text=True)
    wait_until(
        lambda: get(client, token, article_id)["status"] == "delivered",
        15,
        "delivery after lifting",
    )
    past = client.put(
        f"/v1/articles/{article_id}/embargo",
        json={"embargoed_until": "2020-01-01T00:00:00Z"},
        headers=auth(token),
    )
    assert_problem(past, 422, "embargoed_until")


def test_listing_filters_and_pages(client: FlaskClient, token: str) -> None:
    ids = [
        post(client, token, rubric="Политика" if i % 2 else "Спорт", language="ru")["id"]
        for i in range(5)
    ]
    english = post(client, token, language="en", headline="Prisoner exchange", rubric="World")["id"]
    everything = client.get("/v1/articles?limit=2", headers=auth(token)).get_json()
    seen = [a["id"] for a in everything["articles"]]
    cursor = everything["next_cursor"]
    while cursor:
        page = client.get(f"/v1/articles?limit=2&cursor={cursor}", headers=auth(token)).get_json()
        seen += [a["id"] for a in page["articles"]]
        cursor = page["next_cursor"]
    assert seen == [english, *reversed(ids)]
    politics = client.get("/v1/articles?rubric=Политика", headers=auth(token)).get_json()
    assert sorted(a["id"] for a in politics["articles"]) == sorted(ids[1::2])
    assert [
        a["id"]
        for a in client.get("/v1/articles?language=en", headers=auth(token)).get_json()["articles"]
    ] == [english]
    assert (
        client.get("/v1/articles?status=killed", headers=auth(token)).get_json()["articles"] == []
    )
    assert_problem(client.get("/v1/articles?cursor=garbage", headers=auth(token)), 400, "cursor")
    assert_problem(client.get("/v1/articles?status=lost", headers=auth(token)), 422, "status")


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path, settings: Settings) -> None:
    from pressroom_intake import create_app
    from tests.conftest import new_token

    app = create_app(settings.replace(rate_limit="3/minute"))
    client = app.test_client()
    token = new_token(settings, name="busy")
    answers = [client.get("/v1/search?q=x", headers=auth(token)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all("Retry-After" not in a.headers for a in answers)
    limited = client.get("/v1/search?q=x", headers=auth(token))
    assert_problem(limited, 429)
    assert int(limited.headers["Retry-After"]) > 0
    other = new_token(settings, name="calm")
    assert client.get("/v1/search?q=x", headers=auth(other)).status_code == 200
