"""Every Redis client gets socket timeouts and health checks from the Settings."""

from __future__ import annotations

import pytest

from pressroom_intake import create_app
from pressroom_shared.celery_app import make_celery
from pressroom_shared.config import ConfigError, Settings

SETTINGS = Settings(
    redis_url="redis://127.0.0.1:1/0",
    redis_socket_timeout_seconds=0.7,
    redis_connect_timeout_seconds=0.3,
    redis_health_check_interval_seconds=4,
)


def test_redis_timeouts_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="REDIS_SOCKET_TIMEOUT"):
        Settings(redis_socket_timeout_seconds=0)
    with pytest.raises(ConfigError, match="REDIS_CONNECT_TIMEOUT"):
        Settings(redis_connect_timeout_seconds=-1)


def test_the_broker_connections_time_out_and_are_health_checked() -> None:
    conf = make_celery(SETTINGS, ["site"]).conf
    options = conf.broker_transport_options
    assert options["socket_timeout"] == 0.7
    assert options["socket_connect_timeout"] == 0.3
    assert options["health_check_interval"] == 4
    assert options["socket_keepalive"] is True
    assert options["retry_on_timeout"] is False
    assert conf.task_publish_retry_policy == {"max_retries": 0}
    assert conf.broker_connection_max_retries is None


def test_the_rate_limiter_connections_time_out() -> None:
    app = create_app(SETTINGS.replace(database_url="sqlite://", log_json=False))
    (limiter,) = app.extensions["limiter"]  # flask-limiter keeps a set of its instances
    pool = limiter.storage.storage.connection_pool
    assert pool.connection_kwargs["socket_timeout"] == 0.7
    assert pool.connection_kwargs["socket_connect_timeout"] == 0.3
    assert pool.connection_kwargs["health_check_interval"] == 4
