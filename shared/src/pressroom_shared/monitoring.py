"""What operators look at: queues, workers, outlets, throughput, alerts and an article's story.

The console (/ops), /metrics and the CLI (`pressroom queues|workers`) read the same functions,
so they can never disagree. Everything is read from the database (the source of truth), from
Redis (what waits in each queue) and from the workers themselves (a heartbeat record each
worker keeps in Redis, and Celery's inspect for the tasks in their hands).
"""

from __future__ import annotations

import functools
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import redis
import structlog
from celery import Celery
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from pressroom_shared.contracts import Lane, Stage, all_queues, queue_name
from pressroom_shared.dispatch import UNKNOWN_HEAD, queue_head_reader
from pressroom_shared.models import (
    Article,
    ArticleVersion,
    OperatorAction,
    Rendition,
    Step,
    StepAttempt,
)
from pressroom_shared.operations import DELIVERY_STATES, outlet_modes, state_of
from pressroom_shared.steps import OutletMode, StepState

log = structlog.get_logger(__name__)

# Each worker keeps one hash here, refreshed on every Celery heartbeat (see
# pressroom_workers.heartbeat); it expires when the worker is gone.
WORKER_KEY_PREFIX = "pressroom:worker:"
WORKER_KEY_TTL_SECONDS = 60
# Celery heartbeats every 2 s: a record this old means the worker stopped talking.
SILENT_AFTER_SECONDS = 10.0
RATE_WINDOW = timedelta(minutes=10)


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


# ---------------------------------------------------------------------------------- workers


@dataclass
class WorkerInfo:
    hostname: str
    pid: int | None
    queues: list[str]
    concurrency: int | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    last_task_at: datetime | None  # when it last finished a task
    processed: int
    active: list[dict[str, Any]] = field(default_factory=list)  # from inspect
    answered_inspect: bool = False
    silent: bool = False  # no heartbeat for SILENT_AFTER_SECONDS
    stalled: bool = False  # alive, but its queues hold old work it does not take
    why: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parse_time(raw: bytes | str | None) -> datetime | None:
    if not raw:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    return datetime.fromtimestamp(float(text), UTC)


def read_worker_records(client: redis.Redis) -> list[WorkerInfo]:
    workers = []
    try:
        keys = sorted(cast(list[bytes], client.keys(WORKER_KEY_PREFIX + "*")))
        for key in keys:
            raw = cast(dict[bytes, bytes], client.hgetall(key.decode()))
            if not raw:
                continue
            record = {k.decode(): v.decode() for k, v in raw.items()}
            workers.append(
                WorkerInfo(
                    hostname=record.get("hostname", key.decode()[len(WORKER_KEY_PREFIX) :]),
                    pid=int(record["pid"]) if record.get("pid") else None,
                    queues=json.loads(record.get("queues", "[]")),
                    concurrency=int(record["concurrency"]) if record.get("concurrency") else None,
                    started_at=_parse_time(record.get("started_at")),
                    heartbeat_at=_parse_time(record.get("heartbeat_at")),
                    last_task_at=_parse_time(record.get("last_task_at")),
                    processed=int(record.get("processed", 0)),
                )
            )
    except redis.RedisError as exc:
        log.warning("monitoring.workers_unreadable", error=str(exc))
    return workers


def inspect_workers(
    celery: Celery, expected: int, timeout: float = 1.0, *, with_active: bool = True
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[str]]]:
    """(active tasks, consumed queues) per worker, from Celery's broadcast inspect.

    Waits at most `timeout` per question, and less once the `expected` workers have all
    answered.
    """
    try:
        inspector = celery.control.inspect(timeout=timeout, limit=expected or None)
        queues = inspector.active_queues() or {}
        active = (inspector.active() or {}) if with_active else {}
    except Exception as exc:  # kombu raises many kinds; all mean "no answer now"
        log.warning("monitoring.inspect_failed", error=str(exc))
        return {}, {}
    return (
        {name: [dict(t) for t in tasks or []] for name, tasks in active.items()},
        {name: [q["name"] for q in qs or []] for name, qs in queues.items()},
    )


