"""Request bytes to clean text: strict charsets, NFC, LF line ends, no control characters, JSON."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Iterable

from pressroom_intake.formats.errors import FormatError

__all__ = ["MAX_JSON_DEPTH", "check_control_characters", "decode_body", "load_json"]

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
            415,
        )
    if codec != "utf-8" and raw.startswith(_UTF8_BOM):
        # A UTF-8 BOM under a single-byte charset means the body is really UTF-8 and the
        # declaration is wrong; decoding anyway would store "п»ї" and mojibake.
        raise FormatError(
            "charset",
            f"The body starts with a UTF-8 byte order mark but charset {declared} was "
            "declared: send it as charset=utf-8.",
            415,
        )
    try:
        text = raw.decode(codec, errors="strict")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex().upper()
        raise FormatError(
            "body",
            f"The body is not valid {declared}: byte 0x{bad} at offset {exc.start} "
            f"cannot be decoded. Re-encode the text as {declared} or declare its real charset.",
            400,
        ) from exc
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # is_normalized is a quick check that is true for nearly every body; normalising is not.
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


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


# Deeper than any news document (IPTC's ninjs examples reach 6), and far from Python's recursion
# limit, which json.loads, json.dumps (the database's JSON columns) and marshmallow all share.
MAX_JSON_DEPTH = 32


class _NumberOutOfRange(ValueError):
    pass


def _reject_constant(name: str) -> object:
    raise _NumberOutOfRange(f"{name} is not a JSON number: send a number or null")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NumberOutOfRange(f"the number {text[:20]}… is too large")
    return value


def load_json(text: str) -> object:
    """Parse a JSON body; anything a client can send becomes a FormatError, never a crash.

    Beyond json.loads' own errors: NaN and Infinity (not JSON, and PostgreSQL's json type
    refuses them), numbers too large for a float or for Python's int-from-string limit, and
    nesting deeper than MAX_JSON_DEPTH (json.loads itself dies of RecursionError near 1000).
    """
    try:
        document = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise FormatError(
            "_body", f"Malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}."
        ) from exc
    except RecursionError:
        raise FormatError("_body", _too_deep()) from None
    except _NumberOutOfRange as exc:
        raise FormatError("_body", f"Unacceptable JSON: {exc}.") from exc
    except ValueError as exc:
        # int() refuses more digits than sys.get_int_max_str_digits(); json.loads passes that
        # on as a bare ValueError without a position, so the number is found again here.
        raise FormatError("_body", _long_number_reason(text, exc)) from exc
    if _deeper_than(document, MAX_JSON_DEPTH):
        raise FormatError("_body", _too_deep())
    return document


def _too_deep() -> str:
    return f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep; no article needs that."


def _long_number_reason(text: str, exc: ValueError) -> str:
    limit = sys.get_int_max_str_digits()
    match = re.search(f"-?[0-9]{{{limit + 1},}}", text) if limit else None
    if match is None:
        return f"Unacceptable JSON: {exc}."
    line = text.count("\n", 0, match.start()) + 1
    column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
    digits = len(match.group().lstrip("-"))
    return (
        f"Unacceptable JSON at line {line}, column {column}: a number of {digits} digits "
        f"(at most {limit})."
    )


def _deeper_than(document: object, limit: int) -> bool:
    # Iterative on purpose: a recursive walk is what this guards against.
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Iterable[object] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
