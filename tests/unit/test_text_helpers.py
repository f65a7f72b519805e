"""Unit and property tests for the intake's text helpers: decoding, sanitising, HTML and text,
headlines and languages (pressroom_intake.formats.decoding, sanitize, html_text, headline,
language)."""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressroom_intake.formats.decoding import check_control_characters, decode_body
from pressroom_intake.formats.errors import FormatError
from pressroom_intake.formats.headline import derive_headline
from pressroom_intake.formats.html_text import html_to_text
from pressroom_intake.formats.language import guess_language, is_valid_language_tag
from pressroom_intake.formats.sanitize import escape_text, sanitize_html, text_to_html

PROPERTY = settings(max_examples=200, deadline=None, database=None)
CHARSETS = [None, "utf-8", "UTF-8", "windows-1251", "cp1251", "CP1251", "koi8-r", "KOI8-R"]
# KOI8-R has no guillemets, so the shared sample sentence sticks to what all three encode.
RUSSIAN = 'Обмен пленными прошёл в Стамбуле: "1000 на 1000", ёж и Ё.'


# ------------------------------------------------------------------------------ FormatError


def test_format_error_carries_field_and_reason() -> None:
    exc = FormatError("body", "Fix the body.")
    assert isinstance(exc, ValueError)
    assert exc.field == "body"
    assert exc.reason == "Fix the body."
    assert str(exc) == "Fix the body."


# ------------------------------------------------------------------------------ decode_body


@pytest.mark.parametrize("charset", [None, "utf-8", "UTF-8", " utf-8 ", "utf8"])
def test_decode_utf8(charset: str | None) -> None:
    assert decode_body(RUSSIAN.encode(), charset) == RUSSIAN


@pytest.mark.parametrize(
    ("charset", "codec"),
    [
        ("windows-1251", "cp1251"),
        ("Windows-1251", "cp1251"),
        ("cp1251", "cp1251"),
        ("koi8-r", "koi8_r"),
        ("KOI8-R", "koi8_r"),
    ],
)
def test_decode_declared_single_byte_charsets(charset: str, codec: str) -> None:
    assert decode_body(RUSSIAN.encode(codec), charset) == RUSSIAN


def test_decode_strips_bom_and_normalises_newlines() -> None:
    raw = b"\xef\xbb\xbfa\r\nb\rc\n\xef\xbb\xbfd"
    # Only the leading BOM is a BOM; a later U+FEFF is content.
    assert decode_body(raw, None) == "a\nb\nc\n\ufeffd"


def test_decode_normalises_to_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "йё é")
    assert decomposed != "йё é"
    assert decode_body(decomposed.encode(), "utf-8") == "йё é"


def test_decode_unknown_charset() -> None:
    with pytest.raises(FormatError) as info:
        decode_body(b"abc", "utf-16")
    assert info.value.field == "charset"
    assert "utf-16" in info.value.reason


def test_decode_invalid_utf8_names_the_offset() -> None:
    with pytest.raises(FormatError) as info:
        decode_body(b"abc\xffdef", None)
    assert info.value.field == "body"
    assert "offset 3" in info.value.reason
    assert "0xFF" in info.value.reason


def test_decode_invalid_cp1251_byte() -> None:
    # 0x98 is the one byte windows-1251 leaves undefined.
    with pytest.raises(FormatError) as info:
        decode_body("Привет".encode("cp1251") + b"\x98", "windows-1251")
    assert info.value.field == "body"
    assert "offset 6" in info.value.reason


def test_decode_rejects_utf8_bom_under_single_byte_charset() -> None:
    with pytest.raises(FormatError) as info:
        decode_body(b"\xef\xbb\xbf" + "Привет".encode(), "windows-1251")
    assert info.value.field == "charset"


