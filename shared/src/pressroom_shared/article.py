"""The internal article: what every input format becomes and every renderer reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class PubStatus(StrEnum):
    """ninjs pubstatus."""

    USABLE = "usable"
    WITHHELD = "withheld"
    CANCELED = "canceled"


class Event(StrEnum):
    """What a version means to an outlet (Standard Webhooks event types are `article.<event>`)."""

    PUBLISHED = "published"
    UPDATED = "updated"
    CORRECTED = "corrected"
    KILLED = "killed"


@dataclass(frozen=True)
class ArticleContent:
    """Validated content of one version, before it is stored."""

    headline: str
    body_html: (
        str  # sanitised, limited HTML (p, h2, h3, ul, ol, li, blockquote, a, em, strong, sup...)
    )
    body_text: str  # plain text of the body, paragraphs separated by blank lines
    language: str
    byline: str | None = None
    rubric: str | None = None
    tags: tuple[str, ...] = ()
    published_at: datetime | None = None  # aware
    urgency: int | None = None  # 1 (most urgent) .. 9, as in ninjs
    embargoed_until: datetime | None = None
    correction_note: str | None = None
    kill_reason: str | None = None
    source_format: str = "json"
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Article:
    """One stored version of an article, as renderers and outlets see it."""

    id: str
    version: int
    slug: str
    pubstatus: PubStatus
    content: ArticleContent
    first_created: datetime
    version_created: datetime

    @property
    def headline(self) -> str:
        return self.content.headline

    @property
    def language(self) -> str:
        return self.content.language
