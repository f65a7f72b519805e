"""Every outlet type together, through the intake and a real Celery worker on real Redis:
a Telegram channel (a Bot API double), an e-mail newsletter (aiosmtpd with STARTTLS), a
signed webhook and the static site; routing, embargo flags, refused credentials and breakers.
"""

from __future__ import annotations

import json
import statistics
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from click.testing import CliRunner
from flask.testing import FlaskClient

from pressroom_cli.main import cli
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine, make_sessionmaker
from pressroom_shared.migrate import upgrade
from pressroom_shared.models import OutletState
from pressroom_shared.timeutil import isoformat, utcnow
from tests.conftest import WEBHOOK_SECRET, make_settings
from tests.support.bot_api import BotApi, BotReply, telegram_html_problems
from tests.support.services import wait_until
from tests.support.smtp_server import SmtpServer
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration

READERS = ["anna@example.org", "boris@example.org", "vera@example.org"]


@pytest.fixture
def api() -> Iterator[BotApi]:
    with BotApi() as server:
        yield server


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with SmtpServer(tmp_path) as server:
        yield server


@pytest.fixture
def settings(
    tmp_path: Path,
    redis_url: str,
    sqlite_url: str,
    receiver: WebhookReceiver,
    api: BotApi,
    smtp: SmtpServer,
) -> Settings:
    readers = tmp_path / "readers.txt"
    readers.write_text("\n".join(READERS) + "\n", encoding="utf-8")
    outlets = tmp_path / "outlets.toml"
    outlets.write_text(
        textwrap.dedent(f"""
        [outlets.site]
        type = "static_site"
        path = "{tmp_path / "site"}"
        base_url = "http://127.0.0.1:8000/site"

        [outlets.partner]
        type = "webhook"
        url = "{receiver.url}"
        secret = "{WEBHOOK_SECRET}"
        embargo = "flag"
        [outlets.partner.breaker]
        failures = 2
        cooldown = 300

        [outlets.channel]
        type = "telegram"
        api_base = "{api.url}"
        token_env = "PRESSROOM_SECRET_TG"
        chat_id = "@pressroom"
        messages_per_minute = 600
        [outlets.channel.routing]
        min_urgency = 3

        [outlets.letters]
        type = "email"
        host = "127.0.0.1"
        port = {smtp.port}
        ca_file = "{smtp.ca_file}"
        username = "{smtp.username}"
        password_env = "PRESSROOM_SECRET_SMTP"
        sender = "Пресс-центр <news@pressroom.example>"
        recipients_file = "{readers}"
        [outlets.letters.routing]
        rubrics = ["Политика"]
        exclude_tags = ["реклама"]
        """),
        encoding="utf-8",
    )
    value = make_settings(
        tmp_path, redis_url=redis_url, database_url=sqlite_url, outlets_file=outlets
    ).replace(secrets={"PRESSROOM_SECRET_TG": api.token, "PRESSROOM_SECRET_SMTP": smtp.password})
    upgrade(make_engine(value))
    return value


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def story(**fields: Any) -> dict[str, Any]:
    return {
        "headline": "Обмен пленными завершён",
        "body": "Третий этап обмена завершился в понедельник. Подробности — на сайте.",
        "language": "ru",
        "rubric": "Политика",
        "urgency": 2,
        **fields,
    }


def post(client: FlaskClient, token: str, **fields: Any) -> str:
    response = client.post("/v1/articles", json=story(**fields), headers=headers(token))
    assert response.status_code == 202, response.get_data(as_text=True)
    return str(response.get_json()["id"])


def put(client: FlaskClient, token: str, article_id: str, **fields: Any) -> None:
    response = client.put(
        f"/v1/articles/{article_id}", json=story(**fields), headers=headers(token)
    )
    assert response.status_code == 202, response.get_data(as_text=True)


def view(client: FlaskClient, token: str, article_id: str) -> dict[str, Any]:
    return dict(client.get(f"/v1/articles/{article_id}", headers=headers(token)).get_json())


def deliveries(client: FlaskClient, token: str, article_id: str) -> dict[str, dict[str, Any]]:
    return {d["outlet"]: d for d in view(client, token, article_id)["deliveries"]}


def settled(client: FlaskClient, token: str, article_id: str, version: int) -> bool:
    current = view(client, token, article_id)
    return current["version"] == version and all(
        d["state"] == "delivered" for d in current["deliveries"]
    )


