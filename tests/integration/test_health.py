"""/readyz tells a load balancer the truth: the database reachable and migrated, Redis reachable."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from pressroom_intake import create_app
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine
from pressroom_shared.migrate import upgrade
from tests.support.services import free_port

pytestmark = pytest.mark.integration


def test_ready_when_everything_is(client: FlaskClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok"},
    }


def test_not_ready_while_migrations_are_pending(tmp_path: Path, redis_url: str) -> None:
    settings = Settings(var_dir=tmp_path / "var", redis_url=redis_url)
    upgrade(make_engine(settings), "0003")  # an older schema: the new code must not serve it
    answer = create_app(settings).test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["checks"]["database"] == "migrations pending"


def test_not_ready_without_redis(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", redis_url=f"redis://127.0.0.1:{free_port()}/0")
    upgrade(make_engine(settings))
    answer = create_app(settings).test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["checks"]["redis"].startswith("unreachable")
    assert answer.get_json()["checks"]["database"] == "ok"
