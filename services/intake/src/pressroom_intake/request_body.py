"""Reading request bodies: whole or 413, and JSON with the same precise errors everywhere.

werkzeug enforces MAX_CONTENT_LENGTH on a body without Content-Length (chunked) only when
something reads *past* the limit, and `get_data()` stops reading exactly at it: a chunked body
over the limit came back silently cut and was accepted. IntakeRequest probes one byte further.
"""

from __future__ import annotations

from typing import IO, Any, cast

from flask import Request, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from pressroom_intake.formats.decoding import load_json
from pressroom_intake.formats.errors import FormatError
from pressroom_intake.problems import ProblemError

__all__ = ["IntakeRequest", "json_body"]


class _WholeOrTooLarge(LimitedStream):
    """A limited stream whose readall() refuses a body longer than the limit."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        super().__init__(stream, limit, is_max=True)
        self._source = stream

    def readall(self) -> bytes:
        data = super().readall()
        # Safe to read on: the server terminates this stream (wsgi.input_terminated), so at
        # the end of the body the read returns b"" instead of waiting for the client.
        if self.is_exhausted and self._source.read(1):
            raise RequestEntityTooLarge()
        return data


class IntakeRequest(Request):
    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        if self.shallow or limit is None or "wsgi.input_terminated" not in self.environ:
            return get_input_stream(self.environ, max_content_length=limit)
        if self.content_length is not None and self.content_length > limit:
            raise RequestEntityTooLarge()
        return cast(IO[bytes], _WholeOrTooLarge(self.environ["wsgi.input"], limit))


def json_body() -> Any:
    """The request's JSON body, read as POST reads it: one error message for every endpoint."""
    try:
        return load_json(request.get_data(cache=True).decode("utf-8"))
    except UnicodeDecodeError as exc:
        reason = f"The body is not valid UTF-8: byte at offset {exc.start} cannot be decoded."
        raise ProblemError(
            400, "invalid-request", "Bad Request", reason, errors={"_body": [reason]}
        ) from exc
    except FormatError as exc:
        raise ProblemError(
            exc.status,
            "invalid-request",
            "Bad Request",
            exc.reason,
            errors={exc.field: [exc.reason]},
        ) from exc
