"""A headline for a text that has none: the lead's first sentence, cut at a word boundary."""

from __future__ import annotations

import re

__all__ = ["derive_headline"]

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
