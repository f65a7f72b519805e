"""The common output of the structured input parsers (ninjs, Markdown).

A parser only translates field names and shapes; it never decides whether a value is
acceptable. That stays with ArticleInSchema, so every format gets the same rules and the
same error messages, and `source_fields` lets those messages name the field as the client
spelled it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PUBSTATUSES", "Candidate"]

# ninjs pubstatus values; "usable" is the ninjs default.
PUBSTATUSES = ("usable", "withheld", "canceled")


@dataclass(frozen=True)
class Candidate:
    """A submission in the native field names, before validation by ArticleInSchema."""

    # Only keys ArticleInSchema knows (headline, body, body_format, language, byline, rubric,
    # tags, published_at, urgency, embargoed_until), except where a client sent an unknown
    # key on purpose: the schema then rejects it and the client learns of the typo.
    fields: dict[str, Any]
    pubstatus: str = "usable"
    # Kept with the version, e.g. {"source_uri": ..., "subjects": [...], "ninjs_version": "3.1"}.
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # native field -> its name in the source format, e.g. "headline" -> "headlines[0].value".
    source_fields: dict[str, str] = field(default_factory=dict)

    def source_name(self, native: str) -> str:
        """The client's name for a native field (the native name when they are the same)."""
        return self.source_fields.get(native, native)
