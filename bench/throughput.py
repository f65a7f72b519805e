"""Throughput of pressroom against the bare stack doing the same shape of work, in the same run.

Issue 14's scenarios, each printed beside its same-run baselines and written as JSON under
bench/results/ (`throughput-<scenario>[-postgres].json`):

  burst     N articles POSTed by K clients: intake req/s during the burst and the drain rate
            until the webhook receiver has all N and every page file exists
  latency   open-loop sends at fixed rates: p50/p99 scheduled send → webhook received, and the
            intake's p99 (scheduled send → 202); latency against rate drawn as a PNG
  intake    workers idle: pressroom's POST rate against a bare Flask echo and the bare stack's
            validate + .delay(); under the burst (with workers) it is taken from `burst`
  backlog   many routine articles queued, then urgency-1 stories: their time to every outlet,
            and the backlog's drain rate meanwhile
  fanout    50 webhook outlets (local receivers): the others' p99 with all healthy, with one
            slow (5 s a request) and with one down; worker processes and the sum of peak RSS
  static    the static-site outlet's delivery time with 100 … 100,000 articles already
            published, through its Outlet protocol, in process
  memory    peak RSS of the intake and of each worker during the scenarios above

The bare stack lives in bench/bare_stack/. Every process started here is stopped on the way
out, whatever happens; every wait has a deadline, and articles that never arrive are counted
as lost (and as infinitely late in percentiles), never waited for forever.

    .venv/bin/python bench/throughput.py                 # all scenarios (make bench)
    .venv/bin/python bench/throughput.py --quick burst latency
    .venv/bin/python bench/throughput.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import itertools
import json
import math
import multiprocessing
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil
from pressroom_env import PRESSROOM, clean_env, create_token, pressroom_env

from pressroom_cli.redis_server import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parents[1]
BARE = ROOT / "bench" / "bare_stack"
RESULTS = ROOT / "bench" / "results"
SEED = ROOT / "tests" / "fixtures" / "seed-article.txt"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# CLOCK_MONOTONIC: the same clock in the client processes, the receivers and this one.
clock = time.monotonic


# -- articles ------------------------------------------------------------------------------------

_PARAGRAPHS: list[str] = []


def article_json(i: int, run: str, urgency: int | None = None) -> bytes:
    """The ~5 KB Russian sample as native JSON; each article's text and headline differ."""
    if not _PARAGRAPHS:
        lines = SEED.read_text(encoding="utf-8").splitlines()[1:]
        _PARAGRAPHS.extend(line.strip() for line in lines if line.strip())
    k = i % len(_PARAGRAPHS)
    rotated = _PARAGRAPHS[k:] + _PARAGRAPHS[:k]
    document: dict[str, Any] = {
        "headline": f"Обмен пленными: подробности разговора, выпуск {run} № {i}",
        "body": f"Материал {i} выпуска {run}.\n\n" + "\n\n".join(rotated),
        "language": "ru",
        "byline": "Виктория Любимова",
        "rubric": "Новости СВО и мобилизации",
        "tags": ["обмен пленными", f"выпуск {run}"],
    }
    if urgency is not None:
        document["urgency"] = urgency
    return json.dumps(document, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Posted:
    """One POST: when it was due (open loop) or sent (closed loop), when its answer came."""

    index: int
    scheduled: float
    done: float
    status: int
    id: str
    slug: str


# -- load generation, in separate processes (spawn) so the receivers here keep their GIL ---------


def _answer(response: httpx.Response) -> tuple[int, str, str]:
    if response.status_code == 202:
        body = response.json()
        return 202, str(body["id"]), str(body.get("slug") or body["id"])
    return response.status_code, "", ""


def closed_loop(
    url: str,
    headers: dict[str, str],
    indices: range | None,
    clients: int,
    seconds: float | None,
    run: str,
    first: int,
) -> list[tuple[int, float, float, int, str, str]]:
    """`clients` threads POSTing back to back: the articles in `indices`, or for `seconds`."""
    counter = itertools.count(first)
    stop = clock() + seconds if seconds is not None else math.inf
    results: list[tuple[int, float, float, int, str, str]] = []

    def loop() -> None:
        with httpx.Client(timeout=60, headers=headers) as client:
            while True:
                i = next(counter)  # atomic under the GIL
                if (indices is not None and i not in indices) or clock() >= stop:
                    return
                body = article_json(i, run)
                sent = clock()
                try:
                    status, article_id, slug = _answer(client.post(url, content=body))
                except httpx.HTTPError:
                    status, article_id, slug = -1, "", ""
                results.append((i, sent, clock(), status, article_id, slug))

    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def open_loop(
    url: str, headers: dict[str, str], rate: float, seconds: float, run: str, first: int
) -> list[tuple[int, float, float, int, str, str]]:
    """Sends at fixed times whatever the answers do (no coordinated omission)."""
    return asyncio.run(_open_loop(url, headers, rate, seconds, run, first))


async def _open_loop(
    url: str, headers: dict[str, str], rate: float, seconds: float, run: str, first: int
) -> list[tuple[int, float, float, int, str, str]]:
    count = max(1, round(rate * seconds))
    bodies = [article_json(first + i, run) for i in range(count)]
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=300, limits=limits, headers=headers) as client:
        start = clock() + 0.2

        async def one(i: int) -> tuple[int, float, float, int, str, str]:
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - clock()))
            try:
                status, article_id, slug = _answer(await client.post(url, content=bodies[i]))
            except httpx.HTTPError:
                status, article_id, slug = -1, "", ""
            return first + i, due, clock(), status, article_id, slug

        return list(await asyncio.gather(*(one(i) for i in range(count))))


# -- receivers ------------------------------------------------------------------------------------


