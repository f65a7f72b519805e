"""Per-token rate limits on /v1, counted in Redis (flask-limiter)."""

from __future__ import annotations

import hashlib

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from pressroom_shared.config import Settings


def token_key() -> str:
    # A hash, so the token itself never lands in Redis; anonymous calls count per address.
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "token:" + hashlib.sha256(token.strip().encode()).hexdigest()[:32]
    return "addr:" + get_remote_address()


def make_limiter(settings: Settings) -> Limiter:
    return Limiter(
        key_func=token_key,
        storage_uri=settings.redis_url.replace("redis+socket://", "redis+unix://", 1),
        strategy="moving-window",
        headers_enabled=True,  # Retry-After and X-RateLimit-* on every answer
        # Redis down must not take intake down: count in memory until it is back.
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        key_prefix="pressroom-ratelimit",
    )
