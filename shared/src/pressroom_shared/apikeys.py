"""API tokens: shown once, stored as SHA-256 (they are random, so a slow KDF buys nothing)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from pressroom_shared.models import ApiKey
from pressroom_shared.timeutil import utcnow

SCOPES = frozenset({"submit", "read", "operate"})
TOKEN_PREFIX = "prs_"  # noqa: S105 - a prefix that makes leaked tokens easy to scan for


class ApiKeyError(ValueError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _scopes(scopes: Iterable[str]) -> str:
    wanted = {s.strip() for s in scopes if s.strip()}
    if unknown := wanted - SCOPES:
        raise ApiKeyError(
            f"unknown scopes: {', '.join(sorted(unknown))}; known: {', '.join(sorted(SCOPES))}"
        )
    if not wanted:
        raise ApiKeyError("give at least one scope")
    return ",".join(sorted(wanted))


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_key(session: Session, name: str, scopes: Iterable[str], *, replace: bool = False) -> str:
    """A new key; with `replace`, an existing key of that name gets these scopes and a new
    token instead (its old token stops working)."""
    wanted = _scopes(scopes)
    existing = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if existing is not None and not replace:
        raise ApiKeyError(
            f"a key named {name!r} exists; `pressroom keys rotate {name}` prints a new token "
            f"for it, or add --replace to give it new scopes and a new token"
        )
    token = _new_token()
    if existing is None:
        session.add(ApiKey(name=name, token_hash=hash_token(token), scopes=wanted))
    else:
        existing.scopes = wanted
        existing.token_hash = hash_token(token)
        existing.revoked_at = None
    return token


def _get(session: Session, name: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if key is None:
        raise ApiKeyError(f"no key named {name!r} (`pressroom keys list` shows them)")
    return key


def rotate_key(session: Session, name: str) -> str:
    """A new token for the key, which keeps its name and scopes; the old token stops working
    (a revoked key comes back with the new token)."""
    key = _get(session, name)
    token = _new_token()
    key.token_hash = hash_token(token)
    key.revoked_at = None
    return token


def revoke_key(session: Session, name: str) -> ApiKey:
    key = _get(session, name)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.name)))


def authenticate(session: Session, token: str) -> ApiKey | None:
    key = session.scalar(select(ApiKey).where(ApiKey.token_hash == hash_token(token)))
    if key is None or key.revoked_at is not None:
        return None
    return key
