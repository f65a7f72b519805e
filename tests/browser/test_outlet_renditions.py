"""The seed article as a Telegram post and as a newsletter, in a real browser.

Both go through their outlets to real local servers (the Bot API double, aiosmtpd with
STARTTLS); what those received is what is shown: the post in a Telegram-like bubble (Telegram
draws the same few tags), the newsletter's HTML part as a mail client would, scripts off.
Screenshots land in test-artifacts/; the README shows copies from docs/outlets/.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pressroom_intake.formats.plaintext import parse_plaintext
from pressroom_shared.article import Article, Event
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine
from pressroom_shared.migrate import upgrade
from pressroom_shared.outlets_config import OutletConfig
from pressroom_shared.plugins import Delivery, RenderContext
from pressroom_workers.outlets.email import EmailOutlet
from pressroom_workers.outlets.telegram import TelegramOutlet
from pressroom_workers.renderers.email import EmailRenderer
from pressroom_workers.renderers.telegram import TelegramRenderer
from tests.browser.test_site_pages import ARTIFACTS, browser  # noqa: F401 - a fixture
from tests.conftest import REPO
from tests.support.articles import make_article
from tests.support.bot_api import BotApi, telegram_html_problems
from tests.support.smtp_server import SmtpServer

CONTEXT = RenderContext("https://news.example.ru", "Пресс-центр")

BUBBLE = """<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><style>
body{{margin:0;padding:24px 12px;background:#b9cfa4;font:15px/1.38 system-ui,sans-serif}}
.channel{{max-width:460px;margin:0 auto}}
.title{{font-weight:600;color:#fff;margin:0 0 8px 4px}}
.post{{background:#fff;border-radius:12px;padding:8px 12px 6px;white-space:pre-wrap;
overflow-wrap:anywhere;box-shadow:0 1px 2px rgba(0,0,0,.15)}}
.post a{{color:#168acd;text-decoration:none}}
.meta{{text-align:right;color:#9aa;font-size:12px;margin-top:4px;white-space:normal}}
</style></head><body><div class="channel"><p class="title">{channel}</p>
<div class="post">{post}<div class="meta">👁 946 · 05:39</div></div></div></body></html>
"""


def seed_article() -> Article:
    parsed = parse_plaintext((REPO / "samples/seed-article.txt").read_text(encoding="utf-8"))
    assert parsed.body is not None
    return make_article(
        headline=parsed.fields["headline"],
        body_html=parsed.body.html,
        body_text=parsed.body.text,
        byline=parsed.fields.get("byline"),
        rubric=parsed.fields.get("rubric"),
        published_at=parsed.fields.get("published_at"),
    )


@pytest.fixture
def db_settings(tmp_path: Path) -> Settings:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'pressroom.db'}",
        site_url=CONTEXT.site_url,
        publisher_name=CONTEXT.publisher_name,
    )
    upgrade(make_engine(settings))
    return settings


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:  # noqa: F811 - the imported fixture
    context = browser.new_context(java_script_enabled=False, viewport={"width": 480, "height": 800})
    requested: list[str] = []
    opened = context.new_page()
    opened.on("request", lambda request: requested.append(request.url))
    yield opened
    context.close()
    assert [url for url in requested if not url.startswith(("data:", "about:"))] == []


def test_the_seed_article_as_a_telegram_post(page: Any, db_settings: Settings) -> None:
    article = seed_article()
    with BotApi() as api:
        outlet = TelegramOutlet(
            OutletConfig(
                "channel",
                "telegram",
                {"api_base": api.url, "token": api.token, "chat_id": "@pressroom"},
            ),
            db_settings,
        )
        delivery = Delivery(
            id="dlv_seed_telegram",
            event=Event.PUBLISHED,
            article=article,
            renditions={"telegram": TelegramRenderer().render(article, CONTEXT)},
            attempt=1,
        )
        # Playwright's sync API keeps an event loop running in this thread; outlets run their
        # own, as in a worker thread.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(outlet.deliver, delivery).result()
        (post,) = api.channel.values()
    assert telegram_html_problems(post) == []
    page.set_content(BUBBLE.format(channel=html.escape("Пресс-центр"), post=post))
    assert page.locator(".post b").first.inner_text() == article.headline
    link = page.locator(".post a")
    assert link.inner_text() in ("Читать полностью →", "На сайте →")
    assert link.get_attribute("href") == CONTEXT.article_url(article)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".channel").screenshot(path=str(ARTIFACTS / "telegram-post.png"))


@pytest.mark.parametrize(("device", "width"), [("phone", 390), ("desktop", 800)])
def test_the_seed_article_as_a_newsletter(
    page: Any, db_settings: Settings, tmp_path: Path, device: str, width: int
) -> None:
    article = seed_article()
    with SmtpServer(tmp_path) as smtp:
        outlet = EmailOutlet(
            OutletConfig(
                "letters",
                "email",
                {
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "ca_file": smtp.ca_file,
                    "username": smtp.username,
                    "password": smtp.password,
                    "sender": "Пресс-центр <news@news.example.ru>",
                    "recipients": ["reader@example.org"],
                },
            ),
            db_settings,
        )
        outlet.deliver(
            Delivery(
                id="dlv_seed_email",
                event=Event.PUBLISHED,
                article=article,
                renditions={"email_html": EmailRenderer().render(article, CONTEXT)},
                attempt=1,
            )
        )
        (message,) = smtp.messages
    part = message.get_body(("html",))
    assert part is not None
    page.set_viewport_size({"width": width, "height": 900})
    page.set_content(part.get_content())
    assert page.locator("h1").inner_text() == article.headline
    assert page.locator("script").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "sideways scroll"
    )
    assert page.get_by_role("link", name="Читать на сайте →").get_attribute("href") == (
        CONTEXT.article_url(article)
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"newsletter-{device}.png"), full_page=True)
