"""/ops: the operator console. Server-rendered pages over the same functions as the CLI and the
API (pressroom_shared.monitoring and .operations), for a person at a desk or on a phone.

Access: a token with the `operate` scope, given once on the login form; the session cookie then
carries only the key's id, signed, and every request checks that key again (revoke the token and
its console sessions end). The cookie is HttpOnly, SameSite=Strict, Secure on HTTPS, and every
POST carries a CSRF token (Flask-WTF). Pages run one small script of ours and nothing inline,
under a Content-Security-Policy that allows nothing else.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

import redis
from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from pressroom_intake.context import intake
from pressroom_intake.problems import ProblemError, problem
from pressroom_intake.ratelimit import auth_failures
from pressroom_shared import monitoring
from pressroom_shared.apikeys import authenticate
from pressroom_shared.contracts import Stage
from pressroom_shared.db import transaction
from pressroom_shared.dispatch import broker_client, send_steps
from pressroom_shared.models import ApiKey, AppSecret, Step
from pressroom_shared.operations import (
    DELIVERY_ACTIONS,
    DELIVERY_STATES,
    DeliveryFilter,
    act_on_deliveries,
    delivery_view,
    list_deliveries,
    recent_actions,
    resume_outlet,
    set_outlet_mode,
)
from pressroom_shared.steps import OutletMode
from pressroom_shared.timeutil import utcnow

F = TypeVar("F", bound=Callable[..., Any])

SCOPE = "operate"
COOKIE = "pressroom_console"
REFRESH_SECONDS = 5
# The page asks for only its <main> when it refreshes itself.
FRAGMENT_HEADER = "X-Console-Fragment"
# Our one script and stylesheet, the chart drawn inline as SVG; forms post only to us.
CONSOLE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

blp = Blueprint(
    "console",
    __name__,
    url_prefix="/ops",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
csrf = CSRFProtect()


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, Secure exactly when the request came over HTTPS (behind a
    TLS proxy, let werkzeug's ProxyFix tell the app so).

    Its key is Settings.session_secret or, unset, one kept in the database (load_secret),
    fetched when the console is first used: the API and the site never need it.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not app.secret_key and request.path.startswith("/ops/"):
            ctx = intake()
            app.secret_key = ctx.settings.session_secret or load_secret(ctx.sessions)
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure


def install_console(app: Flask) -> None:
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_PATH="/ops",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # Checked only where the console asks (its POSTs); /v1 authenticates by bearer token.
        WTF_CSRF_CHECK_DEFAULT=False,
        # A console left open overnight must still work at 3 a.m.: the token lives as long as
        # the session. The Referer check of HTTPS requests is off because every answer says
        # Referrer-Policy: no-referrer; SameSite=Strict and the token guard the POSTs.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,
    )
    app.session_interface = ConsoleSessionInterface()
    csrf.init_app(app)
    app.jinja_env.filters.update(
        age=format_age, when=format_when, pct=format_pct, pretty=format_payload
    )
    app.register_blueprint(blp)


# ------------------------------------------------------------------------- keys and sessions


def load_secret(sessions: sessionmaker[Session], name: str = "console-session") -> str:
    """The signing key kept in the database: made once, then the same for every process."""
    with sessions() as session:
        value = session.scalar(select(AppSecret.value).where(AppSecret.name == name))
    if value:
        return value
    try:
        with transaction(sessions) as session:
            session.add(AppSecret(name=name, value=secrets.token_urlsafe(32), created_at=utcnow()))
    except IntegrityError:
        pass  # another process made it first: use theirs
    with sessions() as session:
        stored = session.scalar(select(AppSecret.value).where(AppSecret.name == name))
    assert stored is not None
    return stored


@blp.before_request
def _guard() -> None:
    if request.method == "POST":
        csrf.protect()


@blp.after_request
def _headers(response: Response) -> Response:
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = CONSOLE_POLICY
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.errorhandler(CSRFError)
def _csrf_refused(error: CSRFError) -> Response:
    return problem(
        400,
        "csrf",
        "CSRF token missing or invalid",
        f"{error.description} Reload the page and try again.",
    )


def console_scope(scope: str) -> Callable[[F], F]:
    """A console page for the holder of a session whose key still has `scope`."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key_id = session.get("key_id")
            key = None
            if key_id is not None:
                with intake().sessions() as db:
                    key = db.get(ApiKey, key_id)
            if key is None or key.revoked_at is not None or scope not in key.scope_set:
                session.pop("key_id", None)
                if request.method != "GET":
                    raise ProblemError(
                        401, "unauthorized", "Unauthorized", "Log in to the console first."
                    )
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            g.operator = f"console:{key.name}"
            return view(*args, **kwargs)

        wrapper._pressroom_scope = scope  # type: ignore[attr-defined]  # read by the route audit test
        return cast(F, wrapper)

    return decorate


