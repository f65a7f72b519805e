"""Tables. The database is the source of truth; Redis only carries step ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from pressroom_shared.article import ArticleContent
from pressroom_shared.timeutil import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite has no time zones and returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (Index("ix_articles_created_at_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    slug: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(Integer)
    pubstatus: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    versions: Mapped[list[ArticleVersion]] = relationship(
        back_populates="article", order_by="ArticleVersion.version"
    )


class ArticleVersion(Base):
    __tablename__ = "article_versions"
    __table_args__ = (
        UniqueConstraint("article_id", "version"),
        Index("ix_article_versions_received_at", "received_at"),  # the console's throughput
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("articles.id"), index=True)
    version: Mapped[int]
    event: Mapped[str] = mapped_column(String(16))
    pubstatus: Mapped[str] = mapped_column(String(16))
    headline: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(35))
    byline: Mapped[str | None] = mapped_column(String(300))
    rubric: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(default=list)
    published_at: Mapped[datetime | None]
    urgency: Mapped[int | None]
    embargoed_until: Mapped[datetime | None]
    correction_note: Mapped[str | None] = mapped_column(Text)
    kill_reason: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    source_format: Mapped[str] = mapped_column(String(20))
    warnings: Mapped[list[str]] = mapped_column(default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The submitting client's X-Request-ID (or ours): logs and the console's timeline show it.
    request_id: Mapped[str | None] = mapped_column(String(200))

    article: Mapped[Article] = relationship(back_populates="versions")

    @classmethod
    def from_content(
        cls,
        content: ArticleContent,
        *,
        article_id: str,
        version: int,
        event: str,
        pubstatus: str,
        warnings: list[str],
        submitted_by: int | None,
        received_at: datetime,
    ) -> ArticleVersion:
        """The row for a new version; `content()` is its inverse."""
        return cls(
            article_id=article_id,
            version=version,
            event=event,
            pubstatus=pubstatus,
            headline=content.headline,
            body_html=content.body_html,
            body_text=content.body_text,
            language=content.language,
            byline=content.byline,
            rubric=content.rubric,
            tags=list(content.tags),
            # A story without a publication time is published when received.
            published_at=content.published_at or received_at,
            urgency=content.urgency,
            embargoed_until=content.embargoed_until,
            correction_note=content.correction_note,
            kill_reason=content.kill_reason,
            submitted_by=submitted_by,
            source_format=content.source_format,
            warnings=warnings,
            extra=dict(content.extra),
            received_at=received_at,
        )

    def content(self) -> ArticleContent:
        return ArticleContent(
            headline=self.headline,
            body_html=self.body_html,
            body_text=self.body_text,
            language=self.language,
            byline=self.byline,
            rubric=self.rubric,
            tags=tuple(self.tags),
            published_at=self.published_at,
            urgency=self.urgency,
            embargoed_until=self.embargoed_until,
            correction_note=self.correction_note,
            kill_reason=self.kill_reason,
            source_format=self.source_format,
            extra=dict(self.extra),
        )


class Rendition(Base):
    """A renderer's output for one article version, read by the outlets."""

    __tablename__ = "renditions"
    __table_args__ = (UniqueConstraint("article_id", "version", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("articles.id"), index=True)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(40))
    media_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Step(Base):
    """One unit of pipeline work for one article version: render, index, or deliver to one outlet.

    A step is claimed with a conditional UPDATE and a lease, so a duplicate message, a redelivery
    after a crash or the sweeper's re-drive never runs it twice at once, and a finished step is
    never run again.
    """

    __tablename__ = "steps"
    __table_args__ = (
        UniqueConstraint("article_id", "version", "stage", "outlet"),
        Index("ix_steps_state_due", "state", "next_attempt_at"),
        # The sweeper's only access path: due rows, oldest first (finished steps have none).
        # Partial: finished steps (the vast majority) are not in it at all.
        Index(
            "ix_steps_due_at",
            "due_at",
            sqlite_where=text("due_at IS NOT NULL"),
            postgresql_where=text("due_at IS NOT NULL"),
        ),
        Index("ix_steps_outlet_state", "outlet", "state"),
        Index("ix_steps_finished_at", "finished_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("articles.id"), index=True)
    version: Mapped[int]
    stage: Mapped[str] = mapped_column(String(16))
    outlet: Mapped[str] = mapped_column(String(40), default="")
    event: Mapped[str] = mapped_column(String(16))
    lane: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(String(16))
    next_attempt_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    enqueued_at: Mapped[datetime | None]  # when its latest message was sent
    due_at: Mapped[datetime | None]  # when the sweeper must look at it next; None once finished
    lost_attempts: Mapped[int] = mapped_column(default=0)  # attempts whose worker was lost
    # Attempts that do not count against the retry schedule: those before an operator's retry,
    # and those lost beside a step that killed their worker (see steps.recover_lost).
    retry_from: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]
    receipt: Mapped[dict[str, Any]] = mapped_column(default=dict)

    attempt_log: Mapped[list[StepAttempt]] = relationship(
        back_populates="step", order_by="StepAttempt.number"
    )


class StepAttempt(Base):
    """Every attempt of a step, for operators: when, how it ended, and why."""

    __tablename__ = "step_attempts"
    __table_args__ = (
        UniqueConstraint("step_id", "number"),
        Index("ix_step_attempts_worker_started_at", "worker", "started_at"),
        # The console and /metrics read recent attempts (rates, latencies, last errors).
        Index("ix_step_attempts_started_at", "started_at"),
        Index("ix_step_attempts_finished_at", "finished_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[str] = mapped_column(ForeignKey("steps.id"), index=True)
    number: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(120))  # host:pid of the claiming process

    step: Mapped[Step] = relationship(back_populates="attempt_log")


class OutletState(Base):
    """An outlet's mode (paused by an operator, disabled or paused by the remote: 410, 401/403;
    absent means active), its circuit breaker and its send pacing, shared by every worker."""

    __tablename__ = "outlet_states"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))  # active | paused | disabled
    reason: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str | None] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    breaker: Mapped[str] = mapped_column(String(16), default="closed", server_default="closed")
    failures: Mapped[int] = mapped_column(default=0, server_default="0")  # consecutive
    # open: when the probe may go; half_open: when the probe's lease ends
    breaker_until: Mapped[datetime | None]
    breaker_changed_at: Mapped[datetime | None]
    tokens: Mapped[float | None] = mapped_column(Float)  # pacing bucket, refilled since tokens_at
    tokens_at: Mapped[datetime | None]


