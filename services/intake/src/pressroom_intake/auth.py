"""Bearer tokens with scopes on every /v1 endpoint."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from pressroom_intake.context import intake
from pressroom_intake.problems import ProblemError
from pressroom_intake.ratelimit import auth_failures
from pressroom_shared.apikeys import authenticate

F = TypeVar("F", bound=Callable[..., Any])

BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pressroom"'}


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
            with intake().sessions() as session:
                key = authenticate(session, token.strip())
            if key is None:
                failures.record()
                raise ProblemError(
                    401,
                    "unauthorized",
                    "Unauthorized",
                    "The API token is unknown or revoked.",
                    headers=BEARER_CHALLENGE,
                )
            if scope not in key.scope_set:
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
