"""`pressroom deliveries` and `pressroom outlets`: what an operator sees and does, from a shell.

The same functions as the API's /v1/deliveries (pressroom_shared.operations); tables for people,
`--json` for scripts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pressroom_shared.celery_app import make_celery
from pressroom_shared.config import Settings
from pressroom_shared.contracts import Stage
from pressroom_shared.db import make_engine, make_sessionmaker, transaction
from pressroom_shared.dispatch import send_steps
from pressroom_shared.migrate import upgrade
from pressroom_shared.models import Step
from pressroom_shared.operations import (
    DELIVERY_STATES,
    ActionResult,
    DeliveryFilter,
    act_on_deliveries,
    delivery_view,
    list_deliveries,
    outlet_modes,
    resume_outlet,
    set_outlet_mode,
    state_of,
)
from pressroom_shared.outlets_config import load_outlets
from pressroom_shared.steps import OutletMode, StepPolicy
from pressroom_shared.timeutil import utcnow

OPERATOR = "cli"


def embedded_redis_note(settings: Settings) -> Path:
    """Where `pressroom run` notes the URL of the Redis it started itself."""
    return settings.var_dir / "redis" / "url"


def with_redis(settings: Settings) -> Settings:
    """Settings whose redis_url is set: the configured one, or that of the Redis a running
    `pressroom run` started itself (so operator commands work beside `make run`)."""
    if settings.redis_url:
        return settings
    try:
        url = embedded_redis_note(settings).read_text(encoding="utf-8").strip()
    except OSError:
        raise click.ClickException(
            "PRESSROOM_REDIS_URL is not set and no `pressroom run` with its own Redis is running "
            f"from {settings.var_dir}"
        ) from None
    return settings.replace(redis_url=url)


def _sessions(settings: Settings) -> sessionmaker[Session]:
    engine = make_engine(settings)
    upgrade(engine)
    return make_sessionmaker(engine)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_default))


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    cells = [[str(c) for c in header], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


@click.group()
def deliveries() -> None:
    """Deliveries to outlets: list them, retry or cancel them."""


filter_options = [
    click.option("--state", type=click.Choice(DELIVERY_STATES), help="Only in this state."),
    click.option("--outlet", help="Only to this outlet."),
    click.option("--article", "article_id", help="Only of this article id."),
]


def _with_filters(command: Any) -> Any:
    for option in reversed(filter_options):
        command = option(command)
    return command


@deliveries.command("list")
@_with_filters
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@click.pass_obj
def list_command(
    settings: Settings,
    state: str | None,
    outlet: str | None,
    article_id: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Deliveries, most recently changed first."""
    with _sessions(settings)() as session:
        steps = list_deliveries(session, DeliveryFilter(state, outlet, article_id, limit))
        views = [delivery_view(s) for s in steps]
    if as_json:
        _echo_json(views)
        return
    _table(
        [
            (v["id"], v["outlet"], v["version"], v["state"], v["attempts"], v["last_error"] or "")
            for v in views
        ],
        ["id", "outlet", "v", "state", "attempts", "last error"],
    )


def _act(
    settings: Settings,
    action: str,
    delivery_id: str | None,
    where: DeliveryFilter,
    as_json: bool,
) -> None:
    if delivery_id is None and not (where.state or where.outlet or where.article_id):
        raise click.UsageError("name a delivery ID, or filter with --state/--outlet/--article")
    policy = StepPolicy.from_settings(settings)
    with transaction(_sessions(settings)) as session:
        if delivery_id is not None:
            step = session.get(Step, delivery_id)
            if step is None or step.stage != Stage.DELIVER:
                raise click.ClickException(f"there is no delivery {delivery_id}")
            steps = [step]
        else:
            steps = list(session.scalars(where.query().order_by(Step.created_at)).all())
        result: ActionResult = act_on_deliveries(
            session, action, steps, now=utcnow(), policy=policy, by=OPERATOR
        )
    if result.to_send:
        settings = with_redis(settings)
        producer: Celery = make_celery(settings, [o.name for o in load_outlets(settings)])
        send_steps(producer, result.to_send)
    if as_json:
        _echo_json({"changed": result.changed, "skipped": result.skipped})
    else:
        click.echo(f"{action}: {len(result.changed)} changed, {len(result.skipped)} left alone")
        for step_id, reason in result.skipped.items():
            click.echo(f"  {step_id}: {reason}", err=True)
    if delivery_id is not None and result.skipped:
        raise SystemExit(1)