class Hook:
    """One webhook endpoint on its own port: when each article first arrived, and how many
    arrived again. `slow` seconds of sleep per request; `down()` refuses connections."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.arrivals: dict[str, float] = {}
        self.duplicates = 0
        self.slow = 0.0
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive for senders that reuse connections

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = clock()
                try:
                    uri = json.loads(body)["data"]["uri"]
                except (ValueError, KeyError, TypeError):
                    self._reply(400)
                    return
                hook.record(str(uri).rsplit(":", 1)[-1], now)
                if hook.slow:
                    time.sleep(hook.slow)
                self._reply(200)

            def _reply(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._open = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/{name}"

    def record(self, article_id: str, now: float) -> None:
        with self._lock:
            if article_id in self.arrivals:
                self.duplicates += 1
            else:
                self.arrivals[article_id] = now

    def down(self) -> None:
        if self._open:
            self._open = False
            self.server.shutdown()
            self.server.server_close()


@contextlib.contextmanager
def hooks(count: int) -> Iterator[list[Hook]]:
    made = [Hook("partner" if count == 1 else f"partner{i:02d}") for i in range(count)]
    try:
        yield made
    finally:
        for hook in made:
            hook.down()


# -- processes ------------------------------------------------------------------------------------


def label(process: psutil.Process) -> str:
    """Which program a process belongs to, from its command line (whatever the topology)."""
    cmd = process.cmdline()
    joined = " ".join(cmd)
    if "gunicorn" in joined:
        return "intake"
    if "celery" in joined:
        if "beat" in cmd:
            return "scheduler"
        if "-n" in cmd and cmd.index("-n") + 1 < len(cmd):
            return "worker " + cmd[cmd.index("-n") + 1].split("@")[0]
        return "worker"
    if "pressroom" in joined and "run" in cmd:
        return "supervisor"
    return Path(cmd[0]).name if cmd else process.name()


def tree(roots: list[int]) -> list[psutil.Process]:
    found: dict[int, psutil.Process] = {}
    for pid in roots:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            found[pid] = root
            for child in root.children(recursive=True):
                found[child.pid] = child
    return list(found.values())


def stop_tree(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop a program started here and everything under it (the supervisor puts its children
    in their own sessions, so they are collected first and killed if they outlive it)."""
    family = tree([process.pid])
    for member in family:
        with contextlib.suppress(psutil.Error):
            member.resume()  # a paused process would not act on the signal
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    survivors = [m for m in family if m.is_running() and m.status() != psutil.STATUS_ZOMBIE]
    for member in survivors:
        with contextlib.suppress(psutil.Error):
            member.kill()
    psutil.wait_procs(survivors, timeout=10)


class MemorySampler:
    """RSS of every process under `roots` every `interval` seconds, by program."""

    def __init__(self, roots: list[int], interval: float = 0.2) -> None:
        self.roots = roots
        self.interval = interval
        self.labels: dict[tuple[int, float], str] = {}
        self.peak_by_process: dict[tuple[int, float], int] = {}
        self.peak_by_program: dict[str, int] = defaultdict(int)
        self.processes_by_program: dict[str, int] = defaultdict(int)
        self.peak_total = 0
        self.max_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        totals: dict[str, int] = defaultdict(int)
        counts: dict[str, int] = defaultdict(int)
        for process in tree(self.roots):
            try:
                key = (process.pid, process.create_time())
                if key not in self.labels:
                    self.labels[key] = label(process)
                rss = process.memory_info().rss
            except psutil.Error:
                continue
            self.peak_by_process[key] = max(self.peak_by_process.get(key, 0), rss)
            totals[self.labels[key]] += rss
            counts[self.labels[key]] += 1
        for program, rss in totals.items():
            self.peak_by_program[program] = max(self.peak_by_program[program], rss)
            self.processes_by_program[program] = max(
                self.processes_by_program[program], counts[program]
            )
        self.peak_total = max(self.peak_total, sum(totals.values()))
        self.max_processes = max(self.max_processes, sum(counts.values()))

    def report(self) -> dict[str, Any]:
        mb = 1024 * 1024
        programs = {
            name: {
                "peak_rss_mb": round(self.peak_by_program[name] / mb, 1),
                "processes": self.processes_by_program[name],
            }
            for name in sorted(self.peak_by_program)
        }
        return {
            "programs": programs,
            "processes": self.max_processes,
            "worker_processes": sum(
                v["processes"] for k, v in programs.items() if k.startswith("worker")
            ),
            "peak_total_rss_mb": round(self.peak_total / mb, 1),
            "sum_of_process_peaks_mb": round(sum(self.peak_by_process.values()) / mb, 1),
        }


# -- the two stacks -------------------------------------------------------------------------------


@dataclass
class Stack:
    name: str
    base: str
    headers: dict[str, str]
    site: Path  # where page files appear
    hooks: list[Hook]
    roots: list[int]
    page_path: Callable[[Posted], Path]
    pages_folder: Path
    has_site: bool = True

    @property
    def articles_url(self) -> str:
        return f"{self.base}/v1/articles"

    def workers(self) -> list[psutil.Process]:
        found = []
        for process in tree(self.roots):
            with contextlib.suppress(psutil.Error):
                if label(process).startswith("worker"):
                    found.append(process)
        return found

    def pause_workers(self) -> None:
        """SIGSTOP: the workers consume nothing (and the supervisor restarts nothing)."""
        for process in self.workers():
            with contextlib.suppress(psutil.Error):
                process.suspend()

    def resume_workers(self) -> None:
        for process in self.workers():
            with contextlib.suppress(psutil.Error):
                process.resume()

    def page_count(self) -> int:
        try:
            return sum(1 for e in os.scandir(self.pages_folder) if e.name.endswith(".html"))
        except FileNotFoundError:
            return 0


