"""A newsletter whose Celery worker subprocess is SIGKILLed mid-send: the scheduler finds the
lost lease, another worker resumes the send, and no reader gets the issue twice."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery

from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine
from pressroom_shared.migrate import upgrade
from tests.conftest import make_settings
from tests.support.services import beat_process, wait_until, worker_process
from tests.support.smtp_server import SmtpServer

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

READERS = [f"reader{n}@example.org" for n in range(8)]


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with SmtpServer(tmp_path) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, sqlite_url: str, smtp: SmtpServer) -> Settings:
    outlets = tmp_path / "outlets.toml"
    outlets.write_text(
        textwrap.dedent(f"""
        [outlets.letters]
        type = "email"
        host = "127.0.0.1"
        port = {smtp.port}
        ca_file = "{smtp.ca_file}"
        username = "{smtp.username}"
        password_env = "PRESSROOM_SECRET_SMTP"
        sender = "news@pressroom.example"
        recipients = {json.dumps(READERS)}
        batch_size = 3
        """),
        encoding="utf-8",
    )
    value = make_settings(
        tmp_path, redis_url=redis_url, database_url=sqlite_url, outlets_file=outlets
    ).replace(secrets={"PRESSROOM_SECRET_SMTP": smtp.password})
    upgrade(make_engine(value))
    return value


def letters(base: str, token: str, article_id: str) -> dict[str, Any]:
    view = httpx.get(
        f"{base}/v1/articles/{article_id}", headers={"Authorization": f"Bearer {token}"}
    )
    return next(d for d in view.json()["deliveries"] if d["outlet"] == "letters")


def test_a_worker_killed_mid_newsletter_is_replaced_and_nobody_is_mailed_twice(
    settings: Settings,
    live_server: str,
    token: str,
    smtp: SmtpServer,
    producer: Celery,
    tmp_path: Path,
) -> None:
    smtp.hold_after(3)  # the 4th message hangs: its worker is killed while sending it
    doomed = worker_process(settings, tmp_path / "doomed.log", producer, name="doomed")
    beat = beat_process(settings, tmp_path / "beat.log")
    heir = None
    try:
        response = httpx.post(
            f"{live_server}/v1/articles",
            json={"headline": "Выпуск", "body": "Текст выпуска.", "language": "ru"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 202, response.text
        article_id = response.json()["id"]
        assert smtp.held.wait(30), "the send never reached the 4th reader"
        doomed.kill()  # SIGKILL mid-SMTP-transaction
        smtp.hold_after(10**6)
        smtp.release.set()
        heir = worker_process(settings, tmp_path / "heir.log", producer, name="heir")
        wait_until(
            lambda: letters(live_server, token, article_id)["state"] == "delivered",
            60,
            "the lease to expire and the heir to finish the newsletter",
        )
        delivery = letters(live_server, token, article_id)
    finally:
        doomed.stop()
        beat.stop()
        if heir is not None:
            heir.stop()
    counts = Counter(smtp.recipients())
    assert max(counts.values()) == 1, counts
    assert set(counts) == set(READERS) - {READERS[3]}
    assert delivery["attempts"] == 2
    assert delivery["receipt"]["sent"] == len(READERS) - 1
    assert delivery["receipt"]["unknown"] == 1  # the one in flight when the worker died