@pytest.mark.parametrize("charset", CHARSETS)
@PROPERTY
@given(raw=st.binary(max_size=300))
def test_decode_body_returns_text_or_format_error(raw: bytes, charset: str | None) -> None:
    outcome: str | FormatError
    try:
        outcome = decode_body(raw, charset)
    except FormatError as exc:  # any other exception fails the test
        outcome = exc
    if isinstance(outcome, FormatError):
        assert outcome.field in {"body", "charset"}
        assert outcome.reason
    else:
        assert "\r" not in outcome
        assert not outcome.startswith("\ufeff")
        assert unicodedata.is_normalized("NFC", outcome)


# ---------------------------------------------------------------- check_control_characters


@pytest.mark.parametrize("text", ["", "plain", "tab\there", "line\nbreak", "crlf\r\nok", RUSSIAN])
def test_control_characters_allowed(text: str) -> None:
    check_control_characters(text, "body")


@pytest.mark.parametrize(
    ("text", "code_point", "position"),
    [
        ("ab\x00", "U+0000", 2),
        ("x\x07y", "U+0007", 1),
        ("esc\x1b[0m", "U+001B", 3),
        ("del\x7f", "U+007F", 3),
        ("nel\x85", "U+0085", 3),
        ("lone \ud800 surrogate", "U+D800", 5),
    ],
)
def test_control_characters_rejected(text: str, code_point: str, position: int) -> None:
    with pytest.raises(FormatError) as info:
        check_control_characters(text, "headline")
    assert info.value.field == "headline"
    assert code_point in info.value.reason
    assert f"position {position}" in info.value.reason


def test_control_character_reports_line_and_column() -> None:
    with pytest.raises(FormatError, match=r"line 2, column 3"):
        check_control_characters("first\nab\x0bc", "body")


# ---------------------------------------------------------------------------- sanitize_html


def test_sanitize_keeps_allowlisted_markup() -> None:
    html = (
        "<h2>Заголовок</h2><p>Текст <em>курсив</em> <strong>жирный</strong> "
        '<a href="https://example.org/a?b=1&amp;c=2" title="t">ссылка</a> '
        '<a href="mailto:desk@example.org">почта</a><sup>2</sup><sub>x</sub></p>'
        "<ul><li>один</li></ul><ol><li>два</li></ol><blockquote><p>цитата</p></blockquote>"
        "<pre><code>x = 1</code></pre><figure><figcaption>подпись</figcaption></figure><hr>"
    )
    assert sanitize_html(html) == html


def test_sanitize_removes_scripts_handlers_and_dangerous_urls() -> None:
    html = (
        '<p onclick="steal()">hi<script>alert(1)</script><style>p{}</style>'
        '<a href="javascript:alert(1)">j</a><a href="JaVaScRiPt:x">k</a>'
        '<a href="data:text/html,x">d</a><img src=x onerror=alert(1)>'
        "<iframe src=https://evil.example>frame text</iframe></p>"
    )
    out = sanitize_html(html)
    assert out == "<p>hi<a>j</a><a>k</a><a>d</a></p>"


def test_sanitize_adds_no_rel_and_drops_target() -> None:
    out = sanitize_html('<a href="https://e.org" target="_blank" rel="opener">e</a>')
    assert out == '<p><a href="https://e.org">e</a></p>'


def test_sanitize_turns_h1_into_h2_and_small_headings_into_h4() -> None:
    assert sanitize_html("<h1>Top</h1><h5>a</h5><h6>b</h6>") == "<h2>Top</h2><h4>a</h4><h4>b</h4>"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<div>a</div><div>b</div>", "<p>a</p><p>b</p>"),
        ("<table><tr><td>a</td><td>b</td></tr></table>", "<p>a</p><p>b</p>"),
        ("loose <b>bold</b><div>x</div>tail", "<p>loose <b>bold</b></p><p>x</p><p>tail</p>"),
        ("<blockquote>q<div>r</div></blockquote>", "<blockquote><p>q</p><p>r</p></blockquote>"),
        ("<ul><li><div>a</div><div>b</div></li></ul>", "<ul><li>a<br>b</li></ul>"),
        (
            "<article><header>H</header><section>S</section></article>",
            "<p>H</p><section><p>S</p></section>",
        ),
    ],
)
def test_sanitize_keeps_dropped_blocks_apart(html: str, expected: str) -> None:
    out = sanitize_html(html)
    assert out == expected
    assert html_to_text(out) == html_to_text(html)


