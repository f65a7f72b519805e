"""Unit and property tests for the plain-text export parser."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressroom_intake.formats.candidate import Candidate
from pressroom_intake.formats.decoding import decode_body
from pressroom_intake.formats.errors import FormatError
from pressroom_intake.formats.html_text import html_to_text
from pressroom_intake.formats.plaintext import (
    WARNING_HEADLINE_DERIVED,
    WARNING_HEADLINE_SHORTENED,
    WARNING_NO_BYLINE,
    WARNING_NO_HEADER,
    WARNING_NO_RUBRIC,
    PlainTextFormat,
    parse_plaintext,
)
from pressroom_intake.formats.sanitize import sanitize_html
from pressroom_shared.config import Settings
from tests.support.fixtures import SEED_ARTICLE

FIXTURES = Path(__file__).parents[1] / "fixtures"
SAMPLE = SEED_ARTICLE
PROPERTY = settings(max_examples=200, deadline=None, database=None)

BODY = "Первое предложение лида. Второе предложение.\nЕщё один абзац текста."


def fixture(name: str) -> str:
    return decode_body((FIXTURES / name).read_bytes(), "utf-8")


def headings(parsed: Candidate) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", parsed.fields["body"])


def parse_bytes(text: str) -> Candidate:
    """Through the plug-in, as the intake does: encoded, decoded once, then parsed."""
    return PlainTextFormat().parse(text.encode("utf-8", "surrogatepass"), {}, Settings())


def parse_or_error(text: str) -> Candidate | FormatError:
    # Any other exception propagates and fails the test.
    try:
        return parse_bytes(text)
    except FormatError as exc:
        return exc


def assert_well_formed(parsed: Candidate) -> None:
    assert parsed.fields["headline"]
    assert parsed.body.text == html_to_text(parsed.fields["body"])
    assert sanitize_html(parsed.fields["body"]) == parsed.fields["body"]
    assert (
        parsed.fields.get("published_at") is None
        or parsed.fields.get("published_at").utcoffset() is not None
    )


# ------------------------------------------------------------------------------ the sample


@pytest.fixture(scope="module")
def sample() -> Candidate:
    return parse_plaintext(decode_body(SAMPLE.read_bytes(), None))


def test_sample_header(sample: Candidate) -> None:
    assert sample.fields.get("published_at") == datetime(2025, 5, 27, 2, 39, tzinfo=UTC)
    assert sample.fields.get("published_at").tzinfo is UTC
    assert sample.fields.get("byline") == "Виктория Любимова"
    assert sample.fields.get("rubric") == "Новости СВО и мобилизации"
    assert sample.extra.get("views") == 946
    assert sample.fields["language"] == "ru"


def test_sample_structure(sample: Candidate) -> None:
    assert headings(sample) == [
        "Телефонный разговор глав государств",
        "Ход обмена по стамбульским договорённостям",
        "Влияние на двусторонние отношения",
        "Итоги и перспективы",
    ]
    assert sample.fields["body"].count("<ul>") == 1
    assert sample.fields["body"].count("<li>") == 3
    assert sample.fields["body"].count("<p>") == 5
    assert "<h1>" not in sample.fields["body"]
    assert_well_formed(sample)


def test_sample_footnote_mark_is_kept_and_warned(sample: Candidate) -> None:
    assert "стамбульского соглашения<sup>[1]</sup>." in sample.fields["body"]
    assert "стамбульского соглашения[1]." in sample.body.text
    assert "footnote [1] has no definition" in sample.warnings
    assert 'class="footnotes"' not in sample.fields["body"]


def test_sample_headline(sample: Candidate) -> None:
    assert sample.fields["headline"].startswith("За последние дни тема обмена пленными")
    assert sample.fields["headline"] == (
        "За последние дни тема обмена пленными между Россией, Украиной и Белоруссией "
        "вышла на первый план международной повестки"
    )
    assert WARNING_HEADLINE_DERIVED in sample.warnings
    assert WARNING_HEADLINE_SHORTENED not in sample.warnings
    assert WARNING_NO_BYLINE not in sample.warnings


def test_sample_body_text_blocks(sample: Candidate) -> None:
    blocks = sample.body.text.split("\n\n")
    assert blocks[1] == "Телефонный разговор глав государств"
    assert blocks[4].splitlines()[0].startswith("- 16 мая 2024 года в Стамбуле")
    assert len(blocks[4].splitlines()) == 3


# ------------------------------------------------------------------------ our own fixtures


def test_english_fixture() -> None:
    parsed = parse_plaintext(fixture("plaintext-english.txt"))
    assert parsed.fields["language"] == "en"
    assert parsed.fields.get("byline") == "John Smith"
    assert parsed.fields.get("rubric") == "World"
    assert parsed.extra.get("views") == 1234
    assert parsed.fields.get("published_at") == datetime(2024, 6, 3, 15, 5, tzinfo=UTC)
    assert parsed.fields["headline"] == (
        "Mr. Smith met U.S. officials in Geneva on Monday to discuss the grain deal"
    )
    assert headings(parsed) == ["Background", "What comes next"]
    assert (
        "<ul>\n<li>Exports fell by a third.</li>\n<li>Prices rose sharply.</li>\n</ul>"
        in (parsed.fields["body"])
    )
    assert parsed.warnings == [WARNING_HEADLINE_DERIVED]
    assert_well_formed(parsed)


def test_footnotes_fixture() -> None:
    parsed = parse_plaintext(fixture("plaintext-footnotes.txt"))
    # 2012: Moscow was UTC+4 all year.
    assert parsed.fields.get("published_at") == datetime(2012, 3, 12, 6, 0, tzinfo=UTC)
    assert parsed.fields.get("byline") == "Иван Петров"
    assert parsed.fields.get("rubric") == "Экономика, регионы"
    assert parsed.extra.get("views") == 15
    html = parsed.fields["body"]
    assert 'регионов<sup><a href="#fn-1" id="fnref-1">1</a></sup>.' in html
    assert 'рублей<sup><a href="#fn-2" id="fnref-2">2</a></sup>.' in html
    # The second mark for [1] links to the note but must not repeat the id.
    assert '40 регионов<sup><a href="#fn-1">1</a></sup>,' in html
    assert html.count('id="fnref-1"') == 1
    assert "позже<sup>[3]</sup>." in html
    assert html.endswith(
        '<section class="footnotes"><ol>'
        '<li id="fn-1" value="1">Постановление № 123 от 11 марта 2012 года. '
        '<a href="#fnref-1">↩</a></li>'
        '<li id="fn-2" value="2">Оценка Минфина &lt;предварительная&gt;. '
        '<a href="#fnref-2">↩</a></li>'
        '<li id="fn-4" value="4">Примечание без ссылки.</li>'
        "</ol></section>"
    )
    assert headings(parsed) == ["Что изменится"]
    assert parsed.warnings == [
        WARNING_HEADLINE_DERIVED,
        "footnote [3] has no definition",
        "footnote [4] is defined but never referenced",
    ]
    assert parsed.body.text.endswith(
        "[1] Постановление № 123 от 11 марта 2012 года.\n"
        "[2] Оценка Минфина <предварительная>.\n"
        "[4] Примечание без ссылки."
    )
    assert parsed.fields["headline"] == "Правительство одобрило программу поддержки регионов"
    assert_well_formed(parsed)


def test_missing_fields_fixture() -> None:
    parsed = parse_plaintext(fixture("plaintext-missing-fields.txt"))
    assert parsed.fields.get("byline") is None
    assert parsed.fields.get("rubric") == "Новости"
    assert parsed.extra.get("views") is None
    assert parsed.fields.get("published_at") == datetime(2025, 5, 27, 2, 39, tzinfo=UTC)
    assert parsed.warnings == [WARNING_NO_BYLINE, WARNING_HEADLINE_DERIVED]
    assert_well_formed(parsed)


def test_no_header_fixture_escapes_markup() -> None:
    parsed = parse_plaintext(fixture("plaintext-no-header.txt"))
    assert parsed.fields.get("published_at") is None
    assert parsed.fields.get("byline") is None
    assert parsed.fields.get("rubric") is None
    assert parsed.extra.get("views") is None
    assert parsed.warnings == [WARNING_NO_HEADER, WARNING_HEADLINE_DERIVED]
    assert "<script" not in parsed.fields["body"]
    assert '<p>&lt;script&gt;alert("x")&lt;/script&gt; &amp; прочие' in parsed.fields["body"]
    assert '<script>alert("x")</script> & прочие' in parsed.body.text
    assert headings(parsed) == ["Главное"]
    assert parsed.fields["headline"] == "Вчера в Москве прошла пресс-конференция"
    assert_well_formed(parsed)


def test_crlf_bom_fixture() -> None:
    raw = (FIXTURES / "plaintext-crlf-bom.txt").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "fixture lost its BOM (editor or git filter?)"
    assert b"\r\n" in raw, "fixture lost its CRLF line ends (git autocrlf?)"
    plugin = PlainTextFormat()
    for parsed in (parse_plaintext(decode_body(raw, "utf-8")), plugin.parse(raw, {}, Settings())):
        # 1 January 2014, 00:30 in Moscow (then UTC+4) is still 2013 in UTC.
        assert parsed.fields.get("published_at") == datetime(2013, 12, 31, 20, 30, tzinfo=UTC)
        assert parsed.fields.get("byline") == "Анна Смирнова"
        assert parsed.extra.get("views") == 7
        assert headings(parsed) == ["Подробности"]
        assert "\r" not in parsed.fields["body"]
        assert "\ufeff" not in parsed.fields["body"]
        assert_well_formed(parsed)


@pytest.mark.parametrize("charset", ["windows-1251", "koi8-r"])
def test_single_byte_charsets(charset: str) -> None:
    # Neither charset can encode 👁 (nor KOI8-R the guillemets): such exports carry no views.
    text = '5 ноября 2015 12:00, Пётр Ёлкин, Культура\r\nЁлка "зажглась". Все рады.\r\n'
    parsed = parse_plaintext(decode_body(text.encode(charset), charset))
    assert parsed.fields.get("byline") == "Пётр Ёлкин"
    assert parsed.fields.get("rubric") == "Культура"
    assert parsed.fields.get("published_at") == datetime(2015, 11, 5, 9, 0, tzinfo=UTC)
    assert parsed.fields["headline"] == 'Ёлка "зажглась"'


# ------------------------------------------------------------------------------- the header


@pytest.mark.parametrize(
    ("header", "byline", "rubric", "views", "warnings"),
    [
        ("27 мая 2025 05:39, , Новости, 👁 946", None, "Новости", 946, [WARNING_NO_BYLINE]),
        ("27 мая 2025 05:39, Автор, Новости", "Автор", "Новости", None, []),
        ("27 мая 2025 05:39, Автор, 👁 5", "Автор", None, 5, [WARNING_NO_RUBRIC]),
        ("27 мая 2025 05:39, 👁 5", None, None, 5, [WARNING_NO_BYLINE, WARNING_NO_RUBRIC]),
        ("27 мая 2025 05:39", None, None, None, [WARNING_NO_BYLINE, WARNING_NO_RUBRIC]),
        ("27 мая 2025 05:39,,,", None, None, None, [WARNING_NO_BYLINE, WARNING_NO_RUBRIC]),
        (
            "27 мая 2025 05:39, Автор, Политика, экономика, общество, 👁 1 204",
            "Автор",
            "Политика, экономика, общество",
            1204,
            [],
        ),
        ("27 мая 2025 05:39, Автор, Рубрика, 👁 12\u00a0345", "Автор", "Рубрика", 12345, []),
        ("27 мая 2025 05:39, Автор, Рубрика, 👁 1,234", "Автор", "Рубрика", 1234, []),
        (
            "27 мая 2025 05:39, Автор, Рубрика, 👁 1,2K",
            "Автор",
            "Рубрика",
            None,
            ["view count '1,2K' is not a whole number; ignored"],
        ),
        (
            "27 мая 2025 05:39, Автор, Рубрика, 👁",
            "Автор",
            "Рубрика",
            None,
            ["the 👁 view count is empty; ignored"],
        ),
        (
            "27 мая 2025 05:39, Автор, Рубрика, 👁 99999999999",
            "Автор",
            "Рубрика",
            None,
            ["view count 99999999999 is implausibly large; ignored"],
        ),
    ],
)
def test_header_fields(
    header: str, byline: str | None, rubric: str | None, views: int | None, warnings: list[str]
) -> None:
    parsed = parse_plaintext(f"{header}\n{BODY}")
    assert parsed.fields.get("published_at") == datetime(2025, 5, 27, 2, 39, tzinfo=UTC)
    assert (
        parsed.fields.get("byline"),
        parsed.fields.get("rubric"),
        parsed.extra.get("views"),
    ) == (byline, rubric, views)
    assert [w for w in parsed.warnings if w != WARNING_HEADLINE_DERIVED] == warnings


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1 января 2025 00:00", datetime(2024, 12, 31, 21, 0, tzinfo=UTC)),
        ("1 июля 2012 12:00", datetime(2012, 7, 1, 8, 0, tzinfo=UTC)),  # UTC+4 era
        ("1 июля 2010 12:00", datetime(2010, 7, 1, 8, 0, tzinfo=UTC)),  # summer time
        ("1 декабря 2010 12:00", datetime(2010, 12, 1, 9, 0, tzinfo=UTC)),
        ("27 октября 2014 12:00", datetime(2014, 10, 27, 9, 0, tzinfo=UTC)),  # back to +3
        ("29 февраля 2024 9:05", datetime(2024, 2, 29, 6, 5, tzinfo=UTC)),
        ("7 Марта 2025 10:00", datetime(2025, 3, 7, 7, 0, tzinfo=UTC)),
        ("3 сентября 2025 23:59", datetime(2025, 9, 3, 20, 59, tzinfo=UTC)),
    ],
)
def test_header_dates_are_moscow_wall_time(header: str, expected: datetime) -> None:
    parsed = parse_plaintext(f"{header}, Автор, Рубрика\n{BODY}")
    assert parsed.fields.get("published_at") == expected
    assert parsed.fields.get("published_at") is not None
    assert parsed.fields.get("published_at").utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("32 мая 2025 05:39, Автор", "does not exist"),
        ("29 февраля 2023 05:39, Автор", "does not exist"),
        ("27 мая 2025 24:00, Автор", "does not exist"),
        ("27 мая 2025 05:60, Автор", "does not exist"),
        ("0 мая 2025 05:39, Автор", "does not exist"),
        ("27 мяу 2025 05:39, Автор", "Unknown month"),
        ("27 май 2025 05:39, Автор", "Unknown month"),
        ("27 мая 0001 05:39, Автор", "outside"),
        ("27 мая 2025 05:39:15, Автор", "right after the time"),
        ("27 мая 2025 05:391, Автор", "right after the time"),
    ],
)
def test_bad_header_dates(header: str, message: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        parse_plaintext(f"{header}\n{BODY}")
    assert info.value.field == "header"


@pytest.mark.parametrize(
    "first_line",
    [
        "Вчера, 27 мая 2025 05:39, произошло событие.",
        "27 мая 2025 года в Москве прошла встреча.",
        "٢٧ мая 2025 05:39, Автор",  # not ASCII digits
    ],
)
def test_first_line_without_a_date_is_body(first_line: str) -> None:
    parsed = parse_plaintext(f"{first_line}\n{BODY}")
    assert parsed.fields.get("published_at") is None
    assert parsed.warnings[0] == WARNING_NO_HEADER
    assert parsed.fields["body"].startswith("<p>")
    assert first_line in parsed.body.text


# --------------------------------------------------------------------------------- the body


def test_heading_rules() -> None:
    text = "\n".join(
        [
            "Короткая первая строка",  # first body line: never a heading
            "Настоящий подзаголовок",
            "Абзац текста.",
            "Строка с точкой в конце.",
            "Строка с вопросом?",
            "Подзаголовок «в кавычках»",
            "Это слишком длинная строка без точки в конце, и в ней больше десяти слов подряд",
            "Ещё текст.",
            "Последняя строка без точки",  # nothing follows: not a heading
        ]
    )
    parsed = parse_plaintext(text)
    assert headings(parsed) == ["Настоящий подзаголовок", "Подзаголовок «в кавычках»"]
    assert parsed.fields["body"].startswith("<p>Короткая первая строка</p>")
    assert parsed.fields["body"].endswith("<p>Последняя строка без точки</p>")


def test_heading_followed_by_bullets() -> None:
    parsed = parse_plaintext("Лид.\nСписок\n- один\n- два")
    assert parsed.fields["body"] == (
        "<p>Лид.</p>\n<h2>Список</h2>\n<ul>\n<li>один</li>\n<li>два</li>\n</ul>"
    )


def test_bullets_group_into_lists() -> None:
    parsed = parse_plaintext("Лид.\n- a\n\n- b\nАбзац.\n- c\n— Реплика, — сказал он.\n-не пункт")
    assert parsed.fields["body"] == (
        "<p>Лид.</p>\n<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<p>Абзац.</p>\n"
        "<ul>\n<li>c</li>\n</ul>\n<p>— Реплика, — сказал он.</p>\n<p>-не пункт</p>"
    )
    assert parsed.body.text == (
        "Лид.\n\n- a\n- b\n\nАбзац.\n\n- c\n\n— Реплика, — сказал он.\n\n-не пункт"
    )


def test_bullet_lead_gives_a_headline() -> None:
    parsed = parse_plaintext("- Первый пункт списка. Второе.\n- Ещё пункт")
    assert parsed.fields["headline"] == "Первый пункт списка"


def test_long_lead_is_shortened_with_a_warning() -> None:
    lead = "Слово " * 60 + "конец."
    parsed = parse_plaintext(lead)
    assert len(parsed.fields["headline"]) <= 120
    assert parsed.fields["headline"].endswith("…")
    assert WARNING_HEADLINE_SHORTENED in parsed.warnings


def test_escapes_everything() -> None:
    parsed = parse_plaintext('Лид <b onmouseover="x">&amp;</b> [1] конец.\n<img src=x>')
    assert parsed.fields["body"] == (
        '<p>Лид &lt;b onmouseover="x"&gt;&amp;amp;&lt;/b&gt; <sup>[1]</sup> конец.</p>\n'
        "<p>&lt;img src=x&gt;</p>"
    )


def test_definitions_only_at_the_end_and_never_the_whole_body() -> None:
    only = parse_plaintext("[1] Это не сноска, а весь текст.")
    assert "footnotes" not in only.fields["body"]
    middle = parse_plaintext("Лид[1].\n[1] В середине.\nКонец.")
    assert "footnotes" not in middle.fields["body"]
    assert "footnote [1] has no definition" in middle.warnings


def test_duplicate_definition_is_shown_once_linked() -> None:
    parsed = parse_plaintext("Лид[2].\n[2] Первая.\n[02] Вторая.")
    assert parsed.fields["body"].endswith(
        '<li id="fn-2" value="2">Первая. <a href="#fnref-2">↩</a></li>'
        '<li value="2">Вторая.</li></ol></section>'
    )
    assert "footnote [2] is defined 2 times; only the first is linked" in parsed.warnings


def test_nbsp_and_typography_survive() -> None:
    parsed = parse_plaintext("В\u00a0Москве 5\u00a0км — «ёлочки».")
    assert "В&nbsp;Москве 5&nbsp;км — «ёлочки»." in parsed.fields["body"]
    assert "В\u00a0Москве 5\u00a0км" in parsed.body.text


@pytest.mark.parametrize("text", ["", " ", "\n\n\t \r\n", "\ufeff", "\ufeff\r\n  "])
def test_empty_text(text: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_bytes(text)
    assert info.value.field == "body"


def test_header_without_body() -> None:
    with pytest.raises(FormatError, match="no body") as info:
        parse_plaintext("27 мая 2025 05:39, Автор, Рубрика, 👁 1\n\n")
    assert info.value.field == "body"


def test_control_characters_are_rejected() -> None:
    with pytest.raises(FormatError, match="U\\+0007") as info:
        parse_plaintext("Лид.\nТекст \x07 звонок.")
    assert info.value.field == "body"


def test_deterministic() -> None:
    text = fixture("plaintext-footnotes.txt")
    assert parse_plaintext(text) == parse_plaintext(text)


# ---------------------------------------------------------------------------- properties


@PROPERTY
@given(st.text())
def test_any_text_parses_or_raises_format_error(text: str) -> None:
    outcome = parse_or_error(text)
    if isinstance(outcome, FormatError):
        assert outcome.field in {"body", "header"}
        assert outcome.reason
    else:
        assert_well_formed(outcome)


_LINES = st.one_of(
    st.sampled_from(
        [
            "27 мая 2025 05:39, Виктория Любимова, Новости СВО и мобилизации, 👁 946",
            "1 января 2014 00:30, , Рубрика, с запятой, 👁 1 234",
            "31 декабря 1999 23:59",
            "Подзаголовок",
            "- пункт списка",
            "- ",
            "Абзац со сноской[1] и ещё одной[2].",
            "[1] Определение сноски.",
            "[2] <b>Вторая</b> & третья.",
            "",
            "   ",
            "<script>alert(1)</script>",
            "В. Путин и т. е. РФ. Далее.",
        ]
    ),
    st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=40),
)


@PROPERTY
@given(st.lists(_LINES, max_size=12), st.sampled_from(["\n", "\r\n", "\r"]))
def test_export_like_text_parses_or_raises_format_error(lines: list[str], newline: str) -> None:
    outcome = parse_or_error(newline.join(lines))
    if isinstance(outcome, FormatError):
        assert outcome.field in {"body", "header"}
    else:
        assert_well_formed(outcome)
        assert "<script" not in outcome.fields["body"]
        assert len(outcome.fields["headline"]) <= 120
        assert outcome.warnings.count(WARNING_HEADLINE_DERIVED) == 1
