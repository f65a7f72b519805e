"""IPTC ninjs (News in JSON) 2.x and 3.x in, native article fields out.

Media type: `application/vnd.iptc.ninjs+json; version=<ninjs version>`. 2.x and 3.x spell
the same properties differently (`versioncreated` / `versionCreated`, `embargoed` /
`embargoedUntil`), and a document read with the wrong spelling would silently lose its dates,
status and embargo. So the generation is the version parameter's; agencies rarely send one,
and without it the document's own word (`standard.version`, `$schema`) decides, else its
spelling (2.x lower case, 3.x camelCase), and the answer says what was inferred. For the same
reason a property spelled the other generation's way is an error, not something to ignore:
publishing an embargoed story early because `embargoed` was overlooked is the worst outcome.

Only what IPTC requires is required of the document's shape here; whether the values are
acceptable (length, language tag, offsets) is ArticleInSchema's job, as for native JSON.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from pressroom_intake.formats.body import prepare_body
from pressroom_intake.formats.candidate import PUBSTATUSES, Candidate
from pressroom_intake.formats.decoding import check_control_characters, decode_body, load_json
from pressroom_intake.formats.errors import FormatError
from pressroom_intake.formats.html_text import html_to_text
from pressroom_intake.formats.language import guess_language
from pressroom_shared.config import Settings

__all__ = [
    "NINJS_MEDIA_TYPE",
    "SUPPORTED_VERSIONS",
    "WARNING_BODY_FROM_DESCRIPTION",
    "WARNING_LANGUAGE_GUESSED",
    "WARNING_NO_TIME_ZONE",
    "WARNING_UNKNOWN_PROPERTIES",
    "WARNING_URGENCY_ROUNDED",
    "WARNING_VERSION_INFERRED",
    "NinjsFormat",
    "parse_ninjs",
]

NINJS_MEDIA_TYPE = "application/vnd.iptc.ninjs+json"
SUPPORTED_VERSIONS = "2.x (e.g. version=2.2) and 3.x (e.g. version=3.1)"

WARNING_LANGUAGE_GUESSED = "language not given: guessed {language}"
WARNING_NO_TIME_ZONE = "{name} has no time zone: read as UTC"
WARNING_URGENCY_ROUNDED = "urgency {value} is not a whole number: read as {rounded}"
WARNING_UNKNOWN_PROPERTIES = "ignored properties that ninjs {major}.x does not define: {names}"
WARNING_VERSION_INFERRED = "ninjs version not given: read as ninjs {version}, inferred from {how}"
WARNING_BODY_FROM_DESCRIPTION = (
    "no bodies: the body is {path} (role text), as some agencies send their text"
)

_TEXT_TYPES = ("text", "composite")
_SECTION_RELS = frozenset({"section", "category", "rubric"})
_SUBHEADLINE_ROLES = frozenset({"sub", "subheadline", "sub-headline", "subtitle", "subhead"})
# The time part is required: datetime.fromisoformat would read a bare date as midnight, and a
# publication time nobody gave is worse than an error.
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")
_VERSION = re.compile(r'\s*"?\s*([0-9]+)(?:\.[0-9]+)*\s*"?\s*')
_SCHEMA_URI = re.compile(r"ninjs-schema_([0-9]+(?:\.[0-9]+)*)\.json")
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


class NinjsFormat:
    name: ClassVar[str] = "ninjs"
    media_types: ClassVar[tuple[str, ...]] = (NINJS_MEDIA_TYPE,)
    description: ClassVar[str] = (
        f"`{NINJS_MEDIA_TYPE}; version=2.2|3.1` (IPTC ninjs; without the version parameter "
        "the document's `standard`, `$schema` or spelling tells the generation)"
    )
    openapi: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        f"{NINJS_MEDIA_TYPE}; version=3.1": {
            "schema": {"type": "object", "description": "IPTC ninjs 3.x (or version=2.2: 2.x)"}
        },
    }

    def parse(self, raw: bytes, params: Mapping[str, str], settings: Settings) -> Candidate:
        document = load_json(decode_body(raw, params.get("charset")))
        return parse_ninjs(document, params.get("version"))


def parse_ninjs(document: object, version: str | None) -> Candidate:
    """Map a decoded ninjs document to native fields; raises FormatError.

    `version` is the media type's version parameter ("2.2", "3.1", ...), None when it has
    none: then the document says which generation it follows (see the module docstring).
    """
    if not isinstance(document, dict):
        raise FormatError(
            "_body", f"A ninjs document must be a JSON object, not {_json_kind(document)}."
        )
    warnings: list[str] = []
    if version is None:
        declared, names, how = _infer_version(document)
        warnings.append(WARNING_VERSION_INFERRED.format(version=declared, how=how))
        stated = f"ninjs {declared} (inferred from {how})"
    else:
        declared, names = _names_for(version)
        stated = f"the declared version={declared}"
    _check_type(document)
    _check_spelling(document, names, stated)
    _check_standard(document, names, stated)

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

    body_item, array = _choose_body(document, names, warnings)
    fields["body"] = body_item.value
    source_fields["body"] = f"{array}[{body_item.index}].value"
    body_format = _body_format(body_item.content_type)
    if body_format is not None:
        # Without a content type the intake guesses from the markup, as for native JSON.
        fields["body_format"] = body_format
        source_fields["body_format"] = f"{array}[{body_item.index}].{names.content_type}"
    # Made safe here, once: the language guess below reads its text, and so does the intake.
    body = prepare_body(body_item.value, body_format)

    language = document.get("language")
    if language is None or (isinstance(language, str) and not language.strip()):
        guessed = guess_language(f"{headline}\n{body.text}")
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
        body=body,
    )


# --------------------------------------------------------------------------------------------
# Version and document shape
# --------------------------------------------------------------------------------------------


def _names_for(version: str) -> tuple[str, _Names]:
    # The media type's parameter is at fault, not the document: 415, as for a charset.
    if not version.strip():
        raise FormatError(
            "version",
            f"The version parameter is empty: e.g. {NINJS_MEDIA_TYPE}; version=3.1, or leave "
            f"it out to let the document tell. Supported: ninjs {SUPPORTED_VERSIONS}.",
            415,
        )
    match = _VERSION.fullmatch(version)
    if match is None:
        raise FormatError(
            "version",
            f"version={version!r} is not a ninjs version number. "
            f"Supported: ninjs {SUPPORTED_VERSIONS}.",
            415,
        )
    declared = version.strip().strip('"').strip()
    names = _generation(match.group(1))
    if names is None:
        raise FormatError(
            "version",
            f"ninjs {declared} is not accepted. Supported: ninjs {SUPPORTED_VERSIONS}.",
            415,
        )
    return declared, names


def _generation(major: str) -> _Names | None:
    return {"2": _V2, "3": _V3}.get(major.lstrip("0") if len(major) < 5 else "")


# Top-level names that only one generation has: 2.x lower case, 3.x camelCase.
_V2_ONLY = _V2_PROPERTIES - _V3_PROPERTIES
_V3_ONLY = _V3_PROPERTIES - _V2_PROPERTIES
_ITEM_ARRAYS = ("headlines", "bodies", "descriptions")


def _infer_version(document: dict[str, Any]) -> tuple[str, _Names, str]:
    """The generation a document without a version parameter follows, and how that was found."""
    standard = document.get("standard")
    standard = standard if isinstance(standard, dict) else {}
    claimed = standard.get("version")
    if isinstance(claimed, str) and (match := _VERSION.fullmatch(claimed)):
        return _claimed(claimed.strip().strip('"'), match.group(1), "standard.version")
    for path, uri in (
        ("$schema", document.get("$schema")),
        ("standard.schema", standard.get("schema")),
    ):
        if isinstance(uri, str) and (found := _SCHEMA_URI.search(uri)):
            return _claimed(found.group(1), found.group(1).split(".")[0], path)
    lower = [key for key in document if key in _V2_ONLY]
    camel = [key for key in document if key in _V3_ONLY]
    for array in _ITEM_ARRAYS:
        items = document.get(array)
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict):
                lower += [f"{array}[].{key}" for key in item if key == "contenttype"]
                camel += [f"{array}[].{key}" for key in item if key == "contentType"]
    if len(lower) > len(camel):
        return "2.x", _V2, f"its 2.x lower-case property names ({_listed(lower)})"
    if camel:
        return "3.x", _V3, f"its 3.x camelCase property names ({_listed(camel)})"
    return "3.x", _V3, "nothing in it that 2.x and 3.x spell differently"


def _claimed(version: str, major: str, path: str) -> tuple[str, _Names, str]:
    names = _generation(major)
    if names is None:
        raise FormatError(
            path,
            f"The document says it is ninjs {_shorten(version)}, which is not accepted. "
            f"Supported: ninjs {SUPPORTED_VERSIONS}.",
        )
    return version, names, path


def _listed(names: list[str]) -> str:
    unique = list(dict.fromkeys(names))
    return ", ".join(unique[:3]) + (", …" if len(unique) > 3 else "")


def _check_spelling(document: dict[str, Any], names: _Names, stated: str) -> None:
    for key in document:
        right = names.misspelled.get(key)
        if right is not None:
            other = 3 if names.major == 2 else 2
            raise FormatError(
                key,
                f"{key!r} is the ninjs {other}.x spelling; {stated} calls it {right!r}. "
                "Rename it, or declare the version the document follows.",
            )


def _check_standard(document: dict[str, Any], names: _Names, stated: str) -> None:
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
            f"The document says it is ninjs {_shorten(claimed)} but it is read as {stated}: "
            "send the version parameter that matches the document.",
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


def _choose_body(document: dict[str, Any], names: _Names, warnings: list[str]) -> tuple[_Item, str]:
    """The body item and the array it comes from."""
    usable = [item for item in _items(document, "bodies", names) if item.value.strip()]
    if usable:
        return min(usable, key=_body_rank), "bodies"
    # Some agencies send a text item's text as a description with role "text" and no bodies.
    texts = [
        item
        for item in _items(document, "descriptions", names)
        if item.role == "text" and item.value.strip()
    ]
    if texts:
        chosen = min(texts, key=_body_rank)
        warnings.append(WARNING_BODY_FROM_DESCRIPTION.format(path=f"descriptions[{chosen.index}]"))
        return chosen, "descriptions"
    hint = ""
    found = [name for name in _V1_BODIES if name in document]
    if found:
        hint = f" ({found[0]!r} is a ninjs 1.x property, which is not accepted)"
    raise FormatError(
        "bodies",
        "A ninjs article needs a body: send bodies[] with at least one non-empty value, "
        f'e.g. [{{"role": "main", "contentType": "text/html", "value": "<p>…</p>"}}]{hint}.',
    )


def _body_rank(item: _Item) -> tuple[int, int, int]:
    # HTML keeps paragraphs and headings, so it wins over plain text; an untyped body is
    # still better than an unknown type; role "main" breaks ties, then document order.
    if _is_html(item.content_type):
        kind = 0
    elif item.content_type == "text/plain":
        kind = 1
    elif not item.content_type:
        kind = 2
    else:
        kind = 3
    return kind, 0 if item.role == "main" else 1, item.index


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


def _date_time(value: object, name: str, warnings: list[str]) -> datetime:
    """An aware datetime; whether it is acceptable (in range in UTC) is the schema's call."""
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
    return parsed


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
