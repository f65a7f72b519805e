"""The intake under gunicorn as a real subprocess, configured as in production.

Its worker timeout (30 s) is what turns a hung request into a torn connection and a client
retry, so tests that bound the intake's answers run it this way rather than in a thread.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

import httpx

from pressroom_cli.redis_server import free_port
from pressroom_shared.config import Settings
from tests.support.services import wait_until


class IntakeProcess:
    def __init__(self, settings: Settings, log: Path, *, workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._file = log.open("wb")
        env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "pressroom_intake.wsgi:app",
            ],
            env=env,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self._answers, 30, "gunicorn to serve the intake", interval=0.1)

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited early:\n{self.output()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._file.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def __enter__(self) -> IntakeProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
