"""GET /v1/articles: filters over the current version, keyset (cursor) pagination."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from pressroom_intake.problems import ProblemError
from pressroom_shared.article import PubStatus
from pressroom_shared.models import Article, ArticleVersion
from pressroom_shared.timeutil import utcnow

STATUS_FILTERS = {
    "live": PubStatus.USABLE,
    "killed": PubStatus.CANCELED,
    "withheld": PubStatus.WITHHELD,
}


@dataclass(frozen=True)
class ArticleFilter:
    rubric: str | None = None
    language: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    after: tuple[datetime, str] | None = None

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> ArticleFilter:
        return cls(
            rubric=args.get("rubric"),
            language=args.get("language"),
            status=args.get("status"),
            since=args.get("since"),
            until=args.get("until"),
            limit=args["limit"],
            after=decode_cursor(args["cursor"]) if args.get("cursor") else None,
        )


def encode_cursor(created_at: datetime, article_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), article_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, article_id = json.loads(raw)
        return datetime.fromisoformat(created_at), str(article_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ProblemError(
            400,
            "invalid-cursor",
            "Invalid cursor",
            "The cursor is not one this API gave out: start again without it.",
            errors={"cursor": ["Unknown cursor."]},
        ) from exc


def list_articles(session: Session, wanted: ArticleFilter) -> dict[str, Any]:
    query = select(Article, ArticleVersion).join(
        ArticleVersion,
        and_(
            ArticleVersion.article_id == Article.id,
            ArticleVersion.version == Article.current_version,
        ),
    )
    if wanted.rubric is not None:
        query = query.where(ArticleVersion.rubric == wanted.rubric)
    if wanted.language is not None:
        query = query.where(ArticleVersion.language == wanted.language)
    if wanted.status == "embargoed":
        query = query.where(ArticleVersion.embargoed_until > utcnow())
    elif wanted.status is not None:
        query = query.where(Article.pubstatus == STATUS_FILTERS[wanted.status])
    if wanted.since is not None:
        query = query.where(Article.created_at >= wanted.since)
    if wanted.until is not None:
        query = query.where(Article.created_at < wanted.until)
    if wanted.after is not None:
        created_at, article_id = wanted.after
        query = query.where(
            or_(
                Article.created_at < created_at,
                and_(Article.created_at == created_at, Article.id < article_id),
            )
        )
    rows = session.execute(
        query.order_by(Article.created_at.desc(), Article.id.desc()).limit(wanted.limit + 1)
    ).all()
    page = rows[: wanted.limit]
    next_cursor = None
    if len(rows) > wanted.limit:
        last = page[-1][0]
        next_cursor = encode_cursor(last.created_at, last.id)
    return {
        "articles": [
            {
                "id": article.id,
                "version": version.version,
                "pubstatus": article.pubstatus,
                "headline": version.headline,
                "slug": article.slug,
                "language": version.language,
                "rubric": version.rubric,
                "byline": version.byline,
                "urgency": version.urgency,
                "published_at": version.published_at,
                "embargoed_until": version.embargoed_until,
                "created_at": article.created_at,
                "updated_at": article.updated_at,
            }
            for article, version in page
        ],
        "next_cursor": next_cursor,
    }
