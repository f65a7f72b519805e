"""The intake under gunicorn exactly as `pressroom run` starts it: its own errors are
problem+json, its limits are the documented ones, and slow clients do not stall it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pressroom_cli.supervisor import programs
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine
from pressroom_shared.migrate import upgrade
from pressroom_shared.outlets_config import load_outlets
from tests.support.services import free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture
def intake(tmp_path: Path, redis_url: str) -> Iterator[tuple[str, int]]:
    settings = Settings(var_dir=tmp_path / "var", redis_url=redis_url, log_json=False)
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
        yield base, port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library would send most of these) and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split(" ")[1]), headers, body


def assert_problem(answer: tuple[int, dict[str, str], bytes], status: int) -> dict[str, object]:
    code, headers, body = answer
    assert code == status, body
    assert headers["content-type"] == "application/problem+json", headers
    assert int(headers["content-length"]) == len(body)
    problem = json.loads(body)
    assert problem["status"] == status
    assert problem["type"].startswith("https://pressroom.dev/problems/")
    assert problem["title"]
    assert problem["detail"]
    return dict(problem)


def test_the_servers_own_rejections_are_problem_json(intake: tuple[str, int]) -> None:
    _, port = intake
    host = b"Host: 127.0.0.1\r\nConnection: close\r\n"
    long_line = b"GET /v1/search?q=" + b"a" * 8200 + b" HTTP/1.1\r\n" + host + b"\r\n"
    assert "8190 bytes" in str(assert_problem(raw(port, long_line), 414)["detail"])

    many = b"".join(b"X-H%d: v\r\n" % i for i in range(101))
    assert_problem(raw(port, b"GET /healthz HTTP/1.1\r\n" + host + many + b"\r\n"), 431)
    wide = b"X-Wide: " + b"v" * 8200 + b"\r\n"
    assert_problem(raw(port, b"GET /healthz HTTP/1.1\r\n" + host + wide + b"\r\n"), 431)

    cyrillic = "GET /v1/search?q=пленный HTTP/1.1\r\n".encode() + host + b"\r\n"
    problem = assert_problem(raw(port, cyrillic), 400)
    assert "percent-encode" in str(problem["detail"])

    gzip = b"POST /v1/articles HTTP/1.1\r\n" + host + b"Transfer-Encoding: gzip\r\n\r\n"
    assert_problem(raw(port, gzip), 400)

    # Within the limits the app answers, and a long percent-encoded query is within them.
    query = "пленный " * 130  # 7 letters, 6 bytes each percent-encoded: ~6 KB
    answer = raw(
        port,
        f"GET /v1/search?q={httpx.QueryParams({'q': query})} HTTP/1.1\r\n".encode()
        + host
        + b"\r\n",
    )
    assert_problem(answer, 401)  # the app's own answer: no token
    assert answer[1]["www-authenticate"].startswith("Bearer")


def trickle(port: int, request: bytes, stop: threading.Event) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for byte in request:
            if stop.is_set():
                return
            sock.sendall(bytes([byte]))
            time.sleep(0.5)


def test_slow_clients_do_not_stall_the_intake(intake: tuple[str, int]) -> None:
    base, port = intake
    stop = threading.Event()
    slow_headers = (
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"z" * 100 + b"\r\n\r\n"
    )
    slow_body = (
        b"POST /v1/articles HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 200\r\n\r\n"
    )
    slow = [
        threading.Thread(target=trickle, args=(port, request, stop), daemon=True)
        for request in [slow_headers] * 3
    ]
    # The body trickles after headers that arrive at once: the app is already reading it.
    senders = []
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(slow_body)
        senders.append(sock)
    slow += [
        threading.Thread(target=trickle_on, args=(sock, b"{" * 200, stop), daemon=True)
        for sock in senders
    ]
    for thread in slow:
        thread.start()
    try:
        time.sleep(1.5)  # every slow client has started and holds its connection
        for _ in range(5):
            started = time.monotonic()
            response = httpx.get(f"{base}/healthz", timeout=5)
            elapsed = time.monotonic() - started
            assert response.status_code == 200
            assert elapsed < 1.0, f"/healthz took {elapsed:.2f} s behind six slow clients"
        assert all(thread.is_alive() for thread in slow), "a slow client was cut off early"
    finally:
        stop.set()
        for sock in senders:
            sock.close()


def trickle_on(sock: socket.socket, data: bytes, stop: threading.Event) -> None:
    for byte in data:
        if stop.is_set():
            return
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return
        time.sleep(0.5)
