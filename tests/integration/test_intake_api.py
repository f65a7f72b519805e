"""The intake's HTTP contract: auth, formats, rejections, idempotency. Real Redis, real database."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine, make_sessionmaker
from pressroom_shared.models import Article, ArticleVersion, Step
from tests.conftest import new_token, sample_text
from tests.support.services import queue_lengths

pytestmark = pytest.mark.integration

ARTICLE = {
    "headline": "Обмен пленными: итоги стамбульских соглашений",
    "body": "Первый абзац.\n\nВторой абзац о «пленных».",
    "language": "ru",
    "byline": "Виктория Любимова",
    "rubric": "Новости",
    "tags": ["обмен", "Белоруссия"],
    "published_at": "2025-05-27T05:39:00+03:00",
    "urgency": 3,
}


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def counts(settings: Settings) -> tuple[int, int, int]:
    with make_sessionmaker(make_engine(settings))() as session:
        return (
            session.scalar(select(func.count()).select_from(Article)) or 0,
            session.scalar(select(func.count()).select_from(ArticleVersion)) or 0,
            session.scalar(select(func.count()).select_from(Step)) or 0,
        )


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["type"].startswith("https://")
    if field is not None:
        assert field in body["errors"], body
        assert all(isinstance(reason, str) and reason for reason in body["errors"][field])
    return body


def test_plain_text_sample_is_accepted_with_a_derived_headline(
    client: FlaskClient, token: str, settings: Settings
) -> None:
    response = client.post(
        "/v1/articles",
        data=sample_text(),
        headers=auth(token, **{"Content-Type": "text/plain; charset=utf-8"}),
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert response.headers["Location"] == f"/v1/articles/{body['id']}"
    assert body["version"] == 1
    assert body["status"] == "received"
    assert body["headline"]
    assert any("headline" in w for w in body["warnings"])
    assert counts(settings) == (1, 1, 4)  # render, index, two deliveries
    assert queue_lengths(settings.redis_url).get("render") == 1


def test_json_article_is_accepted_and_readable(client: FlaskClient, token: str) -> None:
    response = client.post("/v1/articles", json=ARTICLE, headers=auth(token))
    assert response.status_code == 202, response.get_data(as_text=True)
    location = response.headers["Location"]
    article = client.get(location, headers=auth(token))
    assert article.status_code == 200
    assert article.headers["ETag"] == '"v1"'
    view = article.get_json()
    assert view["headline"] == ARTICLE["headline"]
    assert view["byline"] == "Виктория Любимова"
    assert view["published_at"] == "2025-05-27T02:39:00+00:00"
    assert view["urgency"] == 3
    assert view["tags"] == ["обмен", "Белоруссия"]
    assert "<p>Первый абзац.</p>" in view["body_html"]
    assert "<p>Второй абзац о «пленных».</p>" in view["body_html"]
    assert view["status"] == "received"
    assert view["progress"]["render"]["state"] == "pending"
    assert sorted(d["outlet"] for d in view["deliveries"]) == ["partner", "site"]
    assert all(d["state"] == "pending" and d["attempts"] == 0 for d in view["deliveries"])


def test_urgent_article_rides_the_urgent_lane(
    client: FlaskClient, token: str, settings: Settings
) -> None:
    response = client.post("/v1/articles", json={**ARTICLE, "urgency": 1}, headers=auth(token))
    assert response.status_code == 202
    assert queue_lengths(settings.redis_url).get("render.urgent") == 1


def test_html_body_is_sanitised(client: FlaskClient, token: str) -> None:
    hostile = {
        **ARTICLE,
        "body": (
            '<p onclick="x()">Текст<script>alert(1)</script></p>'
            '<p><a href="javascript:alert(1)">ссылка</a></p>'
        ),
    }
    response = client.post("/v1/articles", json=hostile, headers=auth(token))
    assert response.status_code == 202
    view = client.get(response.headers["Location"], headers=auth(token)).get_json()
    html = view["body_html"].lower()
    assert "<script" not in html
    assert "onclick" not in html
    assert "javascript:" not in html
    assert "текст" in html


class TestAuth:
    def test_missing_token_is_401(self, client: FlaskClient, settings: Settings) -> None:
        response = client.post("/v1/articles", json=ARTICLE)
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert counts(settings) == (0, 0, 0)

    def test_unknown_token_is_401(self, client: FlaskClient) -> None:
        assert_problem(client.get("/v1/search?q=x", headers=auth("prs_nope")), 401)

    def test_wrong_scope_is_403(self, client: FlaskClient, settings: Settings) -> None:
        reader = new_token(settings, "read", name="reader")
        assert_problem(client.post("/v1/articles", json=ARTICLE, headers=auth(reader)), 403)
        submitter = new_token(settings, "submit", name="submitter")
        assert_problem(client.get("/v1/search?q=x", headers=auth(submitter)), 403)
        assert counts(settings) == (0, 0, 0)


class TestRejections:
    """Every bad request: a 4xx problem naming what is wrong, and nothing stored or queued."""

    @pytest.mark.parametrize(
        ("body", "content_type", "status", "field"),
        [
            (b"", "application/json", 400, "_body"),
            (b"   \n", "text/plain; charset=utf-8", 400, "_body"),
            (b'{"headline": "x", "body": ', "application/json", 400, "_body"),
            (b"[1, 2]", "application/json", 400, "_body"),
            (b"<article/>", "application/xml", 415, "Content-Type"),
            (b"\xff\xfe broken", "text/plain; charset=utf-8", 400, "body"),
            (b"text", "text/plain; charset=ebcdic-cp-be", 415, "charset"),
        ],
        ids=[
            "empty",
            "blank-text",
            "malformed-json",
            "not-an-object",
            "unknown-type",
            "bad-utf8",
            "unknown-charset",
        ],
    )
    def test_malformed_requests(
        self,
        client: FlaskClient,
        token: str,
        settings: Settings,
        body: bytes,
        content_type: str,
        status: int,
        field: str,
    ) -> None:
        response = client.post(
            "/v1/articles", data=body, headers=auth(token, **{"Content-Type": content_type})
        )
        assert_problem(response, status, field)
        assert counts(settings) == (0, 0, 0)
        assert queue_lengths(settings.redis_url) == {}

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"headline": None}, "headline"),
            ({"body": None}, "body"),
            ({"language": None}, "language"),
            ({"language": "russian"}, "language"),
            ({"urgency": 0}, "urgency"),
            ({"urgency": 10}, "urgency"),
            ({"published_at": "2025-05-27T05:39:00"}, "published_at"),
            ({"colour": "red"}, "colour"),
            ({"headline": "   "}, "headline"),
            ({"headline": "Заголовок\x07"}, "headline"),
            ({"tags": ["x"] * 51}, "tags"),
            ({"headline": "Я" * 301}, "headline"),
        ],
        ids=[
            "no-headline",
            "no-body",
            "no-language",
            "bad-language",
            "urgency-0",
            "urgency-10",
            "naive-time",
            "unknown-field",
            "blank-headline",
            "control-char",
            "too-many-tags",
            "long-headline",
        ],
    )
    def test_invalid_fields(
        self,
        client: FlaskClient,
        token: str,
        settings: Settings,
        change: dict[str, Any],
        field: str,
    ) -> None:
        article = {k: v for k, v in {**ARTICLE, **change}.items() if v is not None}
        response = client.post("/v1/articles", json=article, headers=auth(token))
        assert_problem(response, 422, field)
        assert counts(settings) == (0, 0, 0)
        assert queue_lengths(settings.redis_url) == {}

    def test_all_field_errors_are_reported_at_once(self, client: FlaskClient, token: str) -> None:
        response = client.post(
            "/v1/articles", json={"urgency": 12, "extra": 1}, headers=auth(token)
        )
        body = assert_problem(response, 422)
        assert {"headline", "body", "language", "urgency", "extra"} <= set(body["errors"])

    def test_body_over_the_size_limit_is_413(
        self, client: FlaskClient, token: str, settings: Settings
    ) -> None:
        huge = json.dumps({**ARTICLE, "body": "я" * settings.max_request_bytes}).encode()
        response = client.post(
            "/v1/articles", data=huge, headers=auth(token, **{"Content-Type": "application/json"})
        )
        assert_problem(response, 413)
        assert counts(settings) == (0, 0, 0)

    def test_unknown_article_is_404(self, client: FlaskClient, token: str) -> None:
        assert_problem(client.get(f"/v1/articles/{uuid.uuid4()}", headers=auth(token)), 404)


class TestIdempotency:
    def test_same_key_and_payload_creates_one_article(
        self, client: FlaskClient, token: str, settings: Settings
    ) -> None:
        headers = auth(token, **{"Idempotency-Key": f'"{uuid.uuid4()}"'})
        first = client.post("/v1/articles", json=ARTICLE, headers=headers)
        second = client.post("/v1/articles", json=ARTICLE, headers=headers)
        assert first.status_code == second.status_code == 202
        assert first.get_json() == second.get_json()
        assert first.headers["Location"] == second.headers["Location"]
        assert second.headers["Idempotent-Replayed"] == "true"
        assert counts(settings) == (1, 1, 4)
        with make_sessionmaker(make_engine(settings))() as session:
            deliveries = session.scalars(select(Step.outlet).where(Step.stage == "deliver")).all()
        assert sorted(deliveries) == ["partner", "site"]
        assert queue_lengths(settings.redis_url).get("render") == 1

    def test_same_key_other_payload_is_422(
        self, client: FlaskClient, token: str, settings: Settings
    ) -> None:
        headers = auth(token, **{"Idempotency-Key": "key-1"})
        assert client.post("/v1/articles", json=ARTICLE, headers=headers).status_code == 202
        other = client.post("/v1/articles", json={**ARTICLE, "headline": "Другой"}, headers=headers)
        assert_problem(other, 422, "Idempotency-Key")
        assert counts(settings)[0] == 1

    def test_keys_are_per_client(self, client: FlaskClient, token: str, settings: Settings) -> None:
        other = new_token(settings, "submit", name="other-newsroom")
        first = client.post(
            "/v1/articles", json=ARTICLE, headers=auth(token, **{"Idempotency-Key": "k"})
        )
        second = client.post(
            "/v1/articles", json=ARTICLE, headers=auth(other, **{"Idempotency-Key": "k"})
        )
        assert first.get_json()["id"] != second.get_json()["id"]

    def test_a_retry_while_the_first_is_in_flight_is_409(
        self, client: FlaskClient, token: str, settings: Settings
    ) -> None:
        from pressroom_intake import idempotency
        from pressroom_shared.apikeys import authenticate
        from pressroom_shared.timeutil import utcnow

        sessions = make_sessionmaker(make_engine(settings))
        with sessions() as session:
            key = authenticate(session, token)
        assert key is not None
        body = json.dumps(ARTICLE).encode()
        in_flight = idempotency.begin(
            sessions,
            key.id,
            "slow-1",
            idempotency.fingerprint("application/json", {}, body),
            now=utcnow(),
            ttl=60,
        )
        assert isinstance(in_flight, int)  # the first request holds the key, still storing
        retry = client.post(
            "/v1/articles",
            data=body,
            headers=auth(
                token, **{"Idempotency-Key": '"slow-1"', "Content-Type": "application/json"}
            ),
        )
        assert_problem(retry, 409)
        assert retry.headers["Retry-After"] == "1"
        assert counts(settings) == (0, 0, 0)

    def test_malformed_key_is_400(self, client: FlaskClient, token: str) -> None:
        response = client.post(
            "/v1/articles", json=ARTICLE, headers=auth(token, **{"Idempotency-Key": '""'})
        )
        assert_problem(response, 400, "Idempotency-Key")


def test_openapi_document_describes_the_api(client: FlaskClient) -> None:
    spec = client.get("/v1/openapi.json").get_json()
    post = spec["paths"]["/v1/articles"]["post"]
    assert set(post["requestBody"]["content"]) == {
        "application/json",
        "application/vnd.iptc.ninjs+json; version=3.1",
        "text/markdown",
        "text/plain",
    }
    assert "202" in post["responses"]
    assert {
        "/v1/search",
        "/v1/articles/{article_id}/versions",
        "/v1/articles/{article_id}/embargo",
    } <= set(spec["paths"])
    assert set(spec["paths"]["/v1/articles/{article_id}"]) >= {"get", "put", "delete"}
