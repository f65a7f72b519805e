"""Fixtures over real parts: Redis, SQLite/PostgreSQL, Celery workers, HTTP receivers."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from celery import Celery
from celery.contrib.testing.worker import start_worker
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from pressroom_intake import create_app
from pressroom_shared.apikeys import create_key
from pressroom_shared.celery_app import make_celery
from pressroom_shared.config import Settings
from pressroom_shared.contracts import all_queues
from pressroom_shared.db import make_engine, make_sessionmaker, transaction
from pressroom_shared.migrate import upgrade
from pressroom_shared.outlets_config import load_outlets
from tests.support.fixtures import SEED_ARTICLE
from tests.support.services import postgres_available, postgres_database, redis_server
from tests.support.webhook_receiver import WebhookReceiver

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture(scope="session")
def redis_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as (url, _process):
        yield url


@pytest.fixture
def redis_url(redis_base: str) -> str:
    url = f"{redis_base.rstrip('/')}/0" if redis_base.count("/") == 2 else redis_base
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def postgres_url_session() -> Iterator[str]:
    if reason := postgres_available():
        pytest.skip(reason)
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that takes this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pressroom.db'}"
        return
    if reason := postgres_available():
        pytest.skip(reason)
    with postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pressroom.db'}"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(WEBHOOK_SECRET) as server:
        yield server


def write_outlets(folder: Path, receiver: WebhookReceiver | None) -> Path:
    text = f"""
        [outlets.site]
        type = "static_site"
        path = "{folder / "site"}"
        base_url = "http://127.0.0.1:8000/site"
    """
    if receiver is not None:
        text += f"""
        [outlets.partner]
        type = "webhook"
        url = "{receiver.url}"
        secret = "{WEBHOOK_SECRET}"
        """
    path = folder / "outlets.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def make_settings(
    tmp_path: Path, *, redis_url: str, database_url: str, outlets_file: Path | None
) -> Settings:
    return Settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        redis_url=redis_url,
        outlets_file=outlets_file,
        # Fast clocks for tests: retries in a fraction of a second, a brisk sweeper.
        retry_base_seconds=0.2,
        retry_max_seconds=2.0,
        delivery_retry_schedule="0.2,0.4,0.8,1.6,2,2,2",
        sweep_interval_seconds=0.5,
        redrive_after_seconds=2.0,
        lease_seconds=10.0,
        task_time_limit_seconds=8,
        http_timeout_seconds=3.0,
        delivery_deadline_seconds=4.0,
        log_json=False,
        log_level="WARNING",
        allow_example_secrets=True,  # WEBHOOK_SECRET is the published example
        # Tests revoke and rotate keys and expect the next call refused; the cache's own bound
        # is tested in test_access.
        token_cache_seconds=0.0,
    )


@pytest.fixture
def settings(
    tmp_path: Path, redis_url: str, database_url: str, receiver: WebhookReceiver
) -> Settings:
    value = make_settings(
        tmp_path,
        redis_url=redis_url,
        database_url=database_url,
        outlets_file=write_outlets(tmp_path, receiver),
    )
    upgrade(make_engine(value))
    return value


@pytest.fixture
def app(settings: Settings) -> Flask:
    flask_app = create_app(settings)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def new_token(settings: Settings, scopes: str = "submit,read", name: str = "newsroom") -> str:
    with transaction(make_sessionmaker(make_engine(settings))) as session:
        return create_key(session, name, scopes.split(","))


@pytest.fixture
def token(settings: Settings) -> str:
    return new_token(settings)


@pytest.fixture
def producer(settings: Settings) -> Celery:
    return make_celery(settings, [o.name for o in load_outlets(settings)], main="test-producer")


@pytest.fixture
def thread_worker(settings: Settings) -> Iterator[Celery]:
    """A real Celery worker in a thread of the test process, consuming every queue."""
    from pressroom_workers.app import create_worker_app

    worker_app = create_worker_app(settings)
    queues = all_queues(o.name for o in load_outlets(settings))
    with start_worker(
        worker_app,
        pool="threads",
        concurrency=4,
        perform_ping_check=False,
        queues=queues,
        loglevel="WARNING",
    ):
        yield worker_app


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """The intake on a real socket (werkzeug's threaded server); yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    with serving(app) as url:
        yield url


def sample_text() -> bytes:
    """The newsroom's sample article (vendored: the suite reads nothing beside the checkout)."""
    return SEED_ARTICLE.read_bytes()
