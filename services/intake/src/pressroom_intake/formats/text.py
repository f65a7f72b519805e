"""Text helpers shared by the intake's input formats: decoding, validation, HTML in and out.

Everything here is pure and deterministic: the same input gives the same output on every
machine, so that a re-submitted article produces a byte-identical version.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser

import nh3

__all__ = [
    "ALLOWED_TAGS",
    "FormatError",
    "check_control_characters",
    "decode_body",
    "derive_headline",
    "escape_text",
    "guess_language",
    "html_to_text",
    "is_valid_language_tag",
    "sanitize_html",
    "text_to_html",
]


class FormatError(ValueError):
    """The input cannot be turned into an article; `field` says where, `reason` says what to fix."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"FormatError(field={self.field!r}, reason={self.reason!r})"


# --------------------------------------------------------------------------------------------
# Decoding and validation
# --------------------------------------------------------------------------------------------

# Only the encodings Russian newsroom exports actually come in; accepting everything Python
# knows would let a typo (e.g. "utf-16") silently turn a body into mojibake.
_CHARSETS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "windows-1251": "cp1251",
    "cp1251": "cp1251",
    "koi8-r": "koi8_r",
}
_UTF8_BOM = b"\xef\xbb\xbf"


def decode_body(raw: bytes, charset: str | None) -> str:
    """Decode a request body to NFC text with LF line ends; strict, never guesses."""
    declared = "utf-8" if charset is None else charset.strip().lower()
    codec = _CHARSETS.get(declared)
    if codec is None:
        raise FormatError(
            "charset",
            f"Unsupported charset {charset!r}: send the body as utf-8 "
            "(windows-1251 and koi8-r are also accepted when declared).",
        )
    if codec != "utf-8" and raw.startswith(_UTF8_BOM):
        # A UTF-8 BOM under a single-byte charset means the body is really UTF-8 and the
        # declaration is wrong; decoding anyway would store "п»ї" and mojibake.
        raise FormatError(
            "charset",
            f"The body starts with a UTF-8 byte order mark but charset {declared} was "
            "declared: send it as charset=utf-8.",
        )
    try:
        text = raw.decode(codec, errors="strict")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex().upper()
        raise FormatError(
            "body",
            f"The body is not valid {declared}: byte 0x{bad} at offset {exc.start} "
            f"cannot be decoded. Re-encode the text as {declared} or declare its real charset.",
        ) from exc
    text = text.removeprefix("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text)


# C0 and C1 controls, DEL, and lone surrogates (which json.loads happily produces from
# "\ud800" and which later blow up on .encode("utf-8") in the database driver).
# CR is tolerated: it is a line break, not garbage, and every consumer here normalises it.
_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def check_control_characters(text: str, field: str) -> None:
    """Reject text with control characters other than newline, tab and carriage return."""
    match = _FORBIDDEN_CHARS.search(text)
    if match is None:
        return
    position = match.start()
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    code_point = f"U+{ord(match.group()):04X}"
    kind = "a lone surrogate" if 0xD800 <= ord(match.group()) <= 0xDFFF else "a control character"
    raise FormatError(
        field,
        f"{field} contains {kind} {code_point} at position {position} "
        f"(line {line}, column {column}); remove it or replace it with a space.",
    )


# --------------------------------------------------------------------------------------------
# HTML sanitising
# --------------------------------------------------------------------------------------------

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
_BREAKING_TAGS = frozenset(
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
_LIST_VALUE = re.compile(r"-?[0-9]{1,6}")


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    # ids are kept only in the footnote shape the plain-text parser emits, so user HTML
    # cannot clobber DOM ids of the page it is embedded in.
    if attribute == "id":
        return value if _FOOTNOTE_ID.fullmatch(value) else None
    if attribute == "value":
        return value if _LIST_VALUE.fullmatch(value) else None
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


_WIDE_CLEANER = _cleaner(ALLOWED_TAGS | frozenset(_RENAMED_TAGS) | _BREAKING_TAGS)
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
        if tag in _BREAKING_TAGS:
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
        if tag in _BREAKING_TAGS:
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


def sanitize_html(html_fragment: str) -> str:
    """Reduce article HTML to the allowlist; safe to embed in a page.

    Allowed: p br h2 h3 h4 ul ol li blockquote a[href title] em i strong b sup sub code pre
    section[class=footnotes] figure figcaption hr, plus the footnote ids (a/li id="fn-N" or
    "fnref-N") and li[value]. URLs: http, https, mailto and relative. No rel is added (see
    _cleaner). h1 becomes h2, h5/h6 become h4; dropped block containers (div, table cells...)
    become paragraph breaks so their texts do not run together.
    """
    first_pass = _WIDE_CLEANER.clean(html_fragment)
    normaliser = _BlockNormaliser()
    normaliser.feed(first_pass)
    normalised = normaliser.result()
    # The second pass is the security boundary: whatever the normaliser did, only the
    # strict allowlist reaches the output.
    cleaned = _STRICT_CLEANER.clean(normalised)
    return _EMPTY_PARAGRAPH.sub("", cleaned).strip()


# --------------------------------------------------------------------------------------------
# HTML -> text
# --------------------------------------------------------------------------------------------

_TEXT_BLOCK_TAGS = (
    frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "figure"})
    | frozenset({"figcaption", "section", "hr"})
    | _BREAKING_TAGS
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
        if value is not None and _LIST_VALUE.fullmatch(value.strip()):
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


# --------------------------------------------------------------------------------------------
# Text -> HTML
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Headline, language
# --------------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?:[.!?…]+)[»”\"')\]]*")
_OPENING_PUNCTUATION = "«„“\"'(["
# Multi-letter abbreviations that end with a period but rarely end a sentence. Single
# letters (initials "В.", "т. е.", "г.") are handled separately. Upper-case acronyms are
# deliberately absent: Russian writes "РФ", "США" without a period, so "в РФ. Далее" is a
# real sentence end.
_ABBREVIATIONS = frozenset(
    {"гг", "ул", "пр", "пл", "им", "см", "ср", "стр", "рис", "тыс", "проф", "акад", "ген"}
    | {"св", "напр", "обл", "пос", "ст", "тел", "корп", "кв", "зам", "пред", "ред", "англ"}
    | {"mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "no", "gen", "sen", "rep"}
    | {"gov", "lt", "col", "capt", "sgt", "mt", "inc", "ltd", "co", "corp", "fig", "approx"}
)
# One letter, or dotted single letters: initials and "т. е."-style abbreviations.
_INITIALS = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")
_FOOTNOTE_MARK = re.compile(r"\[[0-9]{1,4}\]")
_ANY_SPACE = re.compile(r"[ \t\n\r\f\v]+")
_TRAILING_CUT_PUNCTUATION = " ,;:—–-(«„“\"'"


_NEXT_SENTENCE_START = re.compile(r"\s+[«„“\"'(\[]*(\S)")
_ABBREVIATION_WINDOW = 40  # longer than any abbreviation; keeps the scan linear


def _is_abbreviation(before: str) -> bool:
    tokens = before.split()
    token = tokens[-1].lstrip(_OPENING_PUNCTUATION) if tokens else ""
    if not token:
        return False
    if _INITIALS.fullmatch(token):
        return True  # "В", "В.В", "U.S", "т"
    return token.lower() in _ABBREVIATIONS


def _first_sentence(lead: str) -> str:
    for match in _SENTENCE_END.finditer(lead):
        end = match.end()
        if end >= len(lead):
            return lead
        # Only a short window after and before the period is looked at, so a long lead
        # full of periods costs linear time, not quadratic.
        following = _NEXT_SENTENCE_START.match(lead, end)
        if following is None:
            continue  # "3.5", "т.е.", "example.com"
        first = following.group(1)
        if not (first.isupper() or first.isdigit()):
            continue
        start = match.start()
        window = lead[max(0, start - _ABBREVIATION_WINDOW) : start]
        if match.group() == "." and _is_abbreviation(window):
            continue
        return lead[:end]
    return lead


def _collapse_spaces(text: str) -> str:
    # Not str.split(): that would also turn the typographer's U+00A0 into plain spaces.
    return _ANY_SPACE.sub(" ", text).strip()


def derive_headline(body_text: str, max_chars: int = 120) -> str:
    """The first sentence of the lead (first paragraph), usable as a headline.

    Footnote marks are removed and a single final period is dropped (headlines have none).
    Longer sentences are cut at a word boundary and end with "…", within max_chars.
    Returns "" only for blank input.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", body_text) if p.strip()]
    if not paragraphs:
        return ""
    lead = _collapse_spaces(paragraphs[0])
    lead = _collapse_spaces(_FOOTNOTE_MARK.sub("", lead)) or lead
    sentence = _first_sentence(lead).strip()
    if sentence.endswith(".") and not sentence.endswith(".."):
        sentence = sentence[:-1].rstrip() or sentence
    if len(sentence) <= max_chars:
        return sentence
    room = sentence[: max_chars - 1]
    if not sentence[max_chars - 1].isspace() and " " in room:
        room = room.rsplit(" ", 1)[0]
    room = room.rstrip(_TRAILING_CUT_PUNCTUATION) or sentence[: max_chars - 1]
    return room + "…"


_CYRILLIC_LETTERS = re.compile("[\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f]")


def guess_language(text: str) -> str:
    """ "ru" when Cyrillic letters are the majority of the letters, else "en"."""
    # Counted in C: a per-character Python loop cost ~3 ms on the sample article.
    cyrillic = len(_CYRILLIC_LETTERS.findall(text))
    letters = sum(map(str.isalpha, text))
    return "ru" if cyrillic > letters - cyrillic else "en"


# language (2-3 letters), optional script (4 letters), optional region (2 letters or 3 digits)
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?")


def is_valid_language_tag(tag: str) -> bool:
    """Shape check for the BCP 47 subset we accept: ru, en, en-GB, sr-Latn, es-419."""
    return isinstance(tag, str) and _LANGUAGE_TAG.fullmatch(tag) is not None
