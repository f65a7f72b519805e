"""`application/json`: the native fields (see ArticleInSchema), or an IPTC ninjs document.

Agencies' feeds often send ninjs as plain `application/json`. The document decides: a native
article has `headline` and `body`; a document without them that has ninjs properties (`uri`,
`headlines`, `bodies`, `versionCreated`, `$schema`...) is read as ninjs, its generation inferred
as for a ninjs media type without a version, and the answer says so in a warning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from pressroom_intake.formats import ninjs
from pressroom_intake.formats.candidate import Candidate
from pressroom_intake.formats.decoding import decode_body, load_json
from pressroom_intake.formats.errors import FormatError
from pressroom_intake.schemas import ArticleInSchema
from pressroom_shared.config import Settings

__all__ = ["WARNING_READ_AS_NINJS", "NativeJsonFormat", "looks_like_ninjs"]

WARNING_READ_AS_NINJS = (
    "application/json body read as IPTC ninjs: it has no headline and body but has {names}"
)

# Properties only a ninjs document has (any generation, 1.x included so that its users learn
# what to change), never a native article.
_NINJS_MARKERS = frozenset(
    {"uri", "headlines", "bodies", "body_html", "body_text", "body_xhtml", "descriptions"}
    | {"versioncreated", "versionCreated", "firstcreated", "firstCreated", "pubstatus"}
    | {"pubStatus", "$schema", "standard", "type", "subjects", "by", "altids", "altIds"}
)


def looks_like_ninjs(document: Mapping[str, Any]) -> list[str]:
    """The ninjs-only properties of a document that is not a native article ([] otherwise)."""
    if "headline" in document and "body" in document:
        return []
    return sorted(key for key in document if key in _NINJS_MARKERS)


class NativeJsonFormat:
    name: ClassVar[str] = "json"
    media_types: ClassVar[tuple[str, ...]] = ("application/json",)
    description: ClassVar[str] = (
        "`application/json`: the fields below (unknown fields are rejected); an IPTC ninjs "
        "document sent as application/json is read as ninjs, with a warning"
    )
    openapi: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "application/json": {"schema": ArticleInSchema},
    }

    def parse(self, raw: bytes, params: Mapping[str, str], settings: Settings) -> Candidate:
        document = load_json(decode_body(raw, params.get("charset")))
        if not isinstance(document, dict):
            raise FormatError("_body", "Expected a JSON object.")
        names = looks_like_ninjs(document)
        if names:
            candidate = ninjs.parse_ninjs(document, None)
            warning = WARNING_READ_AS_NINJS.format(names=", ".join(names[:5]))
            return dataclasses.replace(
                candidate,
                warnings=[warning, *candidate.warnings],
                source_format=ninjs.NinjsFormat.name,
            )
        return Candidate(fields=document)
