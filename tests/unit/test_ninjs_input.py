"""ninjs 2.x/3.x input: IPTC's own examples, the 2.x/3.x spellings, errors, and a property test."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressroom_intake.formats.candidate import Candidate
from pressroom_intake.formats.errors import FormatError
from pressroom_intake.formats.ninjs import (
    WARNING_LANGUAGE_GUESSED,
    WARNING_NO_TIME_ZONE,
    WARNING_UNKNOWN_PROPERTIES,
    WARNING_URGENCY_ROUNDED,
    parse_ninjs,
)
from pressroom_intake.schemas import ArticleInSchema
from tests.support.fixtures import ninjs_example_path, ninjs_schema

PROPERTY = settings(max_examples=200, deadline=None, database=None)

CAPTAIN = "Captain of wrecked cruise ship on trial in Italy"
DELL = (
    "Dell Redefines Workstation Computing Boundaries with Smallest Tower and Most "
    "Powerful Rack Workstations"
)
BYLINE = "Paulo Santalucia and Frances d'Emilio"
LEAD = "GROSSETO, Italy (AP) -- The trial of the captain"


def example(version: str, name: str) -> Any:
    return json.loads(ninjs_example_path(version, name).read_text(encoding="utf-8"))


def schema_for(version: str) -> Any:
    return ninjs_schema(version)


def assert_valid_ninjs(document: dict[str, Any], version: str) -> None:
    """Our test documents are real ninjs, so the parser is tested on what IPTC allows."""
    jsonschema.Draft202012Validator(schema_for(version)).validate(document)


def accepted_by_schema(candidate: Candidate) -> dict[str, Any]:
    data: dict[str, Any] = ArticleInSchema().load(candidate.fields)
    return data


# ------------------------------------------------------------------ IPTC's own examples

# (file, headline, body start, body_format, byline, language, language guessed?)
TEXT_EXAMPLES = [
    ("001_simple_example.json", CAPTAIN, LEAD, None, BYLINE, "en", True),
    ("003_associations_example.json", DELL, "[ ... ]", "html", None, "en", True),
    ("004_simple_text_article.json", CAPTAIN, f"<p>{LEAD}", "html", BYLINE, "en", True),
    ("005_complex_text_article.json", CAPTAIN, f"<p>{LEAD}", "html", BYLINE, "en", False),
    ("007_multimedia.json", CAPTAIN, f"<p>{LEAD}", "html", BYLINE, "en", False),
]
NON_TEXT_EXAMPLES = [
    ("2.2", "002_renditions_example.json", "headlines"),
    ("3.1", "002_renditions_example.json", "headlines"),
    ("2.2", "006_photo_only.json", "type"),
    ("3.1", "006_photo_only.json", "type"),
    ("3.1", "008_event.json", "type"),
]
VERSION_CREATED = {"2.2": "versioncreated", "3.1": "versionCreated"}
PUBLISHED = {
    "001_simple_example.json": "2013-07-09T10:37:00+00:00",
    "003_associations_example.json": "2013-05-16T04:01:00+00:00",
    "004_simple_text_article.json": "2013-07-09T10:37:00+00:00",
    "005_complex_text_article.json": "2013-07-09T10:37:00+00:00",
    "007_multimedia.json": "2013-07-09T10:39:00+00:00",
}


@pytest.mark.parametrize("version", ["2.2", "3.1"])
@pytest.mark.parametrize(
    ("name", "headline", "body_start", "body_format", "byline", "language", "guessed"),
    TEXT_EXAMPLES,
)
def test_iptc_text_examples_parse(
    version: str,
    name: str,
    headline: str,
    body_start: str,
    body_format: str | None,
    byline: str | None,
    language: str,
    guessed: bool,
) -> None:
    document = example(version, name)
    candidate = parse_ninjs(document, version)

    fields = candidate.fields
    assert fields["headline"] == headline
    assert fields["body"].startswith(body_start)
    assert fields.get("body_format") == body_format
    assert fields.get("byline") == byline
    assert fields["language"] == language
    assert fields["published_at"].isoformat() == PUBLISHED[name]
    assert "urgency" not in fields
    assert "embargoed_until" not in fields
    assert candidate.pubstatus == "usable"
    assert candidate.source_fields["published_at"] == VERSION_CREATED[version]
    assert (WARNING_LANGUAGE_GUESSED.format(language="en") in candidate.warnings) is guessed
    assert candidate.extra["ninjs_version"] == version
    assert candidate.extra["source_uri"] == document["uri"]
    assert candidate.extra["type"] == document["type"]
    json.dumps(candidate.extra)  # stored with the version: must stay JSON
    # IPTC's examples must also pass the native validation, not just the mapping.
    data = accepted_by_schema(candidate)
    assert data["headline"] == headline


@pytest.mark.parametrize("version", ["2.2", "3.1"])
def test_iptc_complex_example_keeps_its_metadata(version: str) -> None:
    candidate = parse_ninjs(example(version, "005_complex_text_article.json"), version)

    assert candidate.warnings == []
    assert candidate.extra["located"] == "Grossetto, Italy"
    assert candidate.extra["copyright_notice"].startswith("Copyright 2013 The News Agency")
    assert [p["name"] for p in candidate.extra["people"]] == ["Francesco Schettino"]
    assert [p["name"] for p in candidate.extra["places"]] == ["Grossetto", "Tuscany", "Italy"]
    assert candidate.extra["organisations"] == [{"name": "Costa Crociere SpA", "rel": "mentions"}]
    # The XHTML body wins over the plain one: it keeps the paragraphs.
    assert candidate.source_fields["body"] == "bodies[1].value"
    assert candidate.fields["body"].count("<p>") == 4


@pytest.mark.parametrize("version", ["2.2", "3.1"])
def test_iptc_associations_example_keeps_its_item_version(version: str) -> None:
    candidate = parse_ninjs(example(version, "003_associations_example.json"), version)

    assert candidate.extra["source_version"] == "1"
    assert candidate.extra["type"] == "composite"
    assert "byline" not in candidate.fields


@pytest.mark.parametrize(("version", "name", "field"), NON_TEXT_EXAMPLES)
def test_iptc_non_text_examples_are_refused_naming_the_field(
    version: str, name: str, field: str
) -> None:
    with pytest.raises(FormatError) as caught:
        parse_ninjs(example(version, name), version)

    assert caught.value.field == field
    if field == "type":
        assert "only text articles are accepted" in caught.value.reason.lower()


# ------------------------------------------------------------------ 2.x and 3.x spellings

BODY_HTML = "<p>Первый абзац.</p><h2>Подзаголовок</h2><p>Второй абзац.</p>"
SUBJECTS = [
    {"name": "Новости СВО и мобилизации", "rel": "section", "uri": "urn:pressroom:section:svo"},
    {"name": "обмен пленными", "rel": "about"},
    {"literal": "Белоруссия"},
    {"name": "обмен пленными", "rel": "mentions"},
]


def article_31() -> dict[str, Any]:
    return {
        "uri": "urn:pressroom:article:123",
        "type": "text",
        "version": "2",
        "standard": {
            "name": "ninjs",
            "version": "3.1",
            "schema": "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json#",
        },
        "language": "ru",
        "firstCreated": "2025-05-27T05:39:00+03:00",
        "versionCreated": "2025-05-27T06:00:00+03:00",
        "embargoedUntil": "2025-05-27T09:00:00+03:00",
        "pubStatus": "withheld",
        "urgency": 2,
        "by": "Виктория Любимова",
        "copyrightNotice": "© Pressroom",
        "headlines": [
            {"role": "sub", "value": "Итоги стамбульских соглашений"},
            {"role": "main", "contentType": "text/plain", "value": "Обмен пленными"},
        ],
        "bodies": [
            {"role": "main", "contentType": "text/plain", "value": "Первый абзац.\n\nВторой."},
            {"role": "main", "contentType": "text/html", "value": BODY_HTML},
        ],
        "subjects": copy.deepcopy(SUBJECTS),
    }


def article_22() -> dict[str, Any]:
    """The same article in 2.2 spelling."""
    document = article_31()
    renamed = {
        "firstCreated": "firstcreated",
        "versionCreated": "versioncreated",
        "embargoedUntil": "embargoed",
        "pubStatus": "pubstatus",
        "copyrightNotice": "copyrightnotice",
    }
    document = {renamed.get(key, key): value for key, value in document.items()}
    for item in document["headlines"] + document["bodies"]:
        if "contentType" in item:
            item["contenttype"] = item.pop("contentType")
    document["standard"] = {
        "name": "ninjs",
        "version": "2.2",
        "schema": "http://www.iptc.org/std/ninjs/ninjs-schema_2.2.json#",
    }
    return document


EXPECTED_FIELDS = {
    "headline": "Обмен пленными",
    "body": BODY_HTML,
    "body_format": "html",
    "language": "ru",
    "byline": "Виктория Любимова",
    "rubric": "Новости СВО и мобилизации",
    "tags": ["обмен пленными", "Белоруссия"],
    "published_at": datetime.fromisoformat("2025-05-27T05:39:00+03:00"),
    "urgency": 2,
    "embargoed_until": datetime.fromisoformat("2025-05-27T09:00:00+03:00"),
}


def test_a_31_article_maps_every_field() -> None:
    document = article_31()
    assert_valid_ninjs(document, "3.1")

    candidate = parse_ninjs(document, "3.1")

    assert candidate.fields == EXPECTED_FIELDS
    assert candidate.pubstatus == "withheld"
    assert candidate.warnings == []
    assert candidate.extra["subjects"] == SUBJECTS
    assert candidate.extra["subheadline"] == "Итоги стамбульских соглашений"
    assert candidate.extra["other_headlines"] == [document["headlines"][0]]
    assert candidate.extra["copyright_notice"] == "© Pressroom"
    assert candidate.extra["source_version"] == "2"
    assert candidate.source_fields == {
        "headline": "headlines[1].value",
        "body": "bodies[1].value",
        "body_format": "bodies[1].contentType",
        "language": "language",
        "byline": "by",
        "rubric": "subjects[0].name",
        "tags": "subjects",
        "published_at": "firstCreated",
        "urgency": "urgency",
        "embargoed_until": "embargoedUntil",
    }
    data = accepted_by_schema(candidate)
    assert data["embargoed_until"].isoformat() == "2025-05-27T06:00:00+00:00"  # kept in UTC
    assert data["urgency"] == 2


def test_the_same_article_in_22_spelling_gives_the_same_fields() -> None:
    document = article_22()
    assert_valid_ninjs(document, "2.2")

    candidate = parse_ninjs(document, "2.2")

    assert candidate.fields == EXPECTED_FIELDS
    assert candidate.pubstatus == "withheld"
    assert candidate.warnings == []
    assert candidate.extra["ninjs_version"] == "2.2"
    assert candidate.source_fields["published_at"] == "firstcreated"
    assert candidate.source_fields["embargoed_until"] == "embargoed"
    assert candidate.source_fields["body_format"] == "bodies[1].contenttype"


@pytest.mark.parametrize(
    ("version", "document", "field"),
    [
        ("3.1", {"embargoed": "2025-05-27T09:00:00Z"}, "embargoed"),
        ("3.1", {"versioncreated": "2025-05-27T09:00:00Z"}, "versioncreated"),
        ("3.1", {"pubstatus": "withheld"}, "pubstatus"),
        ("2.2", {"embargoedUntil": "2025-05-27T09:00:00Z"}, "embargoedUntil"),
        ("2.2", {"pubStatus": "withheld"}, "pubStatus"),
        ("2.2", {"copyrightNotice": "©"}, "copyrightNotice"),
    ],
)
def test_the_other_generations_spelling_is_an_error_not_ignored(
    version: str, document: dict[str, Any], field: str
) -> None:
    # Ignoring "embargoed" under 3.x would publish an embargoed story at once.
    base = article_31() if version == "3.1" else article_22()
    base.pop("embargoedUntil", None)
    base.pop("embargoed", None)
    with pytest.raises(FormatError) as caught:
        parse_ninjs({**base, **document}, version)

    assert caught.value.field == field
    assert "spelling" in caught.value.reason


def test_content_type_in_the_wrong_spelling_is_an_error() -> None:
    document = article_31()
    document["bodies"] = [{"contenttype": "text/html", "value": "<p>x</p>"}]

    with pytest.raises(FormatError) as caught:
        parse_ninjs(document, "3.1")

    assert caught.value.field == "bodies[0].contenttype"


def test_a_standard_version_that_contradicts_the_media_type_is_an_error() -> None:
    with pytest.raises(FormatError) as caught:
        parse_ninjs(article_31(), "2.2")

    # The first difference found is a spelling; with a neutral document it is `standard`.
    assert caught.value.field in {"firstCreated", "versionCreated", "embargoedUntil"}
    neutral = {
        "uri": "x",
        "standard": {"version": "3.1"},
        "headlines": [{"value": "h"}],
        "bodies": [{"value": "b"}],
    }
    with pytest.raises(FormatError) as caught:
        parse_ninjs(neutral, "2.2")
    assert caught.value.field == "standard.version"


# ------------------------------------------------------------------ version parameter


@pytest.mark.parametrize("version", ["2", "2.1", "2.2", "3", "3.0", "3.1", "3.3", ' "3.1" '])
def test_supported_versions(version: str) -> None:
    document = {"uri": "x", "headlines": [{"value": "h"}], "bodies": [{"value": "b"}]}
    candidate = parse_ninjs(document, version)

    assert candidate.extra["ninjs_version"] == version.strip().strip('"')


@pytest.mark.parametrize("version", ["1.6", "1.5", "4.0", "0", "three", "", "   ", "3.x"])
def test_unsupported_versions_name_the_supported_ones(version: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_ninjs({"uri": "x"}, version)

    assert caught.value.field == "version"
    assert caught.value.status == 415  # the media type's parameter is at fault, as README says
    assert "2.x" in caught.value.reason
    assert "3.x" in caught.value.reason


@pytest.mark.parametrize("document", [[], "text", 3, None, True])
def test_not_an_object(document: object) -> None:
    with pytest.raises(FormatError) as caught:
        parse_ninjs(document, "3.1")

    assert caught.value.field == "_body"
    assert "JSON object" in caught.value.reason


# ------------------------------------------------------------------ field by field


def minimal(**extra: Any) -> dict[str, Any]:
    return {
        "uri": "urn:x",
        "headlines": [{"value": "Заголовок"}],
        "bodies": [{"value": "Текст статьи."}],
        **extra,
    }


def test_missing_time_zone_is_read_as_utc_with_a_warning() -> None:
    candidate = parse_ninjs(
        minimal(versionCreated="2025-05-27T05:39:00", embargoedUntil="2025-05-28T00:00:00"),
        "3.1",
    )

    assert candidate.fields["published_at"] == datetime(2025, 5, 27, 5, 39, tzinfo=UTC)
    assert candidate.fields["embargoed_until"] == datetime(2025, 5, 28, tzinfo=UTC)
    assert WARNING_NO_TIME_ZONE.format(name="versionCreated") in candidate.warnings
    assert "versionCreated has no time zone: read as UTC" in candidate.warnings
    assert "embargoedUntil has no time zone: read as UTC" in candidate.warnings


def test_published_at_prefers_first_created_then_version_then_content_created() -> None:
    dates = {
        "contentCreated": "2025-01-01T00:00:00Z",
        "versionCreated": "2025-01-02T00:00:00Z",
        "firstCreated": "2025-01-03T00:00:00Z",
    }
    assert parse_ninjs(minimal(**dates), "3.1").fields["published_at"].day == 3
    del dates["firstCreated"]
    assert parse_ninjs(minimal(**dates), "3.1").fields["published_at"].day == 2
    del dates["versionCreated"]
    candidate = parse_ninjs(minimal(**dates), "3.1")
    assert candidate.fields["published_at"].day == 1
    assert candidate.source_fields["published_at"] == "contentCreated"


@pytest.mark.parametrize("value", ["2025-05-27", "yesterday", "27.05.2025 05:39", 20250527, ""])
def test_unreadable_dates_name_the_ninjs_property(value: object) -> None:
    with pytest.raises(FormatError) as caught:
        parse_ninjs(minimal(embargoed=value), "2.2")

    assert caught.value.field == "embargoed"


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (9, 9), (2.0, 2), (4.5, 5), (2.4, 2)])
def test_urgency_in_22_is_a_number(value: float, expected: int) -> None:
    candidate = parse_ninjs(minimal(urgency=value), "2.2")

    assert candidate.fields["urgency"] == expected
    rounded = WARNING_URGENCY_ROUNDED.format(value=value, rounded=expected)
    assert (rounded in candidate.warnings) is (value != expected)


@pytest.mark.parametrize(
    ("version", "value"),
    [
        ("3.1", 2.5),
        ("3.1", 0),
        ("3.1", 10),
        ("2.2", 0.2),
        ("2.2", 9.6),
        ("3.1", "2"),
        ("3.1", True),
        ("3.1", [1]),
        ("2.2", float("nan")),
        ("2.2", float("inf")),
        ("3.1", 10**30),
    ],
)
def test_bad_urgency(version: str, value: object) -> None:
    with pytest.raises(FormatError) as caught:
        parse_ninjs(minimal(urgency=value), version)

    assert caught.value.field == "urgency"


@pytest.mark.parametrize(("version", "field"), [("3.1", "pubStatus"), ("2.2", "pubstatus")])
@pytest.mark.parametrize("value", ["published", "Usable", 1, ["usable"]])
def test_unknown_pubstatus(version: str, field: str, value: object) -> None:
    with pytest.raises(FormatError) as caught:
        parse_ninjs(minimal(**{field: value}), version)

    # The error names the property as the client spelled it.
    assert caught.value.field == field
    assert "usable, withheld, canceled" in caught.value.reason


@pytest.mark.parametrize("value", ["usable", "withheld", "canceled"])
def test_known_pubstatus(value: str) -> None:
    assert parse_ninjs(minimal(pubStatus=value), "3.1").pubstatus == value


@pytest.mark.parametrize("kind", ["picture", "video", "audio", "graphic", "component", "event"])
def test_non_text_types_are_refused(kind: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_ninjs(minimal(type=kind), "3.1")

    assert caught.value.field == "type"
    assert kind in caught.value.reason


def test_html_headline_is_stripped_to_text() -> None:
    document = minimal(
        headlines=[
            {"contentType": "text/html", "value": "<b>Обмен</b>\n пленными&nbsp;<i>итоги</i>"}
        ]
    )

    assert parse_ninjs(document, "3.1").fields["headline"] == "Обмен пленными\xa0итоги"


def test_headline_prefers_role_main_and_skips_empty_values() -> None:
    document = minimal(
        headlines=[
            {"role": "short", "value": "Коротко"},
            {"role": "main", "value": "   "},
            {"role": "MAIN", "value": "Главный"},
        ]
    )
    candidate = parse_ninjs(document, "3.1")

    assert candidate.fields["headline"] == "Главный"
    assert candidate.source_fields["headline"] == "headlines[2].value"


@pytest.mark.parametrize("headlines", [None, [], [{"value": ""}], [{"value": " \n"}]])
def test_no_headline(headlines: object) -> None:
    document = minimal(headlines=headlines)

    with pytest.raises(FormatError) as caught:
        parse_ninjs(document, "3.1")

    assert caught.value.field == "headlines"
    assert "needs a headline" in caught.value.reason


def test_a_ninjs_1x_headline_gets_a_hint() -> None:
    document = {"uri": "x", "headline": "Old style", "body_html": "<p>x</p>"}

    with pytest.raises(FormatError) as caught:
        parse_ninjs(document, "2.2")

    assert "1.x" in caught.value.reason


@pytest.mark.parametrize("bodies", [None, [], [{"value": "  "}]])
def test_no_body(bodies: object) -> None:
    with pytest.raises(FormatError) as caught:
        parse_ninjs(minimal(bodies=bodies), "3.1")

    assert caught.value.field == "bodies"


@pytest.mark.parametrize(
    ("bodies", "index", "body_format"),
    [
        ([{"contentType": "text/plain", "value": "a"}, {"value": "b"}], 0, "text"),
        (
            [{"value": "a"}, {"contentType": "text/html; charset=utf-8", "value": "<p>b</p>"}],
            1,
            "html",
        ),
        ([{"contentType": "application/xhtml+xml", "value": "<p>a</p>"}], 0, "html"),
        ([{"value": "a", "role": "x"}, {"value": "b", "role": "main"}], 1, None),
        ([{"contentType": "text/markdown", "value": "a"}, {"value": "b"}], 1, None),
        ([{"contentType": "application/json", "value": "a"}], 0, None),
    ],
)
def test_body_choice(bodies: list[dict[str, str]], index: int, body_format: str | None) -> None:
    candidate = parse_ninjs(minimal(bodies=bodies), "3.1")

    assert candidate.fields["body"] == bodies[index]["value"]
    assert candidate.source_fields["body"] == f"bodies[{index}].value"
    assert candidate.fields.get("body_format") == body_format


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ({"headlines": {"value": "x"}}, "headlines"),
        ({"headlines": ["x"]}, "headlines[0]"),
        ({"headlines": [{"role": "main"}]}, "headlines[0].value"),
        ({"bodies": [{"value": 3}]}, "bodies[0].value"),
        ({"bodies": [{"value": "x", "contentType": 1}]}, "bodies[0].contentType"),
        ({"bodies": [{"value": "a\x00b"}]}, "bodies[0].value"),
        ({"subjects": {"name": "x"}}, "subjects"),
        ({"subjects": ["x"]}, "subjects[0]"),
        ({"subjects": [{"name": 1}]}, "subjects[0].name"),
    ],
)
def test_malformed_items_name_the_path(items: dict[str, Any], field: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_ninjs(minimal(**items), "3.1")

    assert caught.value.field == field


@pytest.mark.parametrize(
    "section",
    [
        {"name": "Политика", "rel": "section"},
        {"name": "Политика", "rel": "Category"},
        {"name": "Политика", "rel": "http://cv.example.org/rel/section"},
        {"name": "Политика", "rel": "irel:section"},
        {"literal": "Политика", "uri": "https://example.org/sections/politics"},
    ],
)
def test_rubric_is_the_first_section_like_subject(section: dict[str, str]) -> None:
    subjects = [
        {"name": "Москва", "rel": "about"},
        section,
        {"name": "Экономика", "rel": "section"},
    ]
    candidate = parse_ninjs(minimal(subjects=subjects), "3.1")

    assert candidate.fields["rubric"] == "Политика"
    assert candidate.fields["tags"] == ["Москва", "Экономика"]
    assert candidate.source_fields["rubric"].startswith("subjects[1].")


def test_subjects_without_a_section_are_all_tags() -> None:
    subjects = [{"name": " Москва "}, {"uri": "urn:no-name"}, {"name": "Москва"}, {"literal": "x"}]
    candidate = parse_ninjs(minimal(subjects=subjects), "3.1")

    assert "rubric" not in candidate.fields
    assert candidate.fields["tags"] == ["Москва", "x"]
    assert candidate.extra["subjects"] == subjects


def test_language_is_guessed_when_absent_or_empty() -> None:
    for language in (None, "", "  "):
        document = minimal() if language is None else minimal(language=language)
        candidate = parse_ninjs(document, "3.1")
        assert candidate.fields["language"] == "ru"
        assert candidate.warnings == ["language not given: guessed ru"]


def test_a_bad_language_is_left_for_the_schema() -> None:
    candidate = parse_ninjs(minimal(language="russian"), "3.1")

    assert candidate.fields["language"] == "russian"
    with pytest.raises(Exception, match="BCP 47"):
        accepted_by_schema(candidate)


def test_unknown_properties_are_reported() -> None:
    candidate = parse_ninjs(minimal(byline="x", views=946, slugline="ok"), "3.1")

    assert candidate.warnings == [
        "language not given: guessed ru",
        WARNING_UNKNOWN_PROPERTIES.format(major=3, names="byline, views"),
    ]


# ------------------------------------------------------------------ never anything but FormatError

NINJS_KEYS = [
    "uri", "type", "headlines", "bodies", "by", "language", "subjects", "urgency", "version",
    "pubStatus", "pubstatus", "embargoedUntil", "embargoed", "firstCreated", "versionCreated",
    "contentCreated", "standard", "role", "value", "contentType", "name", "rel", "literal",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        ["text", "composite", "picture", "main", "text/html", "text/plain", "usable",
         "withheld", "section", "2025-05-27T05:39:00", "2025-05-27T05:39:00+03:00", "3.1", "2.2"]
    )
)  # fmt: skip
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(NINJS_KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)


def parse_or_error(document: object, version: str) -> Candidate | FormatError:
    # Any other exception propagates and fails the test.
    try:
        return parse_ninjs(document, version)
    except FormatError as exc:
        return exc


@PROPERTY
@given(JSON_LIKE)
def test_any_json_value_gives_a_candidate_or_a_format_error(document: object) -> None:
    result = parse_or_error(document, "3.1")

    assert isinstance(result, Candidate | FormatError)
    if isinstance(result, Candidate):
        assert isinstance(result.fields["headline"], str)
        assert isinstance(result.fields["body"], str)
        assert result.pubstatus in {"usable", "withheld", "canceled"}


@PROPERTY
@given(
    st.fixed_dictionaries(
        {"headlines": st.just([{"value": "Заголовок"}]), "bodies": st.just([{"value": "x"}])},
        optional={key: JSON_LIKE for key in NINJS_KEYS if key not in ("headlines", "bodies")},
    )
)
def test_near_valid_documents_give_a_candidate_or_a_format_error(document: object) -> None:
    for version in ("2.2", "3.1"):
        assert isinstance(parse_or_error(document, version), Candidate | FormatError)
