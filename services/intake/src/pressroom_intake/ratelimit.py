"""Rate limits counted in Redis (flask-limiter): one budget per token across all of /v1, and a
budget of failed tokens per client address."""

from __future__ import annotations

import hashlib
import math
import time
from typing import cast

import structlog
from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse

from pressroom_intake.problems import ProblemError, problem
from pressroom_shared.config import Settings

KEY_PREFIX = "pressroom-ratelimit"
# Every /v1 blueprint shares this scope, so a token has one budget however it spreads its calls.
API_SCOPE = "v1"

log = structlog.get_logger(__name__)


def token_key() -> str:
    # A hash, so the token itself never lands in Redis; anonymous calls count per address.
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "token:" + hashlib.sha256(token.strip().encode()).hexdigest()[:32]
    return "addr:" + get_remote_address()


def install_limiter(app: Flask, settings: Settings) -> Limiter:
    limiter = Limiter(
        key_func=token_key,
        storage_uri=settings.redis_url.replace("redis+socket://", "redis+unix://", 1),
        # Socket timeouts, so a stalled Redis fails a request's count after a bounded wait and
        # the fallback below takes over. limits builds its client with redis.from_url, whose
        # pool retries nothing: one timeout per call, not one per retry.
        storage_options=settings.redis_client_options(),
        strategy="moving-window",
        # flask-limiter's own headers put Retry-After on every answer, even a 202; we send it
        # only with a 429, where it means something.
        headers_enabled=False,
        # Redis down must not take intake down: count in memory until it is back.
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        key_prefix=KEY_PREFIX,
    )
    limiter.init_app(app)
    app.extensions["pressroom.auth_failures"] = AuthFailures(
        limiter, parse(settings.auth_failure_limit)
    )

    def too_many_requests(error: RateLimitExceeded) -> Response:
        current = limiter.current_limit
        wait = max(1, math.ceil(current.reset_at - time.time())) if current else 1
        return problem(
            429,
            "too-many-requests",
            "Too Many Requests",
            f"This token may make {error.limit.limit} requests to /v1; try again in {wait} s.",
            headers={"Retry-After": str(wait)},
        )

    app.register_error_handler(RateLimitExceeded, too_many_requests)
    return limiter


class AuthFailures:
    """Failed tokens per client address. Over the budget, an address gets 429 before its token
    is even looked up, so guessing tokens costs the guesser time and us nothing.

    flask-limiter's decorators count every request; only failures must count here, so this
    drives the same `limits` strategy (and Redis storage) by hand.
    """

    def __init__(self, limiter: Limiter, limit: RateLimitItem) -> None:
        self.limiter = limiter
        self.limit = limit

    def _identifiers(self) -> tuple[str, str, str]:
        return KEY_PREFIX, "auth-failures", get_remote_address()

    def check(self) -> None:
        try:
            if self.limiter.limiter.test(self.limit, *self._identifiers()):
                return
            reset_at, _ = self.limiter.limiter.get_window_stats(self.limit, *self._identifiers())
        except Exception as exc:  # Redis down: fail open, as the per-token limit does
            log.warning("auth_failures.unavailable", error=repr(exc))
            return
        wait = max(1, math.ceil(reset_at - time.time()))
        raise ProblemError(
            429,
            "too-many-failed-tokens",
            "Too Many Failed Tokens",
            f"This address sent more than {self.limit} unknown or revoked tokens; "
            f"try again in {wait} s.",
            headers={"Retry-After": str(wait)},
        )

    def record(self) -> None:
        try:
            self.limiter.limiter.hit(self.limit, *self._identifiers())
        except Exception as exc:
            log.warning("auth_failures.unavailable", error=repr(exc))


def auth_failures() -> AuthFailures:
    return cast(AuthFailures, current_app.extensions["pressroom.auth_failures"])
