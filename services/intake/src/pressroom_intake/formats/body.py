"""An article body made safe once: sanitised HTML and the plain text extracted from it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pressroom_intake.formats.html_text import html_to_text
from pressroom_intake.formats.sanitize import sanitize_html, text_to_html

__all__ = ["Body", "looks_like_html", "prepare_body"]

_HTML_TAG = re.compile(r"<(p|h[1-6]|ul|ol|li|br|div|blockquote|a|em|strong|b|i)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Body:
    html: str  # sanitised: safe to embed in a page
    text: str  # html_to_text(html)


def looks_like_html(body: str) -> bool:
    return _HTML_TAG.search(body) is not None


def prepare_body(value: str, body_format: str | None) -> Body:
    """`value` as HTML (`html`) or plain text with blank lines between paragraphs (`text`);
    without a format, guessed from the markup."""
    is_html = body_format == "html" or (body_format is None and looks_like_html(value))
    html = sanitize_html(value) if is_html else text_to_html(value)
    return Body(html, html_to_text(html))
