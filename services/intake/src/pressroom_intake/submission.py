"""Turn a request body, in any accepted format, into validated ArticleContent plus warnings.

The format is picked by media type from the installed input formats (formats/base.py), never
guessed from the bytes. Each format turns the bytes into one Candidate in the native field
names; every candidate is validated by the same ArticleInSchema, so limits and error messages
are the same whatever the newsroom system sends. The body is decoded, sanitised and turned into
text once per request: by the format when it builds the body itself, else here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import marshmallow as ma

from pressroom_intake.formats.base import Formats
from pressroom_intake.formats.body import prepare_body
from pressroom_intake.formats.candidate import WARNING_NO_BYLINE, WARNING_NO_RUBRIC, Candidate
from pressroom_intake.formats.errors import FormatError
from pressroom_intake.problems import ProblemError, flatten_errors
from pressroom_intake.schemas import ArticleInSchema, Limits
from pressroom_shared.article import ArticleContent, PubStatus
from pressroom_shared.config import Settings


@dataclass(frozen=True)
class Submission:
    content: ArticleContent
    warnings: list[str]
    pubstatus: PubStatus = PubStatus.USABLE


def parse_submission(
    raw: bytes,
    mimetype: str,
    params: dict[str, str],
    settings: Settings,
    formats: Formats,
    *,
    now: datetime,
    correction_note: str | None = None,
) -> Submission:
    if not raw.strip():
        raise invalid({"_body": ["The request body is empty."]}, "The request body is empty.", 400)
    input_format = formats.get(mimetype)
    if input_format is None:
        accepted = ", ".join(formats.media_types)
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            f"Content-Type {mimetype or '(none)'!r} is not accepted; send one of: {accepted}.",
            errors={"Content-Type": [f"Use one of: {accepted}."]},
        )
    try:
        candidate = input_format.parse(raw, {k.lower(): v for k, v in params.items()}, settings)
    except FormatError as exc:
        raise invalid({exc.field: [exc.reason]}, exc.reason, exc.status) from exc
    fields = dict(candidate.fields)
    if correction_note is not None:
        fields["correction_note"] = correction_note
    limits = Limits(settings.max_headline_chars, settings.max_body_chars, settings.max_tags)
    try:
        data: dict[str, Any] = _schema(limits).load(fields)
    except ma.ValidationError as exc:
        errors = flatten_errors(exc.messages)
        raise invalid({candidate.source_name(k): v for k, v in errors.items()}) from exc
    try:
        pubstatus = PubStatus(candidate.pubstatus)
    except ValueError:
        raise invalid({"pubstatus": [f"Unknown pubstatus {candidate.pubstatus!r}."]}) from None
    if pubstatus is PubStatus.CANCELED:
        raise invalid({"pubstatus": ["To kill an article, send DELETE /v1/articles/{id}."]})
    content = _content(data, candidate, candidate.source_format or input_format.name)
    warnings = list(dict.fromkeys([*candidate.warnings, *_editorial_warnings(content, now)]))
    return Submission(content, warnings, pubstatus)


@functools.cache
def _schema(limits: Limits) -> ArticleInSchema:
    # Building a marshmallow schema deep-copies its fields (~0.1 ms); loading keeps no state.
    return ArticleInSchema(limits=limits)


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


def _content(data: dict[str, Any], candidate: Candidate, source_format: str) -> ArticleContent:
    try:
        body = candidate.body or prepare_body(data["body"], data.get("body_format"))
    except FormatError as exc:
        raise invalid({candidate.source_name(exc.field): [exc.reason]}) from exc
    if not body.text.strip():
        raise invalid({"body": ["Nothing is left of the body after removing disallowed HTML."]})
    return ArticleContent(
        headline=data["headline"].strip(),
        body_html=body.html,
        body_text=body.text,
        language=data["language"],
        byline=(data["byline"] or "").strip() or None,
        rubric=(data["rubric"] or "").strip() or None,
        tags=tuple(dict.fromkeys(t.strip() for t in data["tags"] if t.strip())),
        published_at=data["published_at"],
        urgency=data["urgency"],
        embargoed_until=data["embargoed_until"],
        correction_note=data["correction_note"],
        source_format=source_format,
        extra=dict(candidate.extra),
    )


def _editorial_warnings(content: ArticleContent, now: datetime) -> list[str]:
    # The same for every format; a format that already said so (the plain-text header) keeps
    # its place in the list, and parse_submission drops the repeat.
    warnings = []
    if content.byline is None:
        warnings.append(WARNING_NO_BYLINE)
    if content.rubric is None:
        warnings.append(WARNING_NO_RUBRIC)
    if content.published_at and content.published_at > now and content.embargoed_until is None:
        warnings.append(
            "published_at is in the future and there is no embargo: it is published now"
        )
    if content.embargoed_until is not None and content.embargoed_until <= now:
        warnings.append("embargoed_until is in the past: the story is released at once")
    return warnings
