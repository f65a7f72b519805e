"""Security headers on every answer; /docs loads a pinned, integrity-checked ReDoc; /site/
serves pages and feeds, never the outlet's own state."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from flask.testing import FlaskClient

from pressroom_shared.config import Settings
from tests.conftest import sample_text
from tests.integration.test_intake_api import assert_problem, auth
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


def assert_common_headers(response: httpx.Response) -> str:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    policy = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().partition(" ")[::2] for d in policy.split(";") if d.strip())
    assert directives["default-src"] == "'none'", policy
    assert directives["frame-ancestors"] == "'none'", policy
    assert "'unsafe-inline'" not in directives.get("script-src", ""), policy
    return policy


@pytest.fixture
def published(
    client: FlaskClient, token: str, settings: Settings, thread_worker: object, tmp_path: Path
) -> str:
    response = client.post(
        "/v1/articles",
        data=sample_text(),
        headers=auth(token, **{"Content-Type": "text/plain; charset=utf-8"}),
    )
    assert response.status_code == 202
    slug = str(response.get_json()["slug"])
    site = tmp_path / "site"
    wait_until(lambda: (site / "articles" / f"{slug}.html").exists(), 20, "the page")
    wait_until(lambda: (site / "sitemap.xml").exists(), 20, "the sitemap")
    return slug


def test_every_kind_of_answer_carries_the_headers(
    live_server: str, token: str, published: str
) -> None:
    bearer = {"Authorization": f"Bearer {token}"}
    data = [
        httpx.get(f"{live_server}/healthz"),
        httpx.get(f"{live_server}/v1/openapi.json"),
        httpx.get(f"{live_server}/v1/articles", headers=bearer),
        httpx.get(f"{live_server}/v1/articles"),  # 401
        httpx.get(f"{live_server}/nowhere"),  # 404 from routing
        httpx.post(f"{live_server}/v1/articles", headers=bearer, content=b"{"),  # 415
        httpx.get(f"{live_server}/site/feed.rss"),
    ]
    assert [r.status_code for r in data] == [200, 200, 200, 401, 404, 415, 200]
    for response in data:
        assert assert_common_headers(response) == "default-src 'none'; frame-ancestors 'none'"

    for page in (f"{live_server}/site/", f"{live_server}/site/articles/{published}.html"):
        response = httpx.get(page)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/html")
        policy = assert_common_headers(response)
        assert "script-src" not in policy  # the JSON-LD block is data, not a script
        assert "base-uri 'none'" in policy


def test_docs_load_a_pinned_redoc_with_subresource_integrity(live_server: str) -> None:
    response = httpx.get(f"{live_server}/docs")
    assert response.status_code == 200
    policy = assert_common_headers(response)
    assert "script-src https://cdn.jsdelivr.net" in policy
    scripts = re.findall(r"<script\b[^>]*>", response.text)
    assert len(scripts) == 1, scripts
    src = re.search(r'src="([^"]+)"', scripts[0])
    assert src
    assert re.fullmatch(
        r"https://cdn\.jsdelivr\.net/npm/redoc@\d+\.\d+\.\d+/bundles/redoc\.standalone\.js",
        src.group(1),
    ), "an unpinned version would not match its integrity hash for long"
    assert re.search(r'integrity="sha384-[A-Za-z0-9+/]{64}"', scripts[0])
    assert 'crossorigin="anonymous"' in scripts[0]


@pytest.mark.parametrize(
    "path",
    [
        "manifest.json",
        "manifest.json.migrated",
        ".state.sqlite",
        ".rebuild.lock",
        ".hidden.html",
        "articles/.x.html",
        "articles/",
        "nothing-here.html",
    ],
)
def test_the_site_hides_the_outlets_internals(
    live_server: str, published: str, tmp_path: Path, path: str
) -> None:
    site = tmp_path / "site"
    (site / ".hidden.html").write_text("secret")
    (site / "articles" / ".x.html").write_text("secret")
    assert (site / ".state.sqlite").exists()
    response = httpx.get(f"{live_server}/site/{path}")
    assert response.status_code == 404, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "secret" not in response.text
    assert httpx.get(f"{live_server}/site/feed.atom").status_code == 200
    assert httpx.get(f"{live_server}/site/sitemap.xml").status_code == 200


def test_problem_answers_from_the_test_client_too(client: FlaskClient) -> None:
    response = client.get("/site/manifest.json")
    assert_problem(response, 404)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
