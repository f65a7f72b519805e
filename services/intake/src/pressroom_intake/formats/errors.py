"""The one error a format raises: which field is wrong, what to do about it, which status."""

from __future__ import annotations

__all__ = ["FormatError"]


class FormatError(ValueError):
    """The input cannot be turned into an article; `field` says where, `reason` says what to fix.

    `status` is the HTTP answer: 400 when the body as a whole cannot be read (`_body`), 415 when
    the media type or its parameters are at fault, 422 when a field's value is.
    """

    def __init__(self, field: str, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.status = status if status is not None else (400 if field == "_body" else 422)

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"FormatError(field={self.field!r}, reason={self.reason!r}, status={self.status})"
