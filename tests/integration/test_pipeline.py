"""The pipeline with a real Celery worker (a thread of this process) on real Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from flask.testing import FlaskClient
from sqlalchemy import select

from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine, make_sessionmaker
from pressroom_shared.models import Rendition, Step
from pressroom_workers.app import context_of
from pressroom_workers.outlets.telegram import TelegramOutlet
from pressroom_workers.stages import prepare_delivery
from tests.conftest import sample_text
from tests.support.services import wait_until
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


def submit(client: FlaskClient, token: str, **extra_headers: str) -> dict[str, Any]:
    response = client.post(
        "/v1/articles",
        data=sample_text(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "text/plain; charset=utf-8",
            **extra_headers,
        },
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    return dict(response.get_json())


def article_view(client: FlaskClient, token: str, article_id: str) -> dict[str, Any]:
    return dict(
        client.get(
            f"/v1/articles/{article_id}", headers={"Authorization": f"Bearer {token}"}
        ).get_json()
    )


def test_sample_reaches_site_webhook_and_search(
    client: FlaskClient,
    token: str,
    settings: Settings,
    receiver: WebhookReceiver,
    thread_worker: Celery,
) -> None:
    accepted = submit(client, token)
    article_id = accepted["id"]
    wait_until(
        lambda: article_view(client, token, article_id)["status"] == "delivered", 15, "delivery"
    )

    view = article_view(client, token, article_id)
    assert view["progress"]["rendered_at"]
    assert view["progress"]["indexed_at"]
    assert {d["outlet"]: (d["state"], d["attempts"]) for d in view["deliveries"]} == {
        "site": ("delivered", 1),
        "partner": ("delivered", 1),
    }

    site = Path(str(settings.var_dir.parent / "site"))
    page = site / "articles" / f"{accepted['slug']}.html"
    assert page.exists()
    assert "пленными" in page.read_text(encoding="utf-8")
    assert accepted["headline"] in (site / "feed.rss").read_text(encoding="utf-8")
    assert f"urn:pressroom:article:{article_id}" in (site / "feed.atom").read_text(encoding="utf-8")

    events = receiver.verified_events()
    assert len(events) == 1
    assert events[0]["type"] == "article.published"
    assert events[0]["data"]["uri"] == f"urn:pressroom:article:{article_id}"

    found = client.get(
        "/v1/search?q=пленный", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    assert [hit["id"] for hit in found["results"]] == [article_id]
    assert "<mark>" in found["results"][0]["snippet"]
    nothing = client.get(
        "/v1/search?q=дельфинарий", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    assert nothing["results"] == []


def test_webhook_503_twice_then_200_is_delivered_once_after_three_attempts(
    client: FlaskClient, token: str, receiver: WebhookReceiver, thread_worker: Celery
) -> None:
    receiver.script(503, 503)
    article_id = submit(client, token)["id"]

    def partner() -> dict[str, Any]:
        return next(
            d
            for d in article_view(client, token, article_id)["deliveries"]
            if d["outlet"] == "partner"
        )

    wait_until(lambda: partner()["state"] == "delivered", 20, "the webhook delivery")
    delivery = partner()
    assert delivery["attempts"] == 3
    assert delivery["last_error"]
    assert "503" in delivery["last_error"]
    statuses = [r.status for r in receiver.requests]
    assert statuses == [503, 503, 200]
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(ids) == 1, "every retry of one delivery carries the same webhook-id"
    assert len(receiver.verified_events()) == 3  # each attempt is correctly signed


def test_an_article_accepted_while_redis_is_away_is_delivered_when_it_is_back(
    settings: Settings,
    token: str,
    receiver: WebhookReceiver,
    thread_worker: Celery,
    producer: Celery,
) -> None:
    from pressroom_intake import create_app
    from tests.integration.test_versions import swept_until
    from tests.support.services import free_port

    cut_off = create_app(settings.replace(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    client = cut_off.test_client()
    accepted = submit(client, token)  # the broker is unreachable: still 202, the article is stored
    assert accepted["status"] == "received"
    assert receiver.requests == []

    swept_until(
        producer,
        lambda: article_view(client, token, accepted["id"])["status"] == "delivered",
        30,
        "the sweeper to send the work once Redis answers",
    )
    assert len(receiver.verified_events()) == 1


def test_only_the_renditions_the_outlets_read_are_rendered_and_a_missing_one_on_demand(
    client: FlaskClient,
    token: str,
    settings: Settings,
    thread_worker: Celery,
) -> None:
    """The site reads web_page and feed_entry, the webhook ninjs: nothing renders a Telegram
    post or an e-mail no outlet sends. An outlet configured later (here: a Telegram channel)
    still gets its rendition, rendered when its delivery is prepared."""
    article_id = submit(client, token)["id"]
    wait_until(
        lambda: article_view(client, token, article_id)["status"] == "delivered", 15, "delivery"
    )
    sessions = make_sessionmaker(make_engine(settings))
    with sessions() as session:
        stored = set(
            session.scalars(select(Rendition.name).where(Rendition.article_id == article_id))
        )
        assert stored == {"web_page", "feed_entry", "ninjs"}
        step = session.scalars(
            select(Step).where(Step.article_id == article_id, Step.outlet == "partner")
        ).one()
        ctx = context_of(thread_worker.tasks["pressroom.deliver"])
        telegram = TelegramOutlet.requires
        outlet = type("LateOutlet", (), {"requires": telegram})()
        delivery = prepare_delivery(session, step, outlet, ctx.renderers, ctx.render_context)  # type: ignore[arg-type]
    assert telegram <= delivery.renditions.keys()
    assert "пленными" in delivery.renditions["telegram"].content