def workers_view(
    client: redis.Redis,
    celery: Celery | None,
    *,
    now: datetime,
    stall_after: float,
    heads: Mapping[str, float | None] | None = None,
    inspect_timeout: float = 1.0,
    with_active: bool = True,
) -> list[WorkerInfo]:
    """Every worker that kept a heartbeat record, merged with what inspect says of it.

    `heads` (queue -> age of its oldest waiting message) decides progress: a worker is stalled
    when one of its queues holds work older than `stall_after` and it has finished nothing for
    as long — the silent-consumer failure (celery#8030, #10302) where the process lives on.
    """
    workers = read_worker_records(client)
    if celery is not None:
        active, consumed = inspect_workers(
            celery, len(workers), inspect_timeout, with_active=with_active
        )
        known = {w.hostname for w in workers}
        for name in sorted(set(active) | set(consumed)):
            if name not in known:  # a worker without our heartbeat hook (another version?)
                workers.append(WorkerInfo(name, None, [], None, None, None, None, 0))
        for worker in workers:
            if worker.hostname in active or worker.hostname in consumed:
                worker.answered_inspect = True
                worker.active = active.get(worker.hostname, [])
                worker.queues = consumed.get(worker.hostname, worker.queues)
    if heads is None:
        heads = queue_ages(client, {q for w in workers for q in w.queues}, now=now)
    for worker in workers:
        judge_worker(worker, now=now, stall_after=stall_after, heads=heads)
    return workers


def judge_worker(
    worker: WorkerInfo, *, now: datetime, stall_after: float, heads: Mapping[str, float | None]
) -> None:
    heartbeat_age = _age(now, worker.heartbeat_at)
    if heartbeat_age is not None and heartbeat_age > SILENT_AFTER_SECONDS:
        worker.silent = True
        worker.why = f"no heartbeat for {heartbeat_age:.0f} s"
    idle_for = _age(now, worker.last_task_at or worker.started_at)
    waiting = {q: heads.get(q) for q in worker.queues}
    old = sorted(q for q, age in waiting.items() if age is not None and age > stall_after)
    if old and (idle_for is None or idle_for > stall_after):
        worker.stalled = True
        worker.why = (
            f"{', '.join(old)} hold work older than {stall_after:.0f} s "
            f"and it finished nothing for {idle_for or 0:.0f} s"
        )


# ----------------------------------------------------------------------------------- queues


@dataclass
class QueueInfo:
    name: str
    depth: int | None  # None: Redis unreachable
    oldest_age: float | None  # seconds; None when empty or unknown
    consumers: list[str]
    rate_per_minute: float | None  # steps of this queue started, over the last 10 minutes
    drain_seconds: float | None  # depth / rate

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def queue_ages(
    client: redis.Redis, queues: Iterable[str], *, now: datetime
) -> dict[str, float | None]:
    """queue -> age in seconds of its oldest waiting message (None: empty or not stamped)."""
    head = queue_head_reader(client)
    ages: dict[str, float | None] = {}
    for queue in queues:
        stamp = head(queue)
        ages[queue] = None if stamp is None or stamp == UNKNOWN_HEAD else _age(now, stamp)
    return ages


def queue_rates(session: Session, *, now: datetime) -> dict[str, float]:
    """queue -> steps started per minute over the last RATE_WINDOW, from the attempt log."""
    since = now - RATE_WINDOW
    rows = session.execute(
        select(Step.stage, Step.lane, Step.outlet, func.count())
        .join(StepAttempt, StepAttempt.step_id == Step.id)
        .where(StepAttempt.started_at >= since)
        .group_by(Step.stage, Step.lane, Step.outlet)
    ).all()
    minutes = RATE_WINDOW.total_seconds() / 60
    return {
        queue_name(Stage(stage), Lane(lane), outlet): count / minutes
        for stage, lane, outlet, count in rows
    }


