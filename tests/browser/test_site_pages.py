"""The static site's pages in a real browser (Debian's chromium, driven by Playwright).

The story goes through the real pipeline (intake, Redis, a Celery worker, the static-site
outlet) and the page is loaded over HTTP from the intake's /site/, as a reader would.
Screenshots land in test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from flask.testing import FlaskClient

from pressroom_shared.config import Settings
from tests.conftest import REPO, sample_text
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags that keep a headless Chromium off the network it would otherwise try to reach.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts"


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
def published(
    client: FlaskClient, token: str, settings: Settings, thread_worker: Celery
) -> dict[str, Any]:
    if not settings.effective_database_url.startswith("sqlite"):
        pytest.skip("the page does not depend on the database: checked once, on SQLite")
    response = client.post(
        "/v1/articles",
        data=sample_text(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain; charset=utf-8"},
    )
    assert response.status_code == 202
    accepted = dict(response.get_json())
    page = Path(str(settings.var_dir.parent)) / "site" / "articles" / f"{accepted['slug']}.html"
    wait_until(page.exists, 15, "the article page")
    return accepted


@pytest.mark.parametrize(
    ("device", "width", "height"), [("phone", 390, 844), ("desktop", 1280, 900)]
)
def test_the_article_page_reads_well(
    browser: Any, live_server: str, published: dict[str, Any], device: str, width: int, height: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": height})
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    response = page.goto(f"{live_server}/site/articles/{published['slug']}.html")
    assert response is not None
    assert response.status == 200

    assert page.locator("html").get_attribute("lang") == "ru"
    assert page.locator("h1").count() == 1
    assert published["headline"] in page.locator("h1").inner_text()
    assert page.locator("article h2").count() >= 2
    assert page.locator("article ul li").count() >= 3
    structured = json.loads(page.locator('script[type="application/ld+json"]').inner_text())
    assert structured["@type"] == "NewsArticle"
    assert structured["headline"] == published["headline"]
    assert (
        page.locator('meta[property="og:title"]').get_attribute("content") == published["headline"]
    )
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "sideways scroll"
    )
    assert [url for url in requested if not url.startswith(live_server)] == [], "external requests"
    assert problems == []

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"article-{device}.png"), full_page=True)
    page.close()


def test_the_front_page_links_to_the_story(
    browser: Any, live_server: str, published: dict[str, Any]
) -> None:
    page = browser.new_page()
    page.goto(f"{live_server}/site/")
    link = page.get_by_role("link", name=published["headline"])
    assert link.count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "front-page.png"), full_page=True)
    link.click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/articles/{published['slug']}.html")
    page.close()