def test_sanitize_keeps_only_footnote_ids_and_class() -> None:
    html = (
        '<p><sup><a href="#fn-1" id="fnref-1">1</a></sup><a id="main" href="#x">m</a></p>'
        '<section class="footnotes evil"><ol><li id="fn-1" value="1">n '
        '<a href="#fnref-1">↩</a></li><li id="login" value="x">y</li></ol></section>'
        '<section class="other">z</section>'
    )
    assert sanitize_html(html) == (
        '<p><sup><a href="#fn-1" id="fnref-1">1</a></sup><a href="#x">m</a></p>'
        '<section class="footnotes"><ol><li id="fn-1" value="1">n '
        '<a href="#fnref-1">↩</a></li><li>y</li></ol></section>'
        "<section><p>z</p></section>"
    )


def test_sanitize_drops_empty_paragraphs_and_comments() -> None:
    assert sanitize_html("<p></p><p> </p><!-- note --><p>x</p>") == "<p>x</p>"


def test_sanitize_is_a_fixed_point_on_its_output() -> None:
    messy = "<h1>T</h1><div>a &amp; b\xa0c</div><ul><li>x<div>y</div></li></ul>tail"
    once = sanitize_html(messy)
    assert sanitize_html(once) == once


def test_escape_text_matches_the_sanitiser() -> None:
    text = 'a < b & "c" \xa0 d'
    assert escape_text(text) == 'a &lt; b &amp; "c" &nbsp; d'
    assert sanitize_html(f"<p>{escape_text(text)}</p>") == f"<p>{escape_text(text)}</p>"


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)


def hrefs(html: str) -> list[str]:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return [value for name, value in collector.attributes if name == "href"]


@PROPERTY
@given(st.text())
def test_sanitize_never_outputs_script_or_javascript(html: str) -> None:
    out = sanitize_html(html)
    assert "<script" not in out.lower()
    # Only in markup: the text "javascript:" is inert, escaped prose and is rightly kept
    # (hypothesis finds it: sanitize_html("javascript:") == "<p>javascript:</p>").
    assert not any("javascript:" in href.lower() for href in hrefs(out))
    html_to_text(out)


def test_sanitize_keeps_the_word_javascript_as_text() -> None:
    assert sanitize_html("javascript: a language") == "<p>javascript: a language</p>"


_HOSTILE = st.sampled_from(
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        "<scr<script>ipt>alert(1)</script>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href="  JAVASCRIPT:alert(1)">x</a>',
        '<a href="jav&#x09;ascript:alert(1)">x</a>',
        '<a href="vbscript:x">x</a>',
        '<img src=x onerror="alert(1)">',
        '<p onclick="x" style="color:red">p</p>',
        "<svg><script>alert(1)</script></svg>",
        "<math><mi xlink:href=javascript:alert(1)>x</mi></math>",
        "<style>@import 'x';</style>",
        "<!--<script>-->",
        "<iframe srcdoc='<script>x</script>'></iframe>",
        "<div>",
        "</div>",
        "<h1>",
        "<li>",
        "<![foo[x]]>",
        "<",
        ">",
        "&",
        "&lt;script&gt;",
    ]
)


@PROPERTY
@given(st.lists(st.one_of(_HOSTILE, st.text(max_size=10)), max_size=12))
def test_sanitize_output_has_no_active_content(parts: list[str]) -> None:
    out = sanitize_html("".join(parts))
    collector = _Collector()
    collector.feed(out)
    collector.close()
    assert set(collector.tags) <= {
        "p",
        "br",
        "h2",
        "h3",
        "h4",
        "ul",
        "ol",
        "li",
        "blockquote",
        "a",
        "em",
        "i",
        "strong",
        "b",
        "sup",
        "sub",
        "code",
        "pre",
        "section",
        "figure",
        "figcaption",
        "hr",
    }
    for name, value in collector.attributes:
        assert name in {"href", "title", "id", "value", "class"}
        if name == "href":
            assert not re.match(r"\s*(javascript|vbscript|data):", value, re.I)
    assert "<script" not in out.lower()
    assert sanitize_html(out) == out
    html_to_text("".join(parts))


