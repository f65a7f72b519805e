"""The `pressroom` command line."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click
from sqlalchemy.orm import Session

from pressroom_cli.monitor import queues, workers
from pressroom_cli.operate import deliveries, embedded_redis_note, outlets
from pressroom_cli.receiver import serve
from pressroom_cli.redis_server import EmbeddedRedis
from pressroom_cli.supervisor import programs, supervise
from pressroom_shared.apikeys import ApiKeyError, create_key, list_keys, revoke_key, rotate_key
from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine, make_sessionmaker, transaction
from pressroom_shared.logging import configure_logging
from pressroom_shared.migrate import upgrade
from pressroom_shared.outlets_config import EXAMPLE_WEBHOOK_SECRET, OutletConfig, load_outlets
from pressroom_shared.plugins import build_outlet, load_outlet_types
from pressroom_shared.timeutil import isoformat


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Pressroom: intake, render, index and distribute newsroom articles."""
    ctx.obj = Settings.from_env()


@cli.command()
@click.pass_obj
def migrate(settings: Settings) -> None:
    """Bring the database schema up to date."""
    upgrade(make_engine(settings))
    click.echo("database is up to date", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.pass_obj
def run(settings: Settings, host: str, port: int) -> None:
    """Run the whole service in the foreground, restarting what crashes; Ctrl-C stops it all."""
    if not Settings.is_set("site_url"):
        # Pages, feeds and JSON-LD link to the site this intake serves, wherever it listens.
        settings = settings.replace(site_url=site_url_for(host, port))
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    outlets = load_outlets(settings)  # fail fast on a bad outlets file
    check_outlets(settings, outlets)
    upgrade(make_engine(settings))
    if settings.redis_url:
        sys.exit(_run(settings, outlets, host, port))
    with EmbeddedRedis(settings.var_dir / "redis") as redis:
        click.echo(f"pressroom: embedded Redis at {redis.url}", err=True)
        # For the operator commands run from another shell (pressroom queues, workers...).
        note = embedded_redis_note(settings)
        note.write_text(redis.url, encoding="utf-8")
        try:
            code = _run(settings.replace(redis_url=redis.url), outlets, host, port)
        finally:
            note.unlink(missing_ok=True)
    sys.exit(code)


def check_outlets(settings: Settings, outlets: list[OutletConfig]) -> None:
    """Build each outlet once, as its worker will: a bad option (a missing or example secret)
    stops `run` here with its message, instead of sending that worker into a crash loop."""
    types = load_outlet_types()  # by entry point: the CLI never imports the workers' code
    for config in outlets:
        try:
            build_outlet(types, config, settings)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc


# An intake listening on every interface is reached here through the loopback one.
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104


def site_url_for(host: str, port: int) -> str:
    """The URL of /site on an intake bound to host:port, as a browser on this machine reaches it."""
    host = _WILDCARDS.get(host, host)
    if ":" in host:
        host = f"[{host.strip('[]')}]"
    return f"http://{host}:{port}/site"


def _run(settings: Settings, outlets: list[OutletConfig], host: str, port: int) -> int:
    settings = settings.replace(prometheus_multiproc_dir=metrics_folder(settings))
    env = {**os.environ, **settings.to_env()}
    click.echo(f"pressroom: intake on http://{host}:{port}", err=True)
    configure_logging(settings, "supervisor")
    status_file = settings.var_dir / "supervisor.json"
    return supervise(programs(settings, outlets, host, port), env, status_file)


def metrics_folder(settings: Settings) -> Path:
    """Where every child writes its metrics for the intake's /metrics to add up; emptied at each
    start, since files of processes from an earlier run would be counted forever."""
    folder = settings.prometheus_multiproc_dir or settings.var_dir / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@cli.group()
def keys() -> None:
    """API tokens."""


@keys.command("create")
@click.argument("name")
@click.option(
    "--scopes",
    default="submit,read",
    show_default=True,
    help="Comma-separated: submit, read, operate.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="If NAME exists, give it these scopes and a new token (the old one stops working).",
)
@click.pass_obj
def keys_create(settings: Settings, name: str, scopes: str, replace: bool) -> None:
    """Create a token and print it (only it, on stdout). It is stored hashed: keep it safe."""
    with _keys_session(settings) as session:
        token = create_key(session, name, scopes.split(","), replace=replace)
    click.echo(token)


@keys.command("list")
@click.pass_obj
def keys_list(settings: Settings) -> None:
    """Every key: name, scopes, when it was created and revoked. Tokens are never shown."""
    with _keys_session(settings) as session:
        rows = [
            (key.name, key.scopes, _when(key.created_at), _when(key.revoked_at))
            for key in list_keys(session)
        ]
    table = [("NAME", "SCOPES", "CREATED", "REVOKED"), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _when(moment: datetime | None) -> str:
    return (isoformat(moment.replace(microsecond=0)) if moment else None) or "-"


@keys.command("revoke")
@click.argument("name")
@click.pass_obj
def keys_revoke(settings: Settings, name: str) -> None:
    """Revoke NAME's token at once (`keys rotate NAME` gives it a new one)."""
    with _keys_session(settings) as session:
        revoke_key(session, name)
    click.echo(f"pressroom: key {name!r} is revoked", err=True)


@keys.command("rotate")
@click.argument("name")
@click.pass_obj
def keys_rotate(settings: Settings, name: str) -> None:
    """Print a new token for NAME (same scopes); the old one stops working at once."""
    with _keys_session(settings) as session:
        token = rotate_key(session, name)
    click.echo(token)


@contextmanager
def _keys_session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings)
    upgrade(engine)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    except ApiKeyError as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command("webhook-receiver")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9000, show_default=True)
@click.option(
    "--secret",
    default=EXAMPLE_WEBHOOK_SECRET,
    show_default=True,
    help="The outlet's secret. The default is the published example that outlets.example.toml "
    "uses; outlets accept it only with PRESSROOM_ALLOW_EXAMPLE_SECRETS=true.",
)
def webhook_receiver(host: str, port: int, secret: str) -> None:
    """A local webhook endpoint that verifies signatures and prints each event."""
    serve(host, port, secret)


cli.add_command(deliveries)
cli.add_command(outlets)
cli.add_command(queues)
cli.add_command(workers)


@cli.command("config-docs")
def config_docs() -> None:
    """Print every setting as a Markdown table."""
    click.echo("| variable | default | meaning |\n|---|---|---|")
    for name, default, doc in Settings.documentation():
        click.echo(f"| `{name}` | `{default}` | {doc} |")
