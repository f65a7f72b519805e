"""Feed entry rendition: what a feed (RSS, Atom, a site index) needs to list one article."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from pressroom_shared.article import Article, PubStatus
from pressroom_shared.plugins import RenderContext, Rendition
from pressroom_shared.timeutil import isoformat
from pressroom_workers.renderers.ninjs import article_urn

SUMMARY_MAX_CHARS = 300
_BLANK_LINE = re.compile(r"\n\s*\n")


def summarize(body_text: str, limit: int = SUMMARY_MAX_CHARS) -> str:
    """The first paragraph, cut at a word boundary with an ellipsis when longer than `limit`."""
    paragraphs = (p for p in _BLANK_LINE.split(body_text.strip()) if p.strip())
    first = " ".join(next(paragraphs, "").split())
    if len(first) <= limit:
        return first
    cut = first[: limit - 1]
    space = cut.rfind(" ")
    # A single very long word has no boundary worth keeping; cut it mid-word instead.
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:—–-") + "…"


class FeedEntryRenderer:
    name: ClassVar[str] = "feed_entry"
    media_type: ClassVar[str] = "application/json"

    def render(self, article: Article, context: RenderContext) -> Rendition:
        content = article.content
        withdrawn = article.pubstatus is PubStatus.CANCELED
        entry: dict[str, Any] = {
            "id": article_urn(article),
            "url": context.article_url(article),
            "title": content.headline,
            # A withdrawn article's text must not travel any further, not even in a feed.
            "summary": "" if withdrawn else summarize(content.body_text),
            "content_html": "" if withdrawn else content.body_html,
            "published": isoformat(content.published_at or article.first_created),
            "updated": isoformat(article.version_created),
            "author": content.byline,
            "rubric": content.rubric,
            "language": content.language,
            "tags": list(content.tags),
            "version": article.version,
            "pubstatus": str(article.pubstatus),
        }
        return Rendition(self.name, self.media_type, json.dumps(entry, ensure_ascii=False))
