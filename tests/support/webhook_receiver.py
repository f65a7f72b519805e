"""A real webhook endpoint for tests: an HTTP server on 127.0.0.1 in a background thread.

    with WebhookReceiver("whsec_...") as receiver:
        receiver.script(503, Reply(429, {"Retry-After": "7"}))  # then 200s
        ... deliver to receiver.url ...
        receiver.wait_for(lambda r: len(r.verified_events()) == 1)
        receiver.requests[0].headers["webhook-id"]

Every request is recorded with its headers, raw body, the status it was answered with and
the time. `verified_events()` checks signatures twice: with the standardwebhooks library and
with a plain hmac computation, so a bug shared by our sender and the library cannot hide.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Reply:
    """A scripted answer: status, extra headers, and a delay before answering (for timeouts)."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    status: int  # what the receiver answered
    received_at: float  # time.time()

    def json(self) -> Any:
        return json.loads(self.body)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode("ascii")


def signature_matches(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Standard Webhooks v1 check written out with hmac/hashlib, independent of the library."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    for candidate in headers.get("webhook-signature", "").split():
        version, _, value = candidate.partition(",")
        try:
            given = base64.b64decode(value, validate=True)
        except binascii.Error:
            continue
        if version == "v1" and hmac.compare_digest(given, expected):
            return True
    return False


class WebhookReceiver:
    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret or new_secret()
        self._requests: list[ReceivedRequest] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # Don't wait for a handler still sleeping through a scripted delay when stopping.
        self._server.block_on_close = False
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks"

    def start(self) -> WebhookReceiver:
        # A short poll interval: shutdown() waits up to one interval, at every test teardown.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="webhook-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def script(self, *replies: int | Reply) -> None:
        """Answer the next requests with these statuses or replies, in order; then 200."""
        with self._lock:
            self._script.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def verified_events(self) -> list[Any]:
        """Parsed bodies of the requests whose signature verifies (whatever they were answered)."""
        webhook = Webhook(self.secret)
        events = []
        for request in self.requests:
            try:
                event = webhook.verify(request.body, request.headers)
            except (WebhookVerificationError, ValueError):
                continue
            if signature_matches(self.secret, request.headers, request.body):
                events.append(event)
        return events

    def wait_for(
        self, predicate: Callable[[WebhookReceiver], object], timeout: float = 10.0
    ) -> None:
        """Wait until predicate(receiver) is true; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"webhook receiver: condition not met in {timeout} s; "
                    f"{len(self.requests)} request(s) received"
                )
            time.sleep(0.02)

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else Reply()

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                reply = receiver._next_reply()
                receiver._record(
                    ReceivedRequest(
                        method=self.command,
                        path=self.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                        status=reply.status,
                        received_at=time.time(),
                    )
                )
                if reply.delay:
                    time.sleep(reply.delay)
                payload = json.dumps({"status": reply.status}).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test); nothing left to tell it

            do_POST = do_PUT = do_GET = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean; requests are recorded instead

        return Handler
