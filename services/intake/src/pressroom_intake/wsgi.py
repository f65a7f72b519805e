"""Entry point for gunicorn: `gunicorn pressroom_intake.wsgi:app` (a shim; see create_app)."""

from pressroom_intake import create_app
from pressroom_shared.config import Settings

app = create_app(Settings.from_env())
