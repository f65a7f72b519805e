"""A Telegram Bot API double on 127.0.0.1: the request and answer shapes of sendMessage,
editMessageText and deleteMessage, with a channel it keeps, and scripted failures.

    with BotApi(token="123:abc") as api:
        api.script(BotReply.too_many(3), BotReply.error(400, "Bad Request: can't parse entities"))
        ... deliver with api_base = api.url ...
        api.wait_for(lambda a: len(a.channel) == 1)
        api.calls[0].method, api.calls[0].payload

Every call is recorded (method, JSON payload, what it was answered). The channel maps
message_id -> text as the Bot API would hold it. A wrong token is answered 401, as Telegram does.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")


@dataclass(frozen=True)
class BotReply:
    status: int
    body: dict[str, Any]
    delay: float = 0.0

    @classmethod
    def error(cls, status: int, description: str, **parameters: Any) -> BotReply:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return cls(status, body)

    @classmethod
    def too_many(cls, retry_after: int) -> BotReply:
        return cls.error(
            429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
        )

    @classmethod
    def slow(cls, delay: float) -> BotReply:
        """Handle the call normally, but answer only after `delay` seconds."""
        return cls(0, {}, delay)


@dataclass(frozen=True)
class BotCall:
    method: str
    payload: dict[str, Any]
    status: int
    at: float = field(default_factory=time.time)


class BotApi:
    def __init__(self, token: str = "123456:TEST-token") -> None:  # noqa: S107 - a test double
        self.token = token
        self.channel: dict[int, str] = {}
        self._calls: list[BotCall] = []
        self._script: deque[BotReply] = deque()
        self._next_id = 100
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.block_on_close = False
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> BotApi:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *replies: BotReply) -> None:
        with self._lock:
            self._script.extend(replies)

    @property
    def calls(self) -> list[BotCall]:
        with self._lock:
            return list(self._calls)

    def methods(self) -> list[str]:
        return [c.method for c in self.calls if c.status == 200]

    def wait_for(self, predicate: Callable[[BotApi], object], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise TimeoutError(f"Bot API: condition not met; calls: {self.calls}")
            time.sleep(0.02)

    def _handle(self, token: str, method: str, payload: dict[str, Any]) -> tuple[int, Any, float]:
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        delay = 0.0
        if scripted is not None:
            if scripted.status:
                return scripted.status, scripted.body, scripted.delay
            delay = scripted.delay
        if token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, 0.0
        with self._lock:
            return (*self._apply(method, payload), delay)

    def _apply(self, method: str, payload: dict[str, Any]) -> tuple[int, Any]:
        def bad(description: str) -> tuple[int, Any]:
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: " + description,
            }

        if "chat_id" not in payload:
            return bad("chat_id is empty")
        if method == "sendMessage":
            if not payload.get("text"):
                return bad("message text is empty")
            self._next_id += 1
            self.channel[self._next_id] = payload["text"]
            message = {"message_id": self._next_id, "date": int(time.time()), "text": "…"}
            return 200, {"ok": True, "result": message}
        if method == "editMessageText":
            message_id = payload.get("message_id")
            if message_id not in self.channel:
                return bad("message to edit not found")
            if self.channel[message_id] == payload.get("text"):
                return bad(
                    "message is not modified: specified new message content and reply markup "
                    "are exactly the same as a current content and reply markup of the message"
                )
            self.channel[message_id] = payload["text"]
            return 200, {"ok": True, "result": {"message_id": message_id}}
        if method == "deleteMessage":
            message_id = payload.get("message_id")
            if message_id not in self.channel:
                return bad("message to delete not found")
            del self.channel[message_id]
            return 200, {"ok": True, "result": True}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                match = _PATH.match(self.path)
                try:
                    payload = json.loads(raw)
                except ValueError:
                    payload = {}
                if match is None:
                    status, body, delay = 404, {"ok": False, "error_code": 404}, 0.0
                    method = self.path
                else:
                    method = match["method"]
                    status, body, delay = api._handle(match["token"], method, payload)
                with api._lock:
                    api._calls.append(BotCall(method, payload, status))
                if delay:
                    time.sleep(delay)
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


# -- Telegram's HTML subset ----------------------------------------------------------------------

ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-spoiler",
    "span",
}
_TOKEN = re.compile(
    r'<(?P<close>/)?(?P<tag>[a-z-]+)(?P<attrs>(?:\s+[a-z-]+="[^"<>]*")*)\s*>'
    r"|&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);"
    r"|[^<>&]+",
)


def telegram_html_problems(text: str) -> list[str]:
    """Why the Bot API (parse_mode HTML) would refuse or mangle `text`; [] when it is valid.

    Written from the Bot API's "HTML style" rules: only the tags above, `href` only on `a`,
    tags closed in order, `<`, `>` and `&` only as tags or entities (named: lt, gt, amp, quot),
    and at most 4096 UTF-16 code units (counting the markup too, which is stricter).
    """
    problems = []
    if len(text.encode("utf-16-le")) // 2 > 4096:
        problems.append("longer than 4096 UTF-16 code units")
    stack: list[str] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            problems.append(f"stray {text[position]!r} at {position}")
            position += 1
            continue
        position = match.end()
        tag = match["tag"]
        if tag is None:
            continue
        if tag not in ALLOWED_TAGS:
            problems.append(f"tag <{tag}> is not in the subset")
        attrs = re.findall(r'([a-z-]+)="', match["attrs"] or "")
        if match["close"]:
            if attrs:
                problems.append(f"attributes on </{tag}>")
            if not stack or stack.pop() != tag:
                problems.append(f"</{tag}> closes nothing open")
        else:
            if tag == "a" and attrs != ["href"]:
                problems.append(f"<a> must have exactly href, has {attrs}")
            if tag != "a" and attrs and tag not in ("span", "pre", "code"):
                problems.append(f"<{tag}> takes no attributes")
            stack.append(tag)
    if stack:
        problems.append(f"unclosed tags {stack}")
    return problems
