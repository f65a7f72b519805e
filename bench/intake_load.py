"""The intake alone under load, against a bare Flask echo in the same run (issue 14, target 3).

Starts a private Redis, migrates a SQLite database and creates a token, then runs, one after
the other, each server for `--seconds` under `--clients` keep-alive connections posting back
to back (closed loop), `--rounds` times in alternation:

  echo       a bare Flask app returning the body, `gunicorn -w 2` (sync), as in the issue
  pressroom  `POST /v1/articles` of the ~5 KB Russian sample (text/plain), stored durably
             before the 202 and its render message published to Redis; gunicorn with the
             intake's own config (`pressroom run`'s command line); no Celery workers

The load comes from one asyncio process speaking HTTP/1.1 on raw sockets, so the client costs
~50 µs a request rather than the ~1 ms of an httpx thread: on two cores that matters. Every
answer is checked (202 for pressroom); the rate counts only those.

    .venv/bin/python bench/intake_load.py [--seconds 5] [--clients 16] [--rounds 2]

Prints req/s per round and writes bench/results/intake_load.json. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pressroom_env import PRESSROOM, create_token, pressroom_env

from pressroom_cli.redis_server import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "fixtures" / "seed-article.txt"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

ECHO_APP = """
from flask import Flask, request
app = Flask(__name__)

@app.post("/echo")
def echo():
    return request.get_data(), 200, {"Content-Type": "application/json"}

@app.get("/healthz")
def healthz():
    return {"status": "ok"}
"""


async def _client(
    port: int, request: bytes, stop: float, expect: bytes, counts: list[int], lat: list[float]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop:
            sent = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            lat.append(time.perf_counter() - sent)
            counts[0 if head.startswith(expect) else 1] += 1
            if b"connection: close" in head.lower():
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def load(port: int, request: bytes, expect: bytes, clients: int, seconds: float) -> dict[str, Any]:
    counts = [0, 0]
    lat: list[float] = []

    async def run() -> None:
        stop = time.perf_counter() + seconds
        await asyncio.gather(
            *(_client(port, request, stop, expect, counts, lat) for _ in range(clients))
        )

    cpu = time.process_time()
    asyncio.run(run())
    cpu = time.process_time() - cpu
    lat.sort()
    return {
        "req_per_s": round(counts[0] / seconds, 1),
        "unexpected": counts[1],
        "p50_ms": round(lat[len(lat) // 2] * 1000, 2) if lat else None,
        "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 2) if lat else None,
        "client_cpu_us_per_request": round(cpu / max(1, sum(counts)) * 1e6, 1),
    }


def http_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + "\r\n").encode() + body


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def serve(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env=env, cwd=cwd, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pressroom-intake-load-"))
    (work / "echo_app.py").write_text(ECHO_APP)
    (work / "outlets.toml").write_text(
        f'[outlets.site]\ntype = "static_site"\npath = "{work / "site"}"\n'
        'base_url = "http://127.0.0.1/site"\n\n'
        f'[outlets.partner]\ntype = "webhook"\nurl = "http://127.0.0.1:9/hooks"\n'
        f'secret = "{SECRET}"\n'
    )
    sample = SAMPLE.read_bytes()
    results: dict[str, list[dict[str, Any]]] = {"echo": [], "pressroom": []}
    with EmbeddedRedis(work / "redis") as redis:
        env = pressroom_env(work, redis_url=redis.url)
        subprocess.run([PRESSROOM, "migrate"], env=env, check=True, capture_output=True)
        token = create_token(env)
        servers = {
            "echo": (
                ["--workers", "2", "echo_app:app"],
                http_request("/echo", sample, {"Content-Type": "application/json"}),
                b"HTTP/1.1 200",
            ),
            "pressroom": (
                ["--config", "python:pressroom_intake.gunicorn_conf", "pressroom_intake.wsgi:app"],
                http_request(
                    "/v1/articles",
                    sample,
                    {
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "text/plain; charset=utf-8",
                    },
                ),
                b"HTTP/1.1 202",
            ),
        }
        for _ in range(args.rounds):
            for name, (extra, request, expect) in servers.items():
                port = free_port()
                argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", *extra]
                process = serve(argv, env, work, work / f"{name}.log")
                try:
                    wait_ready(port, process)
                    load(port, request, expect, args.clients, 1.0)  # warm-up
                    row = load(port, request, expect, args.clients, args.seconds)
                finally:
                    stop(process)
                results[name].append(row)
                print(f"{name:10} {json.dumps(row)}", flush=True)

    echo = statistics.median(r["req_per_s"] for r in results["echo"])
    ours = statistics.median(r["req_per_s"] for r in results["pressroom"])
    machine = f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()}"
    print(f"\n{machine}; {args.clients} clients, {args.seconds:g} s, median of {args.rounds}")
    print(f"bare Flask echo (gunicorn -w 2)        {echo:8.1f} req/s")
    print(f"pressroom POST /v1/articles → 202      {ours:8.1f} req/s  ({ours / echo:.3f} of echo)")
    out = ROOT / "bench" / "results" / "intake_load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {"machine": machine, "args": vars(args), "rounds": results, "ratio": ours / echo},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