def queues_view(
    client: redis.Redis,
    session: Session,
    outlets: Sequence[str],
    *,
    now: datetime,
    consumers: Mapping[str, list[str]] | None = None,
) -> list[QueueInfo]:
    """Every queue of the task contract, even one nobody consumes (Flower hides those)."""
    names = all_queues(outlets)
    ages = queue_ages(client, names, now=now)
    rates = queue_rates(session, now=now)
    by_queue: dict[str, list[str]] = defaultdict(list)
    for worker, queues in (consumers or {}).items():
        for queue in queues:
            by_queue[queue].append(worker)
    result = []
    for name in names:
        try:
            depth: int | None = cast(int, client.llen(name))
        except redis.RedisError:
            depth = None
        rate = rates.get(name)
        drain = None
        if depth and rate:
            drain = depth / rate * 60
        result.append(
            QueueInfo(name, depth, ages.get(name), sorted(by_queue.get(name, [])), rate, drain)
        )
    return result


def consumers_of(workers: Iterable[WorkerInfo]) -> dict[str, list[str]]:
    return {w.hostname: w.queues for w in workers if not w.silent}


# ---------------------------------------------------------------------------------- outlets


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class OutletInfo:
    name: str
    mode: str
    mode_reason: str | None
    mode_changed_by: str | None
    counts: dict[str, int]
    success_rate: float | None  # of attempts finished in the last hour
    p50_seconds: float | None  # time of a successful attempt (last 500)
    p95_seconds: float | None
    last_error: str | None
    last_error_at: datetime | None
    last_outcome: str | None  # of the latest finished attempt: "done", "transient"...
    breaker: str | None = None  # closed | open | half_open, where the outlet has a breaker

    @property
    def failing(self) -> bool:
        """Failed deliveries wait for an operator, or the latest attempt did not get through."""
        return bool(self.counts.get("failed")) or self.last_outcome not in (
            None,
            "done",
            "canceled",
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def outlets_view(session: Session, outlets: Sequence[str], *, now: datetime) -> list[OutletInfo]:
    modes = outlet_modes(session)
    counts: dict[tuple[str, str], int] = {
        (outlet, state_of(state)): count
        for outlet, state, count in session.execute(
            select(Step.outlet, Step.state, func.count())
            .where(Step.stage == Stage.DELIVER)
            .group_by(Step.outlet, Step.state)
        ).all()
    }
    hour = now - timedelta(hours=1)
    result = []
    for name in outlets:
        attempts = session.execute(
            select(StepAttempt.outcome, StepAttempt.started_at, StepAttempt.finished_at)
            .join(Step, StepAttempt.step_id == Step.id)
            .where(Step.stage == Stage.DELIVER, Step.outlet == name)
            .where(StepAttempt.finished_at.is_not(None))
            .order_by(StepAttempt.finished_at.desc())
            .limit(500)
        ).all()
        recent = [a for a in attempts if a.finished_at >= hour]
        ok = [a for a in recent if a.outcome == "done"]
        durations = [
            (a.finished_at - a.started_at).total_seconds() for a in attempts if a.outcome == "done"
        ]
        error = session.execute(
            select(StepAttempt.error, StepAttempt.finished_at)
            .join(Step, StepAttempt.step_id == Step.id)
            .where(Step.stage == Stage.DELIVER, Step.outlet == name)
            .where(StepAttempt.error.is_not(None))
            .order_by(StepAttempt.finished_at.desc())
            .limit(1)
        ).first()
        mode = modes.get(name)
        result.append(
            OutletInfo(
                name=name,
                mode=mode.mode if mode else str(OutletMode.ACTIVE),
                mode_reason=mode.reason if mode else None,
                mode_changed_by=mode.changed_by if mode else None,
                counts={s: counts.get((name, s), 0) for s in DELIVERY_STATES},
                success_rate=len(ok) / len(recent) if recent else None,
                p50_seconds=_percentile(durations, 0.5),
                p95_seconds=_percentile(durations, 0.95),
                last_error=error.error if error else None,
                last_error_at=error.finished_at if error else None,
                last_outcome=attempts[0].outcome if attempts else None,
                # A circuit breaker's state, where outlet_states keeps one (read, not assumed,
                # so the console shows it as soon as the schema has it).
                breaker=getattr(mode, "breaker", None),
            )
        )
    return result


# --------------------------------------------------------------------------------- overview


LIVE_STATES = [
    StepState.PENDING,
    StepState.IN_PROGRESS,
    StepState.RETRYING,
    StepState.FAILED,
    StepState.UNKNOWN,
]


@dataclass
class Overview:
    received: int
    delivered: int
    failed: int
    stage_counts: dict[str, dict[str, int]]  # stage -> state -> count (done, canceled: 1 h)
    series: list[tuple[datetime, int, int]]  # bucket start, received, delivered
    bucket_minutes: int


def overview(session: Session, *, now: datetime, buckets: int = 24, minutes: int = 5) -> Overview:
    hour = now - timedelta(hours=1)
    received = session.scalar(
        select(func.count()).select_from(ArticleVersion).where(ArticleVersion.received_at >= hour)
    )
    finished = dict(
        session.execute(
            select(Step.state, func.count())
            .where(Step.stage == Stage.DELIVER, Step.finished_at >= hour)
            .group_by(Step.state)
        ).all()
    )
    # Unfinished (and failed, unknown) steps are few and found through the state index; done
    # and canceled ones are the bulk of the table, so only the last hour's are counted. The
    # console asks every few seconds: neither may scan the whole table.
    stage_counts: dict[str, dict[str, int]] = defaultdict(dict)
    for stage, state, count in session.execute(
        select(Step.stage, Step.state, func.count())
        .where(Step.state.in_(LIVE_STATES))
        .group_by(Step.stage, Step.state)
    ).all():
        stage_counts[stage][state_of(state)] = count
    for stage, state, count in session.execute(
        select(Step.stage, Step.state, func.count())
        .where(Step.finished_at >= hour, Step.state.in_([StepState.DONE, StepState.CANCELED]))
        .group_by(Step.stage, Step.state)
    ).all():
        stage_counts[stage][state_of(state)] = count
    start = now - timedelta(minutes=buckets * minutes)
    step = timedelta(minutes=minutes)
    got = [0] * buckets
    sent = [0] * buckets
    for (at,) in session.execute(
        select(ArticleVersion.received_at).where(ArticleVersion.received_at >= start)
    ):
        got[min(buckets - 1, int((at - start) / step))] += 1
    for (done,) in session.execute(
        select(Step.finished_at).where(
            Step.stage == Stage.DELIVER, Step.state == StepState.DONE, Step.finished_at >= start
        )
    ):
        if done is not None:
            sent[min(buckets - 1, int((done - start) / step))] += 1
    series = [(start + i * step, got[i], sent[i]) for i in range(buckets)]
    return Overview(
        received=received or 0,
        delivered=finished.get(StepState.DONE, 0),
        failed=finished.get(StepState.FAILED, 0),
        stage_counts={
            stage: dict(stage_counts.get(stage, {})) for stage in (s.value for s in Stage)
        },
        series=series,
        bucket_minutes=minutes,
    )


# ----------------------------------------------------------------------------------- alerts


@dataclass(frozen=True)
class Alert:
    level: str  # "error" | "warning"
    text: str
    link: str  # a console path


def read_supervisor(var_dir: Path) -> dict[str, Any]:
    """`pressroom run`'s status file, or {} where it does not run (compose, tests)."""
    try:
        return cast(dict[str, Any], json.loads((var_dir / "supervisor.json").read_text()))
    except (OSError, ValueError):
        return {}


def alerts(
    *,
    outlets: Sequence[OutletInfo],
    queues: Sequence[QueueInfo],
    workers: Sequence[WorkerInfo],
    unknown: int,
    supervisor: Mapping[str, Any],
    queue_age_alert: float,
) -> list[Alert]:
    """What needs a human now, worst first."""
    found: list[Alert] = []
    for outlet in outlets:
        if outlet.mode == OutletMode.DISABLED:
            found.append(
                Alert(
                    "error",
                    f"Outlet {outlet.name} is disabled: {outlet.mode_reason or 'gone (410)'}",
                    "/ops/outlets",
                )
            )
        elif outlet.mode == OutletMode.PAUSED:
            found.append(
                Alert(
                    "warning",
                    f"Outlet {outlet.name} is paused by {outlet.mode_changed_by}",
                    "/ops/outlets",
                )
            )
        if outlet.breaker == "open":
            found.append(
                Alert(
                    "error",
                    f"Outlet {outlet.name}: its circuit breaker is open, deliveries wait",
                    "/ops/outlets",
                )
            )
        if outlet.failing:
            failing = outlet.counts.get("failed", 0)
            retrying = outlet.counts.get("retrying", 0)
            found.append(
                Alert(
                    "error",
                    f"Outlet {outlet.name} is failing: {failing} failed, {retrying} retrying"
                    + (f" — {outlet.last_error}" if outlet.last_error else ""),
                    f"/ops/deliveries?outlet={outlet.name}&state=failed",
                )
            )
    for queue in queues:
        if queue.oldest_age is not None and queue.oldest_age > queue_age_alert:
            found.append(
                Alert(
                    "warning",
                    f"Queue {queue.name}: its oldest message has waited {queue.oldest_age:.0f} s",
                    "/ops/queues",
                )
            )
        if queue.depth and not queue.consumers:
            found.append(
                Alert("warning", f"Queue {queue.name} has work and no consumer", "/ops/queues")
            )
    if unknown:
        found.append(
            Alert(
                "error",
                f"{unknown} deliveries are unknown: decide whether they arrived",
                "/ops/deliveries?state=unknown",
            )
        )
    for worker in workers:
        if worker.stalled or worker.silent:
            found.append(Alert("error", f"Worker {worker.hostname}: {worker.why}", "/ops/workers"))
    for name, program in (supervisor.get("programs") or {}).items():
        if program.get("state") == "crash-looping":
            found.append(
                Alert(
                    "error",
                    f"Program {name} is crash-looping ({program.get('restarts')} restarts, "
                    f"last exit {program.get('last_exit_code')})",
                    "/ops/workers",
                )
            )
    found.sort(key=lambda a: a.level != "error")
    return found


def unknown_count(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Step)
            .where(Step.stage == Stage.DELIVER, Step.state == StepState.UNKNOWN)
        )
        or 0
    )


