"""The bare stack's workers: a no-op render whose successor is a no-op index, then one task
writing the page to a file and one POSTing to the same receiver pressroom's webhook posts to.
No database, no state, no retries.

    BARE_REDIS_URL=... BARE_SITE_DIR=... BARE_WEBHOOK_URL=... \
        celery -A bare_tasks worker --pool prefork -c 2   (cwd bench/bare_stack)
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import httpx
from celery import Celery

app = Celery("bare", broker=os.environ["BARE_REDIS_URL"])
app.conf.update(
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

_client: httpx.Client | None = None


def _http() -> httpx.Client:
    # One keep-alive client per prefork child (made after the fork).
    global _client
    if _client is None:
        _client = httpx.Client(timeout=10)
    return _client


@app.task
def render(article: dict[str, Any]) -> None:
    index.delay(article)


@app.task
def index(article: dict[str, Any]) -> None:
    write_page.delay(article)
    post_webhook.delay(article)


@app.task
def write_page(article: dict[str, Any]) -> None:
    headline = html.escape(article["headline"])
    page = (
        f"<!DOCTYPE html><html lang=ru><meta charset=utf-8><title>{headline}</title>"
        f"<h1>{headline}</h1><p>{html.escape(article['body'])}</p>"
    )
    folder = Path(os.environ["BARE_SITE_DIR"])
    (folder / f"{article['id']}.html").write_text(page, encoding="utf-8")


@app.task
def post_webhook(article: dict[str, Any]) -> None:
    _http().post(
        os.environ["BARE_WEBHOOK_URL"],
        json={
            "type": "article.published",
            "data": {
                "uri": f"urn:bare:article:{article['id']}",
                "headline": article["headline"],
                "body_html": article["body"],
            },
        },
    ).raise_for_status()
