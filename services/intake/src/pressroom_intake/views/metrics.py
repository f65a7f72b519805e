"""/metrics for Prometheus: counters every process keeps, and gauges read at scrape time."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import Metric

from pressroom_intake.context import intake
from pressroom_shared import monitoring
from pressroom_shared.dispatch import broker_client
from pressroom_shared.metrics import ScrapeCollector, gauge, registry_for
from pressroom_shared.timeutil import utcnow

blp = Blueprint("metrics", __name__)


def read_gauges() -> list[Metric]:
    ctx = intake()
    now = utcnow()
    names = [o.name for o in ctx.outlets]
    client = broker_client(ctx.settings)
    try:
        workers = monitoring.workers_view(
            client, None, now=now, stall_after=ctx.settings.stall_after_seconds
        )
        with ctx.sessions() as session:
            queues = monitoring.queues_view(
                client, session, names, now=now, consumers=monitoring.consumers_of(workers)
            )
            outlets = monitoring.outlets_view(session, names, now=now)
    finally:
        client.close()
    return [
        gauge(
            "pressroom_queue_depth",
            "Messages waiting in each queue of the task contract.",
            ["queue"],
            [([q.name], q.depth) for q in queues if q.depth is not None],
        ),
        gauge(
            "pressroom_queue_oldest_age_seconds",
            "Age of the oldest message waiting in each queue (0 when empty): its latency.",
            ["queue"],
            [([q.name], q.oldest_age or 0.0) for q in queues],
        ),
        gauge(
            "pressroom_queue_consumers",
            "Workers consuming each queue.",
            ["queue"],
            [([q.name], len(q.consumers)) for q in queues],
        ),
        gauge(
            "pressroom_deliveries",
            "Deliveries by outlet and state (from the database).",
            ["outlet", "state"],
            [([o.name, state], n) for o in outlets for state, n in o.counts.items()],
        ),
        gauge(
            "pressroom_outlet_active",
            "1 when the outlet is active, 0 when paused or disabled.",
            ["outlet", "mode"],
            [([o.name, o.mode], 1 if o.mode == "active" else 0) for o in outlets],
        ),
        gauge(
            "pressroom_worker_up",
            "1 per worker with a fresh heartbeat that is making progress, else 0.",
            ["worker"],
            [([w.hostname], 0 if (w.stalled or w.silent) else 1) for w in workers],
        ),
        gauge(
            "pressroom_worker_stalled",
            "1 when a worker's queues hold old work it does not take.",
            ["worker"],
            [([w.hostname], 1 if w.stalled else 0) for w in workers],
        ),
    ]


@blp.get("/metrics")
def metrics() -> Response:
    registry = registry_for(
        intake().settings.prometheus_multiproc_dir, ScrapeCollector(read_gauges)
    )
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
