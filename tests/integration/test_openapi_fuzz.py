"""schemathesis against our own OpenAPI document: every operation, authenticated.

No input it generates may cause a 5xx or an answer that contradicts the document; nor may the
hostile bodies of tests/support/hostile.py (nesting, huge numbers, dates that overflow in UTC)
or a chunked body over the size limit, sent to every operation that reads a body.
"""

from __future__ import annotations

import http.client
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pressroom_intake import create_app
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine
from pressroom_shared.migrate import upgrade
from tests.conftest import make_settings, new_token, serving, write_outlets
from tests.support.hostile import hostile_documents

pytestmark = pytest.mark.integration


@pytest.fixture
def fuzz_settings(tmp_path: Path, redis_url: str):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path,
        redis_url=redis_url,
        database_url=f"sqlite:///{tmp_path / 'fuzz.db'}",
        outlets_file=write_outlets(tmp_path, None),
    )
    upgrade(make_engine(settings))
    return settings.replace(rate_limit="100000/minute")


@pytest.fixture
def fuzz_server(fuzz_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The intake on a real socket, so every probe schemathesis makes goes through HTTP."""
    with serving(create_app(fuzz_settings)) as url:
        yield url


@pytest.fixture
def fuzz_token(fuzz_settings) -> str:  # type: ignore[no-untyped-def]
    return new_token(fuzz_settings, "submit,read,operate", name="fuzzer")


def _document() -> dict[str, object]:
    # The document depends on the code, not on settings: any app built from defaults serves it.
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(var_dir=Path(folder), redis_url="redis://127.0.0.1:1/0"))
        return dict(app.test_client().get("/v1/openapi.json").get_json())


# (schemathesis' lazy fixture loader does not work with pytest 9, hence the document up front
# and the server's address handed to each call.)
schema = schemathesis.openapi.from_dict(_document())


@schema.parametrize()
@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(
    case: schemathesis.Case, fuzz_server: str, fuzz_token: str
) -> None:
    case.call_and_validate(
        base_url=fuzz_server,
        # Our token replaces the one schemathesis made up; a case made without the header (a
        # negative case testing the security requirement) is sent without it, and must be
        # refused.
        headers=(
            {"Authorization": f"Bearer {fuzz_token}"}
            if "Authorization" in (case.headers or {})
            else {}
        ),
        # The API rejects some schema-valid input on purpose (a blank headline, an unknown
        # language tag, a forged cursor), always with a documented 4xx problem.
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )


# ----------------------------------------------------------------- hostile bodies, over HTTP

DOCUMENT = _document()
# Every operation that reads a request body, with a base document its hostile variants start from.
BODY_OPERATIONS = [
    (path, method.upper())
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
    if isinstance(operation, dict) and "requestBody" in operation
]
BASES: dict[str, dict[str, object]] = {
    "POST /v1/articles": {"headline": "Заголовок", "body": "Текст.", "language": "ru"},
    "PUT /v1/articles/{article_id}": {"headline": "Заголовок", "body": "Текст.", "language": "ru"},
    "DELETE /v1/articles/{article_id}": {"reason": "Юридическая претензия"},
    "PUT /v1/articles/{article_id}/embargo": {"embargoed_until": None},
}
# What a response is checked for; positive_data_acceptance does not apply to hostile input.
HOSTILE_CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


def test_every_operation_with_a_body_is_fuzzed_with_hostile_bodies() -> None:
    assert {f"{method} {path}" for path, method in BODY_OPERATIONS} == set(BASES)


@pytest.fixture
def fuzz_article(fuzz_server: str, fuzz_token: str) -> str:
    response = httpx.post(
        f"{fuzz_server}/v1/articles",
        json=BASES["POST /v1/articles"],
        headers={"Authorization": f"Bearer {fuzz_token}"},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize(("path", "method"), BODY_OPERATIONS)
@hypothesis_settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_json_bodies_never_get_a_5xx(
    path: str, method: str, fuzz_server: str, fuzz_token: str, fuzz_article: str, data: Any
) -> None:
    raw = data.draw(hostile_documents(BASES[f"{method} {path}"]))
    operation = schema[path][method]
    parameters = {"article_id": fuzz_article} if "{article_id}" in path else None
    case = operation.Case(body=raw, media_type="application/json", path_parameters=parameters)
    response = case.call(base_url=fuzz_server, headers={"Authorization": f"Bearer {fuzz_token}"})
    case.validate_response(response, checks=HOSTILE_CHECKS)


@pytest.mark.parametrize(("path", "method"), BODY_OPERATIONS)
def test_a_chunked_body_over_the_limit_is_413_everywhere(
    path: str,
    method: str,
    fuzz_server: str,
    fuzz_token: str,
    fuzz_article: str,
    fuzz_settings: Settings,
) -> None:
    limit = fuzz_settings.max_request_bytes
    text = json.dumps({"body": "я" * (limit // 2 + 1000)}, ensure_ascii=False).encode()
    assert limit < len(text) < limit + 5000
    address = urlsplit(fuzz_server)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.request(
            method,
            path.replace("{article_id}", fuzz_article),
            body=(text[i : i + 65536] for i in range(0, len(text), 65536)),
            headers={"Authorization": f"Bearer {fuzz_token}", "Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        assert response.status == 413, response.read()
        assert response.getheader("Content-Type") == "application/problem+json"
    finally:
        connection.close()
