"""The worker-side Celery application factory."""

from __future__ import annotations

from celery import Celery, signals
from celery.app.task import Task

from pressroom_shared.celery_app import make_celery
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine, make_sessionmaker
from pressroom_shared.logging import configure_logging
from pressroom_shared.outlets_config import load_outlets
from pressroom_shared.plugins import RenderContext
from pressroom_shared.steps import StepPolicy
from pressroom_workers.context import WorkerContext, build_outlets, build_renderers
from pressroom_workers.gates import OutletGates
from pressroom_workers.heartbeat import Heartbeat

TASK_MODULES = [
    "pressroom_workers.tasks.render",
    "pressroom_workers.tasks.index",
    "pressroom_workers.tasks.deliver",
    "pressroom_workers.tasks.maintenance",
]


class WorkerCelery(Celery):
    """The Celery app of a worker process, carrying what its tasks need."""

    pressroom: WorkerContext


def create_worker_app(settings: Settings) -> WorkerCelery:
    outlet_configs = load_outlets(settings)
    app = make_celery(
        settings, [o.name for o in outlet_configs], main="pressroom_workers", app_class=WorkerCelery
    )
    app.conf.include = TASK_MODULES
    app.pressroom = WorkerContext(
        settings=settings,
        sessions=make_sessionmaker(make_engine(settings)),
        renderers=build_renderers(),
        outlets=build_outlets(outlet_configs, settings),
        render_context=RenderContext(
            site_url=settings.site_url, publisher_name=settings.publisher_name
        ),
        policy=StepPolicy.from_settings(settings),
        outlet_configs={o.name: o for o in outlet_configs},
        gates=OutletGates(per_outlet=settings.outlet_concurrency),
    )
    signals.setup_logging.connect(lambda **_: configure_logging(settings, "worker"), weak=False)
    Heartbeat(app, settings).connect()
    app.loader.import_default_modules()
    return app


def context_of(task: Task) -> WorkerContext:  # type: ignore[type-arg]
    app = task.app
    if not isinstance(app, WorkerCelery):
        raise TypeError("pressroom tasks run only in an app built by create_worker_app")
    return app.pressroom
