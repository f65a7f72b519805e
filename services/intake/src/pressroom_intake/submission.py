"""Turn a request body, in any accepted format, into validated ArticleContent plus warnings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import marshmallow as ma

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
from pressroom_shared.article import ArticleContent

PLAIN_TEXT = "text/plain"
JSON = "application/json"
ACCEPTED_TYPES = (JSON, PLAIN_TEXT)


@dataclass(frozen=True)
class Submission:
    content: ArticleContent
    warnings: list[str]


def parse_submission(
    raw: bytes, mimetype: str, charset: str | None, limits: Limits, *, now: datetime
) -> Submission:
    if not raw.strip():
        raise invalid({"_body": ["The request body is empty."]}, "The request body is empty.", 400)
    if mimetype == JSON:
        submission = _from_json(raw, charset, limits)
    elif mimetype == PLAIN_TEXT:
        submission = _from_plain_text(raw, charset, limits)
    else:
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            f"Content-Type {mimetype or '(none)'!r} is not accepted; "
            f"send one of: {', '.join(ACCEPTED_TYPES)}.",
            errors={"Content-Type": [f"Use one of: {', '.join(ACCEPTED_TYPES)}."]},
        )
    return Submission(
        submission.content, submission.warnings + _editorial_warnings(submission.content, now)
    )


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


def _from_json(raw: bytes, charset: str | None, limits: Limits) -> Submission:
    text = _decode(raw, charset)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        reason = f"Malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}."
        raise invalid({"_body": [reason]}, reason, 400) from exc
    if not isinstance(document, dict):
        raise invalid({"_body": ["Expected a JSON object."]}, "Expected a JSON object.", 400)
    try:
        data: dict[str, Any] = ArticleInSchema(limits=limits).load(document)
    except ma.ValidationError as exc:
        raise invalid(flatten_errors(exc.messages)) from exc
    body_format = data.get("body_format") or ("html" if looks_like_html(data["body"]) else "text")
    body_html = sanitize_html(data["body"]) if body_format == "html" else text_to_html(data["body"])
    body_text = html_to_text(body_html)
    if not body_text.strip():
        raise invalid({"body": ["Nothing is left of the body after removing disallowed HTML."]})
    content = ArticleContent(
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
        source_format="json",
    )
    return Submission(content, [])


def _from_plain_text(raw: bytes, charset: str | None, limits: Limits) -> Submission:
    text = _decode(raw, charset)
    try:
        parsed = parse_plaintext(text)
    except FormatError as exc:
        raise invalid({exc.field: [exc.reason]}) from exc
    errors: dict[str, list[str]] = {}
    if len(parsed.body_text) > limits.max_body_chars:
        errors["body"] = [f"Longer than {limits.max_body_chars} characters."]
    if errors:
        raise invalid(errors)
    content = ArticleContent(
        headline=parsed.headline[: limits.max_headline_chars],
        body_html=parsed.body_html,
        body_text=parsed.body_text,
        language=parsed.language,
        byline=parsed.byline,
        rubric=parsed.rubric,
        published_at=parsed.published_at,
        source_format="text",
        extra={"views": parsed.views} if parsed.views is not None else {},
    )
    return Submission(content, list(parsed.warnings))


def _editorial_warnings(content: ArticleContent, now: datetime) -> list[str]:
    warnings = []
    if content.byline is None and content.source_format != "text":  # the text parser warns itself
        warnings.append("no byline")
    if content.published_at and content.published_at > now and content.embargoed_until is None:
        warnings.append(
            "published_at is in the future and there is no embargo: it is published now"
        )
    return warnings
