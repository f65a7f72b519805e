"""A webhook partner whose behaviour the test switches while deliveries are under way.

    with ChaosReceiver(WEBHOOK_SECRET) as partner:
        partner.go_down()  # connection refused
        partner.behave(Behaviour(503, {"Retry-After": "2"}))
        partner.for_article(headline, Behaviour(503, delay=3))  # its next request only
        partner.for_article(other_id, then=Behaviour(drip=1.0))  # every request, until cleared
        partner.come_back()  # listening again on the same port, answering 200
        partner.hits_for(article_id)  # what arrived, in arrival order

It is a `WebhookReceiver` (so `requests`, `verified_events()` and `wait_for()` keep working), with
answers it writes byte by byte itself: http.server's `send_response` buffers the status line and
headers, and the point of a drip is that the sender sees one byte at a time. Each request is also
kept as a `Hit`: the article, version and event parsed from the body, whether the signature
verifies, and whether the whole answer reached the socket before the sender hung up.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.webhook_receiver import (
    ReceivedRequest,
    Reply,
    WebhookReceiver,
    signature_matches,
)

ARTICLE_URN = "urn:pressroom:article:"


@dataclass(frozen=True)
class Behaviour(Reply):
    """A `Reply` (status, headers, delay before answering) that may also drip or hang.

    `drip`: seconds between single bytes of the answer (status line, headers and body alike), so
    no read of the sender ever waits longer than that while the whole answer takes minutes.
    `hang`: never answer; hold the connection until the sender gives up or the receiver stops.
    """

    drip: float = 0.0
    hang: bool = False

    @property
    def accepts(self) -> bool:
        return 200 <= self.status < 300 and not self.hang


OK = Behaviour()


@dataclass
class Hit:
    """One request as the partner saw it."""

    request: ReceivedRequest
    behaviour: Behaviour
    article_id: str | None
    version: int | None
    event: str | None  # "published", "updated", "corrected", "killed"
    headline: str | None
    webhook_id: str
    signed: bool  # the Standard Webhooks signature verifies
    completed: bool = False  # every byte of the answer was written before the sender hung up
    ended_at: float | None = None  # time.time() when the answer ended or the sender hung up

    @property
    def accepted(self) -> bool:
        """The partner answered 2xx and the whole answer went out: it took this version."""
        return self.completed and self.behaviour.accepts

    @property
    def received_at(self) -> float:
        return self.request.received_at


@dataclass
class _ArticleRule:
    script: deque[Behaviour] = field(default_factory=deque)
    then: Behaviour | None = None


class ChaosReceiver(WebhookReceiver):
    def __init__(self, secret: str | None = None) -> None:
        super().__init__(secret)
        self._default = OK
        self._rules: dict[str, _ArticleRule] = {}
        self._hooks: list[Callable[[Hit], None]] = []
        self._hits: list[Hit] = []
        self._stopping = threading.Event()
        self._port = int(self._server.server_address[1])

    # -- behaviour ---------------------------------------------------------------------------

    def behave(self, behaviour: Behaviour | int) -> None:
        """How to answer every request no script or article rule claims."""
        with self._lock:
            self._default = behaviour if isinstance(behaviour, Behaviour) else Behaviour(behaviour)

    def for_article(
        self, key: str, *script: Behaviour | int, then: Behaviour | None = None
    ) -> None:
        """Answer the article's next requests with `script`, in order; after it, `then` (when
        given) for every later request of that article, else the default behaviour.

        `key` is the article's id or its headline: a rule keyed by headline is in place before
        the POST, so it cannot miss a request that beats the 202 back to the test.
        """
        with self._lock:
            rule = self._rules.setdefault(key, _ArticleRule())
            rule.script.extend(b if isinstance(b, Behaviour) else Behaviour(b) for b in script)
            rule.then = then

    def clear_article(self, key: str) -> None:
        with self._lock:
            self._rules.pop(key, None)

    def on_request(self, hook: Callable[[Hit], None]) -> None:
        """Call `hook(hit)` in the handler thread before answering (e.g. to kill a worker)."""
        with self._lock:
            self._hooks.append(hook)

    def go_down(self) -> None:
        """Stop listening: connections are refused until `come_back()`."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def come_back(self, behaviour: Behaviour | int = OK) -> None:
        """Listen again on the same port (the outlet's URL does not change)."""
        self.behave(behaviour)
        deadline = time.monotonic() + 5
        while True:
            try:
                self._server = self._new_server(self._port)
                break
            except OSError:
                # The port is briefly unavailable only in odd cases (a connection in flight on
                # it); the URL is baked into the outlets file, so another port will not do.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.start()

    def start(self) -> ChaosReceiver:
        super().start()
        return self

    def __enter__(self) -> ChaosReceiver:
        return self.start()

    @property
    def is_up(self) -> bool:
        return self._thread is not None

    def stop(self) -> None:
        self._stopping.set()  # release handlers that hang or drip
        if self._thread is None:
            self._server.server_close()
            return
        super().stop()

    # -- what arrived ------------------------------------------------------------------------

    @property
    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def hits_for(self, article_id: str) -> list[Hit]:
        return [h for h in self.hits if h.article_id == article_id]

    def accepted_for(self, article_id: str) -> list[Hit]:
        return [h for h in self.hits_for(article_id) if h.accepted]

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until no answer is still being written; False if one still is at the timeout.

        A sender may read the last byte an instant before the handler records that it wrote
        it; checks made right after a send must not see that answer as unfinished.
        """
        deadline = time.monotonic() + timeout
        while any(h.ended_at is None for h in self.hits):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    # -- internals ---------------------------------------------------------------------------

    def _new_server(self, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        server.block_on_close = False
        return server

    def _choose(self, keys: tuple[str | None, ...]) -> Behaviour:
        with self._lock:
            if self._script:
                reply = self._script.popleft()
                return reply if isinstance(reply, Behaviour) else _as_behaviour(reply)
            rule = next((self._rules[k] for k in keys if k is not None and k in self._rules), None)
            if rule is not None:
                if rule.script:
                    return rule.script.popleft()
                if rule.then is not None:
                    return rule.then
            return self._default

    def _arrived(self, hit: Hit) -> None:
        with self._lock:
            self._requests.append(hit.request)
            self._hits.append(hit)
            hooks = list(self._hooks)
        for hook in hooks:
            hook(hit)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                article_id, version, event, headline = _describe(body)
                behaviour = receiver._choose((article_id, headline))
                hit = Hit(
                    request=ReceivedRequest(
                        method=self.command,
                        path=self.path,
                        headers=headers,
                        body=body,
                        status=behaviour.status,
                        received_at=time.time(),
                    ),
                    behaviour=behaviour,
                    article_id=article_id,
                    version=version,
                    event=event,
                    headline=headline,
                    webhook_id=headers.get("webhook-id", ""),
                    signed=signature_matches(receiver.secret, headers, body),
                )
                receiver._arrived(hit)
                try:
                    hit.completed = self._reply(behaviour)
                except OSError:
                    hit.completed = False  # the sender hung up mid-answer
                hit.ended_at = time.time()
                self.close_connection = True

            def _reply(self, behaviour: Behaviour) -> bool:
                if behaviour.hang:
                    self._wait(float("inf"))
                    return False
                if behaviour.delay and not self._wait(behaviour.delay):
                    return False
                answer = _answer_bytes(behaviour)
                if not behaviour.drip:
                    self.wfile.write(answer)
                    self.wfile.flush()
                    return True
                for i in range(len(answer)):
                    self.wfile.write(answer[i : i + 1])
                    self.wfile.flush()
                    if i + 1 < len(answer) and not self._wait(behaviour.drip):
                        return False
                return True

            def _wait(self, seconds: float) -> bool:
                """Sleep up to `seconds`; False as soon as the sender hangs up or we stop.

                The request was read whole, so the socket turns readable only at EOF or reset:
                that is how a cut is noticed the moment it happens, not at the next write.
                """
                deadline = time.monotonic() + seconds
                while not receiver._stopping.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return True
                    readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
                    if readable:
                        try:
                            if not self.connection.recv(1, socket.MSG_PEEK):
                                return False
                        except OSError:
                            return False
                return False

            do_POST = do_PUT = do_GET = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass  # requests are recorded instead

        return Handler


def _as_behaviour(reply: Reply) -> Behaviour:
    return Behaviour(reply.status, reply.headers, reply.delay)


def _answer_bytes(behaviour: Behaviour) -> bytes:
    payload = json.dumps({"status": behaviour.status}).encode()
    try:
        phrase = HTTPStatus(behaviour.status).phrase
    except ValueError:
        phrase = "Status"
    lines = [f"HTTP/1.1 {behaviour.status} {phrase}"]
    lines += [f"{name}: {value}" for name, value in behaviour.headers.items()]
    lines += [
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def _describe(body: bytes) -> tuple[str | None, int | None, str | None, str | None]:
    """(article id, version, event, headline) from a webhook body; None for what is missing."""
    try:
        event = json.loads(body)
        data = event["data"]
        uri = str(data["uri"])
        version = int(data["version"])
        kind = str(event["type"]).removeprefix("article.")
    except (ValueError, KeyError, TypeError):
        return None, None, None, None
    article_id = uri.removeprefix(ARTICLE_URN) if uri.startswith(ARTICLE_URN) else None
    headlines = data.get("headlines") or [{}]
    headline = headlines[0].get("value") if isinstance(headlines[0], dict) else None
    return article_id, version, kind, headline
