"""Turn a request body, in any accepted format, into validated ArticleContent plus warnings.

Every format first becomes a Candidate in the native JSON field names, and every candidate is
validated by the same ArticleInSchema, so limits and error messages are the same whatever the
newsroom system sends. The format is picked by media type, never guessed from the bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma

from pressroom_intake.formats.candidate import Candidate
from pressroom_intake.formats.markdown import MARKDOWN_MEDIA_TYPE, parse_markdown
from pressroom_intake.formats.ninjs import NINJS_MEDIA_TYPE, parse_ninjs
from pressroom_intake.formats.plaintext import parse_plaintext
from pressroom_intake.formats.text import (
    FormatError,
    decode_body,
    html_to_text,
    sanitize_html,
    text_to_html,
)
from pressroom_intake.problems import ProblemError, flatten_errors
from pressroom_intake.schemas import ArticleInSchema, Limits, looks_like_html
from pressroom_shared.article import ArticleContent, PubStatus

JSON = "application/json"
NINJS = NINJS_MEDIA_TYPE
MARKDOWN = MARKDOWN_MEDIA_TYPE
PLAIN_TEXT = "text/plain"
MEDIA_TYPES = (JSON, NINJS, MARKDOWN, PLAIN_TEXT)


@dataclass(frozen=True)
class Submission:
    content: ArticleContent
    warnings: list[str]
    pubstatus: PubStatus = PubStatus.USABLE


def parse_submission(
    raw: bytes,
    mimetype: str,
    params: dict[str, str],
    limits: Limits,
    *,
    now: datetime,
    correction_note: str | None = None,
) -> Submission:
    if not raw.strip():
        raise invalid({"_body": ["The request body is empty."]}, "The request body is empty.", 400)
    if mimetype not in MEDIA_TYPES:
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            f"Content-Type {mimetype or '(none)'!r} is not accepted; "
            f"send one of: {', '.join(MEDIA_TYPES)}.",
            errors={"Content-Type": [f"Use one of: {', '.join(MEDIA_TYPES)}."]},
        )
    text = _decode(raw, params.get("charset"))
    candidate = _candidate(text, mimetype, params)
    fields = dict(candidate.fields)
    if correction_note is not None:
        fields["correction_note"] = correction_note
    try:
        data: dict[str, Any] = ArticleInSchema(limits=limits).load(fields)
    except ma.ValidationError as exc:
        errors = flatten_errors(exc.messages)
        raise invalid({candidate.source_name(k): v for k, v in errors.items()}) from exc
    try:
        pubstatus = PubStatus(candidate.pubstatus)
    except ValueError:
        raise invalid({"pubstatus": [f"Unknown pubstatus {candidate.pubstatus!r}."]}) from None
    if pubstatus is PubStatus.CANCELED:
        raise invalid({"pubstatus": ["To kill an article, send DELETE /v1/articles/{id}."]})
    content = _content(data, candidate, mimetype)
    warnings = [*candidate.warnings, *_editorial_warnings(content, now)]
    return Submission(content, warnings, pubstatus)


def invalid(
    errors: dict[str, list[str]], detail: str | None = None, status: int = 422
) -> ProblemError:
    return ProblemError(
        status,
        "invalid-article",
        "Invalid article",
        detail or "The article has invalid fields: " + ", ".join(sorted(errors)),
        errors=errors,
    )


def _decode(raw: bytes, charset: str | None) -> str:
    try:
        return decode_body(raw, charset)
    except FormatError as exc:
        status = 415 if exc.field == "charset" else 400
        raise invalid({exc.field: [exc.reason]}, exc.reason, status) from exc


def _candidate(text: str, mimetype: str, params: dict[str, str]) -> Candidate:
    try:
        if mimetype == PLAIN_TEXT:
            return _plain_text_candidate(text)
        if mimetype == MARKDOWN:
            return parse_markdown(text)
        document = _json_document(text)
        if mimetype == NINJS:
            if "version" not in params:
                raise FormatError(
                    "version",
                    "Name the ninjs version in the media type: "
                    "application/vnd.iptc.ninjs+json; version=3.1 (or 2.2).",
                )
            return parse_ninjs(document, params["version"])
        if not isinstance(document, dict):
            raise FormatError("_body", "Expected a JSON object.")
        return Candidate(fields=document)
    except FormatError as exc:
        status = 400 if exc.field == "_body" else 422
        raise invalid({exc.field: [exc.reason]}, exc.reason, status) from exc


def _json_document(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(
            "_body", f"Malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}."
        ) from exc


def _plain_text_candidate(text: str) -> Candidate:
    parsed = parse_plaintext(text)
    fields: dict[str, Any] = {
        "headline": parsed.headline,
        "body": parsed.body_html,
        "body_format": "html",
        "language": parsed.language,
    }
    if parsed.byline:
        fields["byline"] = parsed.byline
    if parsed.rubric:
        fields["rubric"] = parsed.rubric
    if parsed.published_at:
        fields["published_at"] = parsed.published_at.astimezone(UTC).isoformat()
    extra = {"views": parsed.views} if parsed.views is not None else {}
    return Candidate(fields=fields, extra=extra, warnings=list(parsed.warnings))


def _content(data: dict[str, Any], candidate: Candidate, mimetype: str) -> ArticleContent:
    body_format = data.get("body_format") or ("html" if looks_like_html(data["body"]) else "text")
    body_html = sanitize_html(data["body"]) if body_format == "html" else text_to_html(data["body"])
    body_text = html_to_text(body_html)
    if not body_text.strip():
        raise invalid({"body": ["Nothing is left of the body after removing disallowed HTML."]})
    return ArticleContent(
        headline=data["headline"].strip(),
        body_html=body_html,
        body_text=body_text,
        language=data["language"],
        byline=(data["byline"] or "").strip() or None,
        rubric=(data["rubric"] or "").strip() or None,
        tags=tuple(dict.fromkeys(t.strip() for t in data["tags"] if t.strip())),
        published_at=data["published_at"],
        urgency=data["urgency"],
        embargoed_until=data["embargoed_until"],
        correction_note=data["correction_note"],
        source_format=SOURCE_FORMATS[mimetype],
        extra=dict(candidate.extra),
    )


SOURCE_FORMATS = {JSON: "json", NINJS: "ninjs", MARKDOWN: "markdown", PLAIN_TEXT: "text"}


def _editorial_warnings(content: ArticleContent, now: datetime) -> list[str]:
    warnings = []
    if content.byline is None and content.source_format != "text":  # the text parser warns itself
        warnings.append("no byline")
    if content.published_at and content.published_at > now and content.embargoed_until is None:
        warnings.append(
            "published_at is in the future and there is no embargo: it is published now"
        )
    if content.embargoed_until is not None and content.embargoed_until <= now:
        warnings.append("embargoed_until is in the past: the story is released at once")
    return warnings
