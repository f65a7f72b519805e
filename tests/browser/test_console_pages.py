"""The operator console in a real browser (Debian's chromium, driven by Playwright), against a
live intake, a private Redis and a Celery worker subprocess delivering to a real webhook.

The story an operator lives at 3 a.m.: a partner starts answering 503; the console shows its
deliveries failing and why; the partner comes back; one bulk retry from the console; the
deliveries turn delivered on the page, without a reload. Then a screenshot of every page at
phone and desktop sizes lands in test-artifacts/ (and in docs/console/ with
PRESSROOM_UPDATE_SCREENSHOTS=1, for the README).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from pressroom_intake import create_app
from pressroom_shared.celery_app import make_celery
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine, make_sessionmaker
from pressroom_shared.migrate import upgrade
from pressroom_shared.models import OperatorAction, Step
from pressroom_shared.outlets_config import load_outlets
from pressroom_shared.steps import StepState
from tests.browser.test_site_pages import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.conftest import REPO, make_settings, new_token, sample_text, serving, write_outlets
from tests.support.services import CeleryProcess, wait_until, worker_process
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DEVICES = {"phone": (390, 844), "desktop": (1280, 900)}
ARTICLES = 2
# Three attempts a delivery (the first, then after 0.2 s and 0.4 s), then `failed`.
SCHEDULE = "0.2,0.4"
ATTEMPTS = 3
DOCS = REPO / "docs" / "console"
UPDATE_DOCS = os.environ.get("PRESSROOM_UPDATE_SCREENSHOTS") == "1"
# The README shows these; every page at both sizes stays in test-artifacts/.
README_SHOTS = {
    "console-alert-phone.png",
    "console-deliveries-phone.png",
    *(
        f"console-{page}-desktop.png"
        for page in ("overview", "queues", "workers", "outlets", "deliveries", "delivery")
    ),
    "console-article-desktop.png",
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def stack(
    tmp_path: Path, redis_url: str, receiver: WebhookReceiver
) -> Iterator[tuple[Settings, Flask, str, CeleryProcess]]:
    settings = make_settings(
        tmp_path,
        redis_url=redis_url,
        database_url=f"sqlite:///{tmp_path / 'pressroom.db'}",
        outlets_file=write_outlets(tmp_path, receiver),
    ).replace(delivery_retry_schedule=SCHEDULE, log_json=True)
    upgrade(make_engine(settings))
    app = create_app(settings)
    producer = make_celery(settings, [o.name for o in load_outlets(settings)], main="producer")
    worker: CeleryProcess = worker_process(settings, tmp_path / "worker.log", producer, "console")
    try:
        with serving(app) as url:
            yield settings, app, url, worker
    finally:
        worker.stop()


class Watcher:
    """Collects what a page must not do: console errors (a CSP refusal is one), uncaught
    exceptions, requests that leave the intake."""

    def __init__(self, page: Any, base: str) -> None:
        self.problems: list[str] = []
        self.external: list[str] = []
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.on(
            "request",
            lambda r: self.external.append(r.url) if not r.url.startswith(base) else None,
        )


def log_in(page: Any, base: str, token: str) -> None:
    page.goto(f"{base}/ops/")
    assert "/ops/login" in page.url
    page.get_by_label("API token with the operate scope").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/ops/")


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON lines of a log that also holds Celery's own plain lines."""
    found = []
    for line in text.splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return [line for line in found if isinstance(line, dict)]


def count(settings: Settings, state: StepState) -> int:
    with make_sessionmaker(make_engine(settings))() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Step)
                .where(Step.outlet == "partner", Step.state == state)
            )
            or 0
        )


