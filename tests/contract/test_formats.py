"""The contract every input format (entry-point group `pressroom.formats`) keeps.

Each format turns its fixture into a candidate the shared schema accepts, refuses garbage with
a FormatError naming the field, and, whatever bytes arrive, either parses or refuses: through
the whole submission (format, schema, body preparation) no input ends in anything but an
article or a 4xx problem.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pressroom_intake.formats.base import FORMAT_GROUP, Formats, InputFormat, load_formats
from pressroom_intake.formats.candidate import Candidate
from pressroom_intake.formats.errors import FormatError
from pressroom_intake.formats.html_text import html_to_text
from pressroom_intake.formats.sanitize import sanitize_html
from pressroom_intake.problems import ProblemError
from pressroom_intake.schemas import ArticleInSchema, Limits
from pressroom_intake.submission import Submission, parse_submission
from pressroom_shared.config import Settings
from tests.support.fixtures import FIXTURES, SEED_ARTICLE, ninjs_example_path
from tests.support.hostile import OVERFLOWING_DATES, hostile_documents, nested_array

SETTINGS = Settings()
LIMITS = Limits(SETTINGS.max_headline_chars, SETTINGS.max_body_chars, SETTINGS.max_tags)
NOW = datetime(2025, 6, 1, tzinfo=UTC)
NATIVE = {
    "headline": "Обмен пленными завершён",
    "body": "Первый абзац.\n\nВторой абзац.",
    "language": "ru",
    "urgency": 2,
    "published_at": "2025-05-27T05:39:00+03:00",
}
# One real document per format: (media type parameters, the bytes).
FIXTURE: dict[str, tuple[dict[str, str], bytes]] = {
    "json": ({"charset": "utf-8"}, json.dumps(NATIVE, ensure_ascii=False).encode()),
    "ninjs": (
        {"version": "3.1"},
        ninjs_example_path("3.1", "004_simple_text_article.json").read_bytes(),
    ),
    "markdown": ({}, (FIXTURES / "markdown-ru-prisoner-exchange.md").read_bytes()),
    "text": ({"charset": "utf-8"}, SEED_ARTICLE.read_bytes()),
}
GARBAGE = [b"\xff\xfe\xfd not utf-8", "текст\x00с NUL".encode(), b"\xc3"]
FORMATS = load_formats().formats
NAMES = [f.name for f in FORMATS]


def test_the_installed_formats_are_found_through_their_entry_points() -> None:
    assert sorted(NAMES) == ["json", "markdown", "ninjs", "text"]
    assert set(FIXTURE) == set(NAMES), "every format needs a fixture here"
    media_types = load_formats().media_types
    assert len(media_types) == len(set(media_types))
    assert FORMAT_GROUP == "pressroom.formats"


@pytest.mark.parametrize("input_format", FORMATS, ids=NAMES)
def test_a_format_describes_itself(input_format: InputFormat) -> None:
    assert isinstance(input_format, InputFormat)
    assert input_format.media_types
    for media_type in input_format.media_types:
        assert media_type == media_type.lower().strip()
        assert ";" not in media_type
    assert input_format.description.strip()
    assert input_format.openapi
    for documented, spec in input_format.openapi.items():
        assert documented.split(";")[0].strip() in input_format.media_types
        assert "schema" in spec


def assert_valid_candidate(candidate: Candidate) -> dict[str, Any]:
    data: dict[str, Any] = ArticleInSchema(limits=LIMITS).load(candidate.fields)
    if candidate.body is not None:
        assert sanitize_html(candidate.body.html) == candidate.body.html
        assert candidate.body.text == html_to_text(candidate.body.html)
        assert candidate.body.text.strip()
    for name in ("published_at", "embargoed_until"):
        value = candidate.fields.get(name)
        assert value is None or isinstance(value, str | datetime)
    json.dumps(candidate.extra)  # stored with the version
    return data


@pytest.mark.parametrize("input_format", FORMATS, ids=NAMES)
def test_a_format_turns_its_fixture_into_a_valid_candidate(input_format: InputFormat) -> None:
    params, raw = FIXTURE[input_format.name]
    candidate = input_format.parse(raw, params, SETTINGS)
    data = assert_valid_candidate(candidate)
    assert data["headline"].strip()
    assert candidate.source_format in (None, input_format.name)


@pytest.mark.parametrize("garbage", GARBAGE)
@pytest.mark.parametrize("input_format", FORMATS, ids=NAMES)
def test_a_format_refuses_garbage_naming_the_field(
    input_format: InputFormat, garbage: bytes
) -> None:
    with pytest.raises(FormatError) as caught:
        input_format.parse(garbage, {}, SETTINGS)
    assert caught.value.field
    assert caught.value.reason
    assert 400 <= caught.value.status < 500


@pytest.mark.parametrize("input_format", FORMATS, ids=NAMES)
def test_a_format_refuses_an_unknown_charset_with_415(input_format: InputFormat) -> None:
    _, raw = FIXTURE[input_format.name]
    with pytest.raises(FormatError) as caught:
        input_format.parse(raw, {"charset": "utf-16"}, SETTINGS)
    assert (caught.value.field, caught.value.status) == ("charset", 415)


def submit(raw: bytes, media_type: str, params: dict[str, str] | None = None) -> Submission | None:
    """The whole submission in process: an article, or None for a 4xx problem; else it fails."""
    try:
        return parse_submission(raw, media_type, params or {}, SETTINGS, load_formats(), now=NOW)
    except ProblemError as exc:
        problem = exc
    assert 400 <= problem.status < 500, problem.detail
    assert problem.errors, problem.detail
    assert all(reasons and all(reasons) for reasons in problem.errors.values())
    return None


MEDIA_TYPES = [media_type for f in FORMATS for media_type in f.media_types]
PROPERTY = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY
@given(st.sampled_from(MEDIA_TYPES), st.binary(max_size=2000))
def test_no_bytes_end_in_anything_but_an_article_or_a_4xx(media_type: str, raw: bytes) -> None:
    submit(raw, media_type)


def mutations(name: str) -> st.SearchStrategy[bytes]:
    """A format's fixture with a slice of it replaced by other bytes."""
    _, raw = FIXTURE[name]

    def mutate(start: int, length: int, insert: bytes) -> bytes:
        start %= len(raw) + 1
        return raw[:start] + insert + raw[start + length :]

    return st.builds(mutate, st.integers(0, len(raw)), st.integers(0, 50), st.binary(max_size=20))


