"""`pressroom run`: every process of the service in the foreground, restarted when one
crashes, stopped together.

A child that exits on its own is started again after an exponential backoff (RestartPolicy);
the others, intake included, keep running meanwhile. Each program's state is written to a
small JSON status file (`VAR_DIR/supervisor.json`) for operators and their tools.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import structlog

from pressroom_shared.config import Settings
from pressroom_shared.contracts import MAINTENANCE_QUEUE, Lane, Stage, queue_name, stage_queues
from pressroom_shared.outlets_config import OutletConfig


@dataclass(frozen=True)
class Program:
    name: str
    argv: list[str]
    # Variables this program gets on top of the service's environment.
    env: Mapping[str, str] = field(default_factory=dict)
    # Added to the process's niceness: workers yield the CPU to the intake, whose answer a
    # client waits for, while their own work waits in a queue anyway.
    nice: int = 0


# How much lower the workers' CPU priority is than the intake's.
WORKER_NICENESS = 5


def programs(
    settings: Settings, outlets: list[OutletConfig], host: str, port: int
) -> list[Program]:
    """Intake under gunicorn; one worker for render, index and maintenance; a delivery worker
    for every outlet's routine lane (PRESSROOM_DELIVERY_PROCESSES of them) and one for every
    urgent lane; and the scheduler.

    A fixed number of processes whatever the number of outlets: the delivery workers' threads
    are shared, and a slow outlet holds at most PRESSROOM_OUTLET_CONCURRENCY of them (the
    runner parks the rest of its deliveries), so it never holds up another. The urgent lane
    has a worker of its own, so a routine backlog never stands in front of an urgent story.
    """
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "pressroom_workers.celery"]
    worker = [
        *celery,
        "worker",
        "--pool",
        "threads",
        "--loglevel",
        settings.log_level,
        "--without-mingle",
    ]
    # Maintenance first: a render backlog must never hold up the sweeper (the worker polls its
    # queues in this order).
    pipeline_queues = [MAINTENANCE_QUEUE, *stage_queues(Stage.RENDER), *stage_queues(Stage.INDEX)]
    names = [outlet.name for outlet in outlets]
    urgent = [queue_name(Stage.DELIVER, Lane.URGENT, name) for name in names]
    routine = [queue_name(Stage.DELIVER, Lane.NORMAL, name) for name in names]

    def delivery_worker(name: str, queues: list[str], threads: int) -> Program:
        return Program(
            f"worker-{name}",
            [*worker, "--concurrency", str(threads), "-n", f"{name}@%h", "-Q", ",".join(queues)],
            env={"PRESSROOM_WORKER_QUEUE_ORDER": "round_robin"},
            nice=WORKER_NICENESS,
        )

    delivery_workers = [
        *(
            delivery_worker(
                "deliver" if n == 1 else f"deliver-{n}", routine, settings.delivery_concurrency
            )
            for n in range(1, settings.delivery_processes + 1)
        ),
        delivery_worker("deliver-urgent", urgent, max(2, settings.delivery_concurrency // 4)),
    ]
    return [
        Program(
            "intake",
            [
                python,
                "-m",
                "gunicorn",
                # Worker class, threads and request limits: the module says why.
                "--config",
                "python:pressroom_intake.gunicorn_conf",
                "--bind",
                f"[{host.strip('[]')}]:{port}" if ":" in host else f"{host}:{port}",
                "pressroom_intake.wsgi:app",
            ],
        ),
        Program(
            "worker-pipeline",
            [*worker, "--concurrency", "2", "-n", "pipeline@%h", "-Q", ",".join(pipeline_queues)],
            nice=WORKER_NICENESS,
        ),
        *(delivery_workers if outlets else []),
        Program(
            "scheduler",
            [
                *celery,
                "beat",
                "--loglevel",
                settings.log_level,
                "--schedule",
                str((settings.var_dir / "celerybeat-schedule").resolve()),
            ],
        ),
    ]


State = Literal["starting", "running", "restarting", "crash-looping", "stopped"]


@dataclass(frozen=True)
class RestartPolicy:
    """When a program that exited is started again, and when its exits are a crash loop.

    The delay doubles from `first_delay` up to `max_delay` with each exit, and falls back to
    `first_delay` once the program has stayed up `stable_after` seconds. `loop_exits` exits
    within `loop_window` seconds are a crash loop: reported loudly, and still restarted with
    the backoff, since what it lacks (Redis, the database) may come back.
    """

    first_delay: float = 1.0
    max_delay: float = 30.0
    stable_after: float = 60.0
    loop_exits: int = 5
    loop_window: float = 120.0

    def delay(self, failures: int) -> float:
        return min(self.first_delay * 2.0 ** max(failures - 1, 0), self.max_delay)


@dataclass
class ProgramStatus:
    """One program's restart bookkeeping. It is told what happened and when (monotonic
    seconds) and never looks at a clock, so the policy is tested without waiting."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    state: State = "starting"
    pid: int | None = None
    restarts: int = 0
    last_exit_code: int | None = None  # negative: killed by that signal
    since: float = 0.0
    restart_at: float | None = None
    failures: int = 0  # exits since the program last stayed up `stable_after`
    exits: list[float] = field(default_factory=list)  # within the crash-loop window

    def started(self, pid: int, now: float) -> None:
        if self.state != "starting":
            self.restarts += 1
        self.state, self.pid, self.since, self.restart_at = "running", pid, now, None

    def exited(self, code: int, now: float) -> None:
        if now - self.since >= self.policy.stable_after:
            self.failures = 0
        self.failures += 1
        self.exits = [t for t in self.exits if now - t < self.policy.loop_window] + [now]
        looping = len(self.exits) >= self.policy.loop_exits
        self.state = "crash-looping" if looping else "restarting"
        self.pid, self.last_exit_code, self.since = None, code, now
        self.restart_at = now + self.policy.delay(self.failures)

    def stopped(self, now: float) -> None:
        self.state, self.pid, self.since, self.restart_at = "stopped", None, now, None

    def due(self, now: float) -> bool:
        return self.restart_at is not None and now >= self.restart_at


