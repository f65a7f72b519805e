"""Markdown (`text/markdown`, RFC 7763) with a YAML front matter in, native article fields out.

    ---
    headline: "Обмен пленными: итоги стамбульских соглашений"
    byline: Виктория Любимова
    published_at: 2025-05-27T05:39:00+03:00
    ---
    Lead paragraph…

    ## Subheading

The front matter uses the native JSON field names (plus `title` for headline and `author`
for byline, the names static-site generators use). The rest is CommonMark, rendered by
markdown-it-py with raw HTML disabled: a `<script>` in the Markdown is shown as text, never
passed on, and the result still goes through sanitize_html like every other HTML body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, ClassVar

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from pressroom_intake.formats.body import Body
from pressroom_intake.formats.candidate import Candidate
from pressroom_intake.formats.decoding import check_control_characters, decode_body
from pressroom_intake.formats.errors import FormatError
from pressroom_intake.formats.html_text import html_to_text
from pressroom_intake.formats.language import guess_language
from pressroom_intake.formats.sanitize import sanitize_html
from pressroom_shared.config import Settings

__all__ = [
    "MARKDOWN_MEDIA_TYPE",
    "WARNING_IMAGES_DROPPED",
    "WARNING_LANGUAGE_GUESSED",
    "MarkdownFormat",
    "parse_markdown",
]

MARKDOWN_MEDIA_TYPE = "text/markdown"

WARNING_LANGUAGE_GUESSED = "language not given: guessed {language}"
WARNING_IMAGES_DROPPED = "images are not supported in the body: {count} dropped"

# Front matter is a handful of short fields; a limit keeps a hostile body from making
# PyYAML (pure Python, recursive) chew on megabytes.
MAX_FRONT_MATTER_CHARS = 64 * 1024

_ALIASES = {"title": "headline", "author": "byline"}
_TEXT_FIELDS = frozenset({"headline", "byline", "rubric", "language"})
_DATE_FIELDS = frozenset({"published_at", "embargoed_until"})
_KNOWN_FIELDS = _TEXT_FIELDS | _DATE_FIELDS | frozenset({"tags", "urgency"}) | frozenset(_ALIASES)
_FENCE = re.compile(r"---[ \t]*")
_CLOSING_FENCE = re.compile(r"(?:---|\.\.\.)[ \t]*")
_SPACES = re.compile(r"[ \t\n\r\f\v]+")


class _Loader(yaml.SafeLoader):
    """SafeLoader whose value errors carry the line they come from.

    PyYAML raises a bare ValueError for `published_at: 2025-13-45` (and for an int too long
    to convert); re-raised as a MarkedYAMLError the client learns where the problem is.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value!r}: {exc}", node.start_mark
            ) from exc


def _renderer() -> MarkdownIt:
    # The commonmark preset enables raw HTML; it is switched off so that the Markdown author
    # cannot smuggle markup past the renderer (sanitize_html would catch it, but escaped text
    # shows the author what happened instead of silently losing content).
    return MarkdownIt("commonmark", {"html": False})


_MARKDOWN = _renderer()


class MarkdownFormat:
    name: ClassVar[str] = "markdown"
    media_types: ClassVar[tuple[str, ...]] = (MARKDOWN_MEDIA_TYPE,)
    description: ClassVar[str] = (
        "`text/markdown` (CommonMark with a YAML front-matter block holding the JSON fields)"
    )
    openapi: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        MARKDOWN_MEDIA_TYPE: {
            "schema": {"type": "string", "description": "CommonMark with YAML front matter"}
        },
    }

    def parse(self, raw: bytes, params: Mapping[str, str], settings: Settings) -> Candidate:
        return parse_markdown(decode_body(raw, params.get("charset")))


def parse_markdown(text: str) -> Candidate:
    """Map a Markdown document (decoded by decode_body) with optional YAML front matter to
    native fields.

    Raises FormatError for unreadable front matter; everything else (missing or invalid
    fields) is left to ArticleInSchema.
    """
    check_control_characters(text, "_body")
    front_matter, markdown = _split_front_matter(text)

    fields: dict[str, Any] = {}
    source_fields: dict[str, str] = {}
    for key, value in _load_front_matter(front_matter).items():
        _add_field(fields, source_fields, key, value)

    warnings: list[str] = []
    env: dict[str, Any] = {}
    tokens = _MARKDOWN.parse(markdown, env)
    heading = _leading_heading(tokens, env)
    if heading is not None:
        if "headline" not in fields:
            fields["headline"] = heading
            source_fields["headline"] = "headline"
            tokens = tokens[3:]
        elif heading == fields["headline"]:
            # The same title in the front matter and as "# …": the page shows it once.
            tokens = tokens[3:]

    images = sum(
        child.type == "image" for token in tokens if token.children for child in token.children
    )
    if images:
        warnings.append(WARNING_IMAGES_DROPPED.format(count=images))

    body_html = sanitize_html(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, env))
    body = Body(body_html, html_to_text(body_html))
    fields["body"] = body_html
    fields["body_format"] = "html"
    source_fields["body"] = "body"

    if "language" not in fields:
        headline = fields.get("headline")
        sample = f"{headline if isinstance(headline, str) else ''}\n{body.text}"
        guessed = guess_language(sample)
        fields["language"] = guessed
        source_fields["language"] = "language"
        warnings.append(WARNING_LANGUAGE_GUESSED.format(language=guessed))

    return Candidate(fields=fields, warnings=warnings, source_fields=source_fields, body=body)


