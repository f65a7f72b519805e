"""Run one step: claim it, do its stage's work, record the outcome, send what follows.

Tasks call `run_step` and nothing else, so the whole policy (leases, retries, supersession,
follow-up messages) lives here and is tested with a real database but without Celery.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

import structlog
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.orm import Session

from pressroom_shared import breaker
from pressroom_shared.contracts import Stage
from pressroom_shared.db import transaction
from pressroom_shared.dispatch import send_steps
from pressroom_shared.metrics import TASK_SECONDS, TASKS
from pressroom_shared.models import Step
from pressroom_shared.monitoring import request_id_of
from pressroom_shared.operations import set_outlet_mode
from pressroom_shared.outlets_config import OutletConfig
from pressroom_shared.plugins import (
    DeliveryError,
    MoreToSendError,
    OutletHeldError,
    PermanentError,
    Receipt,
)
from pressroom_shared.steps import (
    PARKED,
    OutletMode,
    SendRefused,
    StepRef,
    StepState,
    cancel,
    claim,
    complete,
    confirm_send,
    defer,
    fail,
    hold_for_outlet,
    may_send,
    release_followers,
    release_parked,
    successors,
)
from pressroom_shared.timeutil import utcnow
from pressroom_workers import stages
from pressroom_workers.context import WorkerContext
from pressroom_workers.loading import load_article

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Outcome:
    state: str  # a StepState, or "skipped" when the step was not ours to run
    detail: str = ""
    parked: bool = False  # waits for a free slot at its outlet (it took none)
    settled: bool = False  # what waited for this delivery was let go with its outcome
    # Index steps a render released, run next by the same thread rather than sent as messages:
    # a publish and a consume fewer per version. Released (due) all the same, so the sweeper
    # sends them should this worker die first.
    index_next: tuple[str, ...] = ()


class LeaseLostError(RuntimeError):
    pass


class _Parked(Exception):
    """Every slot of the step's outlet is in use in this process: park it (see gates.py)."""


class _MustWait(Exception):
    """The outlet's breaker is open or its pace is spent: put the step back, unattempted."""

    def __init__(self, wait: breaker.Wait) -> None:
        super().__init__(wait.detail)
        self.wait = wait


def worker_identity() -> str:
    """This process, as attempts record it: every step it runs dies with it (see recover_lost).

    Read at each claim, not once at import: a prefork pool's children are forked after it.
    """
    return f"{socket.gethostname()}:{os.getpid()}"


def run_step(ctx: WorkerContext, app: Celery, stage: Stage, step_id: str) -> Outcome:
    started = time.monotonic()
    outcome = _run_step(ctx, app, stage, step_id)
    TASKS.labels(str(stage), outcome.state).inc()
    TASK_SECONDS.labels(str(stage), outcome.state).observe(time.monotonic() - started)
    for index_step_id in outcome.index_next:
        run_step(ctx, app, Stage.INDEX, index_step_id)
    return outcome


def _run_step(ctx: WorkerContext, app: Celery, stage: Stage, step_id: str) -> Outcome:
    with transaction(ctx.sessions) as session:
        step = claim(session, step_id, now=utcnow(), policy=ctx.policy, worker=worker_identity())
        # The submitting client's X-Request-ID follows the article into every log line.
        request_id = request_id_of(session, step) if step is not None else None
    if step is None:
        log.info("step.skipped", step_id=step_id, stage=str(stage))
        return Outcome("skipped", "finished, not due, superseded or owned by another worker")
    if step.stage != stage:
        raise ValueError(f"step {step_id} is a {step.stage} step, sent to the {stage} task")
    structlog.contextvars.bind_contextvars(
        step_id=step.id,
        article_id=step.article_id,
        version=step.version,
        stage=step.stage,
        outlet=step.outlet,
        request_id=request_id,
    )
    try:
        outcome = _attempt(ctx, app, step)
    finally:
        structlog.contextvars.unbind_contextvars(
            "step_id", "article_id", "version", "stage", "outlet", "request_id"
        )
    if step.stage == Stage.DELIVER and outcome.state != "skipped" and not outcome.settled:
        with transaction(ctx.sessions) as session:
            waiting = _after_delivery(ctx, session, step, parked=outcome.parked)
        send_steps(app, waiting)
    return outcome


def _after_delivery(
    ctx: WorkerContext, session: Session, step: Step, *, parked: bool
) -> list[StepRef]:
    """What a delivery's end lets go: newer versions' deliveries to the outlet that waited for
    it, and (unless it only parked) one delivery parked for a free slot at the outlet."""
    waiting = successors(session, step, now=utcnow(), policy=ctx.policy)
    if not parked and ctx.gates.may_have_parked(step.outlet):
        waiting += _next_parked(ctx, session, step.outlet)
    return waiting


def _next_parked(ctx: WorkerContext, session: Session, outlet: str) -> list[StepRef]:
    """The oldest delivery parked for a slot at `outlet`, made sendable (none: none waits)."""
    released = release_parked(session, outlet, now=utcnow(), policy=ctx.policy)
    if not released:
        ctx.gates.none_parked(outlet)
    return released


