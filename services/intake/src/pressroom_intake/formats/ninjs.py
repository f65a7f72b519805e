"""IPTC ninjs (News in JSON) 2.x and 3.x in, native article fields out.

Media type: `application/vnd.iptc.ninjs+json; version=<ninjs version>`. The version
parameter is required because 2.x and 3.x spell the same properties differently
(`versioncreated` / `versionCreated`, `embargoed` / `embargoedUntil`), and a document read
with the wrong spelling would silently lose its dates, status and embargo. For the same
reason a property spelled the other generation's way is an error, not something to ignore:
publishing an embargoed story early because `embargoed` was overlooked is the worst outcome.

Only what IPTC requires is required of the document's shape here; whether the values are
acceptable (length, language tag, offsets) is ArticleInSchema's job, as for native JSON.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pressroom_intake.formats.candidate import PUBSTATUSES, Candidate
from pressroom_intake.formats.text import (
    FormatError,
    check_control_characters,
    guess_language,
    html_to_text,
)

__all__ = [
    "NINJS_MEDIA_TYPE",
    "SUPPORTED_VERSIONS",
    "WARNING_LANGUAGE_GUESSED",
    "WARNING_NO_TIME_ZONE",
    "WARNING_UNKNOWN_PROPERTIES",
    "WARNING_URGENCY_ROUNDED",
    "parse_ninjs",
]

NINJS_MEDIA_TYPE = "application/vnd.iptc.ninjs+json"
SUPPORTED_VERSIONS = "2.x (e.g. version=2.2) and 3.x (e.g. version=3.1)"

WARNING_LANGUAGE_GUESSED = "language not given: guessed {language}"
WARNING_NO_TIME_ZONE = "{name} has no time zone: read as UTC"
WARNING_URGENCY_ROUNDED = "urgency {value} is not a whole number: read as {rounded}"
WARNING_UNKNOWN_PROPERTIES = "ignored properties that ninjs {major}.x does not define: {names}"

_TEXT_TYPES = ("text", "composite")
_SECTION_RELS = frozenset({"section", "category", "rubric"})
_SUBHEADLINE_ROLES = frozenset({"sub", "subheadline", "sub-headline", "subtitle", "subhead"})
# The time part is required: datetime.fromisoformat would read a bare date as midnight, and a
# publication time nobody gave is worse than an error.
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")
_VERSION = re.compile(r'\s*"?\s*([0-9]+)(?:\.[0-9]+)*\s*"?\s*')
_SPACES = re.compile(r"[ \t\n\r\f\v]+")
_MAX_NAMES_LISTED = 10
# ninjs 1.x names a 2.x/3.x client may still send; used only to explain a missing field.
_V1_HEADLINE = ("headline",)
_V1_BODIES = ("body_html", "body_text", "body_xhtml", "body")

# Top-level properties of ninjs-schema_2.2.json and ninjs-schema_3.1.json.
_V2_PROPERTIES = frozenset(
    {"altids", "associations", "bodies", "by", "contentcreated", "copyrightholder"}
    | {"copyrightnotice", "descriptions", "digitalsourcetype", "ednote", "embargoed"}
    | {"events", "expires", "firstcreated", "genres", "headlines", "infosources", "language"}
    | {"located", "objects", "organisations", "people", "places", "profile", "pubstatus"}
    | {"renditions", "representationtype", "rightsinfo", "slugline", "standard", "subjects"}
    | {"title", "trustindicators", "type", "urgency", "uri", "usageterms", "version"}
    | {"versioncreated"}
)
_V3_PROPERTIES = frozenset(
    {"altIds", "associations", "bodies", "by", "contentCreated", "copyrightHolder"}
    | {"copyrightNotice", "descriptions", "digitalSourceType", "edNote", "embargoedUntil"}
    | {"eventDetails", "events", "expires", "firstCreated", "genres", "headlines"}
    | {"infoSources", "language", "located", "objects", "organisations", "people", "places"}
    | {"plannedCoverage", "profile", "pubStatus", "renditions", "representationType"}
    | {"rightsInfo", "slugline", "standard", "subjects", "title", "trustIndicators", "type"}
    | {"urgency", "uri", "usageTerms", "version", "versionCreated"}
)


def _spelled_as(source: frozenset[str], target: frozenset[str]) -> dict[str, str]:
    """source-only property -> the target generation's name for it."""
    by_lower = {name.lower(): name for name in target}
    renamed = {"embargoed": "embargoedUntil", "embargoeduntil": "embargoed"}
    result = {}
    for name in source - target:
        other = renamed.get(name.lower()) or by_lower.get(name.lower())
        if other is not None and other in target:
            result[name] = other
    return result