def _split_front_matter(text: str) -> tuple[str | None, str]:
    lines = text.split("\n")
    if not _FENCE.fullmatch(lines[0]):
        return None, text
    for index in range(1, len(lines)):
        if _CLOSING_FENCE.fullmatch(lines[index]):
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :])
    raise FormatError(
        "front_matter",
        "The front matter opened by '---' on line 1 is never closed: "
        "end it with a line of '---' before the Markdown text.",
    )


def _load_front_matter(front_matter: str | None) -> dict[str, Any]:
    if front_matter is None:
        return {}
    if len(front_matter) > MAX_FRONT_MATTER_CHARS:
        raise FormatError(
            "front_matter",
            f"The front matter is longer than {MAX_FRONT_MATTER_CHARS} characters; "
            "it holds only the article's fields.",
        )
    try:
        data = yaml.load(front_matter, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise FormatError("front_matter", _yaml_reason(exc)) from exc
    except yaml.YAMLError as exc:
        raise FormatError("front_matter", f"The front matter is not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise FormatError("front_matter", "The front matter is nested too deeply.") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single {type(data).__name__} value"
        raise FormatError(
            "front_matter",
            f"The front matter must be a YAML mapping of 'field: value' lines "
            f"(headline: …, language: …), not {kind}.",
        )
    # Non-string keys (`1: x`, `true: x`) become names the schema rejects as unknown.
    return {key if isinstance(key, str) else str(key): value for key, value in data.items()}


def _yaml_reason(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or exc.context or "unreadable YAML"
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return f"The front matter is not valid YAML: {problem}."
    reason = f"The front matter is not valid YAML at {_where(mark)}: {problem}"
    # The context says where the unfinished construct began ("while scanning a quoted
    # scalar"), which is usually the line to fix when the problem is at the end.
    if exc.problem and exc.context and exc.context_mark is not None:
        reason += f" ({exc.context} at {_where(exc.context_mark)})"
    return reason + "."


def _where(mark: yaml.Mark) -> str:
    # +2: marks count from 0 within the front matter, which starts after the '---' line.
    return f"line {mark.line + 2}, column {mark.column + 1}"


def _add_field(fields: dict[str, Any], source_fields: dict[str, str], key: str, value: Any) -> None:
    if key in ("body", "body_format"):
        raise FormatError(
            key,
            f"{key!r} cannot be set in the front matter: the body is the Markdown after the "
            "closing '---', and it is always converted to HTML.",
        )
    if key not in _KNOWN_FIELDS:
        # Kept so that ArticleInSchema rejects it: a typo ("headlne") must not pass unnoticed.
        fields[key] = value
        source_fields[key] = key
        return
    native = _ALIASES.get(key, key)
    if native in fields:
        raise FormatError(key, f"Both {source_fields[native]!r} and {key!r} are given: keep one.")
    if value is None:
        return  # "rubric:" with nothing after it means no rubric
    if native in _TEXT_FIELDS:
        value = _text_value(key, value)
    elif native in _DATE_FIELDS and isinstance(value, date) and not isinstance(value, datetime):
        # A bare date is no publication time: as text, the schema says a time is needed. A
        # datetime stays one (a naive one too: the schema then says an offset is required).
        value = value.isoformat()
    elif native == "tags" and isinstance(value, list):
        value = [_scalar_text(item) for item in value]
    fields[native] = value
    source_fields[native] = key


def _text_value(key: str, value: Any) -> Any:
    if isinstance(value, bool):
        # YAML 1.1 reads yes/no/on/off as booleans: "language: no" (Norwegian) is False.
        raise FormatError(
            key,
            f"{key} was read as the YAML boolean {str(value).lower()}: "
            f'put the text in quotes, e.g. {key}: "no".',
        )
    is_names = isinstance(value, list) and all(isinstance(item, str) for item in value)
    if key in ("author", "byline") and is_names:
        return ", ".join(item.strip() for item in value if item.strip())
    return _scalar_text(value)


def _scalar_text(value: Any) -> Any:
    """Numbers and dates YAML resolved back to text (`headline: 1984`); others unchanged."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _leading_heading(tokens: list[Token], env: dict[str, Any]) -> str | None:
    """The text of a level-1 heading that opens the document, if any."""
    if len(tokens) < 3 or tokens[0].type != "heading_open" or tokens[0].tag != "h1":
        return None
    rendered = _MARKDOWN.renderer.render(tokens[:3], _MARKDOWN.options, env)
    text = _SPACES.sub(" ", html_to_text(rendered)).strip(" ")
    return text or None
