"""Real services for the tests: a private redis-server, a throwaway PostgreSQL database,
worker and scheduler subprocesses. Nothing here is faked."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from celery import Celery

from pressroom_cli.redis_server import free_port
from pressroom_shared.config import Settings
from pressroom_shared.contracts import all_queues
from pressroom_shared.outlets_config import load_outlets

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def wait_until(
    predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextmanager
def redis_server(folder: Path) -> Iterator[tuple[str, subprocess.Popen[bytes] | None]]:
    """A private redis-server on a free port; PRESSROOM_TEST_REDIS_URL overrides it."""
    if url := os.environ.get("PRESSROOM_TEST_REDIS_URL"):
        yield url, None
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not on PATH (apt-get install redis-server)")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--maxmemory-policy",
            "noeviction",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port), 10, "redis-server")
        yield f"redis://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.wait(timeout=10)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def postgres_available() -> str | None:
    """None when PostgreSQL answers; otherwise the reason it does not.

    Where PRESSROOM_REQUIRE_POSTGRES is set (CI), an unreachable PostgreSQL fails the test
    instead of skipping it, so the PostgreSQL variants cannot silently stop running.
    """
    try:
        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=2):
            return None
    except psycopg.Error as exc:
        reason = f"PostgreSQL at 127.0.0.1:5432 is unreachable: {exc}".strip()
    if os.environ.get("PRESSROOM_REQUIRE_POSTGRES"):
        raise AssertionError(f"{reason} (PRESSROOM_REQUIRE_POSTGRES is set)")
    return reason


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"pressroom_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


QUEUE_PREFIXES = ("render", "index", "deliver.", "maintenance")


def queue_lengths(redis_url: str) -> dict[str, int]:
    """Messages waiting in each of our Celery queues (lists named after the queues)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    names = [key.decode() for key in client.keys("*")]
    return {
        name: client.llen(name)
        for name in names
        if name.startswith(QUEUE_PREFIXES) and client.type(name) == b"list"
    }


class CeleryProcess:
    """`celery -A pressroom_workers.celery worker|beat` as a real subprocess."""

    def __init__(self, settings: Settings, args: list[str], log: Path) -> None:
        self.log = log
        self._file = log.open("wb")
        env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "pressroom_workers.celery", *args],
            env=env,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._file.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def worker_process(
    settings: Settings, log: Path, producer: Celery, name: str = "e2e"
) -> CeleryProcess:
    queues = all_queues(o.name for o in load_outlets(settings))
    node = f"{name}-{uuid.uuid4().hex[:6]}@localhost"
    worker = CeleryProcess(
        settings,
        [
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "4",
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
            "-n",
            node,
            "-Q",
            ",".join(queues),
        ],
        log,
    )

    def answers() -> bool:
        if worker.process.poll() is not None:
            raise AssertionError(f"worker exited early:\n{worker.output()}")
        return bool(producer.control.ping(destination=[node], timeout=0.5))

    wait_until(answers, 30, "the worker subprocess to answer a ping", interval=0.2)
    return worker


def beat_process(settings: Settings, log: Path) -> CeleryProcess:
    return CeleryProcess(
        settings,
        ["beat", "--loglevel", "INFO", "--schedule", str(log.with_suffix(".schedule"))],
        log,
    )
