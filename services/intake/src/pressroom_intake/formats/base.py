"""The InputFormat plug-in kind, and how the intake finds its formats.

Like renderers and outlets, input formats are classes registered as entry points (group
`pressroom.formats`, the entry-point name is the format's `name`). The intake picks one by the
request's media type and never guesses from the bytes; each format turns the raw body into the
one Candidate shape, which the intake then validates the same way whatever the format. Every
format passes the contract test in tests/contract/test_formats.py.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from pressroom_intake.formats.candidate import Candidate
from pressroom_shared.config import Settings

__all__ = ["FORMAT_GROUP", "Formats", "InputFormat", "load_formats"]

FORMAT_GROUP = "pressroom.formats"


@runtime_checkable
class InputFormat(Protocol):
    name: ClassVar[str]  # == entry-point name; kept with each version as its source_format
    media_types: ClassVar[tuple[str, ...]]  # Content-Types it takes: lower case, no parameters
    # For the API document: the request body's media types (parameters allowed) → OpenAPI
    # Media Type Objects, and one sentence on what the format is.
    openapi: ClassVar[Mapping[str, Mapping[str, Any]]]
    description: ClassVar[str]

    def parse(self, raw: bytes, params: Mapping[str, str], settings: Settings) -> Candidate:
        """The body as a Candidate; raises FormatError (with the field at fault) otherwise.

        `raw` is the whole body, never empty; `params` are the media type's parameters with
        lower-case names (charset, version...).
        """
        ...


@dataclass(frozen=True)
class Formats:
    """The installed formats, by the media types they take."""

    by_media_type: Mapping[str, InputFormat]

    def get(self, media_type: str) -> InputFormat | None:
        return self.by_media_type.get(media_type.lower())

    @property
    def media_types(self) -> tuple[str, ...]:
        return tuple(self.by_media_type)

    @property
    def formats(self) -> tuple[InputFormat, ...]:
        return tuple(dict.fromkeys(self.by_media_type.values()))


@functools.cache
def load_formats() -> Formats:
    """Every format registered under FORMAT_GROUP (loaded once per process)."""
    by_media_type: dict[str, InputFormat] = {}
    entry_points = sorted(importlib.metadata.entry_points(group=FORMAT_GROUP), key=lambda e: e.name)
    for entry_point in entry_points:
        format_ = entry_point.load()()
        if format_.name != entry_point.name:
            raise RuntimeError(
                f"format {entry_point.value} is named {format_.name!r}, "
                f"registered as {entry_point.name!r}"
            )
        for media_type in format_.media_types:
            taken = by_media_type.get(media_type)
            if taken is not None:
                raise RuntimeError(
                    f"{media_type} is claimed by formats {taken.name!r} and {format_.name!r}"
                )
            by_media_type[media_type] = format_
    return Formats(by_media_type)
