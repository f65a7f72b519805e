"""Per-token rate limits on /v1, counted in Redis (flask-limiter)."""

from __future__ import annotations

import hashlib
import math
import time

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from pressroom_intake.problems import problem
from pressroom_shared.config import Settings


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
        key_prefix="pressroom-ratelimit",
    )
    limiter.init_app(app)

    def too_many_requests(error: RateLimitExceeded) -> Response:
        current = limiter.current_limit
        wait = max(1, math.ceil(current.reset_at - time.time())) if current else 1
        return problem(
            429,
            "too-many-requests",
            "Too Many Requests",
            f"This token may make {error.limit.limit} requests; try again in {wait} s.",
            headers={"Retry-After": str(wait)},
        )

    app.register_error_handler(RateLimitExceeded, too_many_requests)
    return limiter
