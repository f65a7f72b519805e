"""Intake and end-to-end latency of the real stack, against a bare endpoint in the same run.

Starts `pressroom run` (gunicorn intake, Celery workers, scheduler, embedded Redis, SQLite) with
a static site and a local webhook receiver, then measures, one request at a time and then with
several clients at once:
  - baseline: GET /healthz on the same gunicorn (Flask with no work),
  - intake:   POST /v1/articles with the ~5 KB Russian sample (stored durably before the 202),
  - delivery: POST sent → the signed webhook received at the local receiver.
Prints a table and writes bench/results/intake_and_delivery.json. Not part of `make test`.

    .venv/bin/python bench/intake_and_delivery.py [--requests 200] [--clients 8] [--seconds 5]
    .venv/bin/python bench/intake_and_delivery.py --intake-only   # no workers: the intake alone
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from pressroom_env import PRESSROOM, create_token, pressroom_env

from pressroom_cli.redis_server import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "fixtures" / "seed-article.txt"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver:
    """Records when each article's first webhook arrives (signatures are checked in the tests)."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                uri = json.loads(body)["data"]["uri"]
                receiver.arrivals.setdefault(uri.rsplit(":", 1)[-1], time.perf_counter())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(name: str, latencies: list[float]) -> dict[str, float | str | int]:
    ms = [v * 1000 for v in latencies]
    return {
        "name": name,
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def throughput(send: object, clients: int, seconds: float) -> float:
    stop = time.perf_counter() + seconds
    counts = [0] * clients

    def loop(i: int) -> None:
        with httpx.Client(timeout=30) as client:
            while time.perf_counter() < stop:
                send(client)  # type: ignore[operator]
                counts[i] += 1

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(loop, range(clients)))
    return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--intake-only",
        action="store_true",
        help="gunicorn and Redis alone, no workers: the intake's own cost, as issue 8 compares it",
    )
    args = parser.parse_args()

    sample = SAMPLE.read_bytes()
    receiver = Receiver()
    work = Path(tempfile.mkdtemp(prefix="pressroom-bench-"))
    (work / "outlets.toml").write_text(
        f'[outlets.site]\ntype = "static_site"\npath = "{work / "site"}"\n'
        f'base_url = "http://127.0.0.1/site"\n\n'
        f'[outlets.partner]\ntype = "webhook"\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n'
    )
    env = pressroom_env(work)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with EmbeddedRedis(work / "redis") as redis:
        if args.intake_only:
            env["PRESSROOM_REDIS_URL"] = redis.url
            subprocess.run([PRESSROOM, "migrate"], env=env, check=True, capture_output=True)
            argv = [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "pressroom_intake.wsgi:app",
            ]
        else:
            argv = [PRESSROOM, "run", "--port", str(port)]
        runner = subprocess.Popen(
            argv, env=env, stdout=(work / "run.log").open("wb"), stderr=subprocess.STDOUT
        )
        results = measure(runner, base, env, sample, receiver, args)
    report(results, args)


def measure(
    runner: subprocess.Popen[bytes],
    base: str,
    env: dict[str, str],
    sample: bytes,
    receiver: Receiver,
    args: argparse.Namespace,
) -> dict[str, object]:
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        token = create_token(env)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain; charset=utf-8"}
        return run(base, headers, sample, receiver, args)
    finally:
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=60)


def run(
    base: str, headers: dict[str, str], sample: bytes, receiver: Receiver, args: argparse.Namespace
) -> dict[str, object]:
    with httpx.Client(timeout=30) as client:
        for _ in range(20):  # warm-up: imports, connections, SQLite pages
            client.get(f"{base}/healthz")
            client.post(f"{base}/v1/articles", content=sample, headers=headers)
        time.sleep(2)
        healthz, intake, sent = [], [], {}
        for _ in range(args.requests):
            t0 = time.perf_counter()
            client.get(f"{base}/healthz")
            healthz.append(time.perf_counter() - t0)
            time.sleep(0.02)  # one story at a time, as a quiet newsroom sends them
            t0 = time.perf_counter()
            response = client.post(f"{base}/v1/articles", content=sample, headers=headers)
            intake.append(time.perf_counter() - t0)
            assert response.status_code == 202, response.text
            sent[response.json()["id"]] = t0
        deadline = time.perf_counter() + (0 if args.intake_only else 60)
        while time.perf_counter() < deadline and not sent.keys() <= receiver.arrivals.keys():
            time.sleep(0.1)
        delivered = [receiver.arrivals[i] - t for i, t in sent.items() if i in receiver.arrivals]
    healthz_rate = throughput(lambda c: c.get(f"{base}/healthz"), args.clients, args.seconds)
    intake_rate = throughput(
        lambda c: c.post(f"{base}/v1/articles", content=sample, headers=headers),
        args.clients,
        args.seconds,
    )
    return {
        "latency": [
            summary("baseline GET /healthz", healthz),
            summary("POST /v1/articles → 202", intake),
            *([summary("POST → signed webhook received", delivered)] if delivered else []),
        ],
        "delivered": f"{len(delivered)}/{len(sent)}",
        "throughput": {
            "baseline GET /healthz req/s": round(healthz_rate, 1),
            "POST /v1/articles req/s": round(intake_rate, 1),
            "ratio": round(intake_rate / healthz_rate, 3),
        },
    }


def report(results: dict[str, object], args: argparse.Namespace) -> None:
    machine = f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()}"
    print(f"pressroom intake and delivery · {machine}")
    print(f"{'measure':34} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for row in results["latency"]:  # type: ignore[attr-defined]
        cells = [f"{row[key]:>8}" for key in ("p50_ms", "p95_ms", "p99_ms")]
        print(f"{row['name']:34} {row['n']:>5} {' '.join(cells)}")
    print(f"delivered: {results['delivered']}")
    for name, value in results["throughput"].items():  # type: ignore[attr-defined]
        print(f"{name:34} {value:>8}   ({args.clients} clients, {args.seconds:g} s)")
    name = "intake_only" if args.intake_only else "intake_and_delivery"
    out = ROOT / "bench" / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {"machine": machine, "args": vars(args), **results}, indent=2, ensure_ascii=False
        )
    )


if __name__ == "__main__":
    main()
