"""Engines and sessions, built from Settings."""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
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
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_LOCK_WAIT_SECONDS, "isolation_level": None}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        _WRITERS[engine] = threading.RLock()
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the intake read while a worker writes; busy_timeout makes writers wait, not fail.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_LOCK_WAIT_SECONDS * 1000)}")
    cursor.close()


# How long a writer waits for SQLite's write lock before giving up (as the busy_timeout).
SQLITE_LOCK_WAIT_SECONDS = 30.0
# Polling interval while waiting for it: from this, growing to SQLITE_LOCK_POLL_MAX.
SQLITE_LOCK_POLL_MIN = 0.0001
SQLITE_LOCK_POLL_MAX = 0.002


def _sqlite_begin_immediate(connection: Any) -> None:
    writes = connection.get_execution_options().get(WRITE_OPTION, False)
    if not writes:
        connection.exec_driver_sql("BEGIN")
        return
    _begin_immediate(connection.connection.dbapi_connection)


def _begin_immediate(dbapi_connection: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting for the write lock by polling it every 0.1-2 ms.

    SQLite's own busy handler sleeps 1, 2, 5, 10 ... up to 100 ms between tries: with several
    processes writing short transactions, the lock then often sits free while every waiter
    sleeps (py-spy showed the workers spending most of a drained backlog in that wait). The
    handler stays on for everything else (a commit meeting a checkpoint), only this wait is
    ours.
    """
    deadline = time.monotonic() + SQLITE_LOCK_WAIT_SECONDS
    delay = SQLITE_LOCK_POLL_MIN
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                locked = "locked" in str(exc) or "busy" in str(exc)
                if not locked or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 1.5, SQLITE_LOCK_POLL_MAX)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={int(SQLITE_LOCK_WAIT_SECONDS * 1000)}")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


WRITE_OPTION = "pressroom_writes"

# SQLite has one writer at a time. Threads of one process that queue on SQLite's busy handler
# sleep in growing steps (up to 100 ms each) and wake long after the lock is free, so under
# load most of a writer's latency was sleeping (intake p99 of seconds with 16 clients); this
# lock hands the turn over at once within a process, and only processes contend in SQLite
# (polling it finely, see _begin_immediate).
# Reentrant: a nested writing transaction behaves as before (it waits on SQLite).
_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


@contextmanager
def _turn(lock: threading.RLock | None) -> Iterator[None]:
    # Never waits longer than SQLite itself would (busy_timeout): past that, SQLite decides.
    held = lock is not None and lock.acquire(timeout=SQLITE_LOCK_WAIT_SECONDS)
    try:
        yield
    finally:
        if held:
            assert lock is not None
            lock.release()


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A writing transaction: committed at the end, rolled back on an exception."""
    bind = factory.kw.get("bind")
    lock = _WRITERS.get(bind) if isinstance(bind, Engine) else None
    with _turn(lock), factory() as session, session.begin():
        # Taken now, so the connection begins as a writer (BEGIN IMMEDIATE on SQLite).
        session.connection(execution_options={WRITE_OPTION: True})
        yield session
