"""marshmallow schemas: what clients send (in) and what the API answers (out)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import validate

from pressroom_intake.formats.decoding import check_control_characters
from pressroom_intake.formats.errors import FormatError
from pressroom_intake.formats.language import is_valid_language_tag
from pressroom_shared.operations import DELIVERY_STATES


class UtcDateTime(ma.fields.AwareDateTime):
    """An ISO 8601 date-time with an offset (or an aware datetime a format read), in UTC.

    Converted here, where the field can still be named: `9999-12-31T23:59:59-12:00` is a valid
    ISO 8601 time that no datetime can hold in UTC, and comparing it with another time fails.
    """

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise ma.ValidationError(
                f"{parsed.isoformat()} cannot be converted to UTC: it falls outside the years "
                "1-9999 there."
            ) from exc


class WholeNumber(ma.fields.Integer):
    """An integer; a JSON number with a fraction is refused, never truncated (1.5 is not 1).

    2.0 is 2: JSON does not tell integers from other numbers. As ninjs 3.x urgency does.
    """

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> int:
        if isinstance(value, float) and not value.is_integer():
            raise ma.ValidationError(f"Must be a whole number, not {value}.")
        result: int = super()._deserialize(value, attr, data, **kwargs)
        return result


@dataclass(frozen=True)
class Limits:
    max_headline_chars: int
    max_body_chars: int
    max_tags: int


class ArticleInSchema(ma.Schema):
    """A native JSON article (`Content-Type: application/json`). Unknown fields are rejected."""

    headline = ma.fields.String(
        required=True, metadata={"description": "The headline, plain text."}
    )
    body = ma.fields.String(
        required=True,
        metadata={"description": "Plain text (blank lines between paragraphs) or limited HTML."},
    )
    body_format = ma.fields.String(
        validate=validate.OneOf(["text", "html"]),
        metadata={"description": "`text` or `html`; guessed from the body when absent."},
    )
    language = ma.fields.String(
        required=True, metadata={"description": "BCP 47 tag, e.g. `ru`, `en-GB`."}
    )
    byline = ma.fields.String(validate=validate.Length(max=300), load_default=None)
    rubric = ma.fields.String(validate=validate.Length(max=200), load_default=None)
    tags = ma.fields.List(
        ma.fields.String(validate=validate.Length(min=1, max=100)), load_default=list
    )
    published_at = UtcDateTime(
        load_default=None, metadata={"description": "ISO 8601 with a UTC offset."}
    )
    urgency = WholeNumber(
        validate=validate.Range(min=1, max=9),
        load_default=None,
        metadata={"description": "1 (most urgent) to 9, as in ninjs; 1-2 ride the priority lane."},
    )
    embargoed_until = UtcDateTime(
        load_default=None,
        metadata={"description": "Hold the story until then (ISO 8601 with offset)."},
    )
    correction_note = ma.fields.String(
        validate=validate.Length(min=1, max=2000),
        load_default=None,
        metadata={"description": "Only on PUT: makes the version a correction, with this note."},
    )

    def __init__(self, *, limits: Limits | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limits = limits

    @ma.validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        for name in ("headline", "body", "byline", "rubric", "correction_note"):
            value = data.get(name)
            if value is None:
                continue
            try:
                check_control_characters(value, name)
            except FormatError as exc:
                errors.setdefault(name, []).append(exc.reason)
            if name in ("headline", "body") and not value.strip():
                errors.setdefault(name, []).append("Must not be empty.")
        for position, tag in enumerate(data.get("tags") or []):
            try:
                check_control_characters(tag, "tags")
            except FormatError as exc:
                errors.setdefault(f"tags.{position}", []).append(exc.reason)
        if "language" in data and not is_valid_language_tag(data["language"]):
            errors.setdefault("language", []).append(
                f"{data['language']!r} is not a BCP 47 language tag (e.g. ru, en, en-GB)."
            )
        if self.limits:
            limits = self.limits
            if len(data.get("headline", "")) > limits.max_headline_chars:
                errors.setdefault("headline", []).append(
                    f"Longer than {limits.max_headline_chars} characters."
                )
            if len(data.get("body", "")) > limits.max_body_chars:
                errors.setdefault("body", []).append(
                    f"Longer than {limits.max_body_chars} characters."
                )
            if len(data.get("tags", [])) > limits.max_tags:
                errors.setdefault("tags", []).append(f"More than {limits.max_tags} tags.")
        if errors:
            raise ma.ValidationError(errors)


class LinksSchema(ma.Schema):
    self_ = ma.fields.String(data_key="self")
    versions = ma.fields.String()


class StepSchema(ma.Schema):
    state = ma.fields.String(
        metadata={"description": "pending, in_progress, done, retrying, failed, unknown, canceled"}
    )
    attempts = ma.fields.Integer()
    last_error = ma.fields.String(allow_none=True)
    updated_at = ma.fields.AwareDateTime()
    finished_at = ma.fields.AwareDateTime(allow_none=True)


class DeliverySchema(ma.Schema):
    id = ma.fields.String()
    article_id = ma.fields.String()
    outlet = ma.fields.String()
    version = ma.fields.Integer()
    event = ma.fields.String()
    state = ma.fields.String(
        metadata={
            "description": "pending, in_progress, delivered, retrying, failed, unknown, canceled"
        }
    )
    attempts = ma.fields.Integer()
    last_error = ma.fields.String(allow_none=True)
    error_kind = ma.fields.String(allow_none=True)
    next_attempt_at = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()
    delivered_at = ma.fields.AwareDateTime(allow_none=True)
    receipt = ma.fields.Dict()


class ProgressSchema(ma.Schema):
    received_at = ma.fields.AwareDateTime()
    rendered_at = ma.fields.AwareDateTime(allow_none=True)
    indexed_at = ma.fields.AwareDateTime(allow_none=True)
    render = ma.fields.Nested(StepSchema)
    index = ma.fields.Nested(StepSchema)


class ArticleAcceptedSchema(ma.Schema):
    id = ma.fields.String()
    version = ma.fields.Integer()
    status = ma.fields.String()
    event = ma.fields.String()
    embargoed_until = ma.fields.AwareDateTime(allow_none=True)
    headline = ma.fields.String()
    slug = ma.fields.String()
    warnings = ma.fields.List(ma.fields.String())
    links = ma.fields.Nested(LinksSchema)


class ArticleOutSchema(ma.Schema):
    id = ma.fields.String()
    version = ma.fields.Integer()
    status = ma.fields.String(
        metadata={"description": "received, rendered, indexed, delivered, failed, killed"}
    )
    pubstatus = ma.fields.String()
    slug = ma.fields.String()
    headline = ma.fields.String()
    body_html = ma.fields.String()
    body_text = ma.fields.String()
    language = ma.fields.String()
    byline = ma.fields.String(allow_none=True)
    rubric = ma.fields.String(allow_none=True)
    tags = ma.fields.List(ma.fields.String())
    published_at = ma.fields.AwareDateTime(allow_none=True)
    urgency = ma.fields.Integer(allow_none=True)
    embargoed_until = ma.fields.AwareDateTime(allow_none=True)
    source_format = ma.fields.String()
    warnings = ma.fields.List(ma.fields.String())
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()
    progress = ma.fields.Nested(ProgressSchema)
    deliveries = ma.fields.List(ma.fields.Nested(DeliverySchema))


class SearchArgsSchema(ma.Schema):
    q = ma.fields.String(required=True, validate=validate.Length(min=1, max=500))
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    offset = ma.fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000))


class SearchHitSchema(ma.Schema):
    id = ma.fields.String()
    version = ma.fields.Integer()
    headline = ma.fields.String()
    rubric = ma.fields.String(allow_none=True)
    byline = ma.fields.String(allow_none=True)
    language = ma.fields.String()
    published_at = ma.fields.AwareDateTime(allow_none=True)
    score = ma.fields.Float()
    snippet = ma.fields.String(
        metadata={"description": "Safe HTML: matches in <mark>, all else escaped."}
    )
    links = ma.fields.Nested(LinksSchema)


class SearchResultSchema(ma.Schema):
    query = ma.fields.String()
    results = ma.fields.List(ma.fields.Nested(SearchHitSchema))


class KillSchema(ma.Schema):
    reason = ma.fields.String(
        validate=validate.Length(max=2000),
        load_default=None,
        metadata={"description": "Why the article is withdrawn (outlets may show it)."},
    )


class EmbargoSchema(ma.Schema):
    embargoed_until = UtcDateTime(
        required=True,
        allow_none=True,
        metadata={"description": "New release time, or null to lift."},
    )


class VersionSchema(ma.Schema):
    version = ma.fields.Integer()
    event = ma.fields.String(metadata={"description": "published, updated, corrected, killed"})
    pubstatus = ma.fields.String()
    headline = ma.fields.String()
    correction_note = ma.fields.String(allow_none=True)
    kill_reason = ma.fields.String(allow_none=True)
    embargoed_until = ma.fields.AwareDateTime(allow_none=True)
    urgency = ma.fields.Integer(allow_none=True)
    source_format = ma.fields.String()
    received_at = ma.fields.AwareDateTime()
    deliveries = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        metadata={"description": "outlet → state"},
    )


class VersionListSchema(ma.Schema):
    id = ma.fields.String()
    versions = ma.fields.List(ma.fields.Nested(VersionSchema))


class ArticleListArgsSchema(ma.Schema):
    rubric = ma.fields.String(validate=validate.Length(max=200))
    language = ma.fields.String(validate=validate.Length(max=35))
    status = ma.fields.String(
        validate=validate.OneOf(["live", "killed", "withheld", "embargoed"]),
        metadata={"description": "live (usable), killed, withheld, or embargoed (held now)"},
    )
    since = UtcDateTime(metadata={"description": "Received at or after (ISO 8601)."})
    until = UtcDateTime(metadata={"description": "Received before (ISO 8601)."})
    limit = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = ma.fields.String(
        validate=validate.Length(max=200),
        metadata={"description": "`next_cursor` of the previous page."},
    )


class ArticleSummarySchema(ma.Schema):
    id = ma.fields.String()
    version = ma.fields.Integer()
    pubstatus = ma.fields.String()
    headline = ma.fields.String()
    slug = ma.fields.String()
    language = ma.fields.String()
    rubric = ma.fields.String(allow_none=True)
    byline = ma.fields.String(allow_none=True)
    urgency = ma.fields.Integer(allow_none=True)
    published_at = ma.fields.AwareDateTime(allow_none=True)
    embargoed_until = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()


class ArticleListSchema(ma.Schema):
    articles = ma.fields.List(ma.fields.Nested(ArticleSummarySchema))
    next_cursor = ma.fields.String(allow_none=True)


class DeliveryListArgsSchema(ma.Schema):
    state = ma.fields.String(validate=ma.validate.OneOf(DELIVERY_STATES))
    outlet = ma.fields.String()
    article = ma.fields.UUID()
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=1000))


class DeliveryListSchema(ma.Schema):
    deliveries = ma.fields.List(ma.fields.Nested(DeliverySchema))


class DeliveryActionSchema(ma.Schema):
    changed = ma.fields.List(ma.fields.String())
    skipped = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    deliveries = ma.fields.List(ma.fields.Nested(DeliverySchema))