def public(view: F) -> F:
    view._pressroom_public = True  # type: ignore[attr-defined]  # read by the route audit test
    return view


@blp.get("/login")
@public
def login() -> str:
    return render_template("ops/login.html", next=_safe_next(request.args.get("next")))


@blp.post("/login")
@public
def login_post() -> Any:
    failures = auth_failures()
    failures.check()
    token = (request.form.get("token") or "").strip()
    with intake().sessions() as db:
        key = authenticate(db, token) if token else None
    if key is None:
        failures.record()
        flash("That token is unknown or revoked.", "error")
        return render_template("ops/login.html", next=request.form.get("next")), 401
    if SCOPE not in key.scope_set:
        flash(f"That token lacks the `{SCOPE}` scope.", "error")
        return render_template("ops/login.html", next=request.form.get("next")), 403
    session.clear()  # a fresh session (and CSRF token) for a fresh login
    session.permanent = True
    session["key_id"] = key.id
    return redirect(_safe_next(request.form.get("next")))


@blp.post("/logout")
@public
def logout() -> Any:
    session.clear()
    return redirect(url_for("console.login"))


def _safe_next(target: str | None) -> str:
    """Only our own console pages: never an open redirect."""
    if target and target.startswith("/ops/") and not target.startswith("//"):
        return target
    return url_for("console.overview")


# ------------------------------------------------------------------------------- helpers


@dataclass
class _Live:
    client: redis.Redis


def _redis() -> redis.Redis:
    live = current_app.extensions.get("pressroom.console")
    if live is None:
        live = _Live(broker_client(intake().settings))
        current_app.extensions["pressroom.console"] = live
    return cast(_Live, live).client


def _outlet_names() -> list[str]:
    return [o.name for o in intake().outlets]


def _page(template: str, **values: Any) -> str:
    """The whole page, or only its <main> when the page's script refreshes itself."""
    fragment = request.headers.get(FRAGMENT_HEADER) == "1"
    return render_template(
        template,
        base="ops/fragment.html" if fragment else "ops/base.html",
        refresh=REFRESH_SECONDS,
        operator=g.get("operator"),
        now=utcnow(),
        **values,
    )


def _alerts(db: Session, now: datetime) -> list[monitoring.Alert]:
    settings = intake().settings
    client = _redis()
    workers = monitoring.workers_view(
        client, None, now=now, stall_after=settings.stall_after_seconds
    )
    return monitoring.alerts(
        outlets=monitoring.outlets_view(db, _outlet_names(), now=now),
        queues=monitoring.queues_view(
            client, db, _outlet_names(), now=now, consumers=monitoring.consumers_of(workers)
        ),
        workers=workers,
        unknown=monitoring.unknown_count(db),
        supervisor=monitoring.read_supervisor(settings.var_dir),
        queue_age_alert=settings.queue_age_alert_seconds,
    )


# --------------------------------------------------------------------------------- pages


@blp.get("/")
@console_scope(SCOPE)
def overview() -> str:
    now = utcnow()
    with intake().sessions() as db:
        summary = monitoring.overview(db, now=now)
        alerts = _alerts(db, now)
        actions = recent_actions(db, limit=10)
    return _page("ops/overview.html", summary=summary, alerts=alerts, actions=actions)


@blp.get("/queues")
@console_scope(SCOPE)
def queues() -> str:
    now = utcnow()
    settings = intake().settings
    client = _redis()
    workers = monitoring.workers_view(
        client,
        intake().celery,
        now=now,
        stall_after=settings.stall_after_seconds,
        with_active=False,
    )
    with intake().sessions() as db:
        rows = monitoring.queues_view(
            client, db, _outlet_names(), now=now, consumers=monitoring.consumers_of(workers)
        )
    return _page("ops/queues.html", queues=rows, alert_age=settings.queue_age_alert_seconds)


@blp.get("/workers")
@console_scope(SCOPE)
def workers() -> str:
    now = utcnow()
    settings = intake().settings
    rows = monitoring.workers_view(
        _redis(), intake().celery, now=now, stall_after=settings.stall_after_seconds
    )
    programs = monitoring.read_supervisor(settings.var_dir).get("programs") or {}
    return _page("ops/workers.html", workers=rows, programs=programs)


@blp.get("/outlets")
@console_scope(SCOPE)
def outlets() -> str:
    with intake().sessions() as db:
        rows = monitoring.outlets_view(db, _outlet_names(), now=utcnow())
    return _page("ops/outlets.html", outlets=rows)


