"""Every registered outlet type honours the Outlet contract against its real target.

A new outlet type needs an entry in TARGETS: a function that builds an instance pointed at
a real local target (a folder, a WebhookReceiver, ...) for the duration of a test. It yields
the outlet's config, or (config, settings) when the outlet needs more (a migrated database
for outlets that record their sends).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pressroom_shared.article import Article, Event
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine
from pressroom_shared.migrate import upgrade
from pressroom_shared.outlets_config import OutletConfig
from pressroom_shared.plugins import (
    Delivery,
    Outlet,
    Receipt,
    RenderContext,
    load_outlet_types,
    load_renderers,
)
from tests.support.articles import killed, make_article, next_version
from tests.support.bot_api import BotApi
from tests.support.smtp_server import SmtpServer
from tests.support.webhook_receiver import WebhookReceiver

OUTLET_TYPES = load_outlet_types()
RENDERERS = load_renderers()
SETTINGS = Settings(http_timeout_seconds=5.0, publisher_name="Пресс-центр")
CONTEXT = RenderContext(site_url="http://127.0.0.1:8000/site", publisher_name="Пресс-центр")


@contextlib.contextmanager
def static_site_target(tmp_path: Path) -> Iterator[OutletConfig]:
    yield OutletConfig(
        name="site",
        type="static_site",
        options={"path": str(tmp_path / "site"), "base_url": CONTEXT.site_url},
    )


@contextlib.contextmanager
def webhook_target(tmp_path: Path) -> Iterator[OutletConfig]:
    with WebhookReceiver() as receiver:
        yield OutletConfig(
            name="partner", type="webhook", options={"url": receiver.url, "secret": receiver.secret}
        )


def migrated(tmp_path: Path) -> Settings:
    settings = SETTINGS.replace(database_url=f"sqlite:///{tmp_path / 'pressroom.db'}")
    upgrade(make_engine(settings))
    return settings


@contextlib.contextmanager
def telegram_target(tmp_path: Path) -> Iterator[tuple[OutletConfig, Settings]]:
    with BotApi() as api:
        options = {"api_base": api.url, "token": api.token, "chat_id": "@pressroom_test"}
        yield OutletConfig(name="channel", type="telegram", options=options), migrated(tmp_path)


@contextlib.contextmanager
def email_target(tmp_path: Path) -> Iterator[tuple[OutletConfig, Settings]]:
    with SmtpServer(tmp_path) as smtp:
        options = {
            "host": "127.0.0.1",
            "port": smtp.port,
            "ca_file": smtp.ca_file,
            "username": smtp.username,
            "password": smtp.password,
            "sender": "news@pressroom.example",
            "recipients": ["a@example.org", "b@example.org"],
        }
        yield OutletConfig(name="letters", type="email", options=options), migrated(tmp_path)


Target = OutletConfig | tuple[OutletConfig, Settings]
TARGETS: dict[str, Callable[[Path], contextlib.AbstractContextManager[Target]]] = {
    "static_site": static_site_target,
    "webhook": webhook_target,
    "telegram": telegram_target,
    "email": email_target,
}


@pytest.fixture(params=sorted(OUTLET_TYPES))
def outlet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outlet]:
    type_name = request.param
    target = TARGETS.get(type_name)
    if target is None:
        pytest.fail(f"outlet type {type_name!r} has no contract target: add one to TARGETS")
    with target(tmp_path) as built:
        config, settings = built if isinstance(built, tuple) else (built, SETTINGS)
        yield OUTLET_TYPES[type_name](config, settings)


def delivery_for(outlet: Outlet, article: Article, event: Event, attempt: int = 1) -> Delivery:
    renditions = {name: RENDERERS[name]().render(article, CONTEXT) for name in outlet.requires}
    return Delivery(
        id=f"dlv_{article.id.replace('-', '')}_v{article.version}",
        event=event,
        article=article,
        renditions=renditions,
        attempt=attempt,
    )


def test_expected_outlet_types_are_registered() -> None:
    assert {"static_site", "webhook", "telegram", "email"} <= OUTLET_TYPES.keys()


def test_outlet_satisfies_protocol(outlet: Outlet) -> None:
    assert isinstance(outlet, Outlet)
    factory: object = OUTLET_TYPES[outlet.type_name]  # the entry point names the class itself
    assert factory is type(outlet)
    assert isinstance(outlet.requires, frozenset)
    assert outlet.requires <= RENDERERS.keys(), "requires names renderers that do not exist"


def test_publish_update_kill(outlet: Outlet) -> None:
    v1 = make_article()
    v2 = next_version(v1, headline=v1.headline + " (обновлено)")
    v3 = killed(v2)
    receipts = [
        outlet.deliver(delivery_for(outlet, v1, Event.PUBLISHED)),
        outlet.deliver(delivery_for(outlet, v2, Event.UPDATED)),
        outlet.deliver(delivery_for(outlet, v3, Event.KILLED)),
    ]
    for receipt in receipts:
        assert isinstance(receipt, Receipt)
        assert receipt.detail
        json.dumps(dict(receipt.data))  # receipts are stored as JSON


def test_redelivery_of_the_same_delivery_succeeds(outlet: Outlet) -> None:
    delivery = delivery_for(outlet, make_article(), Event.PUBLISHED)
    first = outlet.deliver(delivery)
    again = outlet.deliver(delivery)
    assert isinstance(first, Receipt)
    assert again == first


def test_the_outlet_is_built_from_config_alone(tmp_path: Path) -> None:
    # Outlets are built in every worker process: construction must not need the target.
    config = OutletConfig("x", "static_site", {"path": str(tmp_path / "nowhere")})
    OUTLET_TYPES["static_site"](config, SETTINGS)
    assert not (tmp_path / "nowhere").exists()
