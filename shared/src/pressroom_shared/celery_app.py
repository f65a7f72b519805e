"""The Celery application both sides share: intake only sends by name; workers add the tasks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TypeVar

from celery import Celery
from kombu import Queue

from pressroom_shared.config import Settings
from pressroom_shared.contracts import MAINTENANCE_QUEUE, TASK_PURGE, TASK_SWEEP, all_queues
from pressroom_shared.redis_transport import TRANSPORT

AppT = TypeVar("AppT", bound=Celery)


def make_celery(
    settings: Settings,
    outlets: Iterable[str],
    *,
    main: str = "pressroom",
    app_class: type[AppT] = Celery,  # type: ignore[assignment]
) -> AppT:
    if not settings.redis_url:
        raise ValueError("PRESSROOM_REDIS_URL is not set (`pressroom run` starts a Redis itself)")
    app = app_class(main, broker=settings.redis_url, set_as_current=False)
    transport = {
        "visibility_timeout": settings.visibility_timeout_seconds,
        # `priority`: the first queue a worker lists (the urgent lane) is polled first, every
        # time. The routine delivery worker takes every outlet's queue in turn instead.
        "queue_order_strategy": settings.worker_queue_order,
        # Socket timeouts and health checks; kombu also reconnects a worker whose BRPOP goes
        # unanswered for health_check_interval past its poll.
        **settings.redis_client_options(),
    }
    app.conf.update(
        task_queues=[Queue(name, routing_key=name) for name in all_queues(outlets)],
        task_default_queue=MAINTENANCE_QUEUE,
        # A typo in a queue name fails loudly instead of creating a queue nobody consumes.
        task_create_missing_queues=False,
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        # With acks_late, a worker killed mid-task leaves the message to be delivered again;
        # the step lease in the database makes the repeat harmless.
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_time_limit=settings.task_time_limit_seconds,
        # The soft limit lets a step record its failure before the hard kill.
        task_soft_time_limit=max(
            settings.task_time_limit_seconds * 0.8, settings.task_time_limit_seconds - 10
        ),
        # kombu's Redis transport, fixed so a worker outlives a Redis restart (see the module).
        broker_transport=TRANSPORT,
        broker_transport_options=transport,
        visibility_timeout=settings.visibility_timeout_seconds,
        broker_connection_retry_on_startup=True,
        # A worker or the scheduler that cannot reach Redis has nothing better to do than keep
        # trying; Celery's default gives up after 100 attempts (about 45 minutes) and exits.
        broker_connection_max_retries=None,
        # Intake must answer quickly even when Redis is away: the article is already committed
        # and the sweeper sends its work later, so a failed publish is not an error. One attempt
        # per message: against a stalled Redis each retry costs a socket timeout more (kombu
        # reconnects before it retries), while a connection a Redis restart closed is replaced
        # by redis-py's pool before use anyway.
        broker_connection_timeout=settings.redis_connect_timeout_seconds,
        task_publish_retry_policy={"max_retries": 0},
        task_serializer="json",
        accept_content=["json"],
        # Flower's task view; the console and /metrics need none of them (see the setting).
        worker_send_task_events=settings.task_events,
        task_send_sent_event=settings.task_events,
        worker_hijack_root_logger=False,
        beat_schedule={
            "sweep": {
                "task": TASK_SWEEP,
                "schedule": timedelta(seconds=settings.sweep_interval_seconds),
                "options": {
                    "queue": MAINTENANCE_QUEUE,
                    "expires": settings.sweep_interval_seconds * 2,
                },
            },
            "purge": {
                "task": TASK_PURGE,
                "schedule": timedelta(seconds=settings.purge_interval_seconds),
                "options": {
                    "queue": MAINTENANCE_QUEUE,
                    "expires": settings.purge_interval_seconds,
                },
            },
        },
    )
    return app
