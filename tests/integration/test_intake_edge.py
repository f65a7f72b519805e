"""Hostile and unusual requests: nothing is cut, nothing answers 5xx, every refusal names a field.

Real Redis, real SQLite and PostgreSQL; chunked bodies go through a real HTTP server.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pressroom_intake import create_app
from pressroom_shared.config import Settings
from tests.conftest import serving
from tests.integration.test_intake_api import ARTICLE, assert_problem, auth, counts
from tests.support.fixtures import ninjs_example_path

pytestmark = pytest.mark.integration

NINJS = "application/vnd.iptc.ninjs+json"
MARKDOWN = "text/markdown"
DEEP = 10_000
HUGE_INT = "9" * 5_000


def post(client: FlaskClient, token: str, body: bytes | str, content_type: str) -> Any:
    data = body.encode() if isinstance(body, str) else body
    return client.post(
        "/v1/articles", data=data, headers=auth(token, **{"Content-Type": content_type})
    )


def accepted(response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.get_data(as_text=True)
    return dict(response.get_json())


def view(client: FlaskClient, token: str, answer: dict[str, Any]) -> dict[str, Any]:
    return dict(client.get(answer["links"]["self"], headers=auth(token)).get_json())


@pytest.fixture
def article_id(client: FlaskClient, token: str) -> str:
    return str(accepted(client.post("/v1/articles", json=ARTICLE, headers=auth(token)))["id"])


def ninjs3(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "uri": "urn:agency:story:1",
        "type": "text",
        "language": "en",
        "by": "Jane Porter",
        "versionCreated": "2025-06-03T09:15:00Z",
        "headlines": [{"role": "main", "value": "Council approves new cycle lanes"}],
        "bodies": [{"role": "main", "contentType": "text/html", "value": "<p>The council.</p>"}],
        "subjects": [{"name": "City", "rel": "section"}],
    }
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


def ninjs2(**changes: Any) -> dict[str, Any]:
    document = ninjs3(versionCreated=None, bodies=None)
    document["versioncreated"] = "2025-06-03T09:15:00Z"
    document["bodies"] = [{"role": "main", "contenttype": "text/html", "value": "<p>Text.</p>"}]
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


# -------------------------------------------------------------------------------- chunked bodies


@pytest.fixture
def small_limit_server(settings: Settings) -> Iterator[str]:
    """The intake on a real socket with a 4 KiB body limit, so chunked uploads stay small."""
    app: Flask = create_app(settings.replace(max_request_bytes=4096))
    with serving(app) as url:
        yield url


def send_chunked(base_url: str, token: str, body: bytes, content_type: str) -> tuple[int, Any]:
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        chunks = (body[i : i + 1000] for i in range(0, len(body), 1000))
        connection.request(
            "POST",
            "/v1/articles",
            body=chunks,
            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, (response.getheader("Content-Type"), response.read())
    finally:
        connection.close()


class TestChunkedBodies:
    def test_a_chunked_body_over_the_limit_is_413_not_cut(
        self, small_limit_server: str, token: str, settings: Settings
    ) -> None:
        text = ("Первый абзац новости о пленных. " * 200).encode()  # ~6 KB
        status, (content_type, _) = send_chunked(
            small_limit_server, token, text, "text/plain; charset=utf-8"
        )
        assert status == 413
        assert content_type == "application/problem+json"
        assert counts(settings) == (0, 0, 0)

    def test_chunked_json_over_the_limit_is_413_not_malformed(
        self, small_limit_server: str, token: str, settings: Settings
    ) -> None:
        body = json.dumps({**ARTICLE, "body": "текст " * 1000}, ensure_ascii=False).encode()
        status, (_, answer) = send_chunked(small_limit_server, token, body, "application/json")
        assert status == 413, answer
        assert counts(settings) == (0, 0, 0)

    def test_a_chunked_body_within_the_limit_is_read_whole(
        self, small_limit_server: str, token: str, settings: Settings
    ) -> None:
        body = json.dumps({**ARTICLE, "body": "абзац " * 200 + "КОНЕЦ"}, ensure_ascii=False)
        raw = body.encode()
        assert 2000 < len(raw) <= 4096
        status, (_, answer) = send_chunked(small_limit_server, token, raw, "application/json")
        assert status == 202, answer
        assert counts(settings)[0] == 1


# ------------------------------------------------------------------ nesting and oversized numbers


def deeply_nested(field: str) -> str:
    others = json.dumps({k: v for k, v in ARTICLE.items() if k != field})
    return others[:-1] + f', "{field}": ' + "[" * DEEP + "]" * DEEP + "}"


HOSTILE_JSON = {
    "deep-array": deeply_nested("tags"),
    "deep-object": '{"headline": ' + '{"a": ' * DEEP + "1" + "}" * DEEP + "}",
    "huge-integer": json.dumps(ARTICLE)[:-1] + f', "urgency": {HUGE_INT}' + "}",
    "huge-integer-in-string-field": json.dumps(ARTICLE)[:-1] + f', "byline": {HUGE_INT}' + "}",
    "nan": json.dumps(ARTICLE)[:-1] + ', "urgency": NaN}',
    "huge-float": json.dumps(ARTICLE)[:-1] + ', "urgency": 1e999}',
}


@pytest.mark.parametrize("body", list(HOSTILE_JSON.values()), ids=list(HOSTILE_JSON))
def test_hostile_json_on_post_is_a_4xx_problem(
    client: FlaskClient, token: str, settings: Settings, body: str
) -> None:
    response = post(client, token, body, "application/json")
    problem = assert_problem(response, response.status_code)
    assert response.status_code in (400, 422), problem
    assert problem["errors"], problem
    assert counts(settings) == (0, 0, 0)


@pytest.mark.parametrize("body", list(HOSTILE_JSON.values()), ids=list(HOSTILE_JSON))
def test_hostile_json_on_put_delete_and_embargo_is_a_4xx_problem(
    client: FlaskClient, token: str, article_id: str, body: str
) -> None:
    headers = auth(token, **{"Content-Type": "application/json"})
    for response in (
        client.put(f"/v1/articles/{article_id}", data=body, headers=headers),
        client.delete(f"/v1/articles/{article_id}", data=body, headers=headers),
        client.put(f"/v1/articles/{article_id}/embargo", data=body, headers=headers),
    ):
        assert 400 <= response.status_code < 500, response.get_data(as_text=True)
        assert response.mimetype == "application/problem+json"
    assert view(client, token, {"links": {"self": f"/v1/articles/{article_id}"}})["version"] == 1


@pytest.mark.parametrize(
    "hostile",
    [
        {"people": json.loads("[" * 48 + "]" * 48)},
        {"people": json.loads("[" * 900 + "]" * 900)},
        {"places": [{"name": "x", "geo": {"lat": float("nan")}}]},
    ],
    ids=["nested-48", "nested-900", "nan-in-kept-property"],
)
def test_ninjs_properties_kept_with_the_version_cannot_break_storage(
    client: FlaskClient, token: str, settings: Settings, hostile: dict[str, Any]
) -> None:
    body = json.dumps(ninjs3(**hostile))  # NaN is written as the non-JSON token NaN
    response = post(client, token, body, f"{NINJS}; version=3.1")
    assert response.status_code in (202, 400, 422), response.get_data(as_text=True)
    if response.status_code != 202:
        assert_problem(response, response.status_code, "_body")


def test_a_body_nested_within_the_limit_is_fine(client: FlaskClient, token: str) -> None:
    accepted(post(client, token, json.dumps(ninjs3(people=[[[{"name": "x"}]]])), NINJS))


def test_html_nested_deeper_than_any_article_is_refused_before_it_is_parsed(
    client: FlaskClient, token: str
) -> None:
    """Nesting within every size limit can cost html5ever seconds of CPU (quadratic)."""
    deep = "<ul><li>" * 8_000 + "x" + "</li></ul>" * 8_000
    started = time.monotonic()
    response = post(client, token, json.dumps({**ARTICLE, "body": deep}), "application/json")
    assert time.monotonic() - started < 2
    body = assert_problem(response, 422, "body")
    assert "nest" in body["errors"]["body"][0]
    # Pages of unclosed paragraphs and list items are not deep.
    flat = "<p>Абзац." * 2_000 + "<ul>" + "<li>пункт" * 500 + "</ul>"
    accepted(post(client, token, json.dumps({**ARTICLE, "body": flat}), "application/json"))


# ----------------------------------------------------------------------------------- dates


OVERFLOWING = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"]


@pytest.mark.parametrize("value", OVERFLOWING)
@pytest.mark.parametrize("field", ["published_at", "embargoed_until"])
def test_json_dates_that_overflow_utc_are_422_naming_the_field(
    client: FlaskClient, token: str, settings: Settings, field: str, value: str
) -> None:
    response = client.post("/v1/articles", json={**ARTICLE, field: value}, headers=auth(token))
    problem = assert_problem(response, 422, field)
    assert "UTC" in " ".join(problem["errors"][field])
    assert counts(settings) == (0, 0, 0)


@pytest.mark.parametrize("value", OVERFLOWING)
def test_ninjs_dates_that_overflow_utc_are_422_naming_the_ninjs_field(
    client: FlaskClient, token: str, value: str
) -> None:
    v3 = post(client, token, json.dumps(ninjs3(versionCreated=value)), f"{NINJS}; version=3.1")
    assert_problem(v3, 422, "versionCreated")
    v2 = post(client, token, json.dumps(ninjs2(embargoed=value)), f"{NINJS}; version=2.2")
    assert_problem(v2, 422, "embargoed")


@pytest.mark.parametrize("value", OVERFLOWING)
def test_markdown_dates_that_overflow_utc_are_422(
    client: FlaskClient, token: str, value: str
) -> None:
    document = f"---\nheadline: Заголовок\nlanguage: ru\npublished_at: {value}\n---\nТекст.\n"
    assert_problem(post(client, token, document, "text/markdown"), 422, "published_at")


@pytest.mark.parametrize("value", OVERFLOWING)
def test_embargo_and_listing_dates_that_overflow_utc_are_problems(
    client: FlaskClient, token: str, article_id: str, value: str
) -> None:
    response = client.put(
        f"/v1/articles/{article_id}/embargo",
        json={"embargoed_until": value},
        headers=auth(token),
    )
    assert_problem(response, 422, "embargoed_until")
    for name in ("since", "until"):
        listing = client.get("/v1/articles", query_string={name: value}, headers=auth(token))
        assert_problem(listing, 422, name)


# --------------------------------------------------------------------------------- urgency


@pytest.mark.parametrize("value", [1.5, 0.5, True, "high"])
def test_json_urgency_must_be_a_whole_number(
    client: FlaskClient, token: str, settings: Settings, value: Any
) -> None:
    response = client.post("/v1/articles", json={**ARTICLE, "urgency": value}, headers=auth(token))
    assert_problem(response, 422, "urgency")
    assert counts(settings) == (0, 0, 0)


def test_json_urgency_written_as_a_whole_float_is_that_number(
    client: FlaskClient, token: str
) -> None:
    response = client.post("/v1/articles", json={**ARTICLE, "urgency": 2.0}, headers=auth(token))
    answer = accepted(response)
    assert view(client, token, answer)["urgency"] == 2


def test_markdown_and_ninjs3_urgency_must_be_whole_too(client: FlaskClient, token: str) -> None:
    markdown = "---\nheadline: Заголовок\nlanguage: ru\nurgency: 1.5\n---\nТекст.\n"
    assert_problem(post(client, token, markdown, "text/markdown"), 422, "urgency")
    document = json.dumps(ninjs3(urgency=1.5))
    assert_problem(post(client, token, document, f"{NINJS}; version=3.1"), 422, "urgency")


# -------------------------------------------------------------- ninjs as agencies send it


def test_ninjs_3_without_a_version_is_inferred_from_camel_case(
    client: FlaskClient, token: str
) -> None:
    answer = accepted(post(client, token, json.dumps(ninjs3()), NINJS))
    assert any("3.x" in w and "inferred" in w for w in answer["warnings"]), answer["warnings"]
    article = view(client, token, answer)
    assert article["source_format"] == "ninjs"
    assert article["published_at"].startswith("2025-06-03T09:15:00")


def test_ninjs_2_without_a_version_is_inferred_from_lower_case(
    client: FlaskClient, token: str
) -> None:
    answer = accepted(post(client, token, json.dumps(ninjs2(embargoed=None)), NINJS))
    assert any("2.x" in w and "inferred" in w for w in answer["warnings"]), answer["warnings"]
    assert view(client, token, answer)["published_at"].startswith("2025-06-03T09:15:00")


def test_ninjs_version_is_inferred_from_standard_and_schema(
    client: FlaskClient, token: str
) -> None:
    standard = {"name": "ninjs", "version": "2.2", "schema": "x"}
    minimal = {"uri": "u", "headlines": [{"value": "Headline"}], "bodies": [{"value": "Text."}]}
    document = {**minimal, "standard": standard}
    from_standard = accepted(post(client, token, json.dumps(document), NINJS))
    assert any("2.2" in w and "standard" in w for w in from_standard["warnings"])
    schema = {**minimal, "$schema": "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json#"}
    from_schema = accepted(post(client, token, json.dumps(schema), NINJS))
    assert any("3.1" in w and "$schema" in w for w in from_schema["warnings"])


@pytest.mark.parametrize("version", ["2.2", "3.1"])
def test_iptc_text_examples_are_accepted_without_a_version_and_as_json(
    client: FlaskClient, token: str, version: str
) -> None:
    raw = ninjs_example_path(version, "005_complex_text_article.json").read_bytes()
    for content_type in (NINJS, "application/json", "application/json; charset=utf-8"):
        answer = accepted(post(client, token, raw, content_type))
        assert view(client, token, answer)["source_format"] == "ninjs"
        assert any("inferred" in w or "read as IPTC ninjs" in w for w in answer["warnings"])


def test_native_json_is_not_mistaken_for_ninjs(client: FlaskClient, token: str) -> None:
    answer = accepted(client.post("/v1/articles", json=ARTICLE, headers=auth(token)))
    assert view(client, token, answer)["source_format"] == "json"
    assert not any("ninjs" in w for w in answer["warnings"])
    # headline and body make it native JSON: ninjs' names are then unknown fields
    mixed = client.post("/v1/articles", json={**ARTICLE, "uri": "x"}, headers=auth(token))
    assert_problem(mixed, 422, "uri")


def test_a_text_item_with_its_text_only_in_descriptions_is_accepted(
    client: FlaskClient, token: str
) -> None:
    document = ninjs3(
        bodies=None,
        descriptions=[
            {"role": "summary", "value": "A short summary."},
            {"role": "text", "contentType": "text/plain", "value": "The whole story.\n\nPart 2."},
        ],
    )
    answer = accepted(post(client, token, json.dumps(document), NINJS))
    assert any("descriptions[1]" in w for w in answer["warnings"]), answer["warnings"]
    assert view(client, token, answer)["body_text"] == "The whole story.\n\nPart 2."


@pytest.mark.parametrize(
    ("version", "name"),
    [("3.1", "006_photo_only.json"), ("3.1", "008_event.json"), ("2.2", "006_photo_only.json")],
)
@pytest.mark.parametrize("declared", [True, False])
def test_pictures_and_events_are_still_refused(
    client: FlaskClient, token: str, settings: Settings, version: str, name: str, declared: bool
) -> None:
    raw = ninjs_example_path(version, name).read_bytes()
    content_type = f"{NINJS}; version={version}" if declared else NINJS
    response = post(client, token, raw, content_type)
    assert response.status_code in (415, 422)
    assert_problem(response, response.status_code, "type")
    assert counts(settings) == (0, 0, 0)


@pytest.mark.parametrize("version", ["1.5", "4.0", "banana"])
def test_an_unknown_ninjs_version_parameter_is_415(
    client: FlaskClient, token: str, version: str
) -> None:
    response = post(client, token, json.dumps(ninjs3()), f"{NINJS}; version={version}")
    assert_problem(response, 415, "version")


# ----------------------------------------------------------------------- smaller mismatches


def test_a_missing_rubric_warns_in_every_format(client: FlaskClient, token: str) -> None:
    native = {k: v for k, v in ARTICLE.items() if k != "rubric"}
    answers = [
        accepted(client.post("/v1/articles", json=native, headers=auth(token))),
        accepted(post(client, token, json.dumps(ninjs3(subjects=None)), f"{NINJS}; version=3.1")),
        accepted(post(client, token, "---\nheadline: H\nlanguage: en\n---\nText.\n", MARKDOWN)),
        accepted(post(client, token, "Lead paragraph of the story.\nMore.", "text/plain")),
    ]
    for answer in answers:
        assert answer["warnings"].count("no rubric") == 1, answer["warnings"]


def test_a_weak_if_match_is_refused(client: FlaskClient, token: str, article_id: str) -> None:
    for header in ('W/"v1"', 'W/"v0", W/"v1"'):
        response = client.put(
            f"/v1/articles/{article_id}", json=ARTICLE, headers=auth(token, **{"If-Match": header})
        )
        assert_problem(response, 412, "If-Match")
    strong = client.put(
        f"/v1/articles/{article_id}", json=ARTICLE, headers=auth(token, **{"If-Match": '"v1"'})
    )
    assert strong.status_code == 202


def test_the_embargo_endpoint_says_where_json_is_malformed(
    client: FlaskClient, token: str, article_id: str
) -> None:
    broken = b'{"embargoed_until": }'
    headers = auth(token, **{"Content-Type": "application/json"})
    embargo = client.put(f"/v1/articles/{article_id}/embargo", data=broken, headers=headers)
    submit = client.post("/v1/articles", data=broken, headers=headers)
    embargo_problem = assert_problem(embargo, 400, "_body")
    submit_problem = assert_problem(submit, 400, "_body")
    assert embargo_problem["detail"] == submit_problem["detail"]
    assert "line 1, column 21" in embargo_problem["detail"]
    kill = client.delete(f"/v1/articles/{article_id}", data=broken, headers=headers)
    assert assert_problem(kill, 400, "_body")["detail"] == submit_problem["detail"]


def test_idempotency_ignores_a_default_charset_parameter(
    client: FlaskClient, token: str, settings: Settings
) -> None:
    key = f'"{uuid.uuid4()}"'
    body = json.dumps(ARTICLE).encode()
    first = client.post(
        "/v1/articles",
        data=body,
        headers=auth(token, **{"Idempotency-Key": key, "Content-Type": "application/json"}),
    )
    second = client.post(
        "/v1/articles",
        data=body,
        headers=auth(
            token, **{"Idempotency-Key": key, "Content-Type": "Application/JSON; Charset=UTF-8"}
        ),
    )
    assert first.status_code == second.status_code == 202, second.get_data(as_text=True)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert counts(settings)[0] == 1


def test_every_rate_limited_operation_documents_429(client: FlaskClient) -> None:
    spec = client.get("/v1/openapi.json").get_json()
    missing = [
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        if path.startswith("/v1/") and path != "/v1/openapi.json"
        for method, operation in operations.items()
        if method in {"get", "put", "post", "delete", "patch"}
        and "429" not in operation["responses"]
    ]
    assert not missing, missing
