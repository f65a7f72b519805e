"""E-mail rendition: the HTML part of a newsletter issue, made for mail clients.

Mail clients drop `<style>` blocks and external CSS and run no scripts, so every element
carries its own inline style (set by nh3 on the already sanitised body, so nothing but the
allowed markup survives), the layout is one centred column, and links are absolute. A killed
story renders as a short withdrawal notice that repeats nothing of it. The plain-text part is
made by the e-mail outlet from the same article.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import jinja2
import nh3
from markupsafe import Markup

from pressroom_shared.article import Article, PubStatus
from pressroom_shared.plugins import RenderContext, Rendition
from pressroom_workers.renderers.web_page import readable_time

FONT = "font-family:Georgia,'Times New Roman',serif"
STYLES = {
    "p": f"margin:0 0 16px;{FONT};font-size:17px;line-height:1.5;color:#1a1a1a",
    "h2": f"margin:24px 0 8px;{FONT};font-size:20px;line-height:1.3;color:#1a1a1a",
    "h3": f"margin:20px 0 8px;{FONT};font-size:18px;line-height:1.3;color:#1a1a1a",
    "ul": "margin:0 0 16px;padding-left:24px",
    "ol": "margin:0 0 16px;padding-left:24px",
    "li": f"margin:0 0 6px;{FONT};font-size:17px;line-height:1.5;color:#1a1a1a",
    "blockquote": "margin:0 0 16px;padding-left:16px;border-left:3px solid #cccccc;color:#444444",
    "a": "color:#0645ad",
    "section": "margin-top:24px;border-top:1px solid #dddddd;font-size:14px;color:#555555",
}
LABELS = {
    "ru": {
        "more": "Читать на сайте",
        "corrected": "Исправление",
        "withdrawn": "Материал отозван редакцией",
        "withdrawn_text": "Материал, который мы присылали вам ранее, отозван редакцией. "
        "Пожалуйста, не распространяйте его.",
        "unsubscribe": "Вы получили это письмо, потому что подписаны на рассылку {publisher}.",
    },
    "en": {
        "more": "Read on the site",
        "corrected": "Correction",
        "withdrawn": "This story has been withdrawn",
        "withdrawn_text": "A story we sent you earlier has been withdrawn by the editors. "
        "Please do not share it.",
        "unsubscribe": "You receive this because you subscribed to {publisher}'s newsletter.",
    },
}

TEMPLATE = """\
<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
</head>
<body style="margin:0;padding:0;background:#f4f4f4">
<div style="max-width:640px;margin:0 auto;padding:24px;background:#ffffff">
<p style="margin:0 0 8px;font-family:Arial,sans-serif;font-size:13px;color:#777777">\
{{ publisher }}</p>
{% if withdrawn %}
<h1 style="margin:0 0 16px;{{ font }};font-size:26px;line-height:1.25;color:#1a1a1a">\
{{ labels.withdrawn }}</h1>
<p style="{{ styles.p }}">{{ labels.withdrawn_text }}</p>
{% else %}
<h1 style="margin:0 0 8px;{{ font }};font-size:26px;line-height:1.25;color:#1a1a1a">\
{{ title }}</h1>
<p style="margin:0 0 24px;font-family:Arial,sans-serif;font-size:13px;color:#777777">\
{% if byline %}{{ byline }} · {% endif %}{{ published }}{% if rubric %} · {{ rubric }}{% endif %}\
</p>
{% if correction %}
<p style="margin:0 0 16px;padding:8px 12px;background:#fff8e1;{{ font }};font-size:15px">\
<strong>{{ labels.corrected }}:</strong> {{ correction }}</p>
{% endif %}
{{ body }}
<p style="margin:24px 0"><a href="{{ url }}" style="display:inline-block;padding:10px 16px;\
background:#0645ad;color:#ffffff;text-decoration:none;font-family:Arial,sans-serif;\
font-size:15px">{{ labels.more }} →</a></p>
{% endif %}
<p style="margin:32px 0 0;font-family:Arial,sans-serif;font-size:12px;color:#999999">\
{{ unsubscribe }}</p>
</div>
</body>
</html>
"""


@functools.cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    return environment.from_string(TEMPLATE)


def labels(language: str) -> dict[str, str]:
    return LABELS["ru"] if language.lower().startswith("ru") else LABELS["en"]


def styled_body(body_html: str) -> str:
    """The sanitised body with an inline style on every element mail clients lay out."""
    return nh3.clean(
        body_html,
        set_tag_attribute_values={tag: {"style": style} for tag, style in STYLES.items()},
        link_rel=None,
    )


class EmailRenderer:
    name: ClassVar[str] = "email_html"
    media_type: ClassVar[str] = "text/html"

    def render(self, article: Article, context: RenderContext) -> Rendition:
        content = article.content
        text = labels(content.language)
        html = _template().render(
            lang=content.language,
            title=content.headline,
            publisher=context.publisher_name,
            withdrawn=article.pubstatus is PubStatus.CANCELED,
            labels=text,
            styles=STYLES,
            font=FONT,
            byline=content.byline,
            rubric=content.rubric,
            published=readable_time(content.published_at or article.first_created),
            correction=content.correction_note,
            body=Markup(styled_body(content.body_html)),  # noqa: S704 - sanitised by nh3
            url=context.article_url(article),
            unsubscribe=text["unsubscribe"].format(publisher=context.publisher_name),
        )
        return Rendition(self.name, self.media_type, html)