# ---------------------------------------------------------------------------- html_to_text


def test_html_to_text_blocks_and_lists() -> None:
    html = (
        "<h2>Заголовок</h2><p>Первый   абзац\n с  переносом.</p>"
        "<ul><li>один</li><li>два</li></ul><ol><li>три</li><li value='7'>семь</li></ol>"
        "<p>строка<br>вторая</p><blockquote><p>цитата</p></blockquote>"
    )
    assert html_to_text(html) == (
        "Заголовок\n\nПервый абзац с переносом.\n\n- один\n- два\n\n1. три\n7. семь"
        "\n\nстрока\nвторая\n\nцитата"
    )


def test_html_to_text_decodes_entities_and_keeps_nbsp() -> None:
    assert html_to_text("<p>a &amp; b &lt;c&gt; &laquo;d&raquo;&nbsp;e &#1025;</p>") == (
        "a & b <c> «d»\xa0e Ё"
    )


def test_html_to_text_nested_lists() -> None:
    html = "<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>"
    assert html_to_text(html) == "- a\n  - b\n- c"


def test_html_to_text_footnotes_read_as_brackets() -> None:
    html = (
        '<p>Текст<sup><a href="#fn-1" id="fnref-1">1</a></sup> и<sup>[2]</sup>.</p>'
        '<section class="footnotes"><ol><li id="fn-1" value="1">Источник. '
        '<a href="#fnref-1">↩</a></li></ol></section>'
    )
    assert html_to_text(html) == "Текст[1] и[2].\n\n[1] Источник."


def test_html_to_text_preserves_pre() -> None:
    assert html_to_text("<p>x</p><pre>  a\n    b</pre>") == "x\n\n  a\n    b"


def test_html_to_text_ignores_script_content_in_raw_input() -> None:
    assert html_to_text("<p>a</p><script>var x = '<p>';</script><p>b</p>") == "a\n\nb"


def test_html_to_text_survives_marked_sections() -> None:
    assert html_to_text("<![foo[bar]]><p>x</p>") == "x"


@PROPERTY
@given(st.text())
def test_html_to_text_never_raises(html: str) -> None:
    assert isinstance(html_to_text(html), str)


# ---------------------------------------------------------------------------- text_to_html


def test_text_to_html_paragraphs_and_breaks() -> None:
    text = "Первый абзац\nвторая строка\n\n\n  Второй <b>абзац</b> & ещё  \r\n \t\nТретий"
    assert text_to_html(text) == (
        "<p>Первый абзац<br>вторая строка</p>\n"
        "<p>Второй &lt;b&gt;абзац&lt;/b&gt; &amp; ещё</p>\n"
        "<p>Третий</p>"
    )


def test_text_to_html_blank() -> None:
    assert text_to_html("") == ""
    assert text_to_html(" \n\n\t") == ""


def test_text_to_html_round_trips_through_html_to_text() -> None:
    text = "Абзац один.\nСтрока два.\n\nАбзац «два» & <три>."
    assert html_to_text(text_to_html(text)) == text


@PROPERTY
@given(st.text())
def test_text_to_html_is_safe_and_stable(text: str) -> None:
    try:
        check_control_characters(text, "body")
    except FormatError:
        return
    html = text_to_html(text)
    assert "<script" not in html.lower()
    assert sanitize_html(html) == html


# ------------------------------------------------------------------------- derive_headline


