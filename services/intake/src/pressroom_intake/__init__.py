"""The intake service: Flask application factory."""

from __future__ import annotations

from flask import Flask

from pressroom_intake.auth import install_token_cache
from pressroom_intake.console import install_console
from pressroom_intake.context import IntakeContext
from pressroom_intake.observe import install_observability
from pressroom_intake.problems import ProblemApi, ProblemError, handle_problem_error
from pressroom_intake.ratelimit import API_SCOPE, install_limiter
from pressroom_intake.request_body import IntakeRequest
from pressroom_intake.security import install_security_headers
from pressroom_shared.celery_app import make_celery
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine, make_sessionmaker
from pressroom_shared.logging import configure_logging
from pressroom_shared.outlets_config import load_outlets
from pressroom_shared.steps import StepPolicy


def create_app(settings: Settings) -> Flask:
    from pressroom_intake.views import articles, deliveries, health, metrics, search, site

    configure_logging(settings, "intake")
    app = Flask(__name__)
    app.request_class = IntakeRequest  # a chunked body over the limit is 413, never cut
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        API_TITLE="Pressroom",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="v1/openapi.json",
        OPENAPI_REDOC_PATH="docs",
    )
    install_security_headers(app)
    install_observability(app)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Cyrillic stays readable and 3x smaller
    outlets = tuple(load_outlets(settings))
    engine = make_engine(settings)
    app.extensions["pressroom"] = IntakeContext(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        celery=make_celery(settings, [o.name for o in outlets], main="pressroom_intake"),
        outlets=outlets,
        policy=StepPolicy.from_settings(settings),
    )
    api = ProblemApi(
        app,
        spec_kwargs={
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearer": []}],
        },
    )
    install_token_cache(app, settings.token_cache_seconds)
    limiter = install_limiter(app, settings)
    api_limit = limiter.shared_limit(settings.rate_limit, scope=API_SCOPE)
    for blueprint in (articles.blp, deliveries.blp, search.blp):
        api_limit(blueprint)
        api.register_blueprint(blueprint)
    app.register_error_handler(ProblemError, handle_problem_error)
    app.register_blueprint(site.blp)
    app.register_blueprint(health.blp)
    app.register_blueprint(metrics.blp)
    install_console(app)
    return app
