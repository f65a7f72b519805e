"""/metrics under gunicorn as `pressroom run` starts it: two processes answer requests, and
whichever answers the scrape reports the requests of both (prometheus-client's multiprocess
mode, its folder handed to the children through Settings)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pressroom_cli.main import metrics_folder
from pressroom_cli.supervisor import programs
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine
from pressroom_shared.migrate import upgrade
from pressroom_shared.outlets_config import load_outlets
from tests.support.services import free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

REQUESTS = 40


@pytest.fixture
def intake(tmp_path: Path, redis_url: str) -> Iterator[tuple[str, Path]]:
    settings = Settings(var_dir=tmp_path / "var", redis_url=redis_url, log_json=False)
    settings = settings.replace(prometheus_multiproc_dir=metrics_folder(settings))
    upgrade(make_engine(settings))
    port = free_port()
    (prog,) = [
        p
        for p in programs(settings, load_outlets(settings), "127.0.0.1", port)
        if p.name == "intake"
    ]
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        prog.argv,
        env={**os.environ, **settings.to_env()},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 30, "gunicorn to answer /healthz", interval=0.2)
        assert settings.prometheus_multiproc_dir is not None
        yield base, settings.prometheus_multiproc_dir
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def healthz_count(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == "pressroom_http_requests":
            return sum(
                s.value
                for s in family.samples
                if s.name.endswith("_total") and s.labels["route"] == "/healthz"
            )
    return 0.0


def test_every_process_is_counted_whichever_answers_the_scrape(
    intake: tuple[str, Path],
) -> None:
    base, folder = intake
    before = healthz_count(base)
    for _ in range(REQUESTS):
        # A new connection each time, so both gunicorn processes take some.
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    for _ in range(4):
        assert healthz_count(base) - before >= REQUESTS
    writers = {path.name.rsplit("_", 1)[-1] for path in folder.glob("counter_*.db")}
    assert len(writers) >= 2, f"one process wrote metrics: {sorted(folder.iterdir())}"
