"""Every accepted format of one story becomes the same internal article (through HTTP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import FIXTURES, sample_text
from tests.integration.test_intake_api import assert_problem, auth
from tests.support.fixtures import NINJS_REFERENCE

pytestmark = pytest.mark.integration

SAME = ("headline", "body_html", "body_text", "language", "byline", "rubric", "published_at")


def submit(client: FlaskClient, token: str, body: bytes, content_type: str) -> dict[str, Any]:
    response = client.post(
        "/v1/articles", data=body, headers=auth(token, **{"Content-Type": content_type})
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    view = client.get(response.headers["Location"], headers=auth(token)).get_json()
    return {**view, "warnings": response.get_json()["warnings"]}


def content(view: dict[str, Any]) -> dict[str, Any]:
    return {key: view[key] for key in SAME}


@pytest.fixture
def from_text(client: FlaskClient, token: str) -> dict[str, Any]:
    return submit(client, token, sample_text(), "text/plain; charset=utf-8")


def test_json_ninjs_2_and_3_match_the_plain_text(
    client: FlaskClient, token: str, from_text: dict[str, Any]
) -> None:
    native = {
        "headline": from_text["headline"],
        "body": from_text["body_html"],
        "body_format": "html",
        "language": from_text["language"],
        "byline": from_text["byline"],
        "rubric": from_text["rubric"],
        "published_at": from_text["published_at"],
    }
    ninjs3 = {
        "uri": "urn:newsroom:story:1",
        "type": "text",
        "language": native["language"],
        "by": native["byline"],
        "firstCreated": native["published_at"],
        "headlines": [{"role": "main", "value": native["headline"]}],
        "bodies": [{"role": "main", "contentType": "text/html", "value": native["body"]}],
        "subjects": [{"name": native["rubric"], "rel": "section"}],
    }
    ninjs2 = {
        **{k: v for k, v in ninjs3.items() if k not in {"firstCreated", "bodies"}},
        "firstcreated": native["published_at"],
        "bodies": [{"role": "main", "contenttype": "text/html", "value": native["body"]}],
    }
    from_json = submit(client, token, json.dumps(native).encode(), "application/json")
    from_ninjs3 = submit(
        client, token, json.dumps(ninjs3).encode(), "application/vnd.iptc.ninjs+json; version=3.1"
    )
    from_ninjs2 = submit(
        client, token, json.dumps(ninjs2).encode(), "application/vnd.iptc.ninjs+json; version=2.2"
    )
    expected = content(from_text)
    assert content(from_json) == expected
    assert content(from_ninjs3) == expected
    assert content(from_ninjs2) == expected
    assert {v["source_format"] for v in (from_text, from_json, from_ninjs3)} == {
        "text",
        "json",
        "ninjs",
    }


def test_markdown_matches_the_plain_text_body(client: FlaskClient, token: str) -> None:
    text = submit(client, token, (FIXTURES / "ru-prisoner-exchange.txt").read_bytes(), "text/plain")
    markdown = (
        "---\n"
        f'headline: "{text["headline"]}"\n'
        f"byline: {text['byline']}\n"
        f"rubric: {text['rubric']}\n"
        f"published_at: {text['published_at']}\n"
        "language: ru\n"
        "---\n\n" + _as_markdown(FIXTURES / "ru-prisoner-exchange.txt")
    )
    from_markdown = submit(client, token, markdown.encode(), "text/markdown; charset=utf-8")
    assert from_markdown["headline"] == text["headline"]
    assert from_markdown["body_text"] == text["body_text"]
    assert (from_markdown["byline"], from_markdown["rubric"]) == (text["byline"], text["rubric"])
    assert from_markdown["published_at"] == text["published_at"]


def _as_markdown(path: Path) -> str:
    """The export format's body written as Markdown by hand-rule: headings get ##."""
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    headings = {"Что решили стороны", "Что дальше"}
    out = []
    for line in lines:
        out.append(f"## {line}" if line in headings else line.replace("[1]", "\\[1\\]"))
        if not line.startswith("- "):
            out.append("")
    return "\n".join(out)


@pytest.mark.parametrize("charset", ["windows-1251", "koi8-r"])
def test_single_byte_charsets_are_decoded_when_declared(
    client: FlaskClient, token: str, charset: str
) -> None:
    story = (
        "27 мая 2025 05:39, Виктория Любимова, Новости\n"
        "Пленных обменяли в Стамбуле. Подробности позже.\n"
    )
    view = submit(client, token, story.encode(charset), f"text/plain; charset={charset}")
    assert view["byline"] == "Виктория Любимова"
    assert "Пленных обменяли в Стамбуле." in view["body_text"]
    utf8 = submit(client, token, story.encode(), "text/plain; charset=utf-8")
    assert content(view) == content(utf8)


def test_bytes_invalid_in_the_declared_charset_are_rejected(
    client: FlaskClient, token: str
) -> None:
    response = client.post(
        "/v1/articles",
        data="Пленных обменяли".encode("koi8-r"),
        headers=auth(token, **{"Content-Type": "text/plain; charset=utf-8"}),
    )
    assert_problem(response, 400, "body")


@pytest.mark.parametrize("version", ["2.2", "3.1"])
def test_iptc_text_examples_keep_their_fields(
    client: FlaskClient, token: str, version: str
) -> None:
    folder = NINJS_REFERENCE / f"examples-{version}"
    accepted = 0
    for path in sorted(folder.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("type") not in {"text", "composite"} or "bodies" not in document:
            continue
        view = submit(
            client, token, path.read_bytes(), f"application/vnd.iptc.ninjs+json; version={version}"
        )
        main = next(
            (h for h in document["headlines"] if h.get("role") == "main"), document["headlines"][0]
        )
        assert view["headline"] == main["value"].strip(), path.name
        assert view["byline"] == document.get("by"), path.name
        if "language" in document:
            assert view["language"] == document["language"], path.name
        assert view["body_text"], path.name
        accepted += 1
    assert accepted >= 3
