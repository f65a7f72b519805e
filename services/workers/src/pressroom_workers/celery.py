"""Entry point for `celery -A pressroom_workers.celery worker|beat` (a shim; see app.py)."""

from pressroom_shared.config import Settings
from pressroom_workers.app import create_worker_app

app = create_worker_app(Settings.from_env())
