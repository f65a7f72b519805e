"""Each worker keeps a small record in Redis: its queues, concurrency, last heartbeat and when
it last finished a task, written every HEARTBEAT_SECONDS by a thread of its own (a Redis stall
delays only that thread, never a task nor Celery's own timers).

The console, /metrics and `pressroom workers` read it; with the age of the oldest message in the
worker's queues it tells a worker that stopped making progress (alive, heartbeating, not
consuming: celery#8030, #10302) from one that is merely idle.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import redis
import structlog
from celery import Celery, signals

from pressroom_shared.config import Settings
from pressroom_shared.dispatch import broker_client
from pressroom_shared.monitoring import write_worker_record

log = structlog.get_logger(__name__)

HEARTBEAT_SECONDS = 2.0


class Heartbeat:
    def __init__(self, app: Celery, settings: Settings) -> None:
        self.app = app
        self.client = broker_client(settings)
        self.hostname: str | None = None
        self.fields: dict[str, Any] = {}
        self.processed = 0
        self.last_task_at: float | None = None
        self.lock = threading.Lock()
        self.failing = False  # log a Redis outage once, not every beat

    def connect(self) -> None:
        signals.worker_ready.connect(self.ready, weak=False)
        signals.task_postrun.connect(self.task_done, weak=False)

    def ready(self, sender: Any = None, **_: Any) -> None:
        if sender is None or sender.app is not self.app:
            return
        self.hostname = sender.hostname
        consume = sender.app.amqp.queues.consume_from or {}
        self.fields = {
            "queues": json.dumps(sorted(consume)),
            "concurrency": getattr(sender.controller, "concurrency", "") or "",
            "started_at": time.time(),
        }
        threading.Thread(target=self.beat, name="pressroom-heartbeat", daemon=True).start()

    def beat(self) -> None:
        while True:
            self.write()
            time.sleep(HEARTBEAT_SECONDS)

    def task_done(self, sender: Any = None, **_: Any) -> None:
        if sender is None or sender.app is not self.app:
            return
        with self.lock:
            self.processed += 1
            self.last_task_at = time.time()

    def write(self) -> None:
        if self.hostname is None:
            return
        with self.lock:
            fields = {**self.fields, "heartbeat_at": time.time(), "processed": self.processed}
            if self.last_task_at is not None:
                fields["last_task_at"] = self.last_task_at
        try:
            write_worker_record(self.client, self.hostname, fields)
        except redis.RedisError as exc:
            if not self.failing:
                log.warning("worker.heartbeat_unwritten", error=str(exc))
            self.failing = True
        else:
            self.failing = False
