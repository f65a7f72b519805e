"""Redis faults under a stream of articles: black-holed (connections open, nothing answered)
and restarted. Real gunicorn intake, real worker and scheduler subprocesses, a real Redis behind
a TCP fault proxy, a real webhook receiver; loopback only.

What must hold: every POST answers 202 within ANSWER_BOUND seconds whatever Redis does (the
article is stored; the sweeper sends its work when Redis is back), no article is stored twice,
and every article reaches the webhook partner under one webhook-id, the database saying
delivered.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from celery import Celery
from sqlalchemy import func, select

from pressroom_cli.redis_server import free_port
from pressroom_shared.celery_app import make_celery
from pressroom_shared.config import Settings
from pressroom_shared.contracts import Lane, Stage
from pressroom_shared.db import make_engine
from pressroom_shared.dispatch import send_steps
from pressroom_shared.migrate import upgrade
from pressroom_shared.models import Article
from pressroom_shared.outlets_config import load_outlets
from pressroom_shared.steps import StepRef
from tests.conftest import make_settings, new_token, write_outlets
from tests.support.intake_server import IntakeProcess
from tests.support.services import (
    CeleryProcess,
    beat_process,
    port_open,
    wait_until,
    worker_process,
)
from tests.support.tcp_proxy import TcpProxy
from tests.support.webhook_receiver import Reply, WebhookReceiver, signature_matches

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

ANSWER_BOUND = 5.0  # seconds: what the README promises for POST while Redis is stalled
DELIVERY_WAIT = 40.0
# Longer than the worker's heartbeat (2 s) and the scheduler's first reconnect waits: both
# are stuck on Redis for a while, and the intake keeps answering all along.
STALL_SECONDS = 10.0


def chaos_settings(
    tmp_path: Path, redis_url: str, database_url: str, receiver: WebhookReceiver
) -> Settings:
    # The Redis timeouts stay at their defaults: the bound under test is the shipped one.
    settings = make_settings(
        tmp_path,
        redis_url=redis_url,
        database_url=database_url,
        outlets_file=write_outlets(tmp_path, receiver),
    )
    upgrade(make_engine(settings))
    return settings


def producer_for(settings: Settings) -> Celery:
    return make_celery(settings, [o.name for o in load_outlets(settings)], main="chaos-producer")


@pytest.fixture
def proxy(redis_url: str) -> Iterator[TcpProxy]:
    port = urlsplit(redis_url).port
    assert port is not None, f"the chaos tests need Redis over TCP, not {redis_url}"
    with TcpProxy(port) as running:
        yield running


class RestartableRedis:
    """A private redis-server on a fixed port, persistence off: a restart loses every message."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not on PATH (apt-get install redis-server)")
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open(self.port), 10, "redis-server to listen")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


def article(n: int) -> dict[str, str]:
    return {
        "headline": f"Сводка {n}: обмен пленными завершён",
        "body": f"Текст сводки номер {n}.\n\nВторой абзац сводки.",
        "language": "ru",
        "byline": "Хаос-тест",
        "rubric": "Проверки",
    }


def submit(base: str, token: str, n: int) -> tuple[str, float]:
    """POST one article; it must be accepted within the bound. Returns its id and the time."""
    started = time.monotonic()
    response = httpx.post(
        f"{base}/v1/articles",
        json=article(n),
        headers={"Authorization": f"Bearer {token}"},
        timeout=ANSWER_BOUND * 3,
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 202, f"article {n}: {response.status_code} {response.text}"
    assert elapsed < ANSWER_BOUND, f"article {n} was answered after {elapsed:.2f} s"
    return str(response.json()["id"]), elapsed


def status_of(base: str, token: str, article_id: str) -> str:
    response = httpx.get(
        f"{base}/v1/articles/{article_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=ANSWER_BOUND,
    )
    return str(response.json()["status"]) if response.status_code == 200 else ""


def stored_articles(settings: Settings) -> int:
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Article)) or 0)
    finally:
        engine.dispose()


def webhook_ids_by_article(receiver: WebhookReceiver) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for request in receiver.requests:
        if not signature_matches(receiver.secret, request.headers, request.body):
            continue
        uri = request.json()["data"]["uri"]  # urn:pressroom:article:<id>
        found[uri.rsplit(":", 1)[-1]].add(request.headers["webhook-id"])
    return found


def assert_each_delivered_once(
    base: str, token: str, settings: Settings, receiver: WebhookReceiver, ids: list[str]
) -> None:
    waiting = set(ids)

    def all_delivered() -> bool:
        waiting.difference_update(
            [i for i in list(waiting) if status_of(base, token, i) == "delivered"]
        )
        return not waiting

    wait_until(all_delivered, DELIVERY_WAIT, "every article to be delivered", interval=0.3)
    webhook_ids = webhook_ids_by_article(receiver)
    assert set(webhook_ids) == set(ids), "every article reached the partner, and nothing else"
    repeated = {a: sorted(w) for a, w in webhook_ids.items() if len(w) != 1}
    assert not repeated, f"an article went out under several webhook-ids: {repeated}"
    assert stored_articles(settings) == len(ids), "an article was stored twice"


def stop_all(*processes: CeleryProcess | IntakeProcess | None) -> None:
    for process in processes:
        if process is not None:
            process.stop()