def _wait_healthy(base: str, processes: list[subprocess.Popen[bytes]], log: Path) -> None:
    deadline = clock() + 120
    while clock() < deadline:
        for process in processes:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{process.args!r} exited ({process.returncode}):\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{base}/healthz did not answer within 120 s (log: {log})")


@contextlib.contextmanager
def throwaway_database(url: str) -> Iterator[str]:
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"pressroom_bench_{uuid.uuid4().hex[:12]}"
    server = make_url(url)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def pressroom_stack(
    work: Path,
    partners: list[Hook],
    site: bool,
    database_url: str | None,
    settings: dict[str, str],
) -> Iterator[Stack]:
    """`pressroom run` as an operator starts it, with its own Redis, a fresh database and the
    given settings (`--set`)."""
    work.mkdir(parents=True)
    outlets = ""
    if site:
        outlets += (
            f'[outlets.site]\ntype = "static_site"\npath = "{work / "site"}"\n'
            'base_url = "http://127.0.0.1/site"\n\n'
        )
    for hook in partners:
        outlets += (
            f'[outlets.{hook.name}]\ntype = "webhook"\nurl = "{hook.url}"\nsecret = "{SECRET}"\n\n'
        )
    (work / "outlets.toml").write_text(outlets)
    with contextlib.ExitStack() as cleanup:
        redis = cleanup.enter_context(EmbeddedRedis(work / "redis"))
        env = pressroom_env(work, redis_url=redis.url) | settings
        if database_url:
            env["PRESSROOM_DATABASE_URL"] = cleanup.enter_context(throwaway_database(database_url))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log_path = work / "run.log"
        log = cleanup.enter_context(log_path.open("wb"))
        runner = subprocess.Popen(
            [PRESSROOM, "run", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        cleanup.callback(stop_tree, runner, signal.SIGINT)
        _wait_healthy(base, [runner], log_path)
        token = create_token(env)
        folder = work / "site" / "articles"
        yield Stack(
            name="pressroom",
            base=base,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            site=work / "site",
            hooks=partners,
            roots=[runner.pid],
            page_path=lambda posted: folder / f"{posted.slug}.html",
            pages_folder=folder,
            has_site=site,
        )


@contextlib.contextmanager
def bare_stack(work: Path, partners: list[Hook]) -> Iterator[Stack]:
    """gunicorn -w2 (sync) + Celery prefork -c2 + its own Redis: bench/bare_stack/."""
    assert len(partners) == 1, "the bare stack posts to one receiver"
    site = work / "site"
    site.mkdir(parents=True)
    with contextlib.ExitStack() as cleanup:
        redis = cleanup.enter_context(EmbeddedRedis(work / "redis"))
        env = {
            **clean_env(),
            "BARE_REDIS_URL": redis.url,
            "BARE_SITE_DIR": str(site),
            "BARE_WEBHOOK_URL": partners[0].url,
            "PYTHONPATH": str(BARE),
        }
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log_path = work / "bare.log"
        log = cleanup.enter_context(log_path.open("wb"))
        started: list[subprocess.Popen[bytes]] = []
        for argv in (
            ["gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "bare_web:app"],
            [
                "celery",
                "-A",
                "bare_tasks",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "2",
                "-n",
                "bare@%h",
                "--loglevel",
                "WARNING",
                "--without-mingle",
            ],
        ):
            process = subprocess.Popen(
                [sys.executable, "-m", *argv],
                cwd=BARE,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            cleanup.callback(stop_tree, process)
            started.append(process)
        _wait_healthy(base, started, log_path)
        yield Stack(
            name="bare",
            base=base,
            headers={"Content-Type": "application/json"},
            site=site,
            hooks=partners,
            roots=[p.pid for p in started],
            page_path=lambda posted: site / f"{posted.id}.html",
            pages_folder=site,
        )


# -- waiting for deliveries -----------------------------------------------------------------------


@dataclass
class Outcome:
    """Where every accepted article got to: per hook arrival times and page times."""

    posted: list[Posted]
    hooks: list[Hook]
    pages: dict[str, float]  # article id -> first seen (polled every 50 ms)
    checked_pages: bool
    finished: float  # when the last expected thing arrived (or the wait gave up)
    complete: bool
    waited: float

    def lost_webhooks(self) -> int:
        return sum(1 for h in self.hooks for p in self.posted if p.id not in h.arrivals)

    def lost_pages(self) -> int:
        return sum(1 for p in self.posted if p.id not in self.pages) if self.checked_pages else 0

    def done_at(self, posted: Posted) -> float:
        """When this article was everywhere (inf when it never was)."""
        times = [h.arrivals.get(posted.id, math.inf) for h in self.hooks]
        if self.checked_pages:
            times.append(self.pages.get(posted.id, math.inf))
        return max(times)

    def accounting(self) -> dict[str, int]:
        return {
            "accepted": len(self.posted),
            "lost_webhooks": self.lost_webhooks(),
            "lost_pages": self.lost_pages(),
            "duplicate_webhooks": sum(h.duplicates for h in self.hooks),
        }


def await_delivery(
    stack: Stack,
    posted: list[Posted],
    deadline: float,
    stall: float,
    partners: list[Hook] | None = None,
    pages: bool | None = None,
) -> Outcome:
    """Until every hook has every article and every page file exists; gives up after `stall`
    seconds without progress or `deadline` seconds in all, and says what is missing."""
    partners = stack.hooks if partners is None else partners
    pages = stack.has_site if pages is None else pages
    ids = {p.id for p in posted}
    pending = {p.id: stack.page_path(p) for p in posted} if pages else {}
    seen: dict[str, float] = {}
    expected = len(ids) * len(partners) + len(pending)
    start = last_progress = clock()
    progress = -1
    while True:
        for article_id, path in list(pending.items()):
            if path.exists():
                seen[article_id] = clock()
                del pending[article_id]
        got = sum(len(ids & h.arrivals.keys()) for h in partners) + len(seen)
        now = clock()
        if got != progress:
            progress, last_progress = got, now
        if got >= expected:
            complete = True
            break
        if now - last_progress > stall or now - start > deadline:
            complete = False
            why = "no progress for" if now - last_progress > stall else "gave up after"
            print(
                f"  ! {stack.name}: {expected - got} of {expected} deliveries missing "
                f"({why} {min(now - last_progress, now - start):.0f} s)",
                flush=True,
            )
            break
        time.sleep(0.05)
    outcome = Outcome(posted, partners, seen, pages, 0.0, complete, clock() - start)
    finished = [outcome.done_at(p) for p in posted]
    reached = [t for t in finished if t < math.inf]
    outcome.finished = max(reached) if complete and reached else last_progress
    return outcome


# -- statistics and tables ------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]


def ms(value: float) -> float | None:
    """Milliseconds for JSON: None for a lost article (infinitely late) or no data."""
    return None if math.isinf(value) or math.isnan(value) else round(value * 1000, 1)


def fmt_ms(value: float) -> str:
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "lost"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def fmt_ratio(value: float) -> str:
    return "–" if math.isnan(value) or math.isinf(value) else f"{value:.2f}×"


def ratio(a: float, b: float) -> float:
    if b == 0 or math.isnan(a) or math.isnan(b) or math.isinf(b):
        return math.nan
    return a / b


def table(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print(
        "  "
        + "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    )
    for row in cells:
        print(
            "  "
            + "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    sys.stdout.flush()


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    work: Path
    pool: ProcessPoolExecutor
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)
    burst: dict[str, Any] | None = None
    _runs: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def quick(self) -> bool:
        return bool(self.args.quick)

    @property
    def suffix(self) -> str:
        return "-postgres" if self.args.database_url else ""

    def run_tag(self) -> str:
        return f"{os.getpid() % 1000}-{next(self._runs)}"

    @contextlib.contextmanager
    def stack(
        self, kind: str, partners: list[Hook], site: bool = True, scenario: str | None = None
    ) -> Iterator[Stack]:
        work = self.work / f"{kind}-{next(self._runs)}"
        if kind == "bare":
            manager = bare_stack(work, partners)
        else:
            manager = pressroom_stack(
                work, partners, site, self.args.database_url, self.args.settings
            )
        with manager as stack:
            if scenario is None:
                yield stack
                return
            with MemorySampler(stack.roots) as sampler:
                try:
                    yield stack
                finally:
                    self.memory.setdefault(scenario, {})[kind] = sampler.report()

    def closed(
        self, stack: Stack, count: int | None, seconds: float | None, url: str | None = None
    ) -> list[Posted]:
        """`--clients` clients over two processes, back to back."""
        run, clients = self.run_tag(), self.args.clients
        halves = []
        for part in range(2):
            indices = None if count is None else range(part * count // 2, (part + 1) * count // 2)
            # Timed runs: each process numbers its articles from its own start.
            first = part * 10_000_000 if indices is None else indices.start
            halves.append(
                self.pool.submit(
                    closed_loop,
                    url or stack.articles_url,
                    stack.headers,
                    indices,
                    max(1, clients // 2),
                    seconds,
                    run,
                    first,
                )
            )
        return [Posted(*row) for half in halves for row in half.result()]

    def opened(self, stack: Stack, rate: float, seconds: float) -> list[Posted]:
        rows = self.pool.submit(
            open_loop, stack.articles_url, stack.headers, rate, seconds, self.run_tag(), 0
        ).result()
        return [Posted(*row) for row in rows]

    def warm_up(self, stack: Stack, count: int = 4) -> None:
        """Imports, connections, database pages: a few articles all the way through."""
        posted = self.closed(stack, count=count, seconds=None)
        accepted = [p for p in posted if p.status == 202]
        if len(accepted) != len(posted):
            statuses = sorted({p.status for p in posted})
            raise RuntimeError(f"{stack.name}: warm-up POSTs answered {statuses}")
        outcome = await_delivery(stack, accepted, deadline=300, stall=180)
        if not outcome.complete:
            raise RuntimeError(f"{stack.name}: warm-up articles were not delivered")

    def save(self, name: str, data: dict[str, Any]) -> None:
        RESULTS.mkdir(exist_ok=True)
        document = {
            "scenario": name,
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "database": "postgresql" if self.args.database_url else "sqlite",
            "quick": self.quick,
            "settings": self.args.settings,
            **data,
        }
        path = RESULTS / f"throughput-{name}{self.suffix}.json"
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str))


def machine() -> str:
    return f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()}"


# -- 1. burst -------------------------------------------------------------------------------------


def scenario_burst(bench: Bench) -> dict[str, Any]:
    n = 100 if bench.quick else 1000
    sides: dict[str, Any] = {}
    for kind in ("bare", "pressroom"):
        with hooks(1) as partners, bench.stack(kind, partners, scenario="burst") as stack:
            bench.warm_up(stack)
            posted = bench.closed(stack, count=n, seconds=None)
            accepted = [p for p in posted if p.status == 202]
            start = min(p.scheduled for p in posted)
            burst_end = max(p.done for p in posted)
            outcome = await_delivery(stack, accepted, deadline=max(120, n / 4), stall=30)
            delivered = sum(1 for p in accepted if outcome.done_at(p) < math.inf)
            sides[kind] = {
                "articles": n,
                "clients": bench.args.clients,
                "intake_req_per_s": round(len(accepted) / (burst_end - start), 1),
                "intake_p99_ms": ms(pct([p.done - p.scheduled for p in posted], 99)),
                "drain_articles_per_s": round(delivered / (outcome.finished - start), 1),
                "drain_seconds": round(outcome.finished - start, 2),
                "complete": outcome.complete,
                "rejected": len(posted) - len(accepted),
                **outcome.accounting(),
            }
    bare, ours = sides["bare"], sides["pressroom"]
    result = {
        **sides,
        "ratio_drain": round(ours["drain_articles_per_s"] / bare["drain_articles_per_s"], 3),
        "ratio_intake": round(ours["intake_req_per_s"] / bare["intake_req_per_s"], 3),
    }
    rows = [
        [
            "intake under the burst, req/s",
            bare["intake_req_per_s"],
            ours["intake_req_per_s"],
            fmt_ratio(result["ratio_intake"]),
        ],
        [
            "drained to webhook + site, articles/s",
            bare["drain_articles_per_s"],
            ours["drain_articles_per_s"],
            fmt_ratio(result["ratio_drain"]),
        ],
        ["drain time, s", bare["drain_seconds"], ours["drain_seconds"], ""],
        ["lost (webhook / page)", _lost(bare), _lost(ours), ""],
        ["duplicate webhooks, rejected POSTs", _dupes(bare), _dupes(ours), ""],
    ]
    table(
        f"1. burst: {n} articles, {bench.args.clients} clients (target: drain ratio ≥ 0.5)",
        ["", "bare stack", "pressroom", "ratio"],
        rows,
    )
    bench.burst = result
    return result


def _lost(side: dict[str, Any]) -> str:
    return f"{side['lost_webhooks']} / {side['lost_pages']}"


def _dupes(side: dict[str, Any]) -> str:
    return f"{side['duplicate_webhooks']}, {side['rejected']}"


# -- 2. latency at fixed rates --------------------------------------------------------------------


def scenario_latency(bench: Bench) -> dict[str, Any]:
    rates = [10, 50] if bench.quick else [10, 20, 50, 100]
    seconds = 3.0 if bench.quick else 10.0
    sides: dict[str, list[dict[str, Any]]] = {}
    for kind in ("bare", "pressroom"):
        rows: list[dict[str, Any]] = []
        pending = list(rates)
        while pending:
            # A fresh stack, kept across rates while each drains completely.
            with hooks(1) as partners, bench.stack(kind, partners, scenario="latency") as stack:
                bench.warm_up(stack)
                while pending:
                    rate = pending.pop(0)
                    posted = bench.opened(stack, rate, seconds)
                    accepted = [p for p in posted if p.status == 202]
                    outcome = await_delivery(
                        stack, accepted, deadline=40 if bench.quick else 150, stall=20
                    )
                    hook = partners[0]
                    e2e = [hook.arrivals.get(p.id, math.inf) - p.scheduled for p in accepted]
                    e2e += [math.inf] * (len(posted) - len(accepted))
                    intake = [p.done - p.scheduled for p in posted]
                    rows.append(
                        {
                            "rate": rate,
                            "seconds": seconds,
                            "sent": len(posted),
                            "p50_ms": ms(pct(e2e, 50)),
                            "p99_ms": ms(pct(e2e, 99)),
                            "intake_p99_ms": ms(pct(intake, 99)),
                            "_p50": pct(e2e, 50),
                            "_p99": pct(e2e, 99),
                            "_intake": pct(intake, 99),
                            "rejected": len(posted) - len(accepted),
                            **outcome.accounting(),
                        }
                    )
                    if not outcome.complete:
                        break  # the next rate gets a fresh stack, not this one's backlog
        sides[kind] = rows
    printed = []
    for bare, ours in zip(sides["bare"], sides["pressroom"], strict=True):
        printed.append(
            [
                f"{bare['rate']}/s",
                fmt_ms(bare["_p50"]),
                fmt_ms(bare["_p99"]),
                fmt_ms(bare["_intake"]),
                fmt_ms(ours["_p50"]),
                fmt_ms(ours["_p99"]),
                fmt_ms(ours["_intake"]),
                fmt_ratio(ratio(ours["_p99"], bare["_p99"])),
                f"{bare['lost_webhooks']}/{ours['lost_webhooks']}",
            ]
        )
    table(
        f"2. latency, open loop, {seconds:g} s per rate: scheduled send → webhook received "
        "(target: pressroom p99 ≤ 2× bare where bare keeps up)",
        [
            "rate",
            "bare p50",
            "p99",
            "intake p99",
            "pressroom p50",
            "p99",
            "intake p99",
            "p99 ratio",
            "lost b/p",
        ],
        printed,
    )
    png = draw_latency(sides, bench.suffix)
    for rows in sides.values():
        for row in rows:
            for key in ("_p50", "_p99", "_intake"):
                row.pop(key)
    print(f"  plot: {png.relative_to(ROOT)}")
    return {**sides, "plot": str(png.relative_to(ROOT))}


def draw_latency(sides: dict[str, list[dict[str, Any]]], suffix: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    styles = {"bare": ("tab:gray", "bare stack"), "pressroom": ("tab:red", "pressroom")}
    for kind, rows in sides.items():
        colour, name = styles[kind]
        rates = [r["rate"] for r in rows]
        for key, dash, what in (("_p50", "--", "p50"), ("_p99", "-", "p99")):
            # A lost article makes a percentile infinite: drawn as a gap, listed in the table.
            values = [r[key] * 1000 if math.isfinite(r[key]) else math.nan for r in rows]
            axes.plot(rates, values, dash, marker="o", color=colour, label=f"{name} {what}")
    axes.set_xlabel("articles per second (open loop)")
    axes.set_ylabel("scheduled send → webhook received (ms)")
    axes.set_yscale("log")
    axes.set_xticks([r["rate"] for r in sides["bare"]])
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    axes.set_title(
        f"latency against rate ({'PostgreSQL' if suffix else 'SQLite'}, {machine()})", fontsize=8
    )
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"throughput-latency{suffix}.png"
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


# -- 3. intake ------------------------------------------------------------------------------------


def scenario_intake(bench: Bench) -> dict[str, Any]:
    seconds = 3.0 if bench.quick else 8.0
    result: dict[str, Any] = {"seconds": seconds, "clients": bench.args.clients}

    def rate(posted: list[Posted]) -> float:
        ok = [p for p in posted if p.status in (200, 202)]
        return round(len(ok) / seconds, 1)

    with hooks(1) as partners, bench.stack("bare", partners) as stack:
        bench.warm_up(stack)
        result["echo_req_per_s"] = rate(bench.closed(stack, None, seconds, f"{stack.base}/echo"))
        stack.pause_workers()
        result["bare_idle_req_per_s"] = rate(bench.closed(stack, None, seconds))
    with hooks(1) as partners, bench.stack("pressroom", partners) as stack:
        bench.warm_up(stack)
        stack.pause_workers()
        posted = bench.closed(stack, None, seconds)
        result["pressroom_idle_req_per_s"] = rate(posted)
        result["pressroom_idle_p99_ms"] = ms(pct([p.done - p.scheduled for p in posted], 99))
    echo, bare_idle, ours = (
        result["echo_req_per_s"],
        result["bare_idle_req_per_s"],
        result["pressroom_idle_req_per_s"],
    )
    result["ratio_idle_to_echo"] = round(ours / echo, 3)
    rows = [
        ["workers idle: bare Flask echo", echo, "", ""],
        ["workers idle: bare validate + .delay()", bare_idle, "", ""],
        ["workers idle: pressroom POST (stored)", ours, fmt_ratio(ours / echo), "≥ 0.5×"],
    ]
    if bench.burst is not None:
        bare_burst = bench.burst["bare"]["intake_req_per_s"]
        ours_burst = bench.burst["pressroom"]["intake_req_per_s"]
        result["burst_bare_req_per_s"], result["burst_pressroom_req_per_s"] = bare_burst, ours_burst
        result["ratio_burst"] = round(ours_burst / bare_burst, 3)
        rows += [
            ["under the burst: bare validate + .delay()", bare_burst, "", ""],
            [
                "under the burst: pressroom POST",
                ours_burst,
                fmt_ratio(ours_burst / bare_burst),
                "≥ 1×",
            ],
        ]
    else:
        rows.append(["under the burst: run the `burst` scenario too", "", "", ""])
    table(
        f"3. intake, {bench.args.clients} clients, {seconds:g} s (ratio: to the echo idle, "
        "to the bare stack under the burst)",
        ["", "req/s", "ratio", "target"],
        rows,
    )
    return result


# -- 4. backlog -----------------------------------------------------------------------------------


def scenario_backlog(bench: Bench) -> dict[str, Any]:
    n = 300 if bench.quick else 10_000
    repeats = 3 if bench.quick else 8
    gap = 3.0
    result: dict[str, Any] = {"backlog": n, "repeats": repeats}
    for kind in ("bare", "pressroom"):
        with hooks(1) as partners, bench.stack(kind, partners, scenario="backlog") as stack:
            bench.warm_up(stack)
            hook = partners[0]
            stack.pause_workers()
            queued_at = clock()
            posted = bench.closed(stack, count=n, seconds=None)
            enqueue_rate = len(posted) / (clock() - queued_at)
            backlog_ids = {p.id for p in posted if p.status == 202}
            pages_before = stack.page_count()
            stack.resume_workers()
            resumed = clock()
            urgent: list[float] = []
            if kind == "pressroom":
                with httpx.Client(timeout=60, headers=stack.headers) as client:
                    for i in range(repeats):
                        time.sleep(max(0.0, resumed + (i + 1) * gap - clock()))
                        urgent.append(send_urgent(client, stack, bench.run_tag(), i))
            if kind == "bare":
                # One FIFO queue: the bare stack runs every render before the first delivery,
                # so a short window would say nothing; its rate is the whole backlog's drain.
                backlog = [p for p in posted if p.status == 202]
                # Nothing arrives while it works through the renders: no stall limit but the
                # deadline itself.
                limit = 60 if bench.quick else 400
                outcome = await_delivery(stack, backlog, deadline=limit, stall=limit, pages=False)
                window_end = clock()
                measured_from = resumed
                if not outcome.complete:
                    print(f"  ! bare: backlog not drained in {window_end - resumed:.0f} s")
            else:
                window_end = max(clock(), resumed + max(10.0, repeats * gap + gap))
                time.sleep(max(0.0, window_end - clock()))
                measured_from = resumed + 1.0  # the workers' first second is waking up
            drained = sum(
                1
                for a, t in hook.arrivals.items()
                if a in backlog_ids and measured_from <= t <= window_end
            )
            page_rate = (stack.page_count() - pages_before) / (window_end - resumed)
            result[kind] = {
                "enqueue_req_per_s_workers_idle": round(enqueue_rate, 1),
                "accepted": len(backlog_ids),
                "window_s": round(window_end - resumed, 1),
                "drain_webhook_per_s": round(drained / (window_end - measured_from), 1),
                "drain_pages_per_s": round(page_rate, 1),
                "urgent_ms": [ms(u) for u in urgent],
                "urgent_p50_ms": ms(pct(urgent, 50)) if urgent else None,
                "urgent_p99_ms": ms(pct(urgent, 99)) if urgent else None,
                "urgent_lost": sum(1 for u in urgent if math.isinf(u)),
            }
    bare, ours = result["bare"], result["pressroom"]
    bare_drain = min(bare["drain_webhook_per_s"], bare["drain_pages_per_s"])
    ours_drain = min(ours["drain_webhook_per_s"], ours["drain_pages_per_s"])
    result["ratio_drain"] = round(ratio(ours_drain, bare_drain), 3)
    urgent = [u / 1000 if u is not None else math.inf for u in ours["urgent_ms"]]
    table(
        f"4. backlog: {n} routine articles queued (workers paused), then the workers resumed "
        f"and {repeats} urgency-1 stories, one every {gap:g} s (target: < 2 s p99, drain ≥ 0.5×;"
        " bare: the whole backlog's drain, pressroom: the drain while the urgent stories go)",
        ["", "bare stack", "pressroom", "ratio"],
        [
            [
                "backlog drain, webhook / pages per s",
                f"{bare['drain_webhook_per_s']} / {bare['drain_pages_per_s']}",
                f"{ours['drain_webhook_per_s']} / {ours['drain_pages_per_s']}",
                fmt_ratio(result["ratio_drain"]),
            ],
            [
                "urgent story everywhere, p50 / p99",
                "no priority lane",
                f"{fmt_ms(pct(urgent, 50))} / {fmt_ms(pct(urgent, 99))}",
                "",
            ],
            ["urgent stories lost", "", ours["urgent_lost"], ""],
            [
                "enqueueing, workers paused, req/s",
                bare["enqueue_req_per_s_workers_idle"],
                ours["enqueue_req_per_s_workers_idle"],
                "",
            ],
        ],
    )
    return result


def send_urgent(client: httpx.Client, stack: Stack, run: str, i: int) -> float:
    """One urgency-1 story: seconds until the webhook has it and its page exists (inf: lost)."""
    body = article_json(i, f"{run}-urgent", urgency=1)
    sent = clock()
    status, article_id, slug = _answer(client.post(stack.articles_url, content=body))
    if status != 202:
        print(f"  ! urgent story answered {status}", flush=True)
        return math.inf
    posted = Posted(i, sent, clock(), status, article_id, slug)
    outcome = await_delivery(stack, [posted], deadline=30, stall=30)
    return outcome.done_at(posted) - sent


# -- 5. fan-out -----------------------------------------------------------------------------------


def scenario_fanout(bench: Bench) -> dict[str, Any]:
    count = 10 if bench.quick else 50
    rate, seconds = 2.0, (3.0 if bench.quick else 10.0)
    phases: dict[str, Any] = {}
    with (
        hooks(count) as partners,
        bench.stack("pressroom", partners, site=False, scenario="fanout") as stack,
    ):
        started = clock()
        bench.warm_up(stack, count=2)
        ready_s = clock() - started
        odd, others = partners[0], partners[1:]
        for phase in ("healthy", "one slow", "one down"):
            if phase == "one slow":
                odd.slow = 5.0
            elif phase == "one down":
                odd.down()
            posted = bench.opened(stack, rate, seconds)
            accepted = [p for p in posted if p.status == 202]
            outcome = await_delivery(
                stack,
                accepted,
                deadline=120 if bench.quick else 240,
                stall=30,
                partners=others,
                pages=False,
            )
            latencies = [
                h.arrivals.get(p.id, math.inf) - p.scheduled for h in others for p in accepted
            ]
            phases[phase] = {
                "articles": len(posted),
                "deliveries": len(latencies),
                "p50_ms": ms(pct(latencies, 50)),
                "p99_ms": ms(pct(latencies, 99)),
                "_p99": pct(latencies, 99),
                "_p50": pct(latencies, 50),
                **outcome.accounting(),
            }
    memory = bench.memory["fanout"]["pressroom"]
    healthy = phases["healthy"]["_p99"]
    rows = []
    for name, phase in phases.items():
        added = ratio(phase["_p99"], healthy) - 1
        phase["added_to_p99"] = None if math.isnan(added) else round(added, 3)
        rows.append(
            [
                name,
                phase["deliveries"],
                fmt_ms(phase.pop("_p50")),
                fmt_ms(phase.pop("_p99")),
                "" if name == "healthy" or math.isnan(added) else f"{added:+.0%}",
                phase["lost_webhooks"],
            ]
        )
    table(
        f"5. fan-out: {count} webhook outlets, {rate:g} articles/s for {seconds:g} s per phase; "
        f"the {count - 1} others' latency (target: < +10 % p99)",
        ["phase", "deliveries", "p50", "p99", "vs healthy", "lost"],
        rows,
    )
    print(
        f"  processes: {memory['processes']} ({memory['worker_processes']} worker processes); "
        f"sum of peak RSS {memory['sum_of_process_peaks_mb']} MB, peak of the whole tree "
        f"{memory['peak_total_rss_mb']} MB; all workers ready in {ready_s:.0f} s"
    )
    return {"outlets": count, "rate": rate, "seconds": seconds, "phases": phases, "memory": memory}


# -- 6. static-site flat cost ---------------------------------------------------------------------


def scenario_static(bench: Bench) -> dict[str, Any]:
    """Through the outlet's own protocol, in process: `deliver(Delivery)` on the plug-in the
    registry gives for `static_site`, seeded as far as the time budget allows."""
    from pressroom_shared.article import Article, ArticleContent, Event, PubStatus
    from pressroom_shared.config import Settings
    from pressroom_shared.outlets_config import OutletConfig
    from pressroom_shared.plugins import (
        Delivery,
        RenderContext,
        build_outlet,
        load_outlet_types,
        load_renderers,
    )

    checkpoints = [100, 1_000, 10_000, 100_000]
    budget = 10.0 if bench.quick else 150.0
    measured = 30 if bench.quick else 60
    folder = bench.work / "static-site"
    settings = Settings(publisher_name="Пресс-центр")
    config = OutletConfig(
        name="site",
        type="static_site",
        options={"path": str(folder), "base_url": "http://127.0.0.1/site"},
    )
    outlet = build_outlet(load_outlet_types(), config, settings)
    renderers = load_renderers()
    context = RenderContext(site_url="http://127.0.0.1/site", publisher_name="Пресс-центр")
    paragraphs = json.loads(article_json(0, "static"))["body"].split("\n\n")
    body_html = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    body_text = "\n\n".join(paragraphs)
    published = 0

    def delivery(i: int) -> Delivery:
        now = datetime.now(UTC)
        article = Article(
            id=str(uuid.uuid4()),
            version=1,
            slug=f"bench-{i}",
            pubstatus=PubStatus.USABLE,
            content=ArticleContent(
                headline=f"Обмен пленными: подробности разговора № {i}",
                body_html=body_html,
                body_text=body_text,
                language="ru",
                byline="Виктория Любимова",
                rubric="Новости",
            ),
            first_created=now,
            version_created=now,
        )
        renditions = {name: renderers[name]().render(article, context) for name in outlet.requires}
        return Delivery(f"dlv_{i}", Event.PUBLISHED, article, renditions, attempt=1)

    rows: list[dict[str, Any]] = []
    started = clock()
    seeding = 0.0
    for target in checkpoints:
        while published < target and clock() - started < budget:
            outlet.deliver(delivery(published))
            published += 1
        seeding = clock() - started
        if published < target:
            print(f"  ! seeding reached {published} of {target} in the {budget:g} s budget")
            break
        times = []
        for _ in range(measured):
            item = delivery(published)
            t0 = clock()
            outlet.deliver(item)
            times.append(clock() - t0)
            if not (folder / "articles" / f"{item.article.slug}.html").exists():
                raise RuntimeError(f"page of {item.article.slug} missing after deliver()")
            published += 1
        rows.append(
            {
                "already_published": target,
                "deliveries": measured,
                "p50_ms": ms(pct(times, 50)),
                "p99_ms": ms(pct(times, 99)),
                "_p50": pct(times, 50),
                "_p99": pct(times, 99),
            }
        )
    base = rows[0]["_p50"] if rows else math.nan
    printed = [
        [
            f"{r['already_published']:,}",
            fmt_ms(r.pop("_p50")),
            fmt_ms(r.pop("_p99")),
            fmt_ratio(ratio(r["p50_ms"] or math.nan, (base * 1000) if base == base else math.nan)),
        ]
        for r in rows
    ]
    table(
        f"6. static site: one delivery with N articles already published (in process; seeding "
        f"{published:,} took {seeding:.0f} s; target: flat)",
        ["already published", "p50", "p99", "p50 vs at 100"],
        printed,
    )
    return {
        "rows": rows,
        "published": published,
        "seeding_s": round(seeding, 1),
        "budget_s": budget,
    }


# -- 7. memory ------------------------------------------------------------------------------------


def scenario_memory(bench: Bench) -> dict[str, Any]:
    if not bench.memory:
        print("\n7. memory: no stack ran (it is sampled during burst, latency, backlog, fanout)")
        return {}
    rows = []
    for scenario, sides in bench.memory.items():
        for kind, report in sides.items():
            for program, figures in report["programs"].items():
                rows.append(
                    [
                        f"{scenario} · {kind} · {program}",
                        figures["processes"],
                        figures["peak_rss_mb"],
                    ]
                )
            rows.append(
                [
                    f"{scenario} · {kind} · whole tree (sum of process peaks)",
                    report["processes"],
                    report["sum_of_process_peaks_mb"],
                ]
            )
    table(
        "7. memory: peak RSS (MB, sampled every 0.2 s) by program, per scenario",
        ["", "processes", "peak RSS MB"],
        rows,
    )
    return bench.memory


SCENARIOS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "burst": scenario_burst,
    "latency": scenario_latency,
    "intake": scenario_intake,
    "backlog": scenario_backlog,
    "fanout": scenario_fanout,
    "static": scenario_static,
    "memory": scenario_memory,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="short runs, for development")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (closed loop)")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (postgresql+psycopg://…): each pressroom stack gets a "
        "throwaway database there",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folders (logs)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PRESSROOM_NAME=VALUE",
        help="a setting for pressroom's side (repeatable), to try it against the same baseline",
    )
    args = parser.parse_args()
    malformed = [item for item in args.set if not item.startswith("PRESSROOM_") or "=" not in item]
    if malformed:
        parser.error(f"--set takes PRESSROOM_NAME=VALUE: {', '.join(malformed)}")
    args.settings = dict(item.split("=", 1) for item in args.set)
    unknown = set(args.scenarios) - SCENARIOS.keys()
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    chosen = args.scenarios or list(SCENARIOS)
    if "memory" not in chosen:
        chosen.append("memory")

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    work = Path(tempfile.mkdtemp(prefix="pressroom-throughput-"))
    print(
        f"pressroom throughput · {machine()} · "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}{' · quick' if args.quick else ''}"
        f"{''.join(f' · {item}' for item in args.set)} · work in {work}",
        flush=True,
    )
    began = clock()
    pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
    bench = Bench(args, work, pool)
    try:
        for name in chosen:
            t0 = clock()
            data = SCENARIOS[name](bench)
            data["elapsed_s"] = round(clock() - t0, 1)
            bench.save(name, data)
            print(f"  ({name}: {clock() - t0:.0f} s)", flush=True)
    finally:
        pool.shutdown(cancel_futures=True)
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    print(f"\nall done in {clock() - began:.0f} s; JSON in {RESULTS.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
