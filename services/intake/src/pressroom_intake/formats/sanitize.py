"""Article HTML reduced to an allowlist (nh3), and plain text turned into that same HTML.

Pure and deterministic: the same input gives the same output on every machine, so that a
re-submitted article produces a byte-identical version.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

import nh3

from pressroom_intake.formats.errors import FormatError

__all__ = [
    "ALLOWED_TAGS",
    "BREAKING_TAGS",
    "LIST_VALUE",
    "escape_text",
    "sanitize_html",
    "text_to_html",
]

_BLOCK_TAGS_KEPT = frozenset(
    {"p", "h2", "h3", "h4", "ul", "ol", "li", "blockquote", "pre", "section", "figure"}
    | {"figcaption", "hr"}
)
_INLINE_TAGS = frozenset({"a", "em", "i", "strong", "b", "sup", "sub", "code", "br"})
ALLOWED_TAGS = _BLOCK_TAGS_KEPT | _INLINE_TAGS
# The renderer owns the page's only <h1>; h5/h6 become h4 rather than losing their break.
_RENAMED_TAGS = {"h1": "h2", "h5": "h4", "h6": "h4"}
# Block containers we do not keep. nh3 would unwrap them and glue their texts together
# ("<div>a</div><div>b</div>" -> "ab"), so they are let through the first pass and turned
# into paragraph breaks by _BlockNormaliser.
BREAKING_TAGS = frozenset(
    {"div", "article", "header", "footer", "main", "aside", "nav", "address", "center"}
    | {"table", "caption", "thead", "tbody", "tfoot", "tr", "td", "th"}
    | {"dl", "dt", "dd", "details", "summary", "hgroup", "fieldset", "legend", "menu"}
)
# Content that is never article text: drop it together with the tag.
_DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "noscript", "template", "iframe", "object", "embed", "title"}
    | {"textarea", "select", "option", "svg", "math"}
)
_VOID_TAGS = frozenset({"br", "hr"})
_ALLOWED_ATTRIBUTES = {"a": {"href", "title", "id"}, "li": {"id", "value"}}
_FOOTNOTE_ID = re.compile(r"fn(?:ref)?-[0-9]{1,4}")
LIST_VALUE = re.compile(r"-?[0-9]{1,6}")


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    # ids are kept only in the footnote shape the plain-text parser emits, so user HTML
    # cannot clobber DOM ids of the page it is embedded in.
    if attribute == "id":
        return value if _FOOTNOTE_ID.fullmatch(value) else None
    if attribute == "value":
        return value if LIST_VALUE.fullmatch(value) else None
    return value


def _cleaner(tags: frozenset[str]) -> nh3.Cleaner:
    # link_rel=None: nh3 would add rel="noopener noreferrer" to every <a>. target is not
    # allowed, so "noopener" protects nothing, and "noreferrer" would hide the referral
    # traffic publishers want their sources to see. It also keeps sanitize_html a fixed
    # point on its own output (and on parse_plaintext's).
    return nh3.Cleaner(
        tags=tags,
        clean_content_tags=_DROPPED_WITH_CONTENT,
        attributes=_ALLOWED_ATTRIBUTES,
        attribute_filter=_filter_attribute,
        allowed_classes={"section": {"footnotes"}},
        url_schemes={"http", "https", "mailto"},
        link_rel=None,
        strip_comments=True,
    )


_WIDE_CLEANER = _cleaner(ALLOWED_TAGS | frozenset(_RENAMED_TAGS) | BREAKING_TAGS)
_STRICT_CLEANER = _cleaner(ALLOWED_TAGS)
_EMPTY_PARAGRAPH = re.compile(r"<p>[ \t\n\r\f]*</p>")


def escape_text(text: str) -> str:
    """Escape text for an HTML text node."""
    # Same escaping as nh3's serialiser (html5ever): our own HTML then survives
    # sanitize_html unchanged, which the tests rely on.
    return html.escape(text, quote=False).replace("\xa0", "&nbsp;")


@dataclass
class _Frame:
    tag: str
    auto: bool = False  # a <p> we opened to hold loose inline content
    has_content: bool = False
    # A dropped block ended inside inline content: a <br> is owed if more content follows.
    pending_break: bool = False


# Containers whose loose inline content gets wrapped in <p> (None = the fragment root).
_FLOW_CONTAINERS = frozenset({"blockquote", "section", "figure"})
# Elements whose content is inline: a dropped block inside them becomes a <br>.
_INLINE_CONTEXTS = frozenset({"p", "h2", "h3", "h4", "li", "figcaption", "pre"}) | _INLINE_TAGS


class _BlockNormaliser(HTMLParser):
    """Rewrites the first-pass nh3 output so that every text block stays a separate block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[_Frame] = []

    def _top(self) -> _Frame | None:
        return self.stack[-1] if self.stack else None

    def _close_auto(self) -> None:
        top = self._top()
        if top is not None and top.auto:
            self.out.append("</p>")
            self.stack.pop()

    def _ensure_paragraph(self) -> None:
        top = self._top()
        if top is None or top.tag in _FLOW_CONTAINERS:
            self.out.append("<p>")
            self.stack.append(_Frame("p", auto=True))
        elif top.pending_break:
            self.out.append("<br>")
            top.pending_break = False

    def _mark_content(self) -> None:
        # Marked frames always sit below unmarked ones, so stopping at the first marked
        # frame keeps deep nesting from making this quadratic.
        for frame in reversed(self.stack):
            if frame.has_content:
                break
            frame.has_content = True

    def _block_break(self) -> None:
        top = self._top()
        if top is None:
            return
        if top.auto:
            self._close_auto()
        elif top.tag in _INLINE_CONTEXTS and top.has_content:
            top.pending_break = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = _RENAMED_TAGS.get(tag, tag)
        if tag in BREAKING_TAGS:
            self._block_break()
            return
        if tag in _BLOCK_TAGS_KEPT:
            self._close_auto()
        elif tag in _INLINE_TAGS:
            self._ensure_paragraph()
        else:
            return
        # nh3 leaves class="" behind when it filters out every class; drop empty values.
        rendered = "".join(
            f' {name}="{html.escape(value, quote=True)}"' for name, value in attrs if value
        )
        self.out.append(f"<{tag}{rendered}>")
        if tag == "br":
            top = self._top()
            if top is not None:
                top.has_content = top.pending_break = False
        elif tag not in _VOID_TAGS:
            self.stack.append(_Frame(tag))

    def handle_endtag(self, tag: str) -> None:
        tag = _RENAMED_TAGS.get(tag, tag)
        if tag in BREAKING_TAGS:
            self._block_break()
            return
        if tag in _VOID_TAGS:
            return
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index].tag == tag and not self.stack[index].auto:
                while len(self.stack) > index:
                    self.out.append(f"</{self.stack.pop().tag}>")
                return

    def handle_data(self, data: str) -> None:
        top = self._top()
        if not data.strip(" \t\n\r\f") and (top is None or top.tag in _FLOW_CONTAINERS):
            self.out.append(data)
            return
        self._ensure_paragraph()
        self.out.append(escape_text(data))
        self._mark_content()

    def result(self) -> str:
        self.close()
        while self.stack:
            self.out.append(f"</{self.stack.pop().tag}>")
        return "".join(self.out)


