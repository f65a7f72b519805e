"""JSON log lines name what they are about: a client's X-Request-ID follows its article from the
intake into the worker's lines, beside the article, step and outlet."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from pressroom_intake import create_app
from pressroom_shared.config import Settings
from pressroom_shared.contracts import Stage
from pressroom_shared.db import make_engine, make_sessionmaker
from pressroom_shared.logging import configure_logging
from pressroom_shared.models import Step
from tests.conftest import new_token, sample_text

pytestmark = pytest.mark.integration


def json_lines(text: str) -> list[dict[str, object]]:
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def test_the_request_id_is_on_the_workers_lines_for_that_article(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from pressroom_workers.app import create_worker_app
    from pressroom_workers.runner import run_step

    if not settings.effective_database_url.startswith("sqlite"):
        pytest.skip("logging does not depend on the database: checked once, on SQLite")
    settings = settings.replace(log_json=True, log_level="INFO")
    token = new_token(settings)
    client = create_app(settings).test_client()
    answer = client.post(
        "/v1/articles",
        data=sample_text(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "text/plain; charset=utf-8",
            "X-Request-ID": "wire-desk-0042",
        },
    )
    assert answer.status_code == 202
    article_id = answer.get_json()["id"]
    worker = create_worker_app(settings)
    configure_logging(settings, "worker")  # what the worker does when Celery sets up logging
    with make_sessionmaker(make_engine(settings))() as session:
        render = session.scalars(
            select(Step.id).where(Step.article_id == article_id, Step.stage == Stage.RENDER)
        ).one()
    capsys.readouterr()
    assert run_step(worker.pressroom, worker, Stage.RENDER, render).state == "done"
    lines = [
        line for line in json_lines(capsys.readouterr().err) if line.get("process") == "worker"
    ]
    done = [line for line in lines if line["event"] == "step.done"]
    assert done, lines
    assert done[0]["request_id"] == "wire-desk-0042"
    assert done[0]["article_id"] == article_id
    assert done[0]["step_id"] == render
    assert done[0]["stage"] == "render"
