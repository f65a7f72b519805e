"""Load stored rows into the plain objects renderers and outlets work with."""

from __future__ import annotations

import functools

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from pressroom_shared.article import Article, PubStatus
from pressroom_shared.models import Article as ArticleRow
from pressroom_shared.models import ArticleVersion
from pressroom_shared.models import Rendition as RenditionRow
from pressroom_shared.plugins import Rendition


class MissingDataError(LookupError):
    pass


def load_article(session: Session, article_id: str, version: int) -> Article:
    row = session.scalar(
        _version_statement(), {"load_article_id": article_id, "load_version": version}
    )
    if row is None:
        raise MissingDataError(f"article {article_id} has no version {version}")
    head = session.get(ArticleRow, article_id)
    assert head is not None
    return Article(
        id=article_id,
        version=version,
        slug=head.slug,
        pubstatus=PubStatus(row.pubstatus),
        first_created=head.created_at,
        version_created=row.received_at,
        content=row.content(),
    )


def load_renditions(session: Session, article_id: str, version: int) -> dict[str, Rendition]:
    rows = session.scalars(
        _renditions_statement(), {"load_article_id": article_id, "load_version": version}
    ).all()
    return {r.name: Rendition(r.name, r.media_type, r.content) for r in rows}


# Built once: each step loads its version (see pressroom_shared.steps._end_statement on why).
@functools.cache
def _version_statement() -> Select[ArticleVersion]:
    return select(ArticleVersion).where(
        ArticleVersion.article_id == bindparam("load_article_id"),
        ArticleVersion.version == bindparam("load_version"),
    )


@functools.cache
def _renditions_statement() -> Select[RenditionRow]:
    return select(RenditionRow).where(
        RenditionRow.article_id == bindparam("load_article_id"),
        RenditionRow.version == bindparam("load_version"),
    )