@blp.post("/outlets/<name>/<any(pause, resume):action>")
@console_scope(SCOPE)
def outlet_action(name: str, action: str) -> Any:
    if name not in _outlet_names():
        abort(404, f"There is no outlet {name}.")
    now = utcnow()
    with transaction(intake().sessions) as db:
        if action == "pause":
            reason = (request.form.get("reason") or "").strip() or None
            set_outlet_mode(db, name, OutletMode.PAUSED, now=now, by=g.operator, reason=reason)
            flash(f"{name} is paused: its deliveries wait until you resume it.", "ok")
        else:
            released = resume_outlet(db, name, now=now, by=g.operator)
            flash(f"{name} is active again; {released} held deliveries are due now.", "ok")
    return redirect(url_for("console.outlets"))


def _filter_from(args: Any, limit: int = 100) -> DeliveryFilter:
    state = args.get("state") or None
    if state is not None and state not in DELIVERY_STATES:
        abort(400, f"Unknown state {state!r}.")
    outlet = args.get("outlet") or None
    return DeliveryFilter(
        state=state,
        outlet=outlet,
        article_id=(args.get("article") or "").strip() or None,
        limit=limit,
        since=_time(args.get("since")),
        until=_time(args.get("until")),
    )


def _time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        abort(400, f"{raw!r} is not a time (2026-12-03T08:00, in UTC).")
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


@blp.get("/deliveries")
@console_scope(SCOPE)
def deliveries() -> str:
    where = _filter_from(request.args)
    with intake().sessions() as db:
        views = [delivery_view(s) for s in list_deliveries(db, where)]
    return _page(
        "ops/deliveries.html",
        deliveries=views,
        where=where,
        states=DELIVERY_STATES,
        outlet_names=_outlet_names(),
        query=urlencode({k: v for k, v in request.args.items() if v}),
    )


@blp.get("/deliveries/<uuid:delivery_id>")
@console_scope(SCOPE)
def delivery(delivery_id: Any) -> str:
    with intake().sessions() as db:
        step = db.get(Step, str(delivery_id))
        if step is None or step.stage != Stage.DELIVER:
            abort(404, f"There is no delivery {delivery_id}.")
        view = delivery_view(step)
        attempts = list(step.attempt_log)
        renditions = monitoring.renditions_of(db, step)
    return _page("ops/delivery.html", d=view, attempts=attempts, renditions=renditions)


@blp.post("/deliveries/act")
@console_scope(SCOPE)
def deliveries_act() -> Any:
    """One action on the ticked deliveries, or on every delivery the filter matches."""
    action = request.form.get("action", "")
    if action not in DELIVERY_ACTIONS:
        abort(400, f"Unknown action {action!r}.")
    ids = request.form.getlist("id")
    where = _filter_from(request.form, limit=0)
    if not ids and not where.narrows:
        abort(400, "Tick deliveries, or filter them, before acting on them in bulk.")
    ctx = intake()
    now = utcnow()
    with transaction(ctx.sessions) as db:
        if ids:
            steps = list(
                db.scalars(select(Step).where(Step.id.in_(ids), Step.stage == Stage.DELIVER))
            )
        else:
            steps = list(db.scalars(where.query().order_by(Step.created_at)).all())
        result = act_on_deliveries(db, action, steps, now=now, policy=ctx.policy, by=g.operator)
    send_steps(ctx.celery, result.to_send)
    flash(
        f"{action}: {len(result.changed)} changed, {len(result.skipped)} left alone"
        + (f" ({next(iter(result.skipped.values()))}…)" if result.skipped else ""),
        "ok" if result.changed else "error",
    )
    back = request.form.get("back") or ""
    return redirect(_safe_next(back) if back else url_for("console.deliveries"))


@blp.get("/articles")
@console_scope(SCOPE)
def article_lookup() -> Any:
    wanted = (request.args.get("id") or "").strip()
    if wanted:
        return redirect(url_for("console.article", article_id=wanted))
    with intake().sessions() as db:
        recent = monitoring.recent_articles(db)
    return _page("ops/article.html", article_id=None, events=None, recent=recent)


@blp.get("/articles/<article_id>")
@console_scope(SCOPE)
def article(article_id: str) -> str:
    with intake().sessions() as db:
        events = monitoring.article_timeline(db, article_id)
        steps = list(
            db.scalars(
                select(Step)
                .where(Step.article_id == article_id, Step.stage == Stage.DELIVER)
                .order_by(Step.version, Step.outlet)
            )
        )
        views = [delivery_view(s) for s in steps]
    if events is None:
        abort(404, f"There is no article {article_id}.")
    return _page("ops/article.html", article_id=article_id, events=events, deliveries=views)


# ------------------------------------------------------------------------------ filters


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def format_when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def format_payload(content: str, media_type: str) -> str:
    """JSON indented for reading (the bytes sent are compact); anything else as it is."""
    if "json" not in media_type:
        return content
    try:
        return json.dumps(json.loads(content), indent=2, ensure_ascii=False)
    except ValueError:
        return content


def format_pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"
