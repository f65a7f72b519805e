"""Engines and sessions, built from Settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from pressroom_shared.config import Settings


def make_engine(settings: Settings) -> Engine:
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None hands transaction control to us, so a writing transaction can
        # start with BEGIN IMMEDIATE: with several processes writing, a deferred transaction
        # that reads and then writes fails at once with SQLITE_BUSY instead of waiting its
        # turn. Reading sessions stay deferred, so under WAL they never wait for a writer.
        engine = create_engine(url, connect_args={"timeout": 30, "isolation_level": None})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the intake read while a worker writes; busy_timeout makes writers wait, not fail.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    writes = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


WRITE_OPTION = "pressroom_writes"


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A writing transaction: committed at the end, rolled back on an exception."""
    with factory() as session, session.begin():
        # Taken now, so the connection begins as a writer (BEGIN IMMEDIATE on SQLite).
        session.connection(execution_options={WRITE_OPTION: True})
        yield session
