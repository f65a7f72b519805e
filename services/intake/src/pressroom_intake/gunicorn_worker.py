"""gunicorn's threaded worker, answering gunicorn's own errors as problem+json.

gunicorn rejects some requests before the app sees them (a request line or headers over the
limits in gunicorn_conf, bytes that are not HTTP) and writes an HTML page for them; it has no
hook for that page. So the worker lets gunicorn decide the status as usual and only swaps the
socket it writes that page to for one that writes an RFC 9457 body instead.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from gunicorn.http.errors import InvalidRequestLine, LimitRequestHeaders, LimitRequestLine
from gunicorn.workers.gthread import ThreadWorker

from pressroom_intake.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE


class ProblemThreadWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn ships no types
    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        super().handle_error(req, _ProblemSocket(client, self._detail(exc)), addr, exc)

    def _detail(self, exc: BaseException) -> str:
        if isinstance(exc, LimitRequestLine):
            return f"The request line is longer than {self.cfg.limit_request_line} bytes."
        if isinstance(exc, LimitRequestHeaders):
            return (
                f"The request has more than {self.cfg.limit_request_fields} header fields, or "
                f"one longer than {self.cfg.limit_request_field_size} bytes."
            )
        if isinstance(exc, InvalidRequestLine):
            return (
                "The request line is not valid HTTP. A URL must be ASCII: percent-encode other "
                "characters (curl -G --data-urlencode 'q=…')."
            )
        return str(exc)[:300] or "The server could not handle this request."


class _ProblemSocket:
    """The client socket, except that the one error page gunicorn writes to it is replaced."""

    def __init__(self, sock: socket.socket, detail: str) -> None:
        self._sock = sock
        self._detail = detail

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def sendall(self, data: bytes) -> None:
        # gunicorn's page starts "HTTP/1.1 414 URI Too Long\r\n"; its status is all we keep.
        _, status, reason = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        self._sock.sendall(problem_bytes(int(status), reason, self._detail))


def problem_bytes(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps(
        {
            "type": PROBLEM_BASE + reason.lower().replace(" ", "-"),
            "title": reason,
            "status": status,
            "detail": detail,
        },
        ensure_ascii=False,
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body