class OutletSend(Base):
    """One message an outlet sent (or is about to send) to one recipient of one delivery.

    Outlets that cannot dedupe a resend remotely (Telegram, e-mail) record here what they are
    about to send and what became of it, so a retry or a crash mid-send never sends anyone the
    same thing twice, and a later kill or correction knows who received the original.
    """

    __tablename__ = "outlet_sends"
    __table_args__ = (
        UniqueConstraint("outlet", "delivery_id", "kind", "recipient"),
        Index("ix_outlet_sends_article", "outlet", "article_id", "kind", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    outlet: Mapped[str] = mapped_column(String(40))
    delivery_id: Mapped[str] = mapped_column(String(64))
    # No foreign key: contract tests deliver articles that were never stored.
    article_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))  # issue | notice | post
    recipient: Mapped[str] = mapped_column(String(320))
    state: Mapped[str] = mapped_column(String(16))  # pending | sending | sent | failed | unknown
    attempt: Mapped[int] = mapped_column(default=0)  # the delivery attempt that last touched it
    detail: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OperatorAction(Base):
    """Who did what to which delivery or outlet, from the console, the API or the CLI."""

    __tablename__ = "operator_actions"
    __table_args__ = (
        Index("ix_operator_actions_at", "at"),
        Index("ix_operator_actions_target", "target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200))  # a delivery id or "outlet:NAME"
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AppSecret(Base):
    """A random key the service made for itself (the console's cookie signing key)."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyRecord(Base):
    """An Idempotency-Key seen from one API key, with the response it got."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("api_key_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # in_flight | done
    response_status: Mapped[int | None]
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    response_location: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class SearchDocument(Base):
    """The searchable form of an article's current version.

    SQLite adds an FTS5 table `search_fts` of stemmed text; PostgreSQL adds a `tsv` tsvector
    column with a GIN index (both in the migration, as neither is portable DDL).
    """

    __tablename__ = "search_documents"

    # An INTEGER PRIMARY KEY is SQLite's rowid itself, so the FTS rows that point at it stay
    # right through a VACUUM (an implicit rowid may be renumbered).
    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("articles.id"), unique=True)
    version: Mapped[int]
    language: Mapped[str] = mapped_column(String(35))
    headline: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    rubric: Mapped[str | None] = mapped_column(String(200))
    byline: Mapped[str | None] = mapped_column(String(300))
    published_at: Mapped[datetime | None]
    indexed_at: Mapped[datetime] = mapped_column(default=utcnow)
