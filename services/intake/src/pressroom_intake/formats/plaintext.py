"""The newsroom's plain-text export: an optional header line, then one paragraph per line.

    27 мая 2025 05:39, Виктория Любимова, Новости СВО и мобилизации, 👁 946
    Lead paragraph...
    A short heading line
    - a bullet
    Text with a footnote mark[1].
    [1] The footnote definition, at the very end.

The format has no headline; it is derived from the lead and the caller is warned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from pressroom_intake.formats.body import Body
from pressroom_intake.formats.candidate import WARNING_NO_BYLINE, WARNING_NO_RUBRIC, Candidate
from pressroom_intake.formats.decoding import check_control_characters, decode_body
from pressroom_intake.formats.errors import FormatError
from pressroom_intake.formats.headline import derive_headline
from pressroom_intake.formats.html_text import html_to_text
from pressroom_intake.formats.language import guess_language
from pressroom_intake.formats.sanitize import escape_text
from pressroom_shared.config import Settings

__all__ = [
    "HEADLINE_MAX_CHARS",
    "WARNING_HEADLINE_DERIVED",
    "WARNING_HEADLINE_SHORTENED",
    "WARNING_NO_BYLINE",
    "WARNING_NO_HEADER",
    "WARNING_NO_RUBRIC",
    "PlainTextFormat",
    "parse_plaintext",
]

HEADLINE_MAX_CHARS = 120

# The header's wall time is Moscow time. Never a fixed +03:00: Moscow was UTC+4 in
# 2011-2014 and had summer time before that, and archive exports go back that far.
MOSCOW = ZoneInfo("Europe/Moscow")
_YEARS = range(1900, 2101)  # outside this a header year is a typo, not an archive

_MONTHS = {
    "января": 1,
    "февраля": 2,
    "марта": 3,
    "апреля": 4,
    "мая": 5,
    "июня": 6,
    "июля": 7,
    "августа": 8,
    "сентября": 9,
    "октября": 10,
    "ноября": 11,
    "декабря": 12,
}
# [0-9], not \d: \d also matches Arabic-Indic and other digits that int() accepts.
_HEADER_DATE = re.compile(r"([0-9]{1,2}) ([а-яё]+) ([0-9]{4}) ([0-9]{1,2}):([0-9]{2})", re.I)
_VIEWS = re.compile(r"(?:^|,)\s*👁\ufe0f?([^👁]*)$")
_VIEWS_NUMBER = re.compile(r"[0-9]+|[0-9]{1,3}(?:[ \u00a0\u202f\u2009,.][0-9]{3})+")
_MAX_VIEWS = 2**31 - 1  # fits a 32-bit INTEGER column on every database we support

_BULLET_PREFIX = "- "
_FOOTNOTE_MARK = re.compile(r"\[([0-9]{1,3})\]")
_FOOTNOTE_DEFINITION = re.compile(r"\[([0-9]{1,3})\]\s+(\S.*)")
_HEADING_MAX_CHARS = 80
_HEADING_MAX_WORDS = 10
_FINAL_PUNCTUATION = ".,;:!?…"
_CLOSING_QUOTES = "»”\"')]"

WARNING_HEADLINE_DERIVED = "headline derived from the lead's first sentence"
WARNING_HEADLINE_SHORTENED = (
    f"derived headline was shortened to {HEADLINE_MAX_CHARS} characters at a word boundary"
)
WARNING_NO_HEADER = "no header line: date, byline and rubric are unknown"


@dataclass(frozen=True)
class _Header:
    published_at: datetime
    byline: str | None
    rubric: str | None
    views: int | None
    warnings: list[str]


def _parse_header_date(match: re.Match[str]) -> datetime:
    day, month_name, year, hour, minute = match.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None:
        raise FormatError(
            "header",
            f"Unknown month {month_name!r} in the header line: write the month in the "
            "genitive, e.g. '27 мая 2025 05:39'.",
        )
    if int(year) not in _YEARS:
        raise FormatError(
            "header",
            f"Year {year} in the header line is outside {_YEARS.start}-{_YEARS.stop - 1}; "
            "check the date.",
        )
    try:
        # fold=0: an ambiguous autumn-back wall time (before 2011) means the first one.
        local = datetime(int(year), month, int(day), int(hour), int(minute), tzinfo=MOSCOW)
    except ValueError as exc:
        raise FormatError(
            "header",
            f"The header date '{match.group()}' does not exist ({exc}); check day, hour "
            "and minute.",
        ) from exc
    return local.astimezone(UTC)


def _parse_views(raw: str, warnings: list[str]) -> int | None:
    value = raw.strip()
    if not value:
        warnings.append("the 👁 view count is empty; ignored")
        return None
    if not _VIEWS_NUMBER.fullmatch(value):
        shown = value if len(value) <= 40 else value[:39] + "…"
        warnings.append(f"view count '{shown}' is not a whole number; ignored")
        return None
    views = int(re.sub(r"[^0-9]", "", value))
    if views > _MAX_VIEWS:
        warnings.append(f"view count {views} is implausibly large; ignored")
        return None
    return views


def _parse_header(line: str) -> _Header | None:
    match = _HEADER_DATE.match(line)
    if match is None:
        return None
    published_at = _parse_header_date(match)
    rest = line[match.end() :].strip()
    if rest.startswith(","):
        rest = rest[1:]
    elif rest and not rest.startswith("👁"):
        raise FormatError(
            "header",
            f"The header line has {rest[:20]!r} right after the time; expected ', ' and "
            "then byline, rubric and '👁 views'.",
        )
    views_warnings: list[str] = []
    views: int | None = None
    views_match = _VIEWS.search(rest)
    if views_match is not None:
        views = _parse_views(views_match.group(1), views_warnings)
        rest = rest[: views_match.start()]
    # The byline never has a comma but rubrics do ("Новости СВО, мобилизация"): split once.
    byline_raw, _, rubric_raw = rest.partition(",")
    byline = byline_raw.strip(" ,") or None
    rubric = rubric_raw.strip(" ,") or None
    warnings = [WARNING_NO_BYLINE] if byline is None else []
    if rubric is None:
        warnings.append(WARNING_NO_RUBRIC)
    return _Header(published_at, byline, rubric, views, warnings + views_warnings)


def _looks_like_heading(line: str) -> bool:
    if len(line) > _HEADING_MAX_CHARS or len(line.split()) > _HEADING_MAX_WORDS:
        return False
    if not any(char.isalpha() for char in line):
        return False
    unquoted = line.rstrip(_CLOSING_QUOTES)
    return bool(unquoted) and unquoted[-1] not in _FINAL_PUNCTUATION


class _Footnotes:
    """Footnote marks and definitions, rendered in document order."""

    def __init__(self, definitions: list[tuple[str, str]]) -> None:
        self.definitions = definitions
        self.defined = {number for number, _ in definitions}
        self.referenced: list[str] = []  # first-mark order
        self.undefined: list[str] = []

    def render_inline(self, text: str) -> str:
        parts: list[str] = []
        position = 0
        for match in _FOOTNOTE_MARK.finditer(text):
            parts.append(escape_text(text[position : match.start()]))
            parts.append(self._mark(str(int(match.group(1)))))
            position = match.end()
        parts.append(escape_text(text[position:]))
        return "".join(parts)

    def _mark(self, number: str) -> str:
        if number not in self.defined:
            if number not in self.undefined:
                self.undefined.append(number)
            # Kept visibly as "[n]" with no link: there is nothing to link to.
            return f"<sup>[{number}]</sup>"
        if number in self.referenced:
            return f'<sup><a href="#fn-{number}">{number}</a></sup>'
        self.referenced.append(number)
        return f'<sup><a href="#fn-{number}" id="fnref-{number}">{number}</a></sup>'

    def render_section(self) -> str:
        if not self.definitions:
            return ""
        items: list[str] = []
        seen: set[str] = set()
        for number, text in self.definitions:
            body = escape_text(text)
            if number in seen:
                # ids must stay unique: a repeated definition is shown but not linkable.
                items.append(f'<li value="{number}">{body}</li>')
                continue
            seen.add(number)
            backlink = f' <a href="#fnref-{number}">↩</a>' if number in self.referenced else ""
            items.append(f'<li id="fn-{number}" value="{number}">{body}{backlink}</li>')
        return f'<section class="footnotes"><ol>{"".join(items)}</ol></section>'

    def warnings(self) -> list[str]:
        result = [f"footnote [{number}] has no definition" for number in self.undefined]
        counts: dict[str, int] = {}
        for number, _ in self.definitions:
            counts[number] = counts.get(number, 0) + 1
        for number, count in counts.items():
            if count > 1:
                result.append(
                    f"footnote [{number}] is defined {count} times; only the first is linked"
                )
            if number not in self.referenced:
                result.append(f"footnote [{number}] is defined but never referenced")
        return result


def _split_footnote_definitions(lines: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    # Definitions are the trailing run of "[n] text" lines; at least one body line stays
    # body, so a text that is nothing but "[1] ..." is an ordinary paragraph.
    start = len(lines)
    while start > 1:
        if not _FOOTNOTE_DEFINITION.fullmatch(lines[start - 1]):
            break
        start -= 1
    definitions: list[tuple[str, str]] = []
    for line in lines[start:]:
        match = _FOOTNOTE_DEFINITION.fullmatch(line)
        assert match is not None  # checked in the loop above
        definitions.append((str(int(match.group(1))), match.group(2).strip()))
    return lines[:start], definitions


def _render_body(lines: list[str], footnotes: _Footnotes) -> str:
    blocks: list[str] = []
    bullets: list[str] = []

    def close_list() -> None:
        if bullets:
            blocks.append("<ul>\n" + "\n".join(bullets) + "\n</ul>")
            bullets.clear()

    last = len(lines) - 1
    for index, line in enumerate(lines):
        if line.startswith(_BULLET_PREFIX):
            bullets.append(f"<li>{footnotes.render_inline(line[2:].strip())}</li>")
            continue
        close_list()
        if 0 < index < last and _looks_like_heading(line):
            blocks.append(f"<h2>{footnotes.render_inline(line)}</h2>")
        else:
            blocks.append(f"<p>{footnotes.render_inline(line)}</p>")
    close_list()
    section = footnotes.render_section()
    if section:
        blocks.append(section)
    return "\n".join(blocks)


PLAIN_TEXT_EXAMPLE = (
    "27 мая 2025 05:39, Виктория Любимова, Новости СВО и мобилизации, 👁 946\n"
    "Первый абзац новости…\nПодзаголовок\n- пункт списка\n"
)


class PlainTextFormat:
    name: ClassVar[str] = "text"
    media_types: ClassVar[tuple[str, ...]] = ("text/plain",)
    description: ClassVar[str] = (
        "`text/plain; charset=utf-8|windows-1251|koi8-r` in the newsroom export format: a "
        "header line `date, byline, rubric, 👁 views`, then paragraphs, short heading lines, "
        "`- ` bullets and footnote marks `[n]` with optional `[n] text` definitions at the end"
    )
    openapi: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "text/plain": {"schema": {"type": "string"}, "example": PLAIN_TEXT_EXAMPLE},
    }

    def parse(self, raw: bytes, params: Mapping[str, str], settings: Settings) -> Candidate:
        return parse_plaintext(decode_body(raw, params.get("charset")))


def parse_plaintext(text: str) -> Candidate:
    """Parse the plain-text export (decoded by decode_body; see the module docstring).

    The body is built here from escaped text, a fixed point of sanitize_html, so it comes with
    the candidate as a ready Body. Raises FormatError.
    """
    check_control_characters(text, "body")
    # Blank lines carry no meaning in this format: every line is its own block.
    lines = [line.strip() for line in text.split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        raise FormatError(
            "body", "The text is empty: send the header line and then the article body."
        )

    warnings: list[str] = []
    header = _parse_header(lines[0])
    if header is None:
        warnings.append(WARNING_NO_HEADER)
        body_lines = lines
    else:
        warnings.extend(header.warnings)
        body_lines = lines[1:]
        if not body_lines:
            raise FormatError(
                "body", "The text has a header line but no body: add the article text below it."
            )

    body_lines, definitions = _split_footnote_definitions(body_lines)
    footnotes = _Footnotes(definitions)
    body_html = _render_body(body_lines, footnotes)
    body_text = html_to_text(body_html)

    lead = body_lines[0].removeprefix(_BULLET_PREFIX)
    headline = derive_headline(lead, HEADLINE_MAX_CHARS)
    warnings.append(WARNING_HEADLINE_DERIVED)
    if headline != derive_headline(lead, max(len(lead), 1)):
        warnings.append(WARNING_HEADLINE_SHORTENED)
    warnings.extend(footnotes.warnings())

    fields: dict[str, Any] = {
        "headline": headline,
        "body": body_html,
        "body_format": "html",
        "language": guess_language(body_text),
    }
    extra: dict[str, Any] = {}
    if header is not None:
        fields.update(byline=header.byline, rubric=header.rubric)
        fields["published_at"] = header.published_at  # aware, UTC
        if header.views is not None:
            extra["views"] = header.views
    return Candidate(fields=fields, extra=extra, warnings=warnings, body=Body(body_html, body_text))
