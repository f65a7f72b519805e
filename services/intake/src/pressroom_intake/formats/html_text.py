"""The plain text of (sanitised) article HTML: what search indexes and feeds show."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from pressroom_intake.formats.sanitize import BREAKING_TAGS, LIST_VALUE, sanitize_html

__all__ = ["html_to_text"]

_TEXT_BLOCK_TAGS = (
    frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "figure"})
    | frozenset({"figcaption", "section", "hr"})
    | BREAKING_TAGS
)
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")  # not \s: U+00A0 from the typographer must survive
_LINE_BREAK = "\x00"  # stands for <br> while a block is assembled; input NULs are dropped
_FOOTNOTE_MARK_HREF = re.compile(r"#fn-[0-9]{1,4}")
_FOOTNOTE_BACKREF_HREF = re.compile(r"#fnref-[0-9]{1,4}")


class _LineBreak:
    pass


_BR = _LineBreak()


@dataclass
class _ListState:
    ordered: bool
    counter: int = 0


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[int | None, str]] = []  # (list group or None, text)
        self.segments: list[str | _LineBreak] = []
        self.preformatted: list[bool] = []
        self.prefix = ""
        self.lists: list[_ListState] = []
        self.list_group = 0
        self.li_depth = 0
        self.pre_depth = 0
        self.skip_depth = 0
        self.footnotes_depth = 0
        self.section_stack: list[bool] = []
        self.link_stack: list[str] = []

    def _flush(self) -> None:
        # Linear on purpose: regexes such as " *\n *" backtrack quadratically over long
        # runs of spaces, and body HTML comes from outside.
        if any(self.preformatted):
            parts: list[str] = []
            for segment, pre in zip(self.segments, self.preformatted, strict=True):
                if isinstance(segment, _LineBreak):
                    parts.append("\n")
                else:
                    parts.append(segment if pre else _HTML_SPACE.sub(" ", segment))
            text = "".join(parts).strip("\n")
        else:
            joined = "".join(
                _LINE_BREAK if isinstance(segment, _LineBreak) else segment
                for segment in self.segments
            )
            lines = (line.strip(" ") for line in _HTML_SPACE.sub(" ", joined).split(_LINE_BREAK))
            # A blank line in body_text always means "next block", never a doubled <br>.
            text = "\n".join(line for line in lines if line)
        if text.strip():
            group = self.list_group if self.lists else None
            self.blocks.append((group, self.prefix + text))
        self.segments = []
        self.preformatted = []
        self.prefix = ""

    def _append(self, segment: str | _LineBreak) -> None:
        self.segments.append(segment)
        self.preformatted.append(self.pre_depth > 0)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("script", "style"):
            self.skip_depth += 1
        elif tag == "br":
            self._append(_BR)
        elif tag in ("ul", "ol"):
            self._flush()
            if not self.lists:
                self.list_group += 1
            self.lists.append(_ListState(ordered=tag == "ol"))
        elif tag == "li":
            self._flush()
            self.li_depth += 1
            self.prefix = self._item_prefix(attributes.get("value"))
        elif tag == "a":
            self._start_link(attributes.get("href") or "", attributes.get("id") or "")
        elif tag in _TEXT_BLOCK_TAGS:
            if tag == "pre":
                self.pre_depth += 1
            if tag == "section":
                footnotes = "footnotes" in (attributes.get("class") or "").split()
                self.section_stack.append(footnotes)
                self.footnotes_depth += footnotes
            if self.li_depth and self.segments:
                # A paragraph inside a list item continues the item on a new line.
                self._append(_BR)
            elif not self.li_depth:
                self._flush()

    def _item_prefix(self, value: str | None) -> str:
        if not self.lists:
            return "- "
        state = self.lists[-1]
        if value is not None and LIST_VALUE.fullmatch(value.strip()):
            state.counter = int(value)
        else:
            state.counter += 1
        if self.footnotes_depth:
            return f"[{state.counter}] "
        indent = "  " * (len(self.lists) - 1)
        return f"{indent}{state.counter}. " if state.ordered else f"{indent}- "

    def _start_link(self, href: str, element_id: str) -> None:
        if _FOOTNOTE_BACKREF_HREF.fullmatch(href):
            self.link_stack.append("skip")
            self.skip_depth += 1
        elif _FOOTNOTE_MARK_HREF.fullmatch(href) or element_id.startswith("fnref-"):
            # A footnote mark reads as "[1]" in text, as it did in the source.
            self.link_stack.append("mark")
            self._append("[")
        else:
            self.link_stack.append("plain")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr"):
            self.handle_starttag(tag, attrs)
        elif tag in _TEXT_BLOCK_TAGS or tag in ("ul", "ol", "li"):
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in ("ul", "ol"):
            self._flush()
            if self.lists:
                self.lists.pop()
        elif tag == "li":
            self._flush()
            self.li_depth = max(0, self.li_depth - 1)
        elif tag == "a":
            kind = self.link_stack.pop() if self.link_stack else "plain"
            if kind == "skip":
                self.skip_depth = max(0, self.skip_depth - 1)
            elif kind == "mark":
                self._append("]")
        elif tag in _TEXT_BLOCK_TAGS:
            if tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)
            if tag == "section" and self.section_stack:
                self.footnotes_depth -= self.section_stack.pop()
            if self.li_depth:
                self._append(_BR)
            else:
                self._flush()

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self._append(data.replace(_LINE_BREAK, ""))

    def text(self) -> str:
        self.close()
        self._flush()
        pieces: list[str] = []
        previous_group: int | None = None
        for index, (group, block) in enumerate(self.blocks):
            if index:
                same_list = group is not None and group == previous_group
                pieces.append("\n" if same_list else "\n\n")
            pieces.append(block)
            previous_group = group
        return "".join(pieces)


def html_to_text(html_fragment: str) -> str:
    """Plain text of (sanitised) article HTML.

    Blocks are separated by blank lines; items of one list by single newlines, prefixed
    "- " (ul), "N. " (ol) or "[N] " (the footnotes list); footnote marks read "[N]" and
    their "↩" back-links are dropped; <br> is a newline; whitespace collapses within a
    block except in <pre>; U+00A0 is kept.
    """
    extractor = _TextExtractor()
    try:
        extractor.feed(html_fragment)
        return extractor.text()
    except AssertionError:
        # html.parser asserts on malformed "<![...[" marked sections, which only raw,
        # unsanitised input can contain; the sanitised form never does.
        retry = _TextExtractor()
        retry.feed(sanitize_html(html_fragment))
        return retry.text()
