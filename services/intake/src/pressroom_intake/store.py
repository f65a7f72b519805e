"""Storing submissions and reading articles back. Runs inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import structlog
from slugify import slugify
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from pressroom_shared.article import ArticleContent, Event, PubStatus
from pressroom_shared.contracts import Lane, Stage
from pressroom_shared.models import Article, ArticleVersion, Step
from pressroom_shared.operations import delivery_view, state_of
from pressroom_shared.outlets_config import OutletConfig
from pressroom_shared.steps import (
    StepPolicy,
    StepRef,
    StepState,
    cancel_waiting,
    outlets_reached,
    plan_version,
    reschedule_held,
)

SLUG_WORDS_CHARS = 80


def make_slug(headline: str, article_id: str) -> str:
    # The id suffix keeps two stories with one headline apart; the slug never changes after
    # the first version, so a corrected headline keeps its URL.
    # The backend named: "auto" tries to import Unidecode (not installed) on every call, a
    # search of sys.path each time, and would change every slug if someone installed it.
    words = (
        slugify(headline, max_length=SLUG_WORDS_CHARS, word_boundary=True, backend="text-unidecode")
        or "article"
    )
    return f"{words}-{article_id[:8]}"


class ConflictError(Exception):
    """The article is not in a state that allows this change."""


def create_article(
    session: Session,
    content: ArticleContent,
    warnings: list[str],
    outlets: Sequence[OutletConfig],
    *,
    now: datetime,
    submitted_by: int | None,
    policy: StepPolicy,
    pubstatus: PubStatus = PubStatus.USABLE,
) -> tuple[Article, ArticleVersion, list[StepRef]]:
    """A new article, to every outlet whose routing rules it matches."""
    article_id = str(uuid.uuid4())
    article = Article(
        id=article_id,
        slug=make_slug(content.headline, article_id),
        current_version=0,
        pubstatus=pubstatus,
        created_at=now,
        updated_at=now,
    )
    version, refs = _add_version(
        session,
        article,
        content,
        warnings,
        Event.PUBLISHED,
        pubstatus,
        {o.name: Event.PUBLISHED for o in outlets if o.wants(content)},
        now=now,
        submitted_by=submitted_by,
        policy=policy,
        unheld=_flagging(outlets),
        new_article=True,
    )
    return article, version, refs


def update_article(
    session: Session,
    article: Article,
    content: ArticleContent,
    warnings: list[str],
    outlets: Sequence[OutletConfig],
    *,
    now: datetime,
    submitted_by: int | None,
    policy: StepPolicy,
    pubstatus: PubStatus = PubStatus.USABLE,
) -> tuple[ArticleVersion, list[StepRef]]:
    """A new version: to every outlet that had (or may have had) an earlier one, as an update,
    whatever its routing says now (it must not keep a stale or wrong version), and as a first
    publication to every other outlet whose routing rules the new version matches."""
    _lock(session, article)
    if article.pubstatus == PubStatus.CANCELED:
        raise ConflictError("the article was killed; submit a new article instead")
    event = Event.CORRECTED if content.correction_note else Event.UPDATED
    # Cancel before reading who was reached: see cancel_waiting.
    cancel_waiting(
        session, article.id, now=now, reason=f"replaced by version {article.current_version + 1}"
    )
    reached = outlets_reached(session, article.id)
    deliveries = {
        o.name: event if o.name in reached else Event.PUBLISHED
        for o in outlets
        if o.name in reached or o.wants(content)
    }
    return _add_version(
        session,
        article,
        content,
        warnings,
        event,
        pubstatus,
        deliveries,
        now=now,
        submitted_by=submitted_by,
        policy=policy,
        unheld=_flagging(outlets),
    )


def _flagging(outlets: Sequence[OutletConfig]) -> frozenset[str]:
    """Outlets that take embargoed stories at once, flagged (`embargo = "flag"`)."""
    return frozenset(o.name for o in outlets if o.embargo == "flag")


def kill_article(
    session: Session,
    article: Article,
    *,
    reason: str,
    now: datetime,
    submitted_by: int | None,
    policy: StepPolicy,
) -> tuple[ArticleVersion, list[StepRef]]:
    """pubstatus canceled, carried to every outlet that has (or may have) any earlier version."""
    _lock(session, article)
    if article.pubstatus == PubStatus.CANCELED:
        raise ConflictError("the article is already killed")
    current = current_version(session, article)
    # Cancel first, then read who was reached: a worker's claim racing with the kill either
    # lands before the cancel (and the outlet counts as reached) or finds its step canceled.
    cancel_waiting(session, article.id, now=now, reason="killed")
    reached = outlets_reached(session, article.id)
    content = replace(
        current.content(), correction_note=None, kill_reason=reason, embargoed_until=None
    )
    return _add_version(
        session,
        article,
        content,
        [],
        Event.KILLED,
        PubStatus.CANCELED,
        {outlet: Event.KILLED for outlet in sorted(reached)},
        now=now,
        submitted_by=submitted_by,
        policy=policy,
    )


def _add_version(
    session: Session,
    article: Article,
    content: ArticleContent,
    warnings: list[str],
    event: Event,
    pubstatus: PubStatus,
    deliveries: Mapping[str, str],
    *,
    now: datetime,
    submitted_by: int | None,
    policy: StepPolicy,
    unheld: frozenset[str] = frozenset(),
    new_article: bool = False,
) -> tuple[ArticleVersion, list[StepRef]]:
    """Store the next version of `article` and plan its work.

    The new rows go in as Core INSERTs, not through the unit of work (its flush of two objects
    cost more CPU than the rest of the transaction): a new `article` and the returned version
    stay outside the session, which is all their callers need of them. A stored article (a new
    version of it) is changed through the session as usual.
    """
    number = article.current_version + 1
    version = ArticleVersion.from_content(
        content,
        article_id=article.id,
        version=number,
        event=event,
        pubstatus=pubstatus,
        warnings=warnings,
        submitted_by=submitted_by,
        received_at=now,
    )
    # Bound by the intake for each request (X-Request-ID), so the timeline can show it; the
    # request's later log lines name the article too.
    version.request_id = structlog.contextvars.get_contextvars().get("request_id")
    structlog.contextvars.bind_contextvars(article_id=article.id, version=number)
    article.current_version = number
    article.pubstatus = pubstatus
    article.updated_at = now
    connection = session.connection()
    if new_article:
        connection.execute(_INSERT_ARTICLE, _row(article, _ARTICLES))
    key = connection.execute(_INSERT_VERSION, _row(version, _VERSIONS)).inserted_primary_key
    assert key is not None
    version.id = key[0]
    if pubstatus == PubStatus.WITHHELD:
        deliveries = {}  # withheld: kept and rendered, published nowhere until a usable version
    refs = plan_version(
        session,
        article_id=article.id,
        version=number,
        event=event,
        lane=Lane.for_urgency(content.urgency),
        deliveries=deliveries,
        now=now,
        policy=policy,
        hold_until=content.embargoed_until,
        unheld=unheld,
    )
    return version, refs


_ARTICLES = Article.metadata.tables[Article.__tablename__]
_VERSIONS = ArticleVersion.metadata.tables[ArticleVersion.__tablename__]
_INSERT_ARTICLE = insert(_ARTICLES)
_INSERT_VERSION = insert(_VERSIONS)


def _row(entity: Article | ArticleVersion, table: Table) -> dict[str, Any]:
    """The column values set on a new, unsaved entity (columns left out take their defaults)."""
    values = vars(entity)
    return {c.key: values[c.key] for c in table.columns if c.key in values}


def _lock(session: Session, article: Article) -> None:
    """Serialise changes to one article (PostgreSQL row lock; SQLite writers already queue)."""
    session.refresh(article, with_for_update=True)


def current_version(session: Session, article: Article) -> ArticleVersion:
    version = session.scalar(
        select(ArticleVersion).where(
            ArticleVersion.article_id == article.id,
            ArticleVersion.version == article.current_version,
        )
    )
    assert version is not None
    return version


def change_embargo(
    session: Session,
    article: Article,
    until: datetime | None,
    outlets: Sequence[OutletConfig] = (),
    *,
    now: datetime,
    policy: StepPolicy,
) -> tuple[ArticleVersion, list[StepRef]]:
    """Move or lift the embargo of the current version; held work follows it."""
    _lock(session, article)
    if article.pubstatus == PubStatus.CANCELED:
        raise ConflictError("the article was killed")
    version = current_version(session, article)
    if version.embargoed_until is None or version.embargoed_until <= now:
        raise ConflictError("the article is not under embargo (any more)")
    version.embargoed_until = until
    article.updated_at = now
    return version, reschedule_held(
        session,
        article.id,
        version.version,
        until=until,
        now=now,
        policy=policy,
        unheld=_flagging(outlets),
    )


def find_article(session: Session, article_id: str) -> tuple[Article, ArticleVersion] | None:
    article = session.get(Article, article_id)
    if article is None:
        return None
    version = session.scalar(
        select(ArticleVersion).where(
            ArticleVersion.article_id == article_id,
            ArticleVersion.version == article.current_version,
        )
    )
    assert version is not None
    return article, version


def describe_article(session: Session, article: Article, version: ArticleVersion) -> dict[str, Any]:
    steps = session.scalars(
        select(Step)
        .where(Step.article_id == article.id, Step.version == version.version)
        .order_by(Step.stage, Step.outlet)
    ).all()
    by_stage = {s.stage: s for s in steps if s.stage != Stage.DELIVER}
    deliveries = [s for s in steps if s.stage == Stage.DELIVER]
    render, index = by_stage.get(Stage.RENDER), by_stage.get(Stage.INDEX)
    return {
        "id": article.id,
        "version": version.version,
        "status": overall_status(article, render, index, deliveries),
        "pubstatus": article.pubstatus,
        "slug": article.slug,
        "headline": version.headline,
        "body_html": version.body_html,
        "body_text": version.body_text,
        "language": version.language,
        "byline": version.byline,
        "rubric": version.rubric,
        "tags": version.tags,
        "published_at": version.published_at,
        "urgency": version.urgency,
        "embargoed_until": version.embargoed_until,
        "source_format": version.source_format,
        "warnings": version.warnings,
        "created_at": article.created_at,
        "updated_at": article.updated_at,
        "progress": {
            "received_at": version.received_at,
            "rendered_at": _done_at(render),
            "indexed_at": _done_at(index),
            "render": _step_view(render),
            "index": _step_view(index),
        },
        "deliveries": [delivery_view(s) for s in deliveries],
    }


def overall_status(
    article: Article, render: Step | None, index: Step | None, deliveries: list[Step]
) -> str:
    if article.pubstatus == PubStatus.CANCELED:
        return "killed"
    states = [s.state for s in (render, index, *deliveries) if s is not None]
    if StepState.FAILED in states:
        return "failed"
    if deliveries and all(s.state == StepState.DONE for s in deliveries) and _done(index):
        return "delivered"
    if _done(index):
        return "indexed"
    if _done(render):
        return "rendered"
    return "received"


def _done(step: Step | None) -> bool:
    return step is not None and step.state == StepState.DONE


def _done_at(step: Step | None) -> datetime | None:
    return step.finished_at if _done(step) and step is not None else None


def _step_view(step: Step | None) -> dict[str, Any] | None:
    if step is None:
        return None
    return {
        "state": step.state,
        "attempts": step.attempts,
        "last_error": step.last_error,
        "updated_at": step.updated_at,
        "finished_at": step.finished_at,
    }


def describe_versions(session: Session, article: Article) -> list[dict[str, Any]]:
    versions = session.scalars(
        select(ArticleVersion)
        .where(ArticleVersion.article_id == article.id)
        .order_by(ArticleVersion.version)
    ).all()
    deliveries = session.execute(
        select(Step.version, Step.outlet, Step.state).where(
            Step.article_id == article.id, Step.stage == Stage.DELIVER
        )
    ).all()
    by_version: dict[int, dict[str, str]] = {}
    for number, outlet, state in deliveries:
        by_version.setdefault(number, {})[outlet] = state_of(state)
    return [
        {
            "version": v.version,
            "event": v.event,
            "pubstatus": v.pubstatus,
            "headline": v.headline,
            "correction_note": v.correction_note,
            "kill_reason": v.kill_reason,
            "embargoed_until": v.embargoed_until,
            "urgency": v.urgency,
            "source_format": v.source_format,
            "received_at": v.received_at,
            "deliveries": by_version.get(v.version, {}),
        }
        for v in versions
    ]