# -------------------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str  # received | version | correction | kill | render | index | deliver | operator
    title: str
    detail: str = ""
    outcome: str = ""
    step_id: str = ""


def article_timeline(session: Session, article_id: str) -> list[TimelineEvent] | None:
    article = session.get(Article, article_id)
    if article is None:
        return None
    events: list[TimelineEvent] = []
    for v in session.scalars(
        select(ArticleVersion).where(ArticleVersion.article_id == article_id)
    ).all():
        kind = (
            "kill"
            if v.kill_reason
            else "correction"
            if v.correction_note
            else "received"
            if v.version == 1
            else "version"
        )
        note = v.kill_reason or v.correction_note or ""
        request = f"request {v.request_id}" if v.request_id else ""
        events.append(
            TimelineEvent(
                v.received_at,
                kind,
                f"v{v.version} {v.event}: {v.headline}",
                " · ".join(x for x in (note, f"via {v.source_format}", request) if x),
            )
        )
    steps = {s.id: s for s in session.scalars(select(Step).where(Step.article_id == article_id))}
    for attempt in session.scalars(
        select(StepAttempt).where(StepAttempt.step_id.in_(list(steps)))
    ).all():
        s = steps[attempt.step_id]
        where = f" → {s.outlet}" if s.outlet else ""
        events.append(
            TimelineEvent(
                attempt.started_at,
                s.stage,
                f"v{s.version} {s.stage}{where}, attempt {attempt.number}",
                attempt.error or "",
                attempt.outcome or "running",
                s.id,
            )
        )
    for s in steps.values():
        if s.state == StepState.CANCELED and s.finished_at is not None:
            events.append(
                TimelineEvent(
                    s.finished_at,
                    s.stage,
                    f"v{s.version} {s.stage}{' → ' + s.outlet if s.outlet else ''} canceled",
                    s.last_error or "",
                    "canceled",
                    s.id,
                )
            )
    for action in session.scalars(
        select(OperatorAction).where(OperatorAction.target.in_(list(steps)))
    ).all():
        s = steps[action.target]
        events.append(
            TimelineEvent(
                action.at,
                "operator",
                f"{action.action} by {action.actor}",
                f"v{s.version} {s.stage} → {s.outlet}",
                step_id=s.id,
            )
        )
    events.sort(key=lambda e: e.at)
    return events