class Supervisor:
    """Starts the programs, restarts the ones that exit, and stops them all in order.

    Hand-written rather than supervisord/honcho: those either stop everything when one child
    dies (honcho) or need their own config files and daemon (supervisord) for what is a loop
    over a handful of Popen objects here.
    """

    def __init__(
        self,
        progs: list[Program],
        env: Mapping[str, str],
        status_file: Path | None = None,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.progs = progs
        self.env = dict(env)
        self.status_file = status_file
        self.status = {p.name: ProgramStatus(policy or RestartPolicy()) for p in progs}
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.log = structlog.get_logger()

    def start(self) -> None:
        now = time.monotonic()
        for prog in self.progs:
            self._spawn(prog, now)
        self.write_status()

    def check(self) -> None:
        """One pass, no waiting: notice exits, and start again what is due."""
        now = time.monotonic()
        changed = False
        for prog in self.progs:
            status = self.status[prog.name]
            child = self.children.get(prog.name)
            if child is not None and (code := child.poll()) is not None:
                del self.children[prog.name]
                status.exited(code, now)
                self._report_exit(prog.name, status)
                changed = True
            elif child is None and status.due(now):
                self._spawn(prog, now)
                changed = True
        if changed:
            self.write_status()

    def stop(self, timeout: float = 15.0) -> None:
        for prog in self.progs:
            child = self.children.get(prog.name)
            if child is not None and child.poll() is None:
                self.log.info("program.stopping", program=prog.name, pid=child.pid)
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children.values():
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        self.children.clear()
        now = time.monotonic()
        for status in self.status.values():
            status.stopped(now)
        self.write_status()

    def write_status(self) -> None:
        """Atomically (temp file + rename): a reader never sees half a file."""
        if self.status_file is None:
            return
        document = {
            "supervisor_pid": os.getpid(),
            "updated_at": _wall_clock(time.monotonic()),
            "programs": {name: _describe(s) for name, s in self.status.items()},
        }
        self.status_file.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.status_file.parent, prefix=".supervisor-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
        os.replace(temp, self.status_file)

    def _spawn(self, prog: Program, now: float) -> None:
        status = self.status[prog.name]
        # Own process group: Ctrl-C reaches only us, and we stop each child in order.
        child = subprocess.Popen(
            prog.argv,
            env={**self.env, **prog.env},
            start_new_session=True,
            # Runs in the child before exec: only the child's priority changes.
            preexec_fn=(lambda: os.nice(prog.nice)) if prog.nice else None,
        )
        self.children[prog.name] = child
        first = status.state == "starting"
        status.started(child.pid, now)
        # A restart follows a crash: operators should see it at the level they watch.
        log = self.log.info if first else self.log.warning
        event = "program.started" if first else "program.restarted"
        log(event, program=prog.name, pid=child.pid, restarts=status.restarts)

    def _report_exit(self, name: str, status: ProgramStatus) -> None:
        assert status.restart_at is not None
        fields: dict[str, Any] = {
            "program": name,
            "exit_code": status.last_exit_code,
            "restarts": status.restarts,
            "restart_in": round(status.restart_at - status.since, 3),
        }
        if status.state == "crash-looping":
            self.log.error(
                "program.crash_loop",
                **fields,
                exits=len(status.exits),
                window_seconds=status.policy.loop_window,
            )
        else:
            self.log.warning("program.exited", **fields)


def _wall_clock(monotonic: float) -> str:
    return datetime.fromtimestamp(time.time() - (time.monotonic() - monotonic), UTC).isoformat()


def _describe(status: ProgramStatus) -> dict[str, Any]:
    return {
        "state": status.state,
        "pid": status.pid,
        "restarts": status.restarts,
        "last_exit_code": status.last_exit_code,
        "since": _wall_clock(status.since),
        "restart_at": None if status.restart_at is None else _wall_clock(status.restart_at),
    }


def supervise(progs: list[Program], env: Mapping[str, str], status_file: Path | None = None) -> int:
    """Run until SIGINT or SIGTERM, restarting what exits; then stop every child."""
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    supervisor = Supervisor(progs, env, status_file)
    supervisor.start()
    try:
        while not stopping:
            time.sleep(0.2)
            supervisor.check()
    finally:
        supervisor.stop()
    return 0
