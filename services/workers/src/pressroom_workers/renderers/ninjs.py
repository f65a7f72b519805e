"""IPTC ninjs 3.1 rendition: the article as partners and webhooks receive it."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pressroom_shared.article import Article, PubStatus
from pressroom_shared.plugins import RenderContext, Rendition
from pressroom_shared.timeutil import isoformat

NINJS_VERSION = "3.1"
NINJS_SCHEMA_URI = "http://www.iptc.org/std/ninjs/ninjs-schema_3.1.json#"


def article_urn(article: Article) -> str:
    """The article's permanent identifier, the same in ninjs, feeds and webhooks."""
    return f"urn:pressroom:article:{article.id}"


def _dump(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


class NinjsRenderer:
    name: ClassVar[str] = "ninjs"
    media_type: ClassVar[str] = "application/json"

    def render(self, article: Article, context: RenderContext) -> Rendition:
        return Rendition(self.name, self.media_type, _dump(self.document(article, context)))

    def document(self, article: Article, context: RenderContext) -> dict[str, Any]:
        content = article.content
        doc: dict[str, Any] = {
            "uri": article_urn(article),
            "type": "text",
            "version": str(article.version),
            "versionCreated": isoformat(article.version_created),
            "firstCreated": isoformat(article.first_created),
            "pubStatus": str(article.pubstatus),
        }
        if content.urgency is not None:
            doc["urgency"] = content.urgency
        if content.embargoed_until is not None:
            doc["embargoedUntil"] = isoformat(content.embargoed_until)
        doc["language"] = content.language
        if content.byline:
            doc["by"] = content.byline
        doc["headlines"] = [{"role": "main", "value": content.headline}]
        # A kill notice must not carry the withdrawn text to partners once more.
        if article.pubstatus is not PubStatus.CANCELED:
            doc["bodies"] = [
                {"role": "main", "contentType": "text/html", "value": content.body_html},
                {
                    "role": "main",
                    "contentType": "text/plain",
                    "charCount": len(content.body_text),
                    "wordCount": len(content.body_text.split()),
                    "value": content.body_text,
                },
            ]
        subjects: list[dict[str, str]] = []
        if content.rubric:
            subjects.append({"name": content.rubric, "rel": "section"})
        subjects.extend({"name": tag, "rel": "tag"} for tag in content.tags)
        if subjects:
            doc["subjects"] = subjects
        doc["copyrightHolder"] = context.publisher_name
        doc["standard"] = {"name": "ninjs", "version": NINJS_VERSION, "schema": NINJS_SCHEMA_URI}
        return doc
