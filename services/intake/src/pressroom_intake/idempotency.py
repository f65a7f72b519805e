"""Idempotency-Key (draft-ietf-httpapi-idempotency-key-header), remembered per API key.

Same key and payload → the original response; same key, other payload → 422; the original still
in flight → 409. The in-flight marker is committed on its own, before the article, so a
concurrent retry sees it at once instead of waiting on the article's transaction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from pressroom_intake.problems import ProblemError
from pressroom_shared.db import transaction
from pressroom_shared.models import IdempotencyRecord

# An sf-string ("...") per the draft; bare tokens are accepted too, as Stripe-style clients send.
KEY_PATTERN = re.compile(r'^"?([\x21\x23-\x7e]{1,255})"?$')
IN_FLIGHT_TAKEOVER = timedelta(
    minutes=2
)  # a request that died mid-way must not block the key forever


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]
    location: str | None


def parse_key(header: str) -> str:
    match = KEY_PATTERN.match(header.strip())
    if match is None:
        raise ProblemError(
            400,
            "invalid-idempotency-key",
            "Invalid Idempotency-Key",
            "Idempotency-Key must be a quoted string of 1-255 printable ASCII characters.",
            errors={
                "Idempotency-Key": ['Use a UUID, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324".']
            },
        )
    return match.group(1)


def fingerprint(mimetype: str, params: Mapping[str, str], raw: bytes) -> str:
    """The payload's identity: the same bytes under the same media type, however spelled.

    `Application/JSON; Charset=UTF-8` and `application/json` are one media type: names are
    case-insensitive, and utf-8 is every format's default charset.
    """
    normalised = {key.lower(): value.strip().strip('"') for key, value in params.items()}
    if normalised.get("charset", "").lower() in ("utf-8", "utf8"):
        del normalised["charset"]
    elif "charset" in normalised:
        normalised["charset"] = normalised["charset"].lower()
    media_type = ";".join([mimetype.lower(), *(f"{k}={v}" for k, v in sorted(normalised.items()))])
    return hashlib.sha256(media_type.encode() + b"\0" + raw).hexdigest()


def begin(
    sessions: sessionmaker[Session],
    api_key_id: int,
    key: str,
    digest: str,
    *,
    now: datetime,
    ttl: int,
) -> Replay | int:
    """A stored response to replay, or the id of a new in-flight record this request owns."""
    for _ in range(2):
        with transaction(sessions) as session:
            record = session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key
                )
            )
            if record is not None and (
                record.expires_at < now
                or (record.state == "in_flight" and record.created_at < now - IN_FLIGHT_TAKEOVER)
            ):
                session.delete(record)
                session.flush()
                record = None
            if record is not None:
                return _existing(record, digest)
            record = IdempotencyRecord(
                api_key_id=api_key_id,
                key=key,
                fingerprint=digest,
                state="in_flight",
                created_at=now,
                expires_at=now + timedelta(seconds=ttl),
            )
            session.add(record)
            try:
                session.flush()
            except IntegrityError:
                session.rollback()
                continue  # a concurrent request took the key first: look again
            return record.id
    raise _in_flight()


def _existing(record: IdempotencyRecord, digest: str) -> Replay:
    if record.fingerprint != digest:
        raise ProblemError(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "This Idempotency-Key was used with a different payload.",
            errors={"Idempotency-Key": ["Already used with another payload; use a new key."]},
        )
    if record.state != "done" or record.response_status is None:
        raise _in_flight()
    return Replay(record.response_status, record.response_body or {}, record.response_location)


def _in_flight() -> ProblemError:
    return ProblemError(
        409,
        "idempotency-key-in-flight",
        "Request in progress",
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        headers={"Retry-After": "1"},
    )


def finish(
    session: Session, record_id: int, status: int, body: dict[str, Any], location: str
) -> None:
    record = session.get(IdempotencyRecord, record_id)
    assert record is not None
    record.state = "done"
    record.response_status = status
    record.response_body = body
    record.response_location = location


def abandon(sessions: sessionmaker[Session], record_id: int) -> None:
    with transaction(sessions) as session:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