@dataclass(frozen=True)
class _Names:
    """The property names of one ninjs generation."""

    major: int
    version_created: str
    first_created: str
    content_created: str
    pubstatus: str
    embargo: str
    copyright_notice: str
    content_type: str
    other_content_type: str
    properties: frozenset[str]
    # Properties of the other generation that this one spells differently.
    misspelled: dict[str, str]


_V2 = _Names(
    major=2,
    version_created="versioncreated",
    first_created="firstcreated",
    content_created="contentcreated",
    pubstatus="pubstatus",
    embargo="embargoed",
    copyright_notice="copyrightnotice",
    content_type="contenttype",
    other_content_type="contentType",
    properties=_V2_PROPERTIES,
    misspelled=_spelled_as(_V3_PROPERTIES, _V2_PROPERTIES),
)
_V3 = _Names(
    major=3,
    version_created="versionCreated",
    first_created="firstCreated",
    content_created="contentCreated",
    pubstatus="pubStatus",
    embargo="embargoedUntil",
    copyright_notice="copyrightNotice",
    content_type="contentType",
    other_content_type="contenttype",
    properties=_V3_PROPERTIES,
    misspelled=_spelled_as(_V2_PROPERTIES, _V3_PROPERTIES),
)


@dataclass(frozen=True)
class _Item:
    """One entry of headlines[] or bodies[]."""

    index: int
    role: str
    content_type: str  # lower-cased media type without parameters; "" when not given
    value: str
    raw: dict[str, Any]


