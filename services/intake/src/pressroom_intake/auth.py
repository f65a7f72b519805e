"""Bearer tokens with scopes on every /v1 endpoint."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, request

from pressroom_intake.context import intake
from pressroom_intake.problems import ProblemError
from pressroom_intake.ratelimit import auth_failures
from pressroom_shared.apikeys import authenticate, hash_token

F = TypeVar("F", bound=Callable[..., Any])

BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pressroom"'}


@dataclass(frozen=True)
class VerifiedKey:
    id: int
    name: str
    scopes: frozenset[str]
    until: float  # time.monotonic() past which the database is asked again


class TokenCache:
    """Tokens this process verified in the last `seconds` (PRESSROOM_TOKEN_CACHE_SECONDS).

    Looking a token up cost a session, a query and an ORM object on every call. Only verified
    tokens are kept, so guessing cannot grow it. The price is the
    documented bound: a revoked, rotated or re-scoped token keeps its old rights for at most
    `seconds` in each intake process.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._keys: dict[str, VerifiedKey] = {}

    def verify(self, token: str) -> VerifiedKey | None:
        digest = hash_token(token)
        now = time.monotonic()
        cached = self._keys.get(digest)
        if cached is not None and now < cached.until:
            return cached
        with intake().sessions() as session:
            key = authenticate(session, token)
            if key is None:
                self._keys.pop(digest, None)
                return None
            verified = VerifiedKey(key.id, key.name, key.scope_set, now + self.seconds)
        if self.seconds > 0:
            if len(self._keys) >= 1000:  # tokens rotated away, never asked for again
                self._keys = {d: k for d, k in self._keys.items() if now < k.until}
            self._keys[digest] = verified
        return verified


def install_token_cache(app: Flask, seconds: float) -> None:
    app.extensions["pressroom.tokens"] = TokenCache(seconds)


def _tokens() -> TokenCache:
    return cast(TokenCache, current_app.extensions["pressroom.tokens"])


def require_scope(scope: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ProblemError(
                    401,
                    "unauthorized",
                    "Unauthorized",
                    "Send an API token as `Authorization: Bearer TOKEN`.",
                    headers=BEARER_CHALLENGE,
                )
            failures = auth_failures()
            failures.check()
            key = _tokens().verify(token.strip())
            if key is None:
                failures.record()
                raise ProblemError(
                    401,
                    "unauthorized",
                    "Unauthorized",
                    "The API token is unknown or revoked.",
                    headers=BEARER_CHALLENGE,
                )
            if scope not in key.scopes:
                raise ProblemError(
                    403,
                    "forbidden",
                    "Forbidden",
                    f"This token lacks the `{scope}` scope.",
                )
            g.api_key_id = key.id
            g.api_key_name = key.name
            return view(*args, **kwargs)

        wrapper._pressroom_scope = scope  # type: ignore[attr-defined]  # read by the route audit test
        return wrapper  # type: ignore[return-value]

    return decorate
