"""Storing submissions and reading articles back. Runs inside the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from slugify import slugify
from sqlalchemy import select
from sqlalchemy.orm import Session

from pressroom_shared.article import ArticleContent, Event, PubStatus
from pressroom_shared.contracts import Lane, Stage
from pressroom_shared.models import Article, ArticleVersion, Step
from pressroom_shared.steps import StepRef, StepState, plan_version

SLUG_WORDS_CHARS = 80


def make_slug(headline: str, article_id: str) -> str:
    # The id suffix keeps two stories with one headline apart; the slug never changes after
    # the first version, so a corrected headline keeps its URL.
    words = slugify(headline, max_length=SLUG_WORDS_CHARS, word_boundary=True) or "article"
    return f"{words}-{article_id[:8]}"


def create_article(
    session: Session,
    content: ArticleContent,
    warnings: list[str],
    outlets: list[str],
    *,
    now: datetime,
) -> tuple[Article, ArticleVersion, list[StepRef]]:
    article_id = str(uuid.uuid4())
    article = Article(
        id=article_id,
        slug=make_slug(content.headline, article_id),
        current_version=1,
        pubstatus=PubStatus.USABLE,
        created_at=now,
        updated_at=now,
    )
    version = ArticleVersion(
        article_id=article_id,
        version=1,
        event=Event.PUBLISHED,
        pubstatus=PubStatus.USABLE,
        headline=content.headline,
        body_html=content.body_html,
        body_text=content.body_text,
        language=content.language,
        byline=content.byline,
        rubric=content.rubric,
        tags=list(content.tags),
        published_at=content.published_at or now,
        urgency=content.urgency,
        embargoed_until=content.embargoed_until,
        correction_note=content.correction_note,
        source_format=content.source_format,
        warnings=warnings,
        extra=dict(content.extra),
        received_at=now,
    )
    session.add_all([article, version])
    session.flush()
    refs = plan_version(
        session,
        article_id=article_id,
        version=1,
        event=Event.PUBLISHED,
        lane=Lane.for_urgency(content.urgency),
        outlets=outlets,
        now=now,
    )
    return article, version, refs


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
        "deliveries": [_delivery_view(s) for s in deliveries],
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


DELIVERY_STATE_NAMES = {StepState.DONE: "delivered"}


def _delivery_view(step: Step) -> dict[str, Any]:
    return {
        "id": step.id,
        "outlet": step.outlet,
        "version": step.version,
        "event": step.event,
        "state": DELIVERY_STATE_NAMES.get(StepState(step.state), step.state),
        "attempts": step.attempts,
        "last_error": step.last_error,
        "error_kind": step.error_kind,
        "next_attempt_at": step.next_attempt_at,
        "created_at": step.created_at,
        "updated_at": step.updated_at,
        "delivered_at": step.finished_at if step.state == StepState.DONE else None,
        "receipt": step.receipt,
    }