def parse_ninjs(document: object, version: str | None) -> Candidate:
    """Map a decoded ninjs document to native fields; raises FormatError.

    `version` is the media type's version parameter ("2.2", "3.1", ...).
    """
    declared, names = _names_for(version)
    if not isinstance(document, dict):
        raise FormatError(
            "_body", f"A ninjs document must be a JSON object, not {_json_kind(document)}."
        )
    _check_spelling(document, names, declared)
    _check_standard(document, names, declared)
    _check_type(document)

    warnings: list[str] = []
    source_fields: dict[str, str] = {}
    extra: dict[str, Any] = {"ninjs_version": declared}

    headlines = _items(document, "headlines", names)
    headline_item = _choose_headline(headlines, document)
    headline = _headline_text(headline_item)
    fields: dict[str, Any] = {"headline": headline}
    source_fields["headline"] = f"headlines[{headline_item.index}].value"
    others = [item for item in headlines if item is not headline_item]
    if others:
        extra["other_headlines"] = [item.raw for item in others]
        subheadline = next((i for i in others if i.role in _SUBHEADLINE_ROLES), None)
        if subheadline is not None:
            extra["subheadline"] = _headline_text(subheadline)

    body_item = _choose_body(_items(document, "bodies", names), document)
    fields["body"] = body_item.value
    source_fields["body"] = f"bodies[{body_item.index}].value"
    body_format = _body_format(body_item.content_type)
    if body_format is not None:
        # Without a content type the intake guesses from the markup, as for native JSON.
        fields["body_format"] = body_format
        source_fields["body_format"] = f"bodies[{body_item.index}].{names.content_type}"

    language = document.get("language")
    if language is None or (isinstance(language, str) and not language.strip()):
        body_text = body_item.value if body_format == "text" else html_to_text(body_item.value)
        guessed = guess_language(f"{headline}\n{body_text}")
        fields["language"] = guessed
        warnings.append(WARNING_LANGUAGE_GUESSED.format(language=guessed))
    else:
        # Passed through as sent: ArticleInSchema judges the tag (and its type).
        fields["language"] = language
    source_fields["language"] = "language"

    if document.get("by") is not None:
        fields["byline"] = document["by"]
        source_fields["byline"] = "by"

    _map_subjects(document, fields, source_fields, extra)

    for name in (names.first_created, names.version_created, names.content_created):
        if document.get(name) is not None:
            fields["published_at"] = _date_time(document[name], name, warnings)
            source_fields["published_at"] = name
            break

    if document.get("urgency") is not None:
        fields["urgency"] = _urgency(document["urgency"], names, warnings)
        source_fields["urgency"] = "urgency"

    if document.get(names.embargo) is not None:
        fields["embargoed_until"] = _date_time(document[names.embargo], names.embargo, warnings)
        source_fields["embargoed_until"] = names.embargo

    pubstatus = _pubstatus(document.get(names.pubstatus), names.pubstatus)

    for key, name in (
        ("source_uri", "uri"),
        ("source_version", "version"),
        ("type", "type"),
        ("copyright_notice", names.copyright_notice),
        ("located", "located"),
        ("people", "people"),
        ("places", "places"),
        ("organisations", "organisations"),
    ):
        if document.get(name) is not None:
            extra[key] = document[name]

    unknown = sorted(str(key) for key in document if key not in names.properties)
    if unknown:
        listed = ", ".join(unknown[:_MAX_NAMES_LISTED])
        if len(unknown) > _MAX_NAMES_LISTED:
            listed += f" and {len(unknown) - _MAX_NAMES_LISTED} more"
        warnings.append(WARNING_UNKNOWN_PROPERTIES.format(major=names.major, names=listed))

    return Candidate(
        fields=fields,
        pubstatus=pubstatus,
        extra=extra,
        warnings=warnings,
        source_fields=source_fields,
    )


# --------------------------------------------------------------------------------------------
# Version and document shape
# --------------------------------------------------------------------------------------------


def _names_for(version: str | None) -> tuple[str, _Names]:
    if version is None or not version.strip():
        raise FormatError(
            "version",
            f"The media type needs a version parameter, e.g. {NINJS_MEDIA_TYPE}; version=3.1. "
            f"Supported: ninjs {SUPPORTED_VERSIONS}.",
        )
    match = _VERSION.fullmatch(version)
    if match is None:
        raise FormatError(
            "version",
            f"version={version!r} is not a ninjs version number. "
            f"Supported: ninjs {SUPPORTED_VERSIONS}.",
        )
    declared = version.strip().strip('"').strip()
    major = int(match.group(1)) if len(match.group(1)) < 5 else -1
    if major == 2:
        return declared, _V2
    if major == 3:
        return declared, _V3
    raise FormatError(
        "version", f"ninjs {declared} is not accepted. Supported: ninjs {SUPPORTED_VERSIONS}."
    )


def _check_spelling(document: dict[str, Any], names: _Names, declared: str) -> None:
    for key in document:
        right = names.misspelled.get(key)
        if right is not None:
            other = 3 if names.major == 2 else 2
            raise FormatError(
                key,
                f"{key!r} is the ninjs {other}.x spelling; the declared version={declared} "
                f"calls it {right!r}. Rename it, or declare the version the document follows.",
            )


def _check_standard(document: dict[str, Any], names: _Names, declared: str) -> None:
    standard = document.get("standard")
    if not isinstance(standard, dict):
        return
    claimed = standard.get("version")
    if not isinstance(claimed, str):
        return
    match = _VERSION.fullmatch(claimed)
    if match is not None and match.group(1) != str(names.major):
        raise FormatError(
            "standard.version",
            f"The document says it is ninjs {claimed} but the Content-Type declares "
            f"version={declared}: send the version parameter that matches the document.",
        )