@PROPERTY
@given(st.data())
@pytest.mark.parametrize("input_format", FORMATS, ids=NAMES)
def test_a_mutated_fixture_is_an_article_or_a_4xx(input_format: InputFormat, data: Any) -> None:
    params, _ = FIXTURE[input_format.name]
    raw = data.draw(mutations(input_format.name))
    submit(raw, input_format.media_types[0], params)


NINJS_BASE = json.loads(ninjs_example_path("3.1", "004_simple_text_article.json").read_bytes())


@PROPERTY
@given(
    st.one_of(hostile_documents(NATIVE), hostile_documents(NINJS_BASE)),
    st.sampled_from(["application/json", "application/vnd.iptc.ninjs+json"]),
)
@example(nested_array(10_000).encode(), "application/json")
@example(b'{"headline": ' + b"9" * 5000 + b"}", "application/json")
@example(json.dumps({**NATIVE, "published_at": OVERFLOWING_DATES[0]}).encode(), "application/json")
@example(
    json.dumps({**NATIVE, "embargoed_until": OVERFLOWING_DATES[1]}).encode(), "application/json"
)
@example(json.dumps({**NATIVE, "urgency": 1.5}).encode(), "application/json")
def test_hostile_json_is_an_article_or_a_4xx(raw: bytes, media_type: str) -> None:
    submission = submit(raw, media_type)
    if submission is not None:
        content = submission.content
        for value in (content.published_at, content.embargoed_until):
            assert value is None or value.utcoffset() is not None
        assert content.urgency is None or (
            isinstance(content.urgency, int) and 1 <= content.urgency <= 9
        )
        json.dumps(content.extra, allow_nan=False)  # PostgreSQL's json type refuses NaN


@pytest.mark.parametrize("value", OVERFLOWING_DATES)
def test_markdown_dates_that_overflow_utc_are_a_4xx(value: str) -> None:
    document = f"---\nheadline: H\nlanguage: en\npublished_at: {value}\n---\nText.\n"
    assert submit(document.encode(), "text/markdown") is None


def test_the_intake_takes_whatever_formats_are_installed() -> None:
    """A format needs no change to the intake: the registry is the only list of formats."""

    class Shout:
        name: ClassVar[str] = "shout"
        media_types: ClassVar[tuple[str, ...]] = ("text/x-shout",)
        description: ClassVar[str] = "shouting"
        openapi: ClassVar[dict[str, Any]] = {"text/x-shout": {"schema": {"type": "string"}}}

        def parse(self, raw: bytes, params: Any, settings: Settings) -> Candidate:
            text = raw.decode().upper()
            return Candidate(fields={"headline": text, "body": text, "language": "en"})

    formats = Formats({**load_formats().by_media_type, "text/x-shout": Shout()})
    submission = parse_submission(b"hello", "text/x-shout", {}, SETTINGS, formats, now=NOW)
    assert (submission.content.headline, submission.content.source_format) == ("HELLO", "shout")
    with pytest.raises(ProblemError) as refused:
        parse_submission(b"x", "text/x-whisper", {}, SETTINGS, formats, now=NOW)
    assert refused.value.status == 415
    assert "text/x-shout" in refused.value.detail
