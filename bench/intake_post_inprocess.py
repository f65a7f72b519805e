"""In-process cost of one POST /v1/articles of the sample, and of its parsing alone.

Flask's test client against the real app: a real SQLite database (migrated), a private
redis-server (rate limiter, Celery's send_task), the static site and a webhook as outlets (so
four steps are stored per article). No HTTP server, no gunicorn: what is left is the intake's
own work per request. Parsing is timed by wrapping the view's `_parse` (body → validated
content), which every POST goes through. Each is measured twice: wall time, and the CPU time
of the thread (`time.thread_time`), which stays meaningful on a machine busy with other work
(waiting for Redis or the disk and being preempted do not count).

    .venv/bin/python bench/intake_post_inprocess.py [--requests 300] [--warmup 30] [--profile F]

Prints per-POST milliseconds (mean, p50, p95) and writes bench/results/intake_post_inprocess.json.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pressroom_cli.redis_server import EmbeddedRedis
from pressroom_intake import create_app
from pressroom_intake.views import articles
from pressroom_shared.apikeys import create_key
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine, make_sessionmaker, transaction
from pressroom_shared.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "fixtures" / "seed-article.txt"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def stats(name: str, seconds: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in seconds]
    return {
        "name": name,
        "n": len(ms),
        "mean_ms": round(statistics.fmean(ms), 3),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument(
        "--profile", type=Path, help="write a cProfile of the timed POSTs to this file"
    )
    args = parser.parse_args()
    sample = SAMPLE.read_bytes()

    parse_times: list[float] = []
    parse_cpu: list[float] = []
    original: Callable[..., Any] = articles._parse

    @functools.wraps(original)
    def timed_parse(*a: Any, **k: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(*a, **k)
        finally:
            parse_times.append(time.perf_counter() - start)
            parse_cpu.append(time.thread_time() - cpu)

    articles._parse = timed_parse  # type: ignore[assignment]

    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder) / "redis") as redis:
        work = Path(folder)
        outlets = work / "outlets.toml"
        outlets.write_text(
            f'[outlets.site]\ntype = "static_site"\npath = "{work / "site"}"\n'
            'base_url = "http://127.0.0.1:8000/site"\n\n'
            '[outlets.partner]\ntype = "webhook"\nurl = "http://127.0.0.1:9/hooks"\n'
            'secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"\n',
            encoding="utf-8",
        )
        settings = Settings(
            var_dir=work / "var",
            redis_url=redis.url,
            outlets_file=outlets,
            rate_limit="1000000/minute",
            log_level="WARNING",
            log_json=False,
        )
        engine = make_engine(settings)
        upgrade(engine)
        with transaction(make_sessionmaker(engine)) as session:
            token = create_key(session, "bench", ["submit", "read"])
        client = create_app(settings).test_client()
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "text/plain; charset=utf-8",
        }

        post_cpu: list[float] = []

        def post() -> float:
            start, cpu = time.perf_counter(), time.thread_time()
            response = client.post("/v1/articles", data=sample, headers=headers)
            elapsed = time.perf_counter() - start
            post_cpu.append(time.thread_time() - cpu)
            assert response.status_code == 202, response.get_data(as_text=True)
            return elapsed

        healthz: list[float] = []
        for _ in range(args.warmup):
            post()
            client.get("/healthz")
        parse_times.clear()
        parse_cpu.clear()
        post_cpu.clear()
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        posts = [post() for _ in range(args.requests)]
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        for _ in range(args.requests):
            start = time.perf_counter()
            client.get("/healthz")
            healthz.append(time.perf_counter() - start)

    rows = [
        stats("GET /healthz (baseline)", healthz),
        stats("POST /v1/articles → 202 (sample, text/plain)", posts),
        stats("  of which parsing (body → validated content)", parse_times),
        stats("POST, CPU time of the thread", post_cpu),
        stats("  of which parsing, CPU time", parse_cpu),
    ]
    print(f"{'measure':50} {'n':>5} {'mean ms':>9} {'p50 ms':>8} {'p95 ms':>8}")
    for row in rows:
        print(
            f"{row['name']:50} {row['n']:>5} {row['mean_ms']:>9.2f} "
            f"{row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f}"
        )
    out = ROOT / "bench" / "results" / "intake_post_inprocess.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {"python": sys.version.split()[0], "machine": platform.machine(), "rows": rows},
            indent=2,
        ),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