def _check_type(document: dict[str, Any]) -> None:
    kind = document.get("type")
    if kind is None or kind in _TEXT_TYPES:
        return
    shown = kind if isinstance(kind, str) else _json_kind(kind)
    raise FormatError(
        "type",
        f"Only text articles are accepted (type text or composite); this document's type "
        f"is {_shorten(shown)!r}.",
    )


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# headlines[] and bodies[]
# --------------------------------------------------------------------------------------------


def _items(document: dict[str, Any], name: str, names: _Names) -> list[_Item]:
    raw_items = document.get(name)
    if raw_items is None:
        return []
    if not isinstance(raw_items, list):
        raise FormatError(
            name,
            f"{name} must be an array of objects with a value "
            f"(and optionally role and {names.content_type}).",
        )
    items = []
    for index, raw in enumerate(raw_items):
        path = f"{name}[{index}]"
        if not isinstance(raw, dict):
            raise FormatError(path, f"{path} must be an object with a value.")
        if names.other_content_type in raw and names.content_type not in raw:
            raise FormatError(
                f"{path}.{names.other_content_type}",
                f"{names.other_content_type!r} is not the ninjs {names.major}.x spelling: "
                f"use {names.content_type!r}.",
            )
        value = raw.get("value")
        if not isinstance(value, str):
            raise FormatError(f"{path}.value", f"{path}.value must be a string.")
        # Checked here, before any HTML handling, so that the error names the ninjs path.
        check_control_characters(value, f"{path}.value")
        role = raw.get("role", "")
        content_type = raw.get(names.content_type, "")
        for key, text in (("role", role), (names.content_type, content_type)):
            if not isinstance(text, str):
                raise FormatError(f"{path}.{key}", f"{path}.{key} must be a string.")
        media_type = content_type.split(";", 1)[0].strip().lower()
        items.append(_Item(index, role.strip().lower(), media_type, value, raw))
    return items


def _is_html(media_type: str) -> bool:
    # Covers text/html, application/xhtml+xml and the "body_xhtml" pseudo-types of IPTC's
    # own examples.
    return "html" in media_type


def _body_format(media_type: str) -> str | None:
    if _is_html(media_type):
        return "html"
    if media_type == "text/plain":
        return "text"
    return None


def _choose_headline(items: list[_Item], document: dict[str, Any]) -> _Item:
    usable = [item for item in items if _headline_text(item)]
    if not usable:
        hint = ""
        if any(name in document for name in _V1_HEADLINE):
            hint = " ('headline' is the ninjs 1.x property, which is not accepted)"
        raise FormatError(
            "headlines",
            "A ninjs article needs a headline: send headlines[] with at least one "
            f'non-empty value, e.g. [{{"role": "main", "value": "…"}}]{hint}.',
        )
    return next((item for item in usable if item.role == "main"), usable[0])


def _headline_text(item: _Item) -> str:
    text = html_to_text(item.value) if _is_html(item.content_type) else item.value
    # Not str.split(): U+00A0 from a typographer is part of the headline.
    return _SPACES.sub(" ", text).strip(" ")


def _choose_body(items: list[_Item], document: dict[str, Any]) -> _Item:
    usable = [item for item in items if item.value.strip()]
    if not usable:
        hint = ""
        found = [name for name in _V1_BODIES if name in document]
        if found:
            hint = f" ({found[0]!r} is a ninjs 1.x property, which is not accepted)"
        raise FormatError(
            "bodies",
            "A ninjs article needs a body: send bodies[] with at least one non-empty value, "
            f'e.g. [{{"role": "main", "contentType": "text/html", "value": "<p>…</p>"}}]{hint}.',
        )

    # HTML keeps paragraphs and headings, so it wins over plain text; an untyped body is
    # still better than an unknown type; role "main" breaks ties, then document order.
    def rank(item: _Item) -> tuple[int, int, int]:
        if _is_html(item.content_type):
            kind = 0
        elif item.content_type == "text/plain":
            kind = 1
        elif not item.content_type:
            kind = 2
        else:
            kind = 3
        return kind, 0 if item.role == "main" else 1, item.index

    return min(usable, key=rank)