@pytest.mark.parametrize(
    ("lead", "expected"),
    [
        ("Первое предложение. Второе предложение.", "Первое предложение"),
        ("Он приехал, т. е. всё решено. Потом уехал.", "Он приехал, т. е. всё решено"),
        ("В. Путин провёл встречу. Затем уехал.", "В. Путин провёл встречу"),
        ("В.В. Путин провёл встречу. Затем уехал.", "В.В. Путин провёл встречу"),
        ("Встреча прошла в г. Москва. Затем все уехали.", "Встреча прошла в г. Москва"),
        ("Mr. Smith met U.S. officials. Then left.", "Mr. Smith met U.S. officials"),
        ("Что дальше? Никто не знает.", "Что дальше?"),
        ("Никто не знал... Потом узнали.", "Никто не знал..."),
        ("Он ждал… Потом ушёл.", "Он ждал…"),
        ("Он сказал: «Мы готовы». Потом ушёл.", "Он сказал: «Мы готовы»"),
        ("Цена выросла до 3.5 рубля. Это много.", "Цена выросла до 3.5 рубля"),
        ("Текст со сноской[1]. Второе.", "Текст со сноской"),
        ("Первый абзац без точки\n\nВторой абзац.", "Первый абзац без точки"),
        ("  Строка\nс переносом. Ещё.", "Строка с переносом"),
        ("Итоги 2024 года. 25 мая Путин ...", "Итоги 2024 года"),
        # An upper-case acronym takes no period in Russian, so "РФ." ends a sentence.
        ("Встреча прошла в РФ. Делегации разъехались.", "Встреча прошла в РФ"),
    ],
)
def test_derive_headline_first_sentence(lead: str, expected: str) -> None:
    assert derive_headline(lead) == expected


def test_derive_headline_trims_at_a_word_boundary() -> None:
    lead = "Очень " * 40 + "длинное предложение."
    headline = derive_headline(lead, max_chars=50)
    assert len(headline) <= 50
    assert headline.endswith("…")
    assert headline == "Очень " * 7 + "Очень…"


def test_derive_headline_trims_a_single_long_word() -> None:
    assert derive_headline("а" * 30, max_chars=10) == "а" * 9 + "…"


def test_derive_headline_blank_and_bad_limit() -> None:
    assert derive_headline("  \n ") == ""
    with pytest.raises(ValueError, match="max_chars"):
        derive_headline("x", max_chars=0)


@PROPERTY
@given(st.text(), st.integers(min_value=1, max_value=200))
def test_derive_headline_never_empty_and_within_limit(text: str, max_chars: int) -> None:
    headline = derive_headline(text, max_chars)
    assert len(headline) <= max_chars
    if text.strip():
        assert headline
    else:
        assert headline == ""


# -------------------------------------------------------------- guess_language, language tags


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (RUSSIAN, "ru"),
        ("The talks ended without a statement.", "en"),
        ("Встреча NATO и ЕС в Брюсселе", "ru"),
        ("NATO summit in Brussels, сказал он", "en"),
        ("", "en"),
        ("12345 !!!", "en"),
    ],
)
def test_guess_language(text: str, language: str) -> None:
    assert guess_language(text) == language


@pytest.mark.parametrize("tag", ["ru", "en", "EN", "en-GB", "sr-Latn", "sr-Latn-RS", "es-419"])
def test_valid_language_tags(tag: str) -> None:
    assert is_valid_language_tag(tag)


@pytest.mark.parametrize(
    "tag",
    ["", "r", "russian", "en_GB", "en-", "-en", "en-GBR", "en-Latn-GB-x", "ру", "en\n", "e1"],
)
def test_invalid_language_tags(tag: str) -> None:
    assert not is_valid_language_tag(tag)


def test_derive_headline_keeps_non_breaking_spaces() -> None:
    assert derive_headline("В\u00a0Москве  прошёл\nсаммит. Потом") == "В\u00a0Москве прошёл саммит"


def test_derive_headline_is_linear_on_long_leads() -> None:
    # A quadratic scan would take minutes here.
    assert derive_headline("г. Москва " * 50_000).startswith("г. Москва г. Москва")
    assert html_to_text("<pre>" + " " * 200_000 + "x</pre>").endswith("x")
    assert html_to_text("<p>" + "<b> </b>" * 20_000 + "x</p>") == "x"
