"""`pressroom queues` and `pressroom workers`: the console's Queues and Workers pages, in a shell.

The same functions as /ops and /metrics (pressroom_shared.monitoring); tables for people,
`--json` for scripts. `pressroom workers --check` is a container health check that tests
progress, not only that a process answers.
"""

from __future__ import annotations

import click

from pressroom_cli.operate import _echo_json, _sessions, _table, with_redis
from pressroom_shared import monitoring
from pressroom_shared.celery_app import make_celery
from pressroom_shared.config import Settings
from pressroom_shared.dispatch import broker_client
from pressroom_shared.outlets_config import load_outlets
from pressroom_shared.timeutil import utcnow


def _age(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@click.option("--timeout", default=1.0, show_default=True, help="Seconds to wait for workers.")
@click.pass_obj
def queues(settings: Settings, as_json: bool, timeout: float) -> None:
    """Every queue: depth, age of its oldest message, consumers, rate and time to drain."""
    settings = with_redis(settings)
    names = [o.name for o in load_outlets(settings)]
    client = broker_client(settings)
    now = utcnow()
    workers = monitoring.workers_view(
        client,
        make_celery(settings, names, main="pressroom-cli"),
        now=now,
        stall_after=settings.stall_after_seconds,
        inspect_timeout=timeout,
        with_active=False,
    )
    with _sessions(settings)() as session:
        rows = monitoring.queues_view(
            client, session, names, now=now, consumers=monitoring.consumers_of(workers)
        )
    if as_json:
        _echo_json([row.as_dict() for row in rows])
        return
    _table(
        [
            (
                q.name,
                "?" if q.depth is None else q.depth,
                _age(q.oldest_age),
                ",".join(q.consumers) or "-",
                "-" if q.rate_per_minute is None else f"{q.rate_per_minute:.1f}",
                _age(q.drain_seconds),
            )
            for q in rows
        ],
        ["queue", "depth", "oldest", "consumers", "rate/min", "drains in"],
    )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@click.option(
    "--check",
    "check",
    default=None,
    metavar="NAME",
    help="Health check: exit 1 unless worker NAME (its node name, e.g. pipeline@host, or a "
    "prefix such as pipeline@) heartbeats and makes progress.",
)
@click.option("--timeout", default=1.0, show_default=True, help="Seconds to wait for workers.")
@click.pass_obj
def workers(settings: Settings, as_json: bool, check: str | None, timeout: float) -> None:
    """Every worker: queues, concurrency, active tasks, last heartbeat, progress."""
    settings = with_redis(settings)
    names = [o.name for o in load_outlets(settings)]
    client = broker_client(settings)
    celery = None if check else make_celery(settings, names, main="pressroom-cli")
    rows = monitoring.workers_view(
        client,
        celery,
        now=utcnow(),
        stall_after=settings.stall_after_seconds,
        inspect_timeout=timeout,
    )
    if check is not None:
        mine = [w for w in rows if w.hostname == check or w.hostname.startswith(check)]
        if not mine:
            raise click.ClickException(f"no heartbeat from a worker named {check}")
        bad = [w for w in mine if w.stalled or w.silent]
        for worker in bad:
            click.echo(f"{worker.hostname}: {worker.why}", err=True)
        if bad:
            raise SystemExit(1)
        click.echo(f"{', '.join(w.hostname for w in mine)}: ok")
        return
    if as_json:
        _echo_json([row.as_dict() for row in rows])
        return
    _table(
        [
            (
                w.hostname,
                "stalled" if w.stalled else "silent" if w.silent else "ok",
                w.concurrency or "-",
                len(w.active),
                w.processed,
                w.heartbeat_at.strftime("%H:%M:%S") if w.heartbeat_at else "-",
                ",".join(w.queues),
            )
            for w in rows
        ],
        ["worker", "state", "conc", "active", "done", "heartbeat", "queues"],
    )
    for worker in rows:
        if worker.why:
            click.echo(f"{worker.hostname}: {worker.why}", err=True)