def _attempt(ctx: WorkerContext, app: Celery, step: Step) -> Outcome:
    follow: list[StepRef] = []
    config = ctx.outlet_configs.get(step.outlet)
    flagged = step.stage == Stage.DELIVER and config is not None and config.embargo == "flag"
    if step.stage != Stage.RENDER and not flagged:
        # Re-checked at release time: the embargo may have been moved since the step was planned.
        with ctx.sessions() as session:
            held_until = stages.embargo_in_force(session, step, utcnow())
        if held_until is not None:
            with transaction(ctx.sessions) as session:
                defer(session, step, now=utcnow(), until=held_until)
            log.info("step.held", until=held_until.isoformat())
            return Outcome(StepState.PENDING, f"embargoed until {held_until.isoformat()}")
    try:
        if step.stage == Stage.DELIVER:
            receipt = _deliver(ctx, step)
            # One transaction records the delivery and lets go what waited for it.
            with transaction(ctx.sessions) as session:
                if not complete(session, step, now=utcnow(), receipt=_receipt_data(receipt)):
                    raise LeaseLostError(step.id)
                _record(ctx, session, step, ok=True)
                follow = _after_delivery(ctx, session, step, parked=False)
        elif step.stage == Stage.RENDER:
            # Rendered before the writing transaction: SQLite has one writer at a time, and
            # the lock must not wait for our CPU work.
            with ctx.sessions() as session:
                article = load_article(session, step.article_id, step.version)
            renditions = stages.render(article, ctx.renderers_to_run, ctx.render_context)
            with transaction(ctx.sessions) as session:
                receipt = stages.store_renditions(session, step, renditions)
                if not complete(session, step, now=utcnow(), receipt=_receipt_data(receipt)):
                    raise LeaseLostError(step.id)
                follow = release_followers(session, step, now=utcnow(), policy=ctx.policy)
        else:
            with ctx.sessions() as session:
                entry = stages.prepare_index(session, step)
            with transaction(ctx.sessions) as session:
                receipt = stages.index(session, entry)
                if not complete(session, step, now=utcnow(), receipt=_receipt_data(receipt)):
                    raise LeaseLostError(step.id)
    except LeaseLostError:
        log.warning("step.lease_lost")
        return Outcome("skipped", "lease lost to another worker")
    except stages.Superseded as exc:
        with transaction(ctx.sessions) as session:
            cancel(session, step, now=utcnow(), reason=f"superseded: {exc}")
        log.info("step.superseded", reason=str(exc))
        return Outcome(StepState.CANCELED, str(exc))
    except _MustWait as waiting:
        return _wait(ctx, app, step, waiting.wait)
    except _Parked:
        return _park(ctx, app, step)
    except OutletHeldError as exc:
        return _outlet_held(ctx, step, exc)
    except MoreToSendError as exc:
        with transaction(ctx.sessions) as session:
            _record(ctx, session, step, ok=True)
        return _wait(ctx, app, step, breaker.Wait(0.0, exc.kind, str(exc)))
    except DeliveryError as exc:
        return _failed(ctx, app, step, exc.kind, str(exc), getattr(exc, "retry_after", None))
    except SoftTimeLimitExceeded:
        # Only pools that enforce time limits (prefork, solo) raise this; under threads the
        # outlets' own deadlines and the lease bound an attempt.
        return _failed(ctx, app, step, "transient", "time limit exceeded", None)
    except Exception as exc:
        # A bug or a poison article: retried within the stage's budget, then failed for
        # operators to see; never redelivered forever.
        log.exception("step.crashed")
        return _failed(ctx, app, step, "transient", f"{type(exc).__name__}: {exc}", None)
    index_next = tuple(ref.id for ref in follow if ref.stage == Stage.INDEX)
    sent = send_steps(app, [ref for ref in follow if ref.stage != Stage.INDEX])
    log.info("step.done", detail=receipt.detail, released=len(follow), sent=sent)
    return Outcome(
        StepState.DONE,
        receipt.detail,
        settled=step.stage == Stage.DELIVER,
        index_next=index_next,
    )


def _deliver(ctx: WorkerContext, step: Step) -> Receipt:
    outlet = ctx.outlets.get(step.outlet)
    if outlet is None:
        raise PermanentError(f"outlet {step.outlet!r} is not configured")
    with ctx.sessions() as session:
        delivery = stages.prepare_delivery(session, step, outlet, ctx.renderers, ctx.render_context)
    config = ctx.outlet_configs.get(step.outlet) or OutletConfig(step.outlet, outlet.type_name)
    per_minute = getattr(outlet, "messages_per_minute", None)
    with ctx.sessions() as session:
        # Most deliveries meet a closed breaker and no pace: a read, no write transaction.
        gated = per_minute is not None or (
            config.breaker.enabled and not breaker.quiet(session, step.outlet)
        )
    if gated:
        with transaction(ctx.sessions) as session:
            wait = breaker.admit(
                session,
                step.outlet,
                now=utcnow(),
                policy=config.breaker,
                per_minute=per_minute,
                probe_lease=ctx.policy.lease_seconds,
            )
        if wait is not None:
            raise _MustWait(wait)
    if not ctx.gates.enter(step.outlet):
        raise _Parked()
    try:
        try:
            with ctx.sessions() as session:
                cleared = may_send(session, step, now=utcnow(), policy=ctx.policy)
            if not cleared:
                with transaction(ctx.sessions) as session:
                    confirm_send(session, step, now=utcnow(), policy=ctx.policy)
        except SendRefused as refused:
            if refused.superseded:
                raise stages.Superseded(str(refused)) from None
            raise LeaseLostError(step.id) from None
        return outlet.deliver(delivery)
    finally:
        ctx.gates.leave(step.outlet)


