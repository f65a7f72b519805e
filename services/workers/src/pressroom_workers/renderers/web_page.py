"""Web page rendition: a complete, self-contained HTML5 document for one article."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any, ClassVar

import jinja2
from markupsafe import Markup

from pressroom_shared.article import Article, PubStatus
from pressroom_shared.plugins import RenderContext, Rendition
from pressroom_shared.timeutil import isoformat
from pressroom_workers.renderers.feed_entry import summarize

TEMPLATE = "article.html"

LABELS: dict[str, dict[str, str]] = {
    "ru": {
        "withdrawn": "Материал снят с публикации",
        "correction": "Исправление",
        "published": "Опубликовано",
        "updated": "Обновлено",
        "tags": "Теги",
    },
    "en": {
        "withdrawn": "This article has been withdrawn",
        "correction": "Correction",
        "published": "Published",
        "updated": "Updated",
        "tags": "Tags",
    },
}

# JSON-LD sits in a <script> element, where the HTML parser ends the element at the first
# "</script" whatever the JSON means; \u escapes keep the JSON identical and the markup inert.
_SCRIPT_SAFE = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def script_safe_json(value: Any) -> Markup:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.translate(_SCRIPT_SAFE))  # noqa: S704 - every "<", ">", "&" is escaped


def labels_for(language: str) -> dict[str, str]:
    primary = language.split("-", 1)[0].lower()
    return LABELS.get(primary, LABELS["en"])


def readable_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pressroom_workers.renderers", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


class WebPageRenderer:
    name: ClassVar[str] = "web_page"
    media_type: ClassVar[str] = "text/html; charset=utf-8"

    def render(self, article: Article, context: RenderContext) -> Rendition:
        html = _environment().get_template(TEMPLATE).render(self.template_context(article, context))
        return Rendition(self.name, self.media_type, html)

    def template_context(self, article: Article, context: RenderContext) -> dict[str, Any]:
        content = article.content
        url = context.article_url(article)
        published = content.published_at or article.first_created
        withdrawn = article.pubstatus is PubStatus.CANCELED
        json_ld: dict[str, Any] = {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": content.headline,
            "datePublished": isoformat(published),
            "dateModified": isoformat(article.version_created),
            "inLanguage": content.language,
            "publisher": {"@type": "Organization", "name": context.publisher_name},
            "mainEntityOfPage": {"@type": "WebPage", "@id": url},
        }
        if content.byline:
            json_ld["author"] = [{"@type": "Person", "name": content.byline}]
        if content.rubric:
            json_ld["articleSection"] = content.rubric
        if content.tags:
            json_ld["keywords"] = list(content.tags)
        return {
            "lang": content.language,
            "labels": labels_for(content.language),
            "withdrawn": withdrawn,
            "headline": content.headline,
            "site_name": context.publisher_name,
            "site_url": context.site_url.rstrip("/") + "/",
            "url": url,
            "description": "" if withdrawn else summarize(content.body_text, 200),
            "byline": content.byline,
            "rubric": content.rubric,
            "tags": content.tags,
            "published_iso": isoformat(published),
            "published_readable": readable_time(published),
            "modified_iso": isoformat(article.version_created),
            "modified_readable": readable_time(article.version_created),
            "was_updated": article.version > 1 and article.version_created > published,
            "body_html": Markup(content.body_html),  # noqa: S704 - sanitised with nh3 at intake
            "correction_note": content.correction_note,
            "json_ld": script_safe_json(json_ld),
        }