# Deeper than any article needs; html5ever's tree building is quadratic in the depth (20,000
# nested lists cost 12 s of CPU), so deeper markup is refused before it is parsed.
MAX_HTML_DEPTH = 200
# Elements that never hold others, and those the parser closes without an end tag: counting
# them would call a page of unclosed <p> or <li> deep.
_NO_DEPTH = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
        "param",
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "option",
        "tbody",
        "thead",
        "tfoot",
        "colgroup",
        "rb",
        "rt",
        "rp",
    ]
)
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)")


def check_html_depth(html_fragment: str, field: str = "body") -> None:
    """FormatError when elements nest deeper than MAX_HTML_DEPTH (a linear scan of the tags)."""
    depth = 0
    for closing, name in _TAG.findall(html_fragment):
        if name.lower() in _NO_DEPTH:
            continue
        depth = max(depth - 1, 0) if closing else depth + 1
        if depth > MAX_HTML_DEPTH:
            raise FormatError(
                field, f"HTML elements nest more than {MAX_HTML_DEPTH} deep; flatten the markup."
            )


def sanitize_html(html_fragment: str) -> str:
    """Reduce article HTML to the allowlist; safe to embed in a page.

    Allowed: p br h2 h3 h4 ul ol li blockquote a[href title] em i strong b sup sub code pre
    section[class=footnotes] figure figcaption hr, plus the footnote ids (a/li id="fn-N" or
    "fnref-N") and li[value]. URLs: http, https, mailto and relative. No rel is added (see
    _cleaner). h1 becomes h2, h5/h6 become h4; dropped block containers (div, table cells...)
    become paragraph breaks so their texts do not run together.
    """
    check_html_depth(html_fragment)
    first_pass = _WIDE_CLEANER.clean(html_fragment)
    normaliser = _BlockNormaliser()
    normaliser.feed(first_pass)
    normalised = normaliser.result()
    # The second pass is the security boundary: whatever the normaliser did, only the
    # strict allowlist reaches the output.
    cleaned = _STRICT_CLEANER.clean(normalised)
    return _EMPTY_PARAGRAPH.sub("", cleaned).strip()


def text_to_html(text: str) -> str:
    """A plain-text body (as sent in JSON) as HTML: a <p> per blank-line separated paragraph."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped:
            current.append(escape_text(stripped))
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return "\n".join(f"<p>{'<br>'.join(paragraph)}</p>" for paragraph in paragraphs)
