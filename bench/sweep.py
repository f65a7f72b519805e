"""How long one sweep takes with a big history and a big backlog (issue 12's target: < 10 ms).

    .venv/bin/python bench/sweep.py                       # SQLite in a temp folder
    .venv/bin/python bench/sweep.py --database-url postgresql+psycopg://postgres@127.0.0.1/x

Fills the steps table with FINISHED done steps (no `due_at`), WAITING pending deliveries sent a
moment ago (still in their queue, due later) and a few lost ones (due now), then times
`take_due` (the sweeper's whole transaction) against the baseline of an empty table's sweep,
measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, update

from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine, make_sessionmaker, transaction
from pressroom_shared.migrate import upgrade
from pressroom_shared.models import Article, Step
from pressroom_shared.steps import StepPolicy, take_due
from pressroom_shared.timeutil import utcnow

BATCH = 20_000


def fill(settings: Settings, finished: int, waiting: int, lost: int) -> None:
    engine = make_engine(settings)
    now = utcnow()
    articles = max(1, (finished + waiting + lost) // 10)
    article_ids = [str(uuid.uuid4()) for _ in range(articles)]
    with engine.begin() as conn:
        for start in range(0, articles, BATCH):
            conn.execute(
                insert(Article),
                [
                    {
                        "id": a,
                        "slug": a,
                        "current_version": 1,
                        "pubstatus": "usable",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for a in article_ids[start : start + BATCH]
                ],
            )
    kinds = [("done", finished), ("pending", waiting), ("lost", lost)]
    serial = 0
    for kind, count in kinds:
        for start in range(0, count, BATCH):
            rows = []
            for _ in range(min(BATCH, count - start)):
                serial += 1
                article = article_ids[serial % articles]
                sent = now - timedelta(seconds=120 if kind == "lost" else 1)
                rows.append(
                    {
                        "id": str(uuid.uuid4()),
                        "article_id": article,
                        "version": serial,  # unique per (article, version, stage, outlet)
                        "stage": "deliver",
                        "outlet": "partner",
                        "event": "published",
                        "lane": "normal",
                        "state": "done" if kind == "done" else "pending",
                        "attempts": 1 if kind == "done" else 0,
                        "lost_attempts": 0,
                        "retry_from": 0,
                        "receipt": {},
                        "enqueued_at": sent,
                        "due_at": None if kind == "done" else sent + timedelta(seconds=30),
                        "finished_at": now if kind == "done" else None,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            with engine.begin() as conn:
                conn.execute(insert(Step), rows)
    engine.dispose()


def time_sweeps(settings: Settings, repeats: int, head: datetime | None = None) -> list[float]:
    """`head`: the send stamp of the oldest message in every queue (None: queues are empty, so
    every due step counts as lost and is re-sent once)."""
    sessions = make_sessionmaker(make_engine(settings))
    policy = StepPolicy.from_settings(settings)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        with transaction(sessions) as session:
            take_due(session, now=utcnow(), policy=policy, queue_head=lambda _: head, limit=200)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def backlog_due_in(settings: Settings, seconds: float) -> None:
    """Make the whole backlog due `seconds` from now (negative: overdue, the worst steady state,
    when all of it has waited past REDRIVE_AFTER in its queue)."""
    engine = make_engine(settings)
    with engine.begin() as conn:
        conn.execute(
            update(Step)
            .where(Step.state == "pending")
            .values(due_at=utcnow() + timedelta(seconds=seconds))
        )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--waiting", type=int, default=100_000)
    parser.add_argument("--lost", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Settings(var_dir=Path(folder), database_url=args.database_url)
        upgrade(make_engine(base))
        empty = time_sweeps(base, args.repeats)
        started = time.monotonic()
        fill(base, args.finished, args.waiting, args.lost)
        print(
            f"filled {args.finished} finished, {args.waiting} waiting, {args.lost} lost steps "
            f"in {time.monotonic() - started:.0f} s"
        )
        time_sweeps(base, 1)  # re-sends the lost steps once
        # Filling took a while: the backlog counts as just sent, as in a steady state.
        backlog_due_in(base, 30)
        full = time_sweeps(base, args.repeats)
        backlog_due_in(base, -1)
        # The queues' oldest messages were sent long ago: the backlog is still in them.
        overdue = time_sweeps(base, args.repeats, head=utcnow() - timedelta(days=1))
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\none sweep on {backend} (ms)            median    p95    max")
    for name, timings in (
        ("empty table (baseline)", empty),
        ("1M finished + 100k waiting", full),
        ("... all 100k overdue, queued", overdue),
    ):
        ordered = sorted(timings)
        p95 = ordered[int(len(ordered) * 0.95) - 1]
        print(f"  {name:34} {statistics.median(ordered):6.2f} {p95:6.2f} {ordered[-1]:6.2f}")
    print("(nothing is due in the second line: the lost steps were re-sent by an untimed sweep;")
    print(" with the backlog overdue, each sweep looks at 200 queued steps, re-sends none, and")
    print(" moves them on, each further ahead the longer it has waited)")


if __name__ == "__main__":
    main()
