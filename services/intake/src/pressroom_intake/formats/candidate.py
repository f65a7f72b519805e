"""The one shape every input format produces, before the shared validation.

A format only translates field names and shapes; it never decides whether a value is
acceptable. That stays with ArticleInSchema, so every format gets the same rules and the
same error messages, and `source_fields` lets those messages name the field as the client
spelled it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pressroom_intake.formats.body import Body

__all__ = ["PUBSTATUSES", "WARNING_NO_BYLINE", "WARNING_NO_RUBRIC", "Candidate"]

# ninjs pubstatus values; "usable" is the ninjs default.
PUBSTATUSES = ("usable", "withheld", "canceled")
# The intake warns of these for every format; a format may say so earlier in its own order.
WARNING_NO_BYLINE = "no byline"
WARNING_NO_RUBRIC = "no rubric"


@dataclass(frozen=True)
class Candidate:
    """A submission in the native field names, before validation by ArticleInSchema."""

    # Only keys ArticleInSchema knows (headline, body, body_format, language, byline, rubric,
    # tags, published_at, urgency, embargoed_until), except where a client sent an unknown
    # key on purpose: the schema then rejects it and the client learns of the typo. Dates are
    # datetimes where the format read them itself, strings where the client's text is passed on.
    fields: dict[str, Any]
    pubstatus: str = "usable"
    # Kept with the version, e.g. {"source_uri": ..., "subjects": [...], "ninjs_version": "3.1"}.
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # native field -> its name in the source format, e.g. "headline" -> "headlines[0].value".
    source_fields: dict[str, str] = field(default_factory=dict)
    # The body already made safe by the format (fields["body"] is then body.html or its
    # source): the intake uses it as it is instead of sanitising and extracting it again.
    body: Body | None = None
    # Kept with the version as its source_format when it is not the format's own name (ninjs
    # sent as application/json).
    source_format: str | None = None

    def source_name(self, native: str) -> str:
        """The client's name for a native field (the native name when they are the same)."""
        return self.source_fields.get(native, native)
