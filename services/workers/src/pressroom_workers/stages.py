"""What each stage does to one claimed step. Plain functions over a session: no Celery here."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, Select, and_, bindparam, delete, select
from sqlalchemy.orm import Session

from pressroom_shared import search
from pressroom_shared.article import Article, Event, PubStatus
from pressroom_shared.contracts import Stage
from pressroom_shared.models import Article as ArticleRow
from pressroom_shared.models import ArticleVersion, Step
from pressroom_shared.models import Rendition as RenditionRow
from pressroom_shared.plugins import (
    Delivery,
    Outlet,
    PermanentError,
    Receipt,
    RenderContext,
    Renderer,
    Rendition,
)
from pressroom_shared.steps import StepState
from pressroom_workers.loading import load_article, load_renditions


class Superseded(Exception):
    """A newer version already reached this outlet; this older one must not overwrite it."""


def render(
    article: Article, renderers: tuple[Renderer, ...], context: RenderContext
) -> list[Rendition]:
    """The renditions of one version: CPU work, done before the writing transaction."""
    return [renderer.render(article, context) for renderer in renderers]


def store_renditions(session: Session, step: Step, renditions: list[Rendition]) -> Receipt:
    # Re-rendering (a retry, a duplicate message) replaces what an earlier attempt wrote.
    session.execute(
        delete(RenditionRow).where(
            RenditionRow.article_id == step.article_id, RenditionRow.version == step.version
        )
    )
    session.add_all(
        RenditionRow(
            article_id=step.article_id,
            version=step.version,
            name=r.name,
            media_type=r.media_type,
            content=r.content,
        )
        for r in renditions
    )
    return Receipt(
        detail=f"{len(renditions)} renditions", data={"renditions": [r.name for r in renditions]}
    )


@dataclass(frozen=True)
class IndexEntry:
    """What indexing one version writes, worked out before the writing transaction."""

    article: Article
    terms: search.Terms | None  # None: the article leaves the index


def prepare_index(session: Session, step: Step) -> IndexEntry:
    article = load_article(session, step.article_id, step.version)
    if article.pubstatus is not PubStatus.USABLE:
        return IndexEntry(article, None)
    return IndexEntry(article, search.Terms.of(article.content.headline, article.content.body_text))


def index(session: Session, entry: IndexEntry) -> Receipt:
    """Write what `prepare_index` worked out, in the writing transaction."""
    article = entry.article
    head = session.get(ArticleRow, article.id)
    # A kill wins over a late index of an earlier version: the index keeps no tombstone. Read
    # here, under the write, not when the terms were prepared: a kill committed in between
    # must not be indexed back.
    if entry.terms is None or (head is not None and head.pubstatus == PubStatus.CANCELED):
        search.remove_document(session, article.id)
        return Receipt(detail="removed from the index")
    content = article.content
    search.index_document(
        session,
        terms=entry.terms,
        article_id=article.id,
        version=article.version,
        language=content.language,
        headline=content.headline,
        body_text=content.body_text,
        rubric=content.rubric,
        byline=content.byline,
        published_at=content.published_at,
    )
    return Receipt(detail="indexed")


def embargo_in_force(session: Session, step: Step, now: datetime) -> datetime | None:
    until = session.scalar(
        select(ArticleVersion.embargoed_until).where(
            ArticleVersion.article_id == step.article_id, ArticleVersion.version == step.version
        )
    )
    return until if until is not None and until > now else None


def prepare_delivery(
    session: Session,
    step: Step,
    outlet: Outlet,
    renderers: tuple[Renderer, ...],
    context: RenderContext,
) -> Delivery:
    """Everything the outlet needs, read before the (slow, remote) delivery itself.

    A rendition the render stage did not make (the outlet was configured after it ran) is
    rendered now, from the stored version, and not stored.
    """
    done = {
        "done_article_id": step.article_id,
        "done_outlet": step.outlet,
        "done_version": step.version,
    }
    newer = session.scalar(_newer_done_statement(), done)
    if newer is not None:
        raise Superseded(f"version {newer} already delivered")
    renditions = load_renditions(session, step.article_id, step.version)
    article = load_article(session, step.article_id, step.version)
    if missing := outlet.requires - renditions.keys():
        for renderer in renderers:
            if renderer.name in missing:
                renditions[renderer.name] = renderer.render(article, context)
        if missing := outlet.requires - renditions.keys():
            raise PermanentError(f"no renderer for: {', '.join(sorted(missing))}")
    previous = session.scalar(_previous_receipt_statement(), done)
    return Delivery(
        id=f"dlv_{step.id.replace('-', '')}",
        event=Event(step.event),
        article=article,
        renditions=renditions,
        attempt=step.attempts,
        previous_receipt=previous or {},
    )


# Built once: every delivery asks both (see pressroom_shared.steps._end_statement on why).
def _delivered(newer: bool) -> ColumnElement[bool]:
    version = bindparam("done_version", type_=Integer())
    return and_(
        Step.article_id == bindparam("done_article_id"),
        Step.outlet == bindparam("done_outlet"),
        Step.stage == Stage.DELIVER,
        Step.version > version if newer else Step.version < version,
        Step.state == StepState.DONE,
    )


@functools.cache
def _newer_done_statement() -> Select[int]:
    return select(Step.version).where(_delivered(newer=True)).limit(1)


@functools.cache
def _previous_receipt_statement() -> Select[dict[str, object] | None]:
    return (
        select(Step.receipt).where(_delivered(newer=False)).order_by(Step.version.desc()).limit(1)
    )
