"""Hostile request bodies: what a client can send that a parser may choke on.

JSON nested far deeper than Python's recursion limit, integers longer than Python's int-from-str
limit (4300 digits), NaN/Infinity and floats that overflow, and ISO 8601 times that are valid
but cannot be held in UTC. Used by the format contract test (in process) and by the OpenAPI
fuzz run (over HTTP): none of them may ever produce a 5xx.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

OVERFLOWING_DATES = ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00")
NOT_JSON_NUMBERS = ("NaN", "Infinity", "-Infinity", "1e999", "-1e999")


def nested_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_object(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def huge_integer(digits: int) -> str:
    return "9" * digits


# A JSON value, as text, that is hostile to a parser.
hostile_values: st.SearchStrategy[str] = st.one_of(
    st.integers(min_value=33, max_value=20_000).map(nested_array),
    st.integers(min_value=33, max_value=20_000).map(nested_object),
    st.integers(min_value=4_301, max_value=8_000).map(huge_integer),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(NOT_JSON_NUMBERS),
    st.sampled_from(OVERFLOWING_DATES).map(json.dumps),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)

# Every field name any of our JSON-carrying formats or endpoints reads.
FIELDS = (
    "headline",
    "body",
    "language",
    "urgency",
    "published_at",
    "embargoed_until",
    "tags",
    "byline",
    "reason",
    "headlines",
    "bodies",
    "versionCreated",
    "versioncreated",
    "embargoed",
    "embargoedUntil",
    "people",
    "subjects",
)


def document_with(base: dict[str, Any], field: str, value: str) -> bytes:
    """`base` as JSON with `field` set to the raw JSON text `value` (which json.dumps cannot
    always produce: NaN, 20,000 levels)."""
    rest = json.dumps({k: v for k, v in base.items() if k != field}, ensure_ascii=False)
    joiner = ", " if len(rest) > 2 else ""
    return f'{rest[:-1]}{joiner}"{field}": {value}}}'.encode()


def hostile_documents(base: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """`base` with one of its fields (or a new one) holding a hostile value."""
    return st.builds(document_with, st.just(base), st.sampled_from(FIELDS), hostile_values)
