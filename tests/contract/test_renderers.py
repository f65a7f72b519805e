"""Every registered renderer honours the Renderer contract; then what each one must produce."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import jsonschema
import pytest

from pressroom_shared.article import Article, PubStatus
from pressroom_shared.plugins import RenderContext, Renderer, load_renderers
from pressroom_workers.renderers.feed_entry import FeedEntryRenderer, summarize
from pressroom_workers.renderers.ninjs import NinjsRenderer
from pressroom_workers.renderers.web_page import WebPageRenderer
from tests.support.articles import killed, make_article, make_english_article, next_version
from tests.support.fixtures import ninjs_schema

CONTEXT = RenderContext(site_url="https://news.example.ru/", publisher_name="Пресс-центр")
RENDERERS = load_renderers()
XSS_HEADLINE = '</script><script>alert("h")</script><img src=x onerror=alert(1)> & «кавычки»'


def articles() -> dict[str, Article]:
    ru = make_article()
    return {
        "ru": ru,
        "en": make_english_article(),
        "ru-updated": next_version(ru, correction_note="Уточнена дата третьего этапа."),
        "ru-killed": killed(ru),
        "en-killed": killed(make_english_article()),
        "minimal": make_article(
            byline=None, rubric=None, tags=(), published_at=None, urgency=None, extra={}
        ),
    }


# -- the contract ---------------------------------------------------------------------------------


def test_expected_renderers_are_registered() -> None:
    assert {"web_page", "feed_entry", "ninjs"} <= RENDERERS.keys()


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_renderer_satisfies_protocol(name: str) -> None:
    cls = RENDERERS[name]
    renderer = cls()
    assert isinstance(renderer, Renderer)
    assert cls.name == name
    assert isinstance(cls.media_type, str)
    assert cls.media_type


@pytest.mark.parametrize("case", sorted(articles()))
@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_renders_every_article(name: str, case: str) -> None:
    cls = RENDERERS[name]
    rendition = cls().render(articles()[case], CONTEXT)
    assert rendition.name == name
    assert rendition.media_type == cls.media_type
    assert isinstance(rendition.content, str)
    assert rendition.content


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_output_is_deterministic(name: str) -> None:
    cls = RENDERERS[name]
    # Equal but distinct inputs, and a fresh renderer: no clock, no randomness, no state.
    first = cls().render(make_article(), CONTEXT)
    second = cls().render(make_article(), RenderContext(CONTEXT.site_url, CONTEXT.publisher_name))
    assert first == second


# -- web_page ------------------------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]

    def meta(self, prop: str) -> list[str | None]:
        return [a.get("content") for a in self.find("meta", property=prop)]


def parse_html(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector


def test_web_page_head_metadata() -> None:
    article = make_article()
    html = WebPageRenderer().render(article, CONTEXT).content
    page = parse_html(html)
    url = "https://news.example.ru/articles/obmen-plennymi-itogi-stambulskikh-soglashenii.html"
    assert html.startswith("<!DOCTYPE html>")
    assert page.find("html")[0]["lang"] == "ru"
    assert page.find("meta", charset="utf-8")
    assert page.find("meta", name="viewport")
    assert page.find("link", rel="canonical")[0]["href"] == url
    assert page.meta("og:title") == [article.headline]
    assert page.meta("og:type") == ["article"]
    assert page.meta("og:url") == [url]
    assert page.meta("og:site_name") == ["Пресс-центр"]
    assert page.meta("article:published_time") == ["2025-05-27T02:39:00Z"]
    assert page.meta("article:section") == ["Новости СВО и мобилизации"]
    assert page.meta("article:tag") == ["обмен пленными", "Белоруссия", "Стамбул"]
    assert f"<title>{article.headline} — Пресс-центр</title>" in html
    # Self-contained: nothing for the browser to fetch from elsewhere.
    assert not page.find("link", rel="stylesheet")
    assert not [a for t, a in page.tags if t in {"script", "img"} and a.get("src")]


def test_web_page_json_ld() -> None:
    html = WebPageRenderer().render(make_article(), CONTEXT).content
    page = parse_html(html)
    [script] = page.find("script", type="application/ld+json")
    data = json.loads(page.scripts[0])
    assert script is not None
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "NewsArticle"
    assert data["headline"] == make_article().headline
    assert data["datePublished"] == "2025-05-27T02:39:00Z"
    assert data["dateModified"] == "2025-05-27T02:39:00Z"
    assert data["author"] == [{"@type": "Person", "name": "Виктория Любимова"}]
    assert data["articleSection"] == "Новости СВО и мобилизации"
    assert data["inLanguage"] == "ru"
    assert data["publisher"] == {"@type": "Organization", "name": "Пресс-центр"}
    assert data["mainEntityOfPage"]["@id"].endswith(
        "/articles/obmen-plennymi-itogi-stambulskikh-soglashenii.html"
    )


def test_web_page_article_body() -> None:
    article = make_article()
    html = WebPageRenderer().render(article, CONTEXT).content
    page = parse_html(html)
    assert len(page.find("h1")) == 1
    assert page.find("article")
    assert page.find("time", datetime="2025-05-27T02:39:00Z")
    assert "2025-05-27 02:39 UTC" in html
    assert "Виктория Любимова" in html
    # The sanitised body goes in as markup, not as escaped text.
    assert "<h2>Ход обмена по стамбульским договорённостям</h2>" in html
    assert 'соглашения<sup><a href="#fn-1" id="fnref-1">1</a></sup>.' in html
    assert '<section class="footnotes"><ol><li id="fn-1" value="1">' in html
    assert 'class="correction"' not in html


def test_web_page_correction_note() -> None:
    article = next_version(make_article(), correction_note="Исправлена дата <второго> этапа.")
    html = WebPageRenderer().render(article, CONTEXT).content
    assert 'class="correction"' in html
    assert "Исправление:" in html
    assert "Исправлена дата &lt;второго&gt; этапа." in html


@pytest.mark.parametrize(
    ("article", "message"),
    [
        (killed(make_article()), "Материал снят с публикации"),
        (killed(make_english_article()), "This article has been withdrawn"),
    ],
)
def test_web_page_tombstone(article: Article, message: str) -> None:
    html = WebPageRenderer().render(article, CONTEXT).content
    page = parse_html(html)
    assert message in html
    assert article.headline in html
    assert len(page.find("h1")) == 1
    assert page.find("meta", name="robots", content="noindex")
    # No trace of the withdrawn text, in the page or its metadata.
    first_words = article.content.body_text.split(".")[0]
    assert first_words not in html
    assert "<h2>" not in html
    assert not page.find("script", type="application/ld+json")


def test_web_page_escapes_headline_everywhere() -> None:
    article = make_article(headline=XSS_HEADLINE, byline='<b onmouseover="x">Автор</b>')
    html = WebPageRenderer().render(article, CONTEXT).content
    page = parse_html(html)
    # Only the JSON-LD script exists, and it still holds the headline exactly.
    assert [t for t, _ in page.tags if t == "script"] == ["script"]
    assert "</script><script>" not in html
    assert "<img" not in html
    assert "<b onmouseover" not in html
    assert json.loads(page.scripts[0])["headline"] == XSS_HEADLINE
    assert re.search(r"\\u003c/script\\u003e", page.scripts[0])
    assert page.meta("og:title") == [XSS_HEADLINE]


def test_web_page_template_loads_from_package() -> None:
    # The template ships as package data; loading goes through the package, not a path.
    from importlib.resources import files

    assert files("pressroom_workers.renderers").joinpath("templates/article.html").is_file()


# -- feed_entry ----------------------------------------------------------------------------------


def test_feed_entry_fields() -> None:
    article = next_version(make_article())
    entry = json.loads(FeedEntryRenderer().render(article, CONTEXT).content)
    assert entry == {
        "id": "urn:pressroom:article:a1b2c3d4-0001",
        "url": "https://news.example.ru/articles/obmen-plennymi-itogi-stambulskikh-soglashenii.html",
        "title": article.headline,
        "summary": summarize(article.content.body_text),
        "content_html": article.content.body_html,
        "published": "2025-05-27T02:39:00Z",
        "updated": "2025-05-27T02:46:00Z",
        "author": "Виктория Любимова",
        "rubric": "Новости СВО и мобилизации",
        "language": "ru",
        "tags": ["обмен пленными", "Белоруссия", "Стамбул"],
        "version": 2,
        "pubstatus": "usable",
    }
    assert entry["summary"].startswith("За последние дни")
    assert len(entry["summary"]) <= 300


def test_feed_entry_killed_carries_no_text() -> None:
    entry = json.loads(FeedEntryRenderer().render(killed(make_article()), CONTEXT).content)
    assert entry["pubstatus"] == "canceled"
    assert entry["summary"] == ""
    assert entry["content_html"] == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Первый абзац.\n\nВторой абзац.", "Первый абзац."),
        ("  Строка\nс переносом  \n \nещё", "Строка с переносом"),
        ("", ""),
    ],
)
def test_summary_is_first_paragraph(text: str, expected: str) -> None:
    assert summarize(text) == expected


def test_summary_is_cut_at_a_word_boundary() -> None:
    text = " ".join(["слово"] * 100)  # 599 characters in one paragraph
    summary = summarize(text)
    assert len(summary) <= 300
    assert summary.endswith("слово…")
    assert summarize("я" * 1000) == "я" * 299 + "…"


# -- ninjs ---------------------------------------------------------------------------------------


def ninjs_validator() -> Any:
    schema = ninjs_schema("3.1")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize("case", sorted(articles()))
def test_ninjs_validates_against_schema(case: str) -> None:
    validator = ninjs_validator()
    document = json.loads(NinjsRenderer().render(articles()[case], CONTEXT).content)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    # The format checker skips date-time without an optional package; check it here.
    for key in ("versionCreated", "firstCreated", "embargoedUntil"):
        if key in document:
            assert datetime.fromisoformat(document[key]).tzinfo is not None


def test_ninjs_schema_rejects_what_it_should() -> None:
    # Guards the test above: the validator really applies the 3.1 rules.
    validator = ninjs_validator()
    assert not validator.is_valid({"uri": "urn:x", "viewCount": 946})  # unevaluatedProperties
    assert not validator.is_valid({"uri": "urn:x", "urgency": 0})
    assert not validator.is_valid({"type": "text"})  # uri is required


def test_ninjs_fields() -> None:
    article = make_article(embargoed_until=datetime(2025, 5, 27, 6, 0, tzinfo=UTC))
    doc = json.loads(NinjsRenderer().render(article, CONTEXT).content)
    assert doc["uri"] == "urn:pressroom:article:a1b2c3d4-0001"
    assert doc["type"] == "text"
    assert doc["version"] == "1"
    assert doc["versionCreated"] == "2025-05-27T02:39:00Z"
    assert doc["firstCreated"] == "2025-05-27T02:39:00Z"
    assert doc["pubStatus"] == "usable"
    assert doc["urgency"] == 3
    assert doc["language"] == "ru"
    assert doc["by"] == "Виктория Любимова"
    assert doc["embargoedUntil"] == "2025-05-27T06:00:00Z"
    assert doc["headlines"] == [{"role": "main", "value": article.headline}]
    html_body, text_body = doc["bodies"]
    assert html_body == {
        "role": "main",
        "contentType": "text/html",
        "value": article.content.body_html,
    }
    assert text_body["contentType"] == "text/plain"
    assert text_body["value"] == article.content.body_text
    assert doc["subjects"] == [
        {"name": "Новости СВО и мобилизации", "rel": "section"},
        {"name": "обмен пленными", "rel": "tag"},
        {"name": "Белоруссия", "rel": "tag"},
        {"name": "Стамбул", "rel": "tag"},
    ]
    assert doc["standard"] == {
        "name": "ninjs",
        "version": "3.1",
        "schema": "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json#",
    }


def test_ninjs_optional_fields_absent() -> None:
    article = make_article(byline=None, rubric=None, tags=(), urgency=None)
    doc = json.loads(NinjsRenderer().render(article, CONTEXT).content)
    assert not {"by", "subjects", "urgency", "embargoedUntil"} & doc.keys()


def test_ninjs_kill_notice() -> None:
    doc = json.loads(NinjsRenderer().render(killed(make_article()), CONTEXT).content)
    assert doc["pubStatus"] == PubStatus.CANCELED
    assert doc["version"] == "2"
    assert "bodies" not in doc
    assert doc["headlines"][0]["value"] == make_article().headline