def test_publish_update_correct_kill_reach_telegram_and_the_newsletter(
    client: FlaskClient, token: str, api: BotApi, smtp: SmtpServer, thread_worker: Celery
) -> None:
    article_id = post(client, token)
    wait_until(lambda: settled(client, token, article_id, 1), 20, "version 1 everywhere")
    assert set(deliveries(client, token, article_id)) == {"site", "partner", "channel", "letters"}
    assert api.methods() == ["sendMessage"]
    (message_id,) = api.channel
    assert deliveries(client, token, article_id)["channel"]["receipt"]["message_id"] == message_id
    assert sorted(smtp.recipients()) == sorted(READERS)

    put(client, token, article_id, headline="Обмен пленными завершён полностью")
    wait_until(lambda: settled(client, token, article_id, 2), 20, "the update")
    put(client, token, article_id, correction_note="Исправлена дата третьего этапа")
    wait_until(lambda: settled(client, token, article_id, 3), 20, "the correction")
    assert "Исправлено: Исправлена дата третьего этапа" in api.channel[message_id]
    assert telegram_html_problems(api.channel[message_id]) == []

    response = client.delete(
        f"/v1/articles/{article_id}",
        json={"reason": "Юридическая претензия"},
        headers=headers(token),
    )
    assert response.status_code == 202
    wait_until(lambda: settled(client, token, article_id, 4), 20, "the kill")
    assert api.methods() == ["sendMessage", "editMessageText", "editMessageText", "deleteMessage"]
    assert api.channel == {}
    subjects = Counter(m["Subject"] for m in smtp.messages)
    assert subjects == {
        "Обмен пленными завершён": 3,  # one issue each
        "Исправление: Обмен пленными завершён": 3,  # the correction notice
        "Материал отозван редакцией": 3,  # the kill notice
    }
    assert Counter(smtp.recipients()) == {reader: 3 for reader in READERS}


def test_routing_by_rubric_urgency_and_tags_and_a_version_that_newly_matches(
    client: FlaskClient, token: str, thread_worker: Celery
) -> None:
    sport = post(client, token, rubric="Спорт", urgency=5)
    politics = post(client, token, rubric="Политика", urgency=5)
    flash = post(client, token, rubric="Спорт", urgency=1)
    advert = post(client, token, rubric="политика", urgency=5, tags=["Реклама"])
    no_urgency = post(client, token, rubric="Спорт", urgency=None)
    for article_id in (sport, politics, flash, advert, no_urgency):
        wait_until(lambda a=article_id: settled(client, token, a, 1), 20, "delivery")
    routed = {a: set(deliveries(client, token, a)) for a in (sport, politics, flash, advert)}
    assert routed == {
        sport: {"site", "partner"},
        politics: {"site", "partner", "letters"},
        flash: {"site", "partner", "channel"},
        advert: {"site", "partner"},
    }
    assert set(deliveries(client, token, no_urgency)) == {"site", "partner"}
    # Version 2 moves the story into politics: the newsletter gets it as a first publication,
    # the others as an update.
    put(client, token, sport, rubric="Политика", urgency=5)
    wait_until(lambda: settled(client, token, sport, 2), 20, "version 2")
    events = {o: d["event"] for o, d in deliveries(client, token, sport).items()}
    assert events == {"site": "updated", "partner": "updated", "letters": "published"}
    # And out again: an outlet that had the story still hears of every change.
    put(client, token, sport, rubric="Спорт", urgency=5, correction_note="Рубрика")
    wait_until(lambda: settled(client, token, sport, 3), 20, "version 3")
    assert set(deliveries(client, token, sport)) == {"site", "partner", "letters"}


def test_an_embargoed_story_goes_flagged_to_a_flagging_webhook_and_nowhere_else(
    client: FlaskClient, token: str, receiver: WebhookReceiver, api: BotApi, thread_worker: Celery
) -> None:
    until = isoformat(utcnow() + timedelta(hours=1))
    article_id = post(client, token, embargoed_until=until)
    receiver.wait_for(lambda r: len(r.verified_events()) == 1, timeout=20)
    event = receiver.verified_events()[0]
    assert event["type"] == "article.published"
    assert event["embargoed_until"] == until
    time.sleep(1.0)
    states = {o: d["state"] for o, d in deliveries(client, token, article_id).items()}
    assert states == {
        "partner": "delivered",
        "site": "pending",
        "channel": "pending",
        "letters": "pending",
    }
    assert api.calls == []


def test_refused_bot_credentials_pause_the_channel_and_nothing_else(
    client: FlaskClient, token: str, settings: Settings, api: BotApi, thread_worker: Celery
) -> None:
    api.script(BotReply.error(403, "Forbidden: bot was kicked from the channel chat"))
    article_id = post(client, token)

    def channel_held() -> bool:
        return deliveries(client, token, article_id)["channel"]["error_kind"] == "refused"

    wait_until(channel_held, 20, "the channel to be paused")
    states = {o: d["state"] for o, d in deliveries(client, token, article_id).items()}
    wait_until(
        lambda: all(
            d["state"] == "delivered"
            for o, d in deliveries(client, token, article_id).items()
            if o != "channel"
        ),
        20,
        "the other outlets",
    )
    assert states["channel"] == "retrying"
    with make_sessionmaker(make_engine(settings))() as session:
        row = session.get(OutletState, "channel")
        assert row is not None
        assert row.mode == "paused"
        assert "kicked" in (row.reason or "")
    assert api.channel == {}


