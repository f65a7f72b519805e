"""Markdown input: front matter, CommonMark rendering, escaping, errors, and a property test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import marshmallow as ma
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressroom_intake.formats.candidate import Candidate
from pressroom_intake.formats.decoding import decode_body
from pressroom_intake.formats.errors import FormatError
from pressroom_intake.formats.html_text import html_to_text
from pressroom_intake.formats.markdown import (
    WARNING_IMAGES_DROPPED,
    WARNING_LANGUAGE_GUESSED,
    MarkdownFormat,
    parse_markdown,
)
from pressroom_intake.formats.sanitize import sanitize_html
from pressroom_intake.schemas import ArticleInSchema
from pressroom_shared.config import Settings
from tests.support.fixtures import SEED_ARTICLE

FIXTURES = Path(__file__).parents[1] / "fixtures"
SAMPLE = SEED_ARTICLE
PROPERTY = settings(max_examples=200, deadline=None, database=None)


def fixture(name: str) -> str:
    return decode_body((FIXTURES / name).read_bytes(), "utf-8")


def h2s(candidate: Candidate) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", candidate.fields["body"])


def load(candidate: Candidate) -> dict[str, Any]:
    data: dict[str, Any] = ArticleInSchema().load(candidate.fields)
    return data


def schema_errors(candidate: Candidate) -> dict[str, Any]:
    with pytest.raises(ma.ValidationError) as caught:
        ArticleInSchema().load(candidate.fields)
    messages: dict[str, Any] = caught.value.messages_dict
    return messages


# ------------------------------------------------------------------ the sample, as Markdown


@pytest.fixture(scope="module")
def sample() -> Candidate:
    return parse_markdown(fixture("markdown-ru-prisoner-exchange.md"))


def test_sample_front_matter(sample: Candidate) -> None:
    fields = sample.fields
    assert fields["headline"] == "Обмен пленными: итоги стамбульских соглашений"
    assert fields["byline"] == "Виктория Любимова"
    assert fields["rubric"] == "Новости СВО и мобилизации"
    # A datetime, as YAML read it: no round trip through text.
    assert fields["published_at"].isoformat() == "2025-05-27T05:39:00+03:00"
    assert fields["language"] == "ru"
    assert fields["tags"] == ["обмен пленными", "Белоруссия", "Стамбул"]
    assert fields["body_format"] == "html"
    assert sample.warnings == []
    assert sample.pubstatus == "usable"


def test_sample_body(sample: Candidate) -> None:
    body = sample.fields["body"]
    assert h2s(sample) == [
        "Телефонный разговор глав государств",
        "Ход обмена по стамбульским договорённостям",
        "Влияние на двусторонние отношения",
        "Итоги и перспективы",
    ]
    items = re.findall(r"<li>(.*?)</li>", body)
    assert len(items) == 3
    assert items[0].startswith("16 мая 2024 года в Стамбуле")
    assert items[2].endswith("затем перевозки в российские медучреждения.")
    assert body.count("<ul>") == 1
    assert "соглашения[1].</p>" in body
    assert body.startswith("<p>За последние дни тема обмена пленными")
    assert "<h1>" not in body
    assert sanitize_html(body) == body


def test_sample_passes_the_native_schema(sample: Candidate) -> None:
    data = load(sample)

    assert data["published_at"].isoformat() == "2025-05-27T02:39:00+00:00"  # kept in UTC
    assert data["tags"] == ["обмен пленными", "Белоруссия", "Стамбул"]


def test_sample_keeps_every_line_of_the_plain_text_export(sample: Candidate) -> None:
    lines = [line.strip() for line in SAMPLE.read_text(encoding="utf-8").splitlines()[1:]]
    text = html_to_text(sample.fields["body"])

    for line in filter(None, lines):
        assert line in text


# ------------------------------------------------------------------ an English article


@pytest.fixture(scope="module")
def english() -> Candidate:
    return parse_markdown(fixture("markdown-english.md"))


def test_english_headline_comes_from_the_leading_heading(english: Candidate) -> None:
    assert english.fields["headline"] == "Probe reaches the outer belt"
    assert english.source_fields["headline"] == "headline"
    assert "Probe" not in english.fields["body"].split("</p>")[0][:10]
    # The later "# What happens next" becomes an h2: the page owns the only h1.
    assert h2s(english) == ["What happens next"]


def test_english_front_matter_aliases_and_types(english: Candidate) -> None:
    fields = english.fields
    assert fields["byline"] == "Jane Doe, John Roe"
    assert english.source_fields["byline"] == "author"
    assert fields["rubric"] == "Science"
    assert fields["tags"] == ["space", "2025"]
    assert fields["published_at"].isoformat() == "2025-06-02T08:15:00+00:00"
    assert fields["embargoed_until"] == "2025-06-02T10:00:00+00:00"
    assert fields["urgency"] == 3
    assert fields["language"] == "en"
    assert english.warnings == [WARNING_LANGUAGE_GUESSED.format(language="en")]
    assert english.warnings == ["language not given: guessed en"]
    assert load(english)["urgency"] == 3


def test_english_body_markup(english: Candidate) -> None:
    body = english.fields["body"]
    assert "<strong>Monday</strong>" in body
    assert (
        '<a href="https://example.org/mission/statement" title="Mission statement">statement</a>'
        in body
    )
    assert "<ol>\n<li>Calibrate the spectrometer.</li>" in body
    assert "<blockquote>" in body
    assert "<pre><code>telemetry: nominal\n</code></pre>" in body
    assert "&lt;script&gt;" in body
    assert "<script" not in body
    assert "&lt;b&gt;bold&lt;/b&gt;" in body


# ------------------------------------------------------------------ raw HTML and links


@pytest.mark.parametrize(
    "markdown",
    [
        "Text <script>alert(1)</script> more.",
        "<script>\nalert(1)\n</script>\n\nText.",
        "<div onclick='x()'>\n<script src=//evil></script>\n</div>",
        "<img src=x onerror=alert(1)>",
        "Text <iframe src='https://evil'></iframe>",
    ],
)
def test_raw_html_is_escaped_never_passed(markdown: str) -> None:
    body = parse_markdown(markdown).fields["body"]

    assert not re.search(r"<(script|div|img|iframe)\b", body)
    assert "onerror" not in body or "&lt;img" in body


@pytest.mark.parametrize(
    "markdown",
    [
        "[x](javascript:alert(1))",
        "[x](JAVASCRIPT:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "<javascript:alert(1)>",
        "[x][r]\n\n[r]: vbscript:msgbox(1)",
    ],
)
def test_dangerous_links_lose_their_href(markdown: str) -> None:
    body = parse_markdown(markdown).fields["body"]

    # markdown-it leaves such links as literal text; no href may carry the scheme.
    assert 'href="javascript:' not in body.lower()
    assert 'href="data:' not in body
    assert 'href="vbscript:' not in body


def test_images_are_dropped_with_a_warning() -> None:
    candidate = parse_markdown("---\nlanguage: en\n---\nText ![a](x.png) and ![b](y.png).")

    assert "<img" not in candidate.fields["body"]
    assert candidate.warnings == [WARNING_IMAGES_DROPPED.format(count=2)]
    assert candidate.warnings == ["images are not supported in the body: 2 dropped"]


# ------------------------------------------------------------------ headline handling


def test_title_is_an_alias_for_headline() -> None:
    candidate = parse_markdown("---\ntitle: Заголовок\n---\nТекст.")

    assert candidate.fields["headline"] == "Заголовок"
    assert candidate.source_fields["headline"] == "title"


@pytest.mark.parametrize(
    ("front_matter", "field"),
    [("headline: a\ntitle: b", "title"), ("author: a\nbyline: b", "byline")],
)
def test_a_field_and_its_alias_together_are_an_error(front_matter: str, field: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_markdown(f"---\n{front_matter}\n---\nТекст.")

    assert caught.value.field == field
    assert "keep one" in caught.value.reason


def test_leading_heading_is_not_taken_when_the_front_matter_has_a_headline() -> None:
    candidate = parse_markdown("---\nheadline: Главное\n---\n# Другое\n\nТекст.")

    assert candidate.fields["headline"] == "Главное"
    assert h2s(candidate) == ["Другое"]


def test_leading_heading_equal_to_the_headline_is_not_repeated() -> None:
    candidate = parse_markdown("---\nheadline: Главное\n---\n\n# Главное\n\nТекст.")

    assert candidate.fields["body"] == "<p>Текст.</p>"


def test_without_front_matter_everything_comes_from_the_text() -> None:
    candidate = parse_markdown("Заголовок\n=========\n\nПервый абзац.\n\n## Раздел\n\nВторой.")

    assert candidate.fields["headline"] == "Заголовок"
    assert candidate.fields["language"] == "ru"
    assert candidate.fields["body"] == "<p>Первый абзац.</p>\n<h2>Раздел</h2>\n<p>Второй.</p>"
    assert candidate.warnings == ["language not given: guessed ru"]


def test_no_headline_anywhere_is_left_for_the_schema() -> None:
    candidate = parse_markdown("Просто текст.\n\n# Заголовок не первым")

    assert "headline" not in candidate.fields
    assert "headline" in schema_errors(candidate)


# ------------------------------------------------------------------ front matter values


def test_unknown_keys_reach_the_schema_which_rejects_them() -> None:
    candidate = parse_markdown("---\nheadlne: Опечатка\nlanguage: ru\n---\n# Заголовок\n\nТекст.")

    assert candidate.fields["headlne"] == "Опечатка"
    assert "headlne" in schema_errors(candidate)


def test_a_naive_yaml_timestamp_stays_naive_and_the_schema_says_so() -> None:
    candidate = parse_markdown("---\nheadline: x\npublished_at: 2025-05-27 05:39:00\n---\nText.")

    assert candidate.fields["published_at"].isoformat() == "2025-05-27T05:39:00"
    assert "published_at" in schema_errors(candidate)


def test_a_bare_date_is_left_for_the_schema() -> None:
    candidate = parse_markdown("---\nheadline: x\nembargoed_until: 2025-05-27\n---\nText.")

    assert candidate.fields["embargoed_until"] == "2025-05-27"
    assert "embargoed_until" in schema_errors(candidate)


def test_empty_values_mean_absent() -> None:
    candidate = parse_markdown("---\nheadline: x\nrubric:\nbyline: ~\n---\nText.")

    assert "rubric" not in candidate.fields
    assert "byline" not in candidate.fields


def test_numbers_in_text_fields_stay_text() -> None:
    candidate = parse_markdown("---\nheadline: 1984\nrubric: 2025\nlanguage: en\n---\nText.")

    assert candidate.fields["headline"] == "1984"
    assert candidate.fields["rubric"] == "2025"


def test_yaml_booleans_in_text_fields_are_explained() -> None:
    with pytest.raises(FormatError) as caught:
        parse_markdown("---\nheadline: x\nlanguage: no\n---\nText.")

    assert caught.value.field == "language"
    assert "quotes" in caught.value.reason


@pytest.mark.parametrize("key", ["body", "body_format"])
def test_body_cannot_come_from_the_front_matter(key: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_markdown(f"---\nheadline: x\n{key}: text\n---\nText.")

    assert caught.value.field == key


def test_an_empty_front_matter_is_allowed() -> None:
    candidate = parse_markdown("---\n---\n# Заголовок\n\nТекст.")

    assert candidate.fields["headline"] == "Заголовок"


def test_crlf_and_bom_are_tolerated() -> None:
    raw = "\ufeff---\r\nheadline: x\r\nlanguage: en\r\n---\r\nLine one.\r\n".encode()
    candidate = MarkdownFormat().parse(raw, {"charset": "utf-8"}, Settings())

    assert candidate.fields["headline"] == "x"
    assert candidate.fields["body"] == "<p>Line one.</p>"


# ------------------------------------------------------------------ front matter errors


@pytest.mark.parametrize(
    ("markdown", "line"),
    [
        ("---\nheadline: Обмен пленными: итоги\n---\nТекст.", 2),
        ("---\nheadline: x\nlanguage: ru\n  rubric: y\n---\nТекст.", 4),
        ("---\nheadline: x\ntags: [a, b\nlanguage: ru\n---\nТекст.", 4),
        ("---\nheadline: x\n\npublished_at: 2025-13-45 00:00:00\n---\nТекст.", 4),
        ('---\nheadline: "unclosed\n---\nТекст.', 2),
        ("---\nheadline: x\n\tlanguage: ru\n---\nТекст.", 3),
    ],
)
def test_yaml_errors_name_the_line(markdown: str, line: int) -> None:
    with pytest.raises(FormatError) as caught:
        parse_markdown(markdown)

    assert caught.value.field == "front_matter"
    assert f"line {line}," in caught.value.reason


def test_yaml_errors_say_where_an_unfinished_value_began() -> None:
    with pytest.raises(FormatError) as caught:
        parse_markdown('---\nheadline: x\nrubric: "unclosed\nlanguage: ru\n---\nТекст.')

    assert "while scanning a quoted scalar at line 3, column 9" in caught.value.reason


@pytest.mark.parametrize(
    "front_matter", ["- headline\n- language", "just a string", "42", "[1, 2]"]
)
def test_front_matter_must_be_a_mapping(front_matter: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_markdown(f"---\n{front_matter}\n---\nТекст.")

    assert caught.value.field == "front_matter"
    assert "mapping" in caught.value.reason


def test_an_unclosed_front_matter_is_an_error() -> None:
    with pytest.raises(FormatError) as caught:
        parse_markdown("---\nheadline: x\n\nТекст без закрывающей черты.")

    assert caught.value.field == "front_matter"
    assert "never closed" in caught.value.reason


def test_a_huge_front_matter_is_refused() -> None:
    with pytest.raises(FormatError) as caught:
        parse_markdown("---\n" + "a: b\n" * 20_000 + "---\nТекст.")

    assert caught.value.field == "front_matter"


def test_deeply_nested_yaml_is_refused_cleanly() -> None:
    with pytest.raises(FormatError) as caught:
        parse_markdown("---\nx: " + "[" * 5000 + "]" * 5000 + "\n---\nТекст.")

    assert caught.value.field == "front_matter"


def test_control_characters_are_refused_with_their_position() -> None:
    with pytest.raises(FormatError) as caught:
        parse_markdown("---\nheadline: x\n---\nТекст\x00.")

    assert caught.value.field == "_body"
    assert "U+0000" in caught.value.reason
    assert "line 4" in caught.value.reason


# ------------------------------------------------------------------ never anything but FormatError


def parse_or_error(text: str) -> Candidate | FormatError:
    # Any other exception propagates and fails the test.
    try:
        return parse_markdown(text)
    except FormatError as exc:
        return exc


@PROPERTY
@given(st.text())
def test_any_text_gives_a_candidate_or_a_format_error(text: str) -> None:
    result = parse_or_error(text)

    assert isinstance(result, Candidate | FormatError)
    if isinstance(result, Candidate):
        assert sanitize_html(result.fields["body"]) == result.fields["body"]
        assert result.fields["body_format"] == "html"


YAMLISH = st.lists(
    st.sampled_from(
        ["headline: ", "title: ", "language: ", "tags:", "  - ", "- ", "published_at: ", ": ",
         "'", '"', "[", "]", "{", "}", "&a ", "*a ", "!!python/object ", "2025-05-27 05:39:00",
         "\n", "\t", "#", "yes", "~", "|", ">", "---", "...", "1e9", "Заголовок"]
    )
    | st.text(max_size=5)
).map("".join)  # fmt: skip


@PROPERTY
@given(YAMLISH, st.text(max_size=50))
def test_any_front_matter_gives_a_candidate_or_a_format_error(front: str, body: str) -> None:
    result = parse_or_error(f"---\n{front}\n---\n{body}")

    assert isinstance(result, Candidate | FormatError)