def _action_command(action: str, doc: str) -> None:
    """`pressroom deliveries ACTION [ID] [filters]`: retry and cancel take the same arguments."""

    @deliveries.command(action, help=doc)
    @click.argument("delivery_id", required=False)
    @_with_filters
    @click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
    @click.pass_obj
    def command(
        settings: Settings,
        delivery_id: str | None,
        state: str | None,
        outlet: str | None,
        article_id: str | None,
        as_json: bool,
    ) -> None:
        where = DeliveryFilter(state, outlet, article_id, limit=0)
        _act(settings, action, delivery_id, where, as_json)


_action_command(
    "retry",
    "Send failed, unknown or canceled deliveries again, each with a fresh retry schedule.\n\n"
    "One by ID, or every one matching the filters (e.g. --outlet partner --state failed).",
)
_action_command("cancel", "Stop deliveries that have not started, wait to retry, or failed.")


@deliveries.command("mark")
@click.argument("delivery_id", required=False)
@click.option(
    "--as",
    "outcome",
    type=click.Choice(["delivered", "failed"]),
    required=True,
    help="What the operator found out at the outlet.",
)
@_with_filters
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@click.pass_obj
def mark_command(
    settings: Settings,
    delivery_id: str | None,
    outcome: str,
    state: str | None,
    outlet: str | None,
    article_id: str | None,
    as_json: bool,
) -> None:
    """Settle `unknown` deliveries as delivered or failed, once you have checked the outlet."""
    where = DeliveryFilter(state, outlet, article_id, limit=0)
    _act(settings, f"mark-{outcome}", delivery_id, where, as_json)


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@click.pass_context
def outlets(ctx: click.Context, as_json: bool) -> None:
    """Outlets: their mode (active, paused, disabled) and deliveries by state."""
    if ctx.invoked_subcommand is not None:
        return
    settings: Settings = ctx.obj
    configs = load_outlets(settings)
    names = [o.name for o in configs]
    breakers = {o.name: o.breaker.enabled for o in configs}
    with _sessions(settings)() as session:
        modes = outlet_modes(session)
        counts: dict[tuple[str, str], int] = {
            (outlet, state_of(state)): count
            for outlet, state, count in session.execute(
                select(Step.outlet, Step.state, func.count())
                .where(Step.stage == Stage.DELIVER)
                .group_by(Step.outlet, Step.state)
            ).all()
        }
    rows: list[dict[str, Any]] = []
    for name in names:
        mode = modes.get(name)
        rows.append(
            {
                "name": name,
                "mode": mode.mode if mode else OutletMode.ACTIVE,
                "reason": mode.reason if mode else None,
                "changed_by": mode.changed_by if mode else None,
                # off | closed | open (its deliveries wait, unattempted) | half_open (a probe)
                "breaker": (mode.breaker if mode else "closed") if breakers[name] else "off",
                "breaker_until": mode.breaker_until.isoformat()
                if mode and mode.breaker_until
                else None,
                "deliveries": {s: counts.get((name, s), 0) for s in DELIVERY_STATES},
            }
        )
    if as_json:
        _echo_json(rows)
        return
    states = ["delivered", "pending", "retrying", "failed", "unknown"]
    _table(
        [
            (
                r["name"],
                r["mode"],
                r["breaker"],
                *(r["deliveries"][s] for s in states),
                r["reason"] or "",
            )
            for r in rows
        ],
        ["outlet", "mode", "breaker", *states, "reason"],
    )


@outlets.command("pause")
@click.argument("name")
@click.option("--reason", default=None, help="Shown to other operators.")
@click.pass_obj
def pause_command(settings: Settings, name: str, reason: str | None) -> None:
    """Hold every delivery to NAME until it is resumed (nothing is lost)."""
    _known(settings, name)
    with transaction(_sessions(settings)) as session:
        set_outlet_mode(session, name, OutletMode.PAUSED, now=utcnow(), by=OPERATOR, reason=reason)
    click.echo(f"{name}: paused")


@outlets.command("resume")
@click.argument("name")
@click.pass_obj
def resume_command(settings: Settings, name: str) -> None:
    """Make a paused or disabled (410 Gone) outlet active; its held deliveries go out."""
    _known(settings, name)
    with transaction(_sessions(settings)) as session:
        released = resume_outlet(session, name, now=utcnow(), by=OPERATOR)
    click.echo(f"{name}: active; {released} held deliveries are due now")


def _known(settings: Settings, name: str) -> None:
    names = [o.name for o in load_outlets(settings)]
    if name not in names:
        raise click.UsageError(f"no outlet {name!r} (configured: {', '.join(names)})")