def test_an_operator_sees_a_partner_fail_and_retries_it_back_to_delivered(
    browser: Any, stack: tuple[Settings, Flask, str, CeleryProcess], receiver: WebhookReceiver
) -> None:
    settings, app, base, worker = stack
    operator = new_token(settings, "operate", name="night-desk")
    newsroom = new_token(settings, "submit,read", name="newsroom")
    receiver.script(*[503] * (ARTICLES * ATTEMPTS))  # the partner is down; then it is back
    client = app.test_client()
    ids = []
    for n in range(ARTICLES):
        answer = client.post(
            "/v1/articles",
            data=sample_text(),
            headers={
                "Authorization": f"Bearer {newsroom}",
                "Content-Type": "text/plain; charset=utf-8",
                "X-Request-ID": f"desk-{n}",
            },
        )
        assert answer.status_code == 202
        ids.append(answer.get_json()["id"])

    width, height = DEVICES["phone"]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    watcher = Watcher(page, base)
    log_in(page, base, operator)

    # The deliveries fail: the overview says so, naming the outlet and the reason.
    wait_until(lambda: count(settings, StepState.FAILED) == ARTICLES, 60, "failed deliveries")
    page.reload()
    alert = page.locator(".alert-error", has_text="Outlet partner is failing")
    assert alert.count() == 1
    assert "503" in alert.inner_text()
    assert page.locator("#failed").inner_text() == str(ARTICLES)
    shot(page, "console-alert-phone.png", UPDATE_DOCS)

    # The worker's JSON log lines of those failures carry the newsroom's X-Request-ID beside
    # the article, the step and the outlet.
    failures = [line for line in json_lines(worker.output()) if line.get("event") == "step.failed"]
    assert failures
    for line in failures:
        assert line["outlet"] == "partner"
        assert line["request_id"] == f"desk-{ids.index(line['article_id'])}"
        assert line["step_id"]

    # Outlets: the partner card has its failures, and the last error.
    page.get_by_role("link", name="Outlets").click()
    partner = page.locator("[data-outlet=partner]")
    assert "503" in partner.locator("dd.error").inner_text()
    assert partner.locator(".count.state-failed .n").inner_text() == str(ARTICLES)

    # Deliveries filtered to the failed ones: each shows why.
    page.goto(f"{base}/ops/deliveries?outlet=partner&state=failed")
    rows = page.locator("tr[data-delivery]")
    assert rows.count() == ARTICLES
    for i in range(ARTICLES):
        assert "503" in rows.nth(i).locator("td.error").inner_text()
    # One delivery's attempts, with their outcomes and errors.
    rows.first.locator("a").first.click()
    outcomes = page.locator("table tbody tr td:nth-child(4)").all_inner_texts()
    assert outcomes == ["transient"] * ATTEMPTS
    assert '"headlines"' in page.locator("details[open] pre").inner_text()  # the ninjs sent
    page.go_back()

    # The partner is back (its script ran out: it answers 200); retry them all, from here.
    page.goto(f"{base}/ops/deliveries?outlet=partner")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Retry all").click()
    page.wait_for_load_state()
    assert "retry: 2 changed" in page.locator(".flash").inner_text()

    # The list turns delivered by itself (the page refreshes its <main>, no reload).
    page.locator("tr[data-delivery] .state", has_text="delivered").nth(ARTICLES - 1).wait_for(
        timeout=30_000
    )
    assert count(settings, StepState.DONE) == ARTICLES
    page.goto(f"{base}/ops/")
    assert page.locator(".alert", has_text="partner").count() == 0  # it is well again
    delivered = [r for r in receiver.requests if r.status == 200]
    assert len(delivered) == ARTICLES
    with make_sessionmaker(make_engine(settings))() as session:
        actors = {(a.action, a.actor) for a in session.scalars(select(OperatorAction)).all()}
    assert actors == {("retry", "console:night-desk")}

    # The worker subprocess is listed with its queues, alive and making progress.
    page.goto(f"{base}/ops/workers")
    card = page.locator("[data-worker^=console-]")
    assert card.locator(".badge").inner_text() == "ok"
    assert "deliver.partner" in card.inner_text()
    page.goto(f"{base}/ops/queues")
    assert (
        page.locator("[data-queue='deliver.partner'] td").nth(2).inner_text().startswith("console-")
    )  # its consumer, from Celery's inspect

    # The article's timeline tells the whole story, with the newsroom's request id.
    page.get_by_role("link", name="Articles").click()
    page.locator(f"tr[data-article='{ids[0]}'] a").click()
    assert page.url.endswith(f"/ops/articles/{ids[0]}")
    timeline = page.locator("ol.timeline").inner_text()
    assert "request desk-0" in timeline
    assert "retry by console:night-desk" in timeline
    assert timeline.count("deliver → partner") >= ATTEMPTS + 1
    assert watcher.problems == []
    assert watcher.external == []
    context.close()

    screenshots(browser, base, operator, ids[0])


PAGES = {
    "overview": "/ops/",
    "queues": "/ops/queues",
    "workers": "/ops/workers",
    "outlets": "/ops/outlets",
    "deliveries": "/ops/deliveries?outlet=partner",
    "articles": "/ops/articles",
    "article": "/ops/articles/{article}",
}


def screenshots(browser: Any, base: str, token: str, article: str) -> None:
    update_docs = UPDATE_DOCS
    for device, (width, height) in DEVICES.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        watcher = Watcher(page, base)
        page.goto(f"{base}/ops/login")
        shot(page, f"console-login-{device}.png", update_docs)
        log_in(page, base, token)
        for name, path in PAGES.items():
            page.goto(base + path.format(article=article))
            assert page.locator("main h1").count() == 1, name
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
                f"{name} scrolls sideways on a {device}"
            )
            shot(page, f"console-{name}-{device}.png", update_docs)
        page.goto(f"{base}/ops/deliveries?outlet=partner")
        page.locator("tr[data-delivery] a").first.click()
        shot(page, f"console-delivery-{device}.png", update_docs)
        assert watcher.problems == []
        context.close()


def shot(page: Any, name: str, update_docs: bool) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    if update_docs and name in README_SHOTS:
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / name)