# --------------------------------------------------------------------------------------------
# subjects[], dates, urgency, pubstatus
# --------------------------------------------------------------------------------------------


def _map_subjects(
    document: dict[str, Any],
    fields: dict[str, Any],
    source_fields: dict[str, str],
    extra: dict[str, Any],
) -> None:
    subjects = document.get("subjects")
    if subjects is None:
        return
    if not isinstance(subjects, list):
        raise FormatError("subjects", "subjects must be an array of objects.")
    rubric: str | None = None
    tags: dict[str, None] = {}  # an ordered set
    for index, subject in enumerate(subjects):
        path = f"subjects[{index}]"
        if not isinstance(subject, dict):
            raise FormatError(path, f"{path} must be an object with a name.")
        label_key, label = _subject_label(subject, path)
        if label is None:
            continue
        if rubric is None and _is_section(subject):
            rubric = label
            fields["rubric"] = label
            source_fields["rubric"] = f"{path}.{label_key}"
        else:
            tags.setdefault(label)
    if tags:
        fields["tags"] = list(tags)
        source_fields["tags"] = "subjects"
    extra["subjects"] = subjects


def _subject_label(subject: dict[str, Any], path: str) -> tuple[str, str | None]:
    for key in ("name", "literal"):
        value = subject.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise FormatError(f"{path}.{key}", f"{path}.{key} must be a string.")
        if value.strip():
            return key, value.strip()
    return "name", None


def _is_section(subject: dict[str, Any]) -> bool:
    rel = subject.get("rel")
    if isinstance(rel, str):
        # rel may be a bare word or a QCode/URI ("irel:section", ".../rel/category").
        last = re.split(r"[:/#]", rel.strip().lower())[-1]
        if last in _SECTION_RELS:
            return True
    uri = subject.get("uri")
    return isinstance(uri, str) and "section" in uri.lower()


def _date_time(value: object, name: str, warnings: list[str]) -> str:
    example = "e.g. 2025-05-27T05:39:00+03:00"
    if not isinstance(value, str):
        raise FormatError(name, f"{name} must be a date-time string, {example}.")
    parsed: datetime | None = None
    if _DATE_TIME.match(value.strip()):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        raise FormatError(
            name, f"{name} {_shorten(value)!r} is not an ISO 8601 date and time, {example}."
        )
    if parsed.utcoffset() is None:
        # ninjs says "date-time" (RFC 3339, offset required), but senders drop it often
        # enough that a rejection would be unhelpful; UTC is the only neutral reading.
        parsed = parsed.replace(tzinfo=UTC)
        warnings.append(WARNING_NO_TIME_ZONE.format(name=name))
    return parsed.isoformat()


def _urgency(value: object, names: _Names, warnings: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FormatError("urgency", "urgency must be a whole number from 1 (most urgent) to 9.")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FormatError(
                "urgency", "urgency must be a whole number from 1 (most urgent) to 9."
            )
        if value.is_integer():
            value = int(value)
        elif names.major == 2:
            # 2.x declares urgency a "number"; 3.0.1 corrected it to an integer.
            rounded = math.floor(value + 0.5)
            warnings.append(WARNING_URGENCY_ROUNDED.format(value=value, rounded=rounded))
            value = rounded
        else:
            raise FormatError(
                "urgency", f"ninjs 3.x urgency is a whole number from 1 to 9, not {value}."
            )
    if not 1 <= value <= 9:
        shown = value if abs(value) < 10**9 else "a number that large"
        raise FormatError("urgency", f"urgency must be from 1 (most urgent) to 9, not {shown}.")
    return value


def _pubstatus(value: object, name: str) -> str:
    if value is None:
        return "usable"
    if isinstance(value, str) and value in PUBSTATUSES:
        return value
    shown = _shorten(value) if isinstance(value, str) else _json_kind(value)
    raise FormatError(name, f"{name} must be one of {', '.join(PUBSTATUSES)}, not {shown!r}.")
