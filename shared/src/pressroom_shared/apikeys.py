"""API tokens: shown once, stored as SHA-256 (they are random, so a slow KDF buys nothing)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from pressroom_shared.models import ApiKey

SCOPES = frozenset({"submit", "read", "operate"})
TOKEN_PREFIX = "prs_"  # noqa: S105 - a prefix that makes leaked tokens easy to scan for


class ApiKeyError(ValueError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(session: Session, name: str, scopes: Iterable[str]) -> str:
    wanted = {s.strip() for s in scopes if s.strip()}
    if unknown := wanted - SCOPES:
        raise ApiKeyError(
            f"unknown scopes: {', '.join(sorted(unknown))}; known: {', '.join(sorted(SCOPES))}"
        )
    if not wanted:
        raise ApiKeyError("give at least one scope")
    if session.scalar(select(ApiKey).where(ApiKey.name == name)) is not None:
        raise ApiKeyError(f"a key named {name!r} exists")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, token_hash=hash_token(token), scopes=",".join(sorted(wanted))))
    return token


def authenticate(session: Session, token: str) -> ApiKey | None:
    key = session.scalar(select(ApiKey).where(ApiKey.token_hash == hash_token(token)))
    if key is None or key.revoked_at is not None:
        return None
    return key
