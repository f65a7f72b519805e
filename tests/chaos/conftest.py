"""Fixtures of the chaos suite: two switchable partners, compressed clocks, real processes.

Each scenario gets two webhook outlets, `partner` (the one the test breaks) and `healthy` (a
witness that other work keeps flowing), a live intake on a real socket, and `workers` to start,
SIGKILL and replace worker subprocesses. A test changes settings by parametrizing
`settings_overrides`:

    @pytest.mark.parametrize("settings_overrides", [{"delivery_deadline_seconds": 1.5}])
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine
from pressroom_shared.migrate import upgrade
from tests.conftest import WEBHOOK_SECRET, make_settings, new_token
from tests.support.chaos import Intake, Workers
from tests.support.chaos_receiver import ChaosReceiver

# Clocks squeezed so that a day of partner outage, a lease expiry and a few sweeps fit in
# seconds. Only values change; the logic that uses them is the production logic.
CHAOS_SETTINGS: dict[str, Any] = {
    "delivery_retry_schedule": "0.2,0.5,1,2",  # 5 attempts over ~4 s
    "delivery_deadline_seconds": 2.0,
    "lease_seconds": 7.0,  # the deadline plus the 5 s margin Settings demands
    "max_lost_attempts": 3,
    "sweep_interval_seconds": 0.5,
    "redrive_after_seconds": 2.0,
    # The checks poll every article's state several times a second.
    "rate_limit": "100000/minute",
}


def compress(settings: Settings, **changes: Any) -> Settings:
    """`settings` with `changes`; fails the test, naming them, on settings that do not exist."""
    fields = {f.name for f in dataclasses.fields(Settings)}
    if missing := sorted(set(changes) - fields):
        pytest.fail(f"Settings has no {', '.join(missing)}: the delivery core lacks them")
    if "task_time_limit_seconds" in fields and "task_time_limit_seconds" not in changes:
        # While a Celery time limit exists, a lease must outlive it; keep it under the lease.
        lease = changes.get("lease_seconds", settings.lease_seconds)
        changes["task_time_limit_seconds"] = min(settings.task_time_limit_seconds, int(lease))
    return settings.replace(**changes)


@pytest.fixture
def partner() -> Iterator[ChaosReceiver]:
    with ChaosReceiver(WEBHOOK_SECRET) as receiver:
        yield receiver


@pytest.fixture
def healthy() -> Iterator[ChaosReceiver]:
    with ChaosReceiver(WEBHOOK_SECRET) as receiver:
        yield receiver


@pytest.fixture
def receivers(partner: ChaosReceiver, healthy: ChaosReceiver) -> dict[str, ChaosReceiver]:
    return {"partner": partner, "healthy": healthy}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(
    tmp_path: Path,
    redis_url: str,
    database_url: str,
    receivers: dict[str, ChaosReceiver],
    settings_overrides: dict[str, Any],
) -> Settings:
    outlets = tmp_path / "outlets.toml"
    outlets.write_text(
        "".join(
            textwrap.dedent(f"""
                [outlets.{name}]
                type = "webhook"
                url = "{receiver.url}"
                secret = "{WEBHOOK_SECRET}"
            """)
            for name, receiver in receivers.items()
        ),
        encoding="utf-8",
    )
    base = make_settings(
        tmp_path, redis_url=redis_url, database_url=database_url, outlets_file=outlets
    )
    value = compress(base, **{**CHAOS_SETTINGS, **settings_overrides})
    upgrade(make_engine(value))
    return value


@pytest.fixture
def intake(live_server: str, token: str) -> Iterator[Intake]:
    """The API as the newsroom uses it (scopes submit, read)."""
    client = Intake(live_server, token)
    yield client
    client.close()


@pytest.fixture
def operator(live_server: str, settings: Settings) -> Iterator[Intake]:
    """The API as an operator uses it (scopes read, operate)."""
    client = Intake(live_server, new_token(settings, "read,operate", name="operator"))
    yield client
    client.close()


@pytest.fixture
def workers(settings: Settings, producer: Celery, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(settings, producer, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()
