"""Telegram rendition: a channel post in the Bot API's HTML subset.

Only `<b>`, `<i>`, `<a href>` are used (the subset also has u, s, code, pre, blockquote; never
p, headings, lists or br: line breaks are newlines). Text is escaped as the Bot API requires
(`&` `<` `>` as entities, `"` too inside an attribute). The whole markup, tags and entities
included, stays within 4096 UTF-16 code units, Telegram's limit (counted in UTF-16, so an emoji
is two): the limit applies to the text after parsing, so counting the markup is safe.

Layout: the headline in bold, the story's paragraphs (subheadings in bold) while they fit (a
long one cut at a sentence end), a correction note in italics, then a link to the article on
the site: "Читать полностью →" when the story was cut, "На сайте →" when it fits whole. A
killed story becomes a retraction notice that repeats nothing of it.
"""

from __future__ import annotations

import html
import re
from typing import ClassVar

from pressroom_shared.article import Article, PubStatus
from pressroom_shared.plugins import RenderContext, Rendition

LIMIT = 4096
_BLANK_LINE = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[»\"')\]]*\s+")
_HEADING = re.compile(r"<h[2-4][^>]*>(.*?)</h[2-4]>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")

LABELS = {
    "ru": {
        "more": "Читать полностью →",
        "site": "На сайте →",
        "corrected": "Исправлено",
        "withdrawn": "Материал отозван редакцией.",
    },
    "en": {
        "more": "Read more →",
        "site": "On the site →",
        "corrected": "Correction",
        "withdrawn": "This story has been withdrawn by the editors.",
    },
}


def labels(language: str) -> dict[str, str]:
    return LABELS["ru"] if language.lower().startswith("ru") else LABELS["en"]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    # Only these three must be entities in text; Telegram knows few named entities, so none
    # other is produced.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attribute(text: str) -> str:
    return escape(text).replace('"', "&quot;")


def link(url: str, label: str) -> str:
    return f'<a href="{escape_attribute(url)}">{escape(label)}</a>'


def _headings(body_html: str) -> set[str]:
    """The body's subheadings as plain text; body_text has them as paragraphs of their own."""
    return {
        " ".join(html.unescape(_TAG.sub("", match)).split())
        for match in _HEADING.findall(body_html)
    }


def _paragraphs(body_text: str) -> list[str]:
    out = []
    for block in _BLANK_LINE.split(body_text.strip()):
        lines = [" ".join(line.split()) for line in block.splitlines() if line.strip()]
        # "- item" lines of the plain-text body become bullets; a post has no lists.
        lines = ["• " + line[2:] if line.startswith("- ") else line for line in lines]
        if lines:
            out.append("\n".join(lines))
    return out


def _cut(paragraph: str, budget: int) -> str:
    """As many whole sentences of `paragraph` (escaped) as fit in `budget`; "" if none does."""
    taken = ""
    for match in _SENTENCE_END.finditer(paragraph + " "):
        candidate = escape(paragraph[: match.start()].rstrip())
        if utf16_len(candidate) > budget:
            break
        taken = candidate
    return taken


def _word_cut(text: str, budget: int) -> str:
    """A sentence too long for any post: cut at a word, with an ellipsis."""
    words, out = text.split(" "), ""
    for word in words:
        candidate = escape((out + " " + word).strip() + "…")
        if utf16_len(candidate) > budget:
            break
        out = (out + " " + word).strip()
    return escape(out + "…") if out else ""


def compose(article: Article, url: str) -> str:
    content = article.content
    text = labels(content.language)
    if article.pubstatus is PubStatus.CANCELED:
        return f"<b>{escape(text['withdrawn'])}</b>"
    head = f"<b>{escape(content.headline)}</b>"
    note = ""
    if content.correction_note:
        note = f"<i>{escape(text['corrected'])}: {escape(content.correction_note)}</i>"
    more = link(url, text["more"])
    tail = "\n\n".join(x for x in (note, more) if x)
    budget = LIMIT - utf16_len(head) - utf16_len(tail) - 4  # two "\n\n" around the body
    body: list[str] = []
    used = 0
    cut = False
    headings = _headings(content.body_html)
    for paragraph in _paragraphs(content.body_text):
        sep = 2 if body else 0
        escaped = escape(paragraph)
        if paragraph in headings:
            escaped = f"<b>{escaped}</b>"
        if used + sep + utf16_len(escaped) <= budget:
            body.append(escaped)
            used += sep + utf16_len(escaped)
            continue
        cut = True
        part = _cut(paragraph, budget - used - sep) or (
            "" if body else _word_cut(paragraph, budget - used - sep)
        )
        if part:
            body.append(part)
        elif body and body[-1].startswith("<b>"):
            body.pop()  # a subheading with nothing of its section after it
        break
    if not cut:
        tail = "\n\n".join(x for x in (note, link(url, text["site"])) if x)
    return "\n\n".join(x for x in (head, "\n\n".join(body), tail) if x)


class TelegramRenderer:
    name: ClassVar[str] = "telegram"
    media_type: ClassVar[str] = "text/html"  # Telegram's HTML subset (parse_mode=HTML)

    def render(self, article: Article, context: RenderContext) -> Rendition:
        return Rendition(self.name, self.media_type, compose(article, context.article_url(article)))
