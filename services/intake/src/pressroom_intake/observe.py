"""Per-request observability: a request id bound to every log line (and stored with the article
version it creates), and the request counters and latency histogram that /metrics exposes."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from flask import Flask, Response, g, request

from pressroom_shared.metrics import HTTP_REQUESTS, HTTP_SECONDS

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is kept if it is short and plain (it goes into logs, headers and the database);
# anything else is replaced by ours.
_USABLE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,200}")


def install_observability(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(lambda _exc: structlog.contextvars.clear_contextvars())


def _start() -> None:
    g.started = time.perf_counter()
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _USABLE_ID.fullmatch(given) else uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=g.request_id)


def _finish(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("started")
    # The route's pattern, never the raw path: a label per article id would grow without end.
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    if started is not None:
        HTTP_SECONDS.labels(request.method, route).observe(time.perf_counter() - started)
    return response
