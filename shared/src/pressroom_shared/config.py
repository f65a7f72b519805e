"""The one place that reads the environment.

Every option is declared here with its variable name, default and a doc line (antenna's
self-documenting config); `pressroom config-docs` prints them for the README.
Factories take a `Settings`; tests build one directly.
"""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

PREFIX = "PRESSROOM_"
# Time a leased step keeps beyond the longest send: renewing and recording take a moment too.
LEASE_MARGIN_SECONDS = 5.0
# Outlets name their secrets by variable (`secret_env = "PRESSROOM_SECRET_PARTNER"`), so that
# files and compose never hold one; every such variable is collected into Settings.secrets.
SECRET_PREFIX = PREFIX + "SECRET_"
# kombu's Redis transport strategies a worker may poll its queues by.
QUEUE_ORDERS = ("priority", "round_robin")


class ConfigError(ValueError):
    """One or more PRESSROOM_* variables are invalid; the message lists every one."""


def option(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    var_dir: Path = option(
        Path("var"), "Folder for local state: SQLite file, embedded Redis, site."
    )
    database_url: str = option(
        "",
        "SQLAlchemy URL. Empty: SQLite at VAR_DIR/pressroom.db. PostgreSQL: postgresql+psycopg://...",
    )
    redis_url: str = option(
        "", "Redis for the Celery broker and rate limits. Empty: `pressroom run` starts its own."
    )
    redis_socket_timeout_seconds: float = option(
        1.0,
        "Read/write timeout on every Redis connection (broker, rate limiter): a stalled Redis "
        "fails a call after this long instead of hanging it.",
    )
    redis_connect_timeout_seconds: float = option(1.0, "Timeout for opening a Redis connection.")
    redis_health_check_interval_seconds: int = option(
        10,
        "A Redis connection idle this long is PINGed before reuse; a worker's blocked read with "
        "no answer for this long past its poll is dropped and reconnected.",
    )
    outlets_file: Path | None = option(
        None, "TOML file with one [outlets.NAME] table per outlet. Unset: one static site."
    )
    site_url: str = option(
        "http://127.0.0.1:8000/site",
        "Canonical base URL of the newsroom's web site (page links). "
        "Unset, `pressroom run --host H --port P` makes it http://H:P/site.",
    )
    publisher_name: str = option("Pressroom", "Publisher name shown in pages, feeds and ninjs.")
    max_request_bytes: int = option(1_048_576, "Largest accepted request body (413 above it).")
    max_headline_chars: int = option(300, "Longest accepted headline.")
    max_body_chars: int = option(200_000, "Longest accepted body, in characters of text.")
    max_tags: int = option(50, "Most tags on one article.")
    delivery_retry_schedule: str = option(
        "5,30,120,600,1800,3600,7200,14400,28800,36000",
        "Seconds between delivery attempts (comma-separated; each +0-20 % jitter). The default "
        "makes 11 attempts over about 26 hours; then the delivery is failed (and re-drivable).",
    )
    max_stage_attempts: int = option(5, "Attempts for render and index before failing.")
    retry_base_seconds: float = option(
        2.0, "First render/index retry delay; doubles each attempt, with jitter."
    )
    retry_max_seconds: float = option(
        36_000.0, "Longest delay between two attempts, whatever a partner's Retry-After asks."
    )
    short_retry_max_seconds: float = option(
        60.0, "Retries due sooner than this ride a Celery countdown; later ones the sweeper."
    )
    delivery_deadline_seconds: float = option(
        30.0, "Total deadline of one outbound delivery attempt: connect, send, wait and read."
    )
    lease_seconds: float = option(
        120.0,
        "How long a worker owns a step it claimed (renewed just before each send); an expired "
        "lease means the worker was lost, and the step is run again.",
    )
    max_lost_attempts: int = option(
        3, "A step whose worker is lost (killed, hung) this many times is failed, not re-driven."
    )
    sweep_interval_seconds: float = option(
        5.0, "How often the scheduler re-drives due, lost or stuck work."
    )
    sweep_batch: int = option(
        200, "Steps one sweep transaction looks at (the oldest due first); up to 10 a sweep."
    )
    redrive_after_seconds: float = option(
        30.0,
        "A step sent this long ago, not started, and no longer in its queue (lost with Redis) "
        "is sent again. Work merely waiting in a long queue is never sent twice.",
    )
    delivery_concurrency: int = option(
        16,
        "Threads of each routine delivery process, which serves every outlet (and of the "
        "urgent worker, a quarter of it): outlets share a bounded pool, not a process each.",
    )
    delivery_processes: int = option(
        2,
        "Processes `pressroom run` starts for the routine delivery worker, each with "
        "PRESSROOM_DELIVERY_CONCURRENCY threads: about one per core, since the GIL holds one "
        "process to one core. Each holds up to PRESSROOM_OUTLET_CONCURRENCY deliveries to one "
        "outlet.",
    )
    outlet_concurrency: int = option(
        4,
        "Deliveries to one outlet a delivery worker has in flight at once; more wait, parked, "
        "so a slow partner holds at most this many threads and the others keep theirs.",
    )
    task_events: bool = option(
        False,
        "Send Celery task events (sent, received, started, succeeded) for Flower: four Redis "
        "publishes more per step. docker-compose turns it on beside its Flower.",
    )
    worker_queue_order: str = option(
        "priority",
        "How a worker polls its queues: `priority` (in the listed order, urgent lanes first) or "
        "`round_robin` (each in turn; `pressroom run` sets it for the routine delivery worker "
        "so every outlet's queue gets its share).",
    )
    retention_days: float = option(
        30.0,
        "Finished steps superseded by a newer delivered version, and the attempt logs of "
        "finished steps, are purged after this many days.",
    )
    purge_interval_seconds: float = option(3600.0, "How often the retention purge runs.")
    task_time_limit_seconds: int = option(
        90, "Hard time limit of one task run (enforced by prefork and solo pools)."
    )
    visibility_timeout_seconds: int = option(
        600, "Redis visibility timeout; must exceed the time limit and the longest countdown."
    )
    http_timeout_seconds: float = option(
        10.0, "Connect/read timeout of each phase of outbound HTTP (within the deadline)."
    )
    idempotency_ttl_seconds: int = option(86_400, "How long an Idempotency-Key is remembered.")
    rate_limit: str = option(
        "1200/minute",
        "Requests per API token across all of /v1 (flask-limiter syntax, e.g. 20/second).",
    )
    auth_failure_limit: str = option(
        "30/minute", "Unknown or revoked tokens one client address may send; then 429 for a while."
    )
    token_cache_seconds: float = option(
        5.0,
        "An intake process remembers a token it verified this long: a revoked, rotated or "
        "re-scoped token keeps its old rights on /v1 for at most this long. 0: look up every call.",
    )
    log_level: str = option("INFO", "Log level for every process.")
    log_json: bool = option(True, "JSON log lines (false: human-readable console lines).")
    allow_example_secrets: bool = option(
        False, "Let outlets use the published example secret (local development only)."
    )
    session_secret: str = option(
        "",
        "Key that signs the /ops console's session cookie. Empty: a random one is made once and "
        "kept in the database, so every intake process (and restart) agrees.",
    )
    queue_age_alert_seconds: float = option(
        300.0, "The console alerts when a queue's oldest waiting message is older than this."
    )
    stall_after_seconds: float = option(
        120.0,
        "A worker whose queues hold work older than this, and that finished no task for as "
        "long, is making no progress (console alert; `pressroom workers --check` fails).",
    )
    prometheus_multiproc_dir: Path | None = field(
        default=None,
        metadata={
            "variable": "PROMETHEUS_MULTIPROC_DIR",
            "doc": "Folder where every process writes its metrics for /metrics (prometheus-client "
            "multiprocess mode). `pressroom run` sets it to VAR_DIR/metrics for its children.",
        },
    )
    secrets: Mapping[str, str] = field(
        default_factory=dict,
        repr=False,  # never in a log line or a traceback
        hash=False,
        metadata={
            "variable": SECRET_PREFIX + "<NAME>",
            "doc": "Secrets that outlets name with `secret_env`; kept out of files and logs.",
        },
    )

    def __post_init__(self) -> None:
        problems = []
        if self.lease_seconds < self.task_time_limit_seconds:
            problems.append(
                "PRESSROOM_LEASE_SECONDS must be at least PRESSROOM_TASK_TIME_LIMIT_SECONDS, "
                "or a running step could be taken over by a second worker"
            )
        if (
            self.visibility_timeout_seconds
            <= self.task_time_limit_seconds + self.short_retry_max_seconds
        ):
            problems.append(
                "PRESSROOM_VISIBILITY_TIMEOUT_SECONDS must exceed the task time limit plus "
                "PRESSROOM_SHORT_RETRY_MAX_SECONDS, or Redis redelivers messages still in use"
            )
        if self.lease_seconds < self.delivery_deadline_seconds + LEASE_MARGIN_SECONDS:
            problems.append(
                "PRESSROOM_LEASE_SECONDS must exceed PRESSROOM_DELIVERY_DEADLINE_SECONDS by "
                f"{LEASE_MARGIN_SECONDS:g} s, or a slow send could outlive its lease"
            )
        try:
            parse_schedule(self.delivery_retry_schedule)
        except ValueError as exc:
            problems.append(f"PRESSROOM_DELIVERY_RETRY_SCHEDULE: {exc}")
        if self.max_lost_attempts < 1:
            problems.append("PRESSROOM_MAX_LOST_ATTEMPTS must be at least 1")
        if min(self.redis_socket_timeout_seconds, self.redis_connect_timeout_seconds) <= 0:
            problems.append(
                "PRESSROOM_REDIS_SOCKET_TIMEOUT_SECONDS and "
                "PRESSROOM_REDIS_CONNECT_TIMEOUT_SECONDS must be positive: without a timeout "
                "a stalled Redis hangs every caller"
            )
        if self.worker_queue_order not in QUEUE_ORDERS:
            problems.append(
                f"PRESSROOM_WORKER_QUEUE_ORDER must be one of {', '.join(QUEUE_ORDERS)}"
            )
        if min(self.delivery_concurrency, self.delivery_processes, self.outlet_concurrency) < 1:
            problems.append(
                "PRESSROOM_DELIVERY_CONCURRENCY, PRESSROOM_DELIVERY_PROCESSES and "
                "PRESSROOM_OUTLET_CONCURRENCY must be at least 1"
            )
        if problems:
            raise ConfigError("invalid settings: " + "; ".join(problems))

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'pressroom.db').resolve()}"

    def redis_client_options(self) -> dict[str, Any]:
        """Socket options for every Redis client: redis-py keyword arguments, under the same
        names in kombu's Redis transport options.

        Without a socket timeout a Redis that accepts connections but never answers (a stalled
        server, a half-open connection after a failover) blocks its caller forever.
        """
        return {
            "socket_timeout": self.redis_socket_timeout_seconds,
            "socket_connect_timeout": self.redis_connect_timeout_seconds,
            "socket_keepalive": True,
            "health_check_interval": self.redis_health_check_interval_seconds,
            # A timed-out command may still run once the stall ends (the server reads what was
            # buffered); retrying it inside the client doubles the wait and may run it twice.
            "retry_on_timeout": False,
        }

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        errors: list[str] = []
        for f in dataclasses.fields(cls):
            name = f.metadata.get("variable", PREFIX + f.name.upper())
            if f.name == "secrets" or name not in environ:
                continue
            try:
                values[f.name] = _coerce(hints[f.name], environ[name])
            except ValueError as exc:
                errors.append(f"{name}: {exc}")
        if errors:
            raise ConfigError("invalid settings: " + "; ".join(errors))
        values["secrets"] = {k: v for k, v in environ.items() if k.startswith(SECRET_PREFIX)}
        return cls(**values)

    @classmethod
    def is_set(cls, name: str, environ: Mapping[str, str] | None = None) -> bool:
        """Whether the option `name` (e.g. "site_url") is given in the environment, rather
        than left to its default."""
        environ = os.environ if environ is None else environ
        return PREFIX + name.upper() in environ

    @classmethod
    def documentation(cls) -> list[tuple[str, str, str]]:
        """(variable, default, doc) for every option."""
        rows = []
        for f in dataclasses.fields(cls):
            default = "" if f.default in (None, dataclasses.MISSING) else str(f.default)
            name = f.metadata.get("variable", PREFIX + f.name.upper())
            rows.append((name, default, f.metadata["doc"]))
        return rows

    def to_env(self) -> dict[str, str]:
        """The variables that rebuild these settings in a child process."""
        env = dict(self.secrets)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or f.name == "secrets":
                continue
            env[f.metadata.get("variable", PREFIX + f.name.upper())] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
        return env


def parse_schedule(text: str) -> tuple[float, ...]:
    """ "5,30,120" -> (5.0, 30.0, 120.0): the delays between attempts; ValueError if malformed."""
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"expected comma-separated seconds, got {text!r}") from None
    if any(delay < 0 for delay in delays):
        raise ValueError(f"delays cannot be negative, got {text!r}")
    return delays


def _coerce(hint: Any, raw: str) -> Any:
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if raw == "":
            return None
        hint = args[0]
    if hint is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if hint is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
    if hint is float:
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
    if hint is Path:
        return Path(raw)
    return raw
