"""`pressroom run`: every process of the service in the foreground, stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import click

from pressroom_shared.config import Settings
from pressroom_shared.contracts import MAINTENANCE_QUEUE, Stage, stage_queues
from pressroom_shared.outlets_config import OutletConfig


@dataclass(frozen=True)
class Program:
    name: str
    argv: list[str]


def programs(
    settings: Settings, outlets: list[OutletConfig], host: str, port: int
) -> list[Program]:
    """Intake under gunicorn, one worker for render+index+maintenance, one worker per outlet
    (so a slow outlet never holds up another), and the scheduler."""
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
    pipeline_queues = [*stage_queues(Stage.RENDER), *stage_queues(Stage.INDEX), MAINTENANCE_QUEUE]
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
        ),
        *(
            Program(
                f"worker-{outlet.name}",
                [
                    *worker,
                    "--concurrency",
                    "2",
                    "-n",
                    f"deliver-{outlet.name}@%h",
                    "-Q",
                    ",".join(stage_queues(Stage.DELIVER, [outlet.name])),
                ],
            )
            for outlet in outlets
        ),
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


def supervise(progs: list[Program], env: dict[str, str]) -> int:
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for prog in progs:
        click.echo(f"pressroom: starting {prog.name}", err=True)
        # Own process group: Ctrl-C reaches us once, and we stop each child in order.
        children[prog.name] = subprocess.Popen(prog.argv, env=env, start_new_session=True)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                click.echo(
                    f"pressroom: {name} exited with code {child.returncode}; stopping", err=True
                )
                exit_code = 1
                stopping = True
                break
        time.sleep(0.2)
    for name, child in children.items():
        if child.poll() is None:
            click.echo(f"pressroom: stopping {name}", err=True)
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children.values():
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    return exit_code
