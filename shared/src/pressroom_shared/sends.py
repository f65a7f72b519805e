"""The per-recipient send record of outlets that cannot dedupe a resend remotely.

An outlet freezes a delivery's recipients (`freeze`), marks each one `sending` in its own
committed transaction just before it sends, and `sent` (or `failed`) just after. A crash
between the two leaves `sending`: whether that one message arrived cannot be known, so it is
never sent again on its own (`settle_interrupted` makes it `unknown` for an operator), and
nobody is sent the same thing twice.

Outlets are built from Settings alone, in every worker process, so the record opens its own
engine on the configured database, once per process and URL, on the first send.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine, make_sessionmaker, transaction
from pressroom_shared.models import OutletSend
from pressroom_shared.timeutil import utcnow

PENDING, SENDING, SENT, FAILED, UNKNOWN = "pending", "sending", "sent", "failed", "unknown"
SETTLED = (SENT, FAILED, UNKNOWN)

_factories: dict[str, sessionmaker[Session]] = {}
_lock = threading.Lock()


def sessions_for(settings: Settings) -> sessionmaker[Session]:
    url = settings.effective_database_url
    with _lock:
        if url not in _factories:
            _factories[url] = make_sessionmaker(make_engine(settings))
        return _factories[url]


@dataclass(frozen=True)
class Send:
    recipient: str
    state: str
    attempt: int
    data: dict[str, Any]


class SendLog:
    def __init__(self, settings: Settings, outlet: str) -> None:
        self._settings = settings
        self.outlet = outlet

    @property
    def _sessions(self) -> sessionmaker[Session]:
        return sessions_for(self._settings)

    def freeze(
        self,
        delivery_id: str,
        kind: str,
        recipients: Iterable[str],
        *,
        article_id: str,
        version: int,
    ) -> int:
        """Record the recipients of this delivery's `kind` once; later calls change nothing.

        Returns how many recipients the delivery has (frozen now or earlier).
        """
        now = utcnow()
        with transaction(self._sessions) as session:
            existing = set(
                session.scalars(
                    select(OutletSend.recipient).where(
                        OutletSend.outlet == self.outlet,
                        OutletSend.delivery_id == delivery_id,
                        OutletSend.kind == kind,
                    )
                ).all()
            )
            if existing:
                return len(existing)
            unique = list(dict.fromkeys(recipients))
            session.add_all(
                OutletSend(
                    outlet=self.outlet,
                    delivery_id=delivery_id,
                    article_id=article_id,
                    version=version,
                    kind=kind,
                    recipient=r,
                    state=PENDING,
                    attempt=0,
                    data={},
                    created_at=now,
                    updated_at=now,
                )
                for r in unique
            )
            return len(unique)

    def sends(self, delivery_id: str, kind: str) -> list[Send]:
        with self._sessions() as session:
            rows = session.scalars(
                select(OutletSend)
                .where(
                    OutletSend.outlet == self.outlet,
                    OutletSend.delivery_id == delivery_id,
                    OutletSend.kind == kind,
                )
                .order_by(OutletSend.id)
            ).all()
            return [Send(r.recipient, r.state, r.attempt, dict(r.data)) for r in rows]

    def settle_interrupted(self, delivery_id: str, kind: str, attempt: int) -> int:
        """`sending` rows left by an earlier attempt (a crash, a timeout) become `unknown`."""
        with transaction(self._sessions) as session:
            result = session.execute(
                update(OutletSend)
                .where(
                    OutletSend.outlet == self.outlet,
                    OutletSend.delivery_id == delivery_id,
                    OutletSend.kind == kind,
                    OutletSend.state == SENDING,
                    OutletSend.attempt != attempt,
                )
                .values(
                    state=UNKNOWN,
                    detail="interrupted mid-send: it may or may not have arrived",
                    updated_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
            return result.rowcount  # type: ignore[attr-defined,no-any-return]

    def mark(
        self,
        delivery_id: str,
        kind: str,
        recipient: str,
        state: str,
        *,
        attempt: int,
        expect: Iterable[str],
        detail: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> bool:
        """Move one recipient from one of the `expect` states to `state`; False if it was not
        in one of them (another attempt got there first)."""
        values: dict[str, Any] = {
            "state": state,
            "attempt": attempt,
            "detail": detail,
            "updated_at": utcnow(),
        }
        if data is not None:
            values["data"] = data
        with transaction(self._sessions) as session:
            result = session.execute(
                update(OutletSend)
                .where(
                    OutletSend.outlet == self.outlet,
                    OutletSend.delivery_id == delivery_id,
                    OutletSend.kind == kind,
                    OutletSend.recipient == recipient,
                    OutletSend.state.in_(list(expect)),
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]

    def received(self, article_id: str, kind: str) -> list[str]:
        """Recipients that were sent (or may have been sent) any version's `kind`."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(OutletSend.recipient)
                    .where(
                        OutletSend.outlet == self.outlet,
                        OutletSend.article_id == article_id,
                        OutletSend.kind == kind,
                        OutletSend.state.in_([SENT, UNKNOWN]),
                    )
                    .distinct()
                    .order_by(OutletSend.recipient)
                ).all()
            )