def latency(client: FlaskClient, token: str, count: int, outlets: set[str]) -> list[float]:
    """Seconds from each submission until every one of `outlets` delivered it."""
    took = []
    for n in range(count):
        started = time.monotonic()
        article_id = post(client, token, headline=f"Сводка {n}", urgency=5, rubric="Спорт")

        def done(a: str = article_id) -> bool:
            current = deliveries(client, token, a)
            return all(current[o]["state"] == "delivered" for o in outlets)

        wait_until(done, 20, "delivery", interval=0.02)
        took.append(time.monotonic() - started)
    return took


def test_an_open_breaker_holds_its_outlet_without_attempts_and_delays_no_other(
    client: FlaskClient,
    token: str,
    settings: Settings,
    receiver: WebhookReceiver,
    thread_worker: Celery,
) -> None:
    healthy = latency(client, token, 5, {"site", "partner"})
    receiver.script(*([503] * 1000))
    # Two failed attempts open the partner's breaker (failures = 2).
    latency(client, token, 1, {"site"})
    sessions = make_sessionmaker(make_engine(settings))

    def breaker_open() -> bool:
        with sessions() as session:
            row = session.get(OutletState, "partner")
            return row is not None and row.breaker == "open"

    wait_until(breaker_open, 20, "the partner's breaker to open")
    requests_before = len(receiver.requests)
    during = latency(client, token, 5, {"site"})
    time.sleep(0.5)
    # The partner was not called again, and its new deliveries wait unattempted.
    assert len(receiver.requests) == requests_before
    recent = client.get(
        "/v1/deliveries?outlet=partner", headers=headers(new_operator(settings))
    ).get_json()
    waiting = [d for d in recent["deliveries"] if d["attempts"] == 0 and d["state"] != "delivered"]
    assert len(waiting) >= 5
    assert all(d["error_kind"] in ("breaker", None) for d in waiting)
    # Operators see it.
    # Only what the command needs: the CLI configures logging for the whole process, and
    # PRESSROOM_LOG_LEVEL=WARNING would silence the info lines later tests read.
    env = {
        "PRESSROOM_DATABASE_URL": settings.database_url,
        "PRESSROOM_VAR_DIR": str(settings.var_dir),
        "PRESSROOM_OUTLETS_FILE": str(settings.outlets_file),
    }
    shown = CliRunner().invoke(cli, ["outlets", "--json"], env=env, catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    breakers = {row["name"]: row["breaker"] for row in json.loads(shown.output)}
    assert breakers == {"site": "off", "partner": "open", "channel": "off", "letters": "off"}
    # The site's latency with the partner down behind an open breaker, against a healthy one.
    assert max(during) < max(statistics.median(healthy) * 3, 1.5), (healthy, during)


def new_operator(settings: Settings) -> str:
    from tests.conftest import new_token

    return new_token(settings, "read,operate", name="operator")


def test_a_newsletter_longer_than_one_run_carries_on_without_spending_attempts(
    client: FlaskClient, token: str, tmp_path: Path, smtp: SmtpServer, thread_worker: Celery
) -> None:
    many = [f"reader{n:02d}@example.org" for n in range(30)]
    # Read when the send starts: the list as it is now.
    (tmp_path / "readers.txt").write_text("\n".join(many) + "\n", encoding="utf-8")
    smtp.data_delay = 0.2  # 6 s in all, past the 4 s deadline of one run
    article_id = post(client, token)
    wait_until(lambda: settled(client, token, article_id, 1), 30, "the newsletter")
    letters = deliveries(client, token, article_id)["letters"]
    assert letters["attempts"] == 1
    assert letters["receipt"]["sent"] == 30
    assert Counter(smtp.recipients()) == dict.fromkeys(many, 1)
    assert len(smtp.logins) >= 2  # one batch of 50, handed over to a second run midway


def test_a_429_holds_every_post_to_the_channel_for_its_retry_after(
    client: FlaskClient, token: str, api: BotApi, thread_worker: Celery
) -> None:
    api.script(BotReply.too_many(2))
    first = post(client, token, headline="Первая")
    api.wait_for(lambda a: len(a.calls) >= 1)
    second = post(client, token, headline="Вторая")
    for article_id in (first, second):
        wait_until(lambda a=article_id: settled(client, token, a, 1), 20, "both posts")
    calls = api.calls
    assert [c.status for c in calls] == [429, 200, 200]  # nobody else ran into the 429
    assert min(c.at for c in calls[1:]) - calls[0].at >= 1.8
    assert deliveries(client, token, second)["channel"]["attempts"] == 1