@dataclass(frozen=True)
class ArticleRow:
    id: str
    headline: str
    version: int
    pubstatus: str
    updated_at: datetime
    deliveries: dict[str, int]  # state -> count, the current version's


def recent_articles(session: Session, limit: int = 25) -> list[ArticleRow]:
    """The latest articles with their current version's deliveries, for the console's index."""
    articles = session.execute(
        select(Article.id, Article.current_version, Article.pubstatus, Article.updated_at)
        .order_by(Article.updated_at.desc())
        .limit(limit)
    ).all()
    if not articles:
        return []
    ids = [a.id for a in articles]
    headlines = dict(
        session.execute(
            select(ArticleVersion.article_id, ArticleVersion.headline)
            .join(Article, Article.id == ArticleVersion.article_id)
            .where(ArticleVersion.article_id.in_(ids))
            .where(ArticleVersion.version == Article.current_version)
        ).all()
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for article_id, state, count in session.execute(
        select(Step.article_id, Step.state, func.count())
        .join(Article, Article.id == Step.article_id)
        .where(Step.article_id.in_(ids), Step.stage == Stage.DELIVER)
        .where(Step.version == Article.current_version)
        .group_by(Step.article_id, Step.state)
    ).all():
        counts[article_id][state_of(state)] = count
    return [
        ArticleRow(
            a.id,
            headlines.get(a.id, ""),
            a.current_version,
            a.pubstatus,
            a.updated_at,
            dict(counts.get(a.id, {})),
        )
        for a in articles
    ]


def request_id_of(session: Session, step: Step) -> str | None:
    """The X-Request-ID of the submission that made the step's version."""
    return session.scalar(
        _request_id_statement(), {"rid_article_id": step.article_id, "rid_version": step.version}
    )


@functools.cache
def _request_id_statement() -> Select[str | None]:
    # Built once: every step a worker claims asks (see steps._end_statement on why).
    return select(ArticleVersion.request_id).where(
        ArticleVersion.article_id == bindparam("rid_article_id"),
        ArticleVersion.version == bindparam("rid_version"),
    )


def renditions_of(session: Session, step: Step) -> list[Rendition]:
    """What a delivery carries: the renditions of its version (its outlet reads from these)."""
    return list(
        session.scalars(
            select(Rendition)
            .where(Rendition.article_id == step.article_id, Rendition.version == step.version)
            .order_by(Rendition.name)
        ).all()
    )


# ------------------------------------------------------------------------ worker heartbeats


def write_worker_record(
    client: redis.Redis, hostname: str, fields: Mapping[str, str | int | float]
) -> None:
    """A worker's heartbeat record (see pressroom_workers.heartbeat)."""
    key = WORKER_KEY_PREFIX + hostname
    pipe = client.pipeline()
    pipe.hset(key, mapping={"hostname": hostname, "pid": os.getpid(), **fields})
    pipe.expire(key, WORKER_KEY_TTL_SECONDS)
    pipe.execute()