def _park(ctx: WorkerContext, app: Celery, step: Step) -> Outcome:
    """The outlet has every slot in use: wait in the database, not in a thread."""
    now = utcnow()
    detail = f"waits for a free slot: {ctx.gates.per_outlet} deliveries to this outlet in flight"
    with transaction(ctx.sessions) as session:
        # The backstop, should no delivery to the outlet end to release it.
        until = now + timedelta(seconds=ctx.policy.redrive_after)
        if not defer(session, step, now=now, until=until, why=(PARKED, detail)):
            return Outcome("skipped", "lease lost to another worker")
    ctx.gates.parked(step.outlet)
    if ctx.gates.in_flight(step.outlet) < ctx.gates.per_outlet:
        # A slot freed while this one parked, and its release may have found nothing yet.
        _release_parked(ctx, app, step.outlet)
    return Outcome(StepState.PENDING, detail, parked=True)


def _release_parked(ctx: WorkerContext, app: Celery, outlet: str) -> None:
    with transaction(ctx.sessions) as session:
        released = _next_parked(ctx, session, outlet)
    send_steps(app, released)


def _outlet_held(ctx: WorkerContext, step: Step, exc: OutletHeldError) -> Outcome:
    error, mode = str(exc), OutletMode(exc.mode)
    with transaction(ctx.sessions) as session:
        now = utcnow()
        if not hold_for_outlet(session, step, now=now, error=error, kind=exc.kind):
            return Outcome("skipped", "lease lost to another worker")
        set_outlet_mode(session, step.outlet, mode, now=now, by="remote", reason=error)
    return Outcome(StepState.RETRYING, f"outlet {mode}: {error}")


def _wait(ctx: WorkerContext, app: Celery, step: Step, wait: breaker.Wait) -> Outcome:
    now = utcnow()
    short = wait.seconds <= ctx.policy.short_retry_max
    with transaction(ctx.sessions) as session:
        deferred = defer(
            session,
            step,
            now=now,
            until=now + timedelta(seconds=wait.seconds),
            why=(wait.why, wait.detail),
            resent_after=ctx.policy.redrive_after if short else None,
        )
    if not deferred:
        return Outcome("skipped", "lease lost to another worker")
    if short:
        send_steps(app, [StepRef.of(step)], countdown=wait.seconds)
    log.info("step.waits", why=wait.why, seconds=round(wait.seconds, 1))
    return Outcome(StepState.PENDING, wait.detail)


def _record(ctx: WorkerContext, session: Session, step: Step, *, ok: bool) -> None:
    config = ctx.outlet_configs.get(step.outlet)
    released = breaker.record(
        session,
        step.outlet,
        now=utcnow(),
        ok=ok,
        policy=config.breaker if config is not None else OutletConfig("", "").breaker,
    )
    if released:
        log.info("outlet.released", outlet=step.outlet, steps=released)


def _failed(
    ctx: WorkerContext, app: Celery, step: Step, kind: str, error: str, retry_after: float | None
) -> Outcome:
    policy = ctx.policy
    with transaction(ctx.sessions) as session:
        decision = fail(
            session,
            step,
            now=utcnow(),
            kind=kind,
            error=error,
            policy=policy,
            retry_after=retry_after,
        )
        if decision is not None and step.stage == Stage.DELIVER:
            # The remote answered a permanent error: it is up, only this content was refused.
            _record(ctx, session, step, ok=kind == "permanent")
            per_minute = getattr(ctx.outlets.get(step.outlet), "messages_per_minute", None)
            if retry_after and per_minute:
                breaker.slow_down(
                    session, step.outlet, now=utcnow(), seconds=retry_after, per_minute=per_minute
                )
    if decision is None:
        return Outcome("skipped", "lease lost to another worker")
    log.warning(
        "step.failed", kind=kind, error=error, state=str(decision.state), retry_in=decision.retry_in
    )
    if decision.retry_in is not None and decision.retry_in <= policy.short_retry_max:
        send_steps(app, [StepRef.of(step)], countdown=decision.retry_in)
    return Outcome(decision.state, error)


def _receipt_data(receipt: Receipt) -> dict[str, object]:
    return {"detail": receipt.detail, **receipt.data}