def test_publishing_to_a_black_holed_redis_gives_up_after_one_timeout(
    proxy: TcpProxy, redis_url: str
) -> None:
    settings = Settings(redis_url=proxy.url, log_json=False)
    app = make_celery(settings, ["site"], main="chaos-publisher")
    refs = [StepRef(f"step-{n}", Stage.RENDER, Lane.NORMAL) for n in range(5)]
    assert send_steps(app, refs[:1]) == 1  # a live pooled connection, as in a running intake
    proxy.blackhole()
    started = time.monotonic()
    assert send_steps(app, refs) == 0
    elapsed = time.monotonic() - started
    # One socket timeout for the first message, none for the four left to the sweeper.
    assert elapsed < 2 * settings.redis_socket_timeout_seconds, f"took {elapsed:.2f} s"
    proxy.forward()
    assert send_steps(app, refs) == len(refs), "publishing resumes when Redis answers again"
    queued = redis.Redis.from_url(redis_url).llen("render")
    assert queued >= 1 + len(refs), "everything acknowledged by send_steps is in the queue"


def test_posts_answer_202_while_redis_is_black_holed_and_everything_is_delivered_after(
    tmp_path: Path,
    proxy: TcpProxy,
    database_url: str,
    receiver: WebhookReceiver,
) -> None:
    settings = chaos_settings(tmp_path, proxy.url, database_url, receiver)
    token = new_token(settings)
    worker = beat = None
    intake = IntakeProcess(settings, tmp_path / "intake.log")
    try:
        ids = [submit(intake.url, token, 0)[0]]  # the pools hold live connections when it stalls
        proxy.blackhole()
        timings = []
        for n in range(1, 7):
            article_id, elapsed = submit(intake.url, token, n)
            ids.append(article_id)
            timings.append(elapsed)
        print("\nPOST with Redis black-holed, s:", " ".join(f"{t:.2f}" for t in timings))
        assert stored_articles(settings) == len(ids)

        proxy.forward()
        worker = worker_process(settings, tmp_path / "worker.log", producer_for(settings))
        beat = beat_process(settings, tmp_path / "beat.log")
        assert_each_delivered_once(intake.url, token, settings, receiver, ids)
    finally:
        stop_all(intake, worker, beat)


def test_a_stall_in_the_middle_of_a_stream_delays_but_loses_nothing(
    tmp_path: Path,
    proxy: TcpProxy,
    database_url: str,
    receiver: WebhookReceiver,
) -> None:
    settings = chaos_settings(tmp_path, proxy.url, database_url, receiver)
    token = new_token(settings)
    intake = IntakeProcess(settings, tmp_path / "intake.log")
    worker = worker_process(settings, tmp_path / "worker.log", producer_for(settings))
    beat = beat_process(settings, tmp_path / "beat.log")
    try:
        ids = []
        for n in range(3):
            ids.append(submit(intake.url, token, n)[0])
            time.sleep(0.3)
        proxy.blackhole()
        stalled_until = time.monotonic() + STALL_SECONDS
        n = 3
        while time.monotonic() < stalled_until:
            ids.append(submit(intake.url, token, n)[0])
            n += 1
        proxy.forward()
        for m in range(n, n + 3):
            ids.append(submit(intake.url, token, m)[0])
            time.sleep(0.3)
        assert_each_delivered_once(intake.url, token, settings, receiver, ids)
        assert worker.process.poll() is None, "the worker survived the stall"
    finally:
        stop_all(intake, worker, beat)


def test_a_redis_restart_mid_stream_loses_queued_messages_and_the_sweeper_redrives_them(
    tmp_path: Path,
    database_url: str,
    receiver: WebhookReceiver,
) -> None:
    server = RestartableRedis(tmp_path / "redis")
    server.start()
    settings = chaos_settings(tmp_path, server.url, database_url, receiver)
    token = new_token(settings)
    intake = worker = beat = None
    try:
        intake = IntakeProcess(settings, tmp_path / "intake.log")
        worker = worker_process(settings, tmp_path / "worker.log", producer_for(settings))
        beat = beat_process(settings, tmp_path / "beat.log")
        receiver.script(*[Reply(200, delay=1.5)] * 3)  # deliveries in flight when Redis dies
        ids = []
        for n in range(3):
            ids.append(submit(intake.url, token, n)[0])
        wait_until(lambda: receiver.requests, 15, "a delivery to be in flight")
        server.kill()  # queued and unacknowledged messages are gone with it
        for n in range(3, 6):  # Redis stays away for a few seconds, as a real restart does
            ids.append(submit(intake.url, token, n)[0])
            time.sleep(1)
        server.start()
        for n in range(6, 9):
            ids.append(submit(intake.url, token, n)[0])
            time.sleep(0.2)
        assert_each_delivered_once(intake.url, token, settings, receiver, ids)
        assert worker.process.poll() is None, "the worker survived the restart"
    finally:
        stop_all(intake, worker, beat)
        server.kill()


def test_a_worker_with_a_delivery_in_flight_outlives_a_redis_restart(
    tmp_path: Path, sqlite_url: str, receiver: WebhookReceiver
) -> None:
    """kombu's own transport killed the worker here ("Unrecoverable error"): see
    pressroom_shared.redis_transport."""
    server = RestartableRedis(tmp_path / "redis")
    server.start()
    settings = chaos_settings(tmp_path, server.url, sqlite_url, receiver)
    token = new_token(settings)
    intake = worker = beat = None
    try:
        intake = IntakeProcess(settings, tmp_path / "intake.log")
        worker = worker_process(settings, tmp_path / "worker.log", producer_for(settings))
        receiver.script(Reply(200, delay=2))
        ids = [submit(intake.url, token, 0)[0]]
        wait_until(lambda: receiver.requests, 15, "the delivery to be in flight")
        server.kill()
        time.sleep(3)
        server.start()
        beat = beat_process(settings, tmp_path / "beat.log")
        assert_each_delivered_once(intake.url, token, settings, receiver, ids)
        assert worker.process.poll() is None, f"the worker died:\n{worker.output()[-3000:]}"
    finally:
        stop_all(intake, worker, beat)
        server.kill()
