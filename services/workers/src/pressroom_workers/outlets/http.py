"""What every HTTP outlet shares: a request under a total deadline, status classification,
Retry-After, the error snippet kept for operators, and one TLS context per outlet.

Classified like the best webhook senders (Svix, Stripe): 2xx is delivered; 410 Gone disables the
outlet until an operator resumes it; 400, 413 and 422 reject the content itself, so retrying
cannot help; every other status, a timeout or a network error is retried over the schedule,
honouring Retry-After.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from pressroom_shared.plugins import OutletGoneError, PermanentError, Receipt, TransientError
from pressroom_shared.timeutil import utcnow

# The remote rejects the content: the same request will be rejected again.
CONTENT_REJECTED = frozenset({400, 413, 422})
ERROR_SNIPPET_BYTES = 300


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: httpx.Headers
    snippet: str  # the start of the body, whitespace folded
    body: bytes = b""  # up to `max_body` bytes of the body, as received


class NotSentError(TransientError):
    """The connection was never made: the remote cannot have acted on the request, so even a
    request it could not dedupe may be sent again."""


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    # Loading the CA bundle costs ~10 ms of CPU: build one per outlet, not one per delivery.
    # Contexts are safe to share between threads. `ca_file` trusts a private CA instead.
    return ssl.create_default_context(cafile=ca_file)


_loops = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    loop: asyncio.AbstractEventLoop | None = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed():
        loop = _loops.loop = asyncio.new_event_loop()
    return loop


def request_with_deadline(
    method: str,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    deadline: float,
    phase_timeout: float,
    verify: ssl.SSLContext,
    max_body: int = ERROR_SNIPPET_BYTES,
) -> HttpAnswer:
    """One request that ends within `deadline` seconds, whatever the remote does.

    httpx's timeouts bound each phase (connect, each read, each write), so a remote that drips
    one byte a second never trips them; asyncio's timeout cancels the whole exchange at the
    deadline instead, closing the connection. Runs its own event loop, so it is callable from
    any worker thread or process (one loop per thread, kept: making one per request cost
    more CPU than the request). Raises TransientError on a timeout or a network error
    (NotSentError when no connection was made). Reads at most `max_body` bytes of the answer.
    """
    try:
        return _thread_loop().run_until_complete(
            _request(method, url, content, headers, deadline, phase_timeout, verify, max_body)
        )
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise NotSentError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
    except TimeoutError:
        raise TransientError(
            f"{method} {url}: no complete answer within the {deadline:g} s deadline"
        ) from None
    except httpx.TransportError as exc:
        # Safe to resend even if the request did arrive: receivers dedupe on the delivery id.
        raise TransientError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc


async def _request(
    method: str,
    url: str,
    content: bytes,
    headers: Mapping[str, str],
    deadline: float,
    phase_timeout: float,
    verify: ssl.SSLContext,
    max_body: int,
) -> HttpAnswer:
    async with asyncio.timeout(deadline):
        async with (
            httpx.AsyncClient(
                timeout=httpx.Timeout(min(phase_timeout, deadline)),
                follow_redirects=False,
                verify=verify,
            ) as client,
            client.stream(method, url, content=content, headers=dict(headers)) as response,
        ):
            body = await _head(response, max(max_body, ERROR_SNIPPET_BYTES))
            text = body[:ERROR_SNIPPET_BYTES].decode("utf-8", "replace")
            return HttpAnswer(
                response.status_code, response.headers, " ".join(text.split()), body[:max_body]
            )


async def _head(response: httpx.Response, limit: int) -> bytes:
    """The start of the body; never the whole of a huge answer."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except httpx.HTTPError:
        return b""
    return b"".join(chunks)[:limit]


def classify(answer: HttpAnswer, where: str) -> Receipt:
    """A Receipt for a 2xx; otherwise raises the DeliveryError the status means."""
    status = answer.status
    if 200 <= status < 300:
        return Receipt(f"HTTP {status}", {"status": status})
    detail = f"{where}: HTTP {status}" + (f": {answer.snippet}" if answer.snippet else "")
    if status == 410:
        raise OutletGoneError(f"{detail} (the endpoint is gone; the outlet is disabled)")
    if status in CONTENT_REJECTED:
        raise PermanentError(detail)
    if 300 <= status < 400:
        detail += f" (redirects to {answer.headers.get('location', '')!r}; none are followed)"
    raise TransientError(detail, retry_after=parse_retry_after(answer.headers.get("retry-after")))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date); None if absent."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" dates parse naive; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or utcnow())).total_seconds())
