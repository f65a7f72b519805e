"""gunicorn's settings for the intake: `gunicorn -c python:pressroom_intake.gunicorn_conf
--bind HOST:PORT pressroom_intake.wsgi:app` (what `pressroom run` and docker-compose start).

gunicorn answers some requests itself, before the app sees them; these limits decide which,
and the README lists them (section "What the server answers itself").
"""

import contextlib

# Threads, not sync workers: a sync worker is held for as long as one client takes to send its
# request, so two slow clients stalled the whole intake. A gthread worker parks idle
# connections on its poller and gives each request in flight a thread of its own.
worker_class = "pressroom_intake.gunicorn_worker.ProblemThreadWorker"
workers = 2
threads = 8

# The request line may hold a search query or list filters, percent-encoded: a Cyrillic
# character is six bytes, so gunicorn's default 4094 would cut a query of ~650 letters.
# 8190 is the most gunicorn allows.
limit_request_line = 8190
# Our clients send a handful of headers; a hundred of 8 KiB each is generous and bounded.
limit_request_fields = 100
limit_request_field_size = 8190

accesslog = "-"


def child_exit(_server: object, worker: object) -> None:
    """A gone process's live gauges must not be summed into /metrics any more (prometheus-client
    multiprocess mode; a no-op when PROMETHEUS_MULTIPROC_DIR is unset)."""
    from prometheus_client import multiprocess

    # TypeError: no folder, so not in multiprocess mode.
    with contextlib.suppress(KeyError, OSError, TypeError):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined,no-untyped-call]
