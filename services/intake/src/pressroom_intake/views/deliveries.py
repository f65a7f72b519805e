"""/v1/deliveries: operators see deliveries and send failed ones again (scope `operate`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy.orm import Session

from pressroom_intake.auth import require_scope
from pressroom_intake.context import intake
from pressroom_intake.problems import ProblemError, documents_problems
from pressroom_intake.schemas import (
    DeliveryActionSchema,
    DeliveryListArgsSchema,
    DeliveryListSchema,
)
from pressroom_shared.contracts import Stage
from pressroom_shared.db import transaction
from pressroom_shared.dispatch import send_steps
from pressroom_shared.models import Step
from pressroom_shared.operations import (
    ActionResult,
    DeliveryFilter,
    cancel_deliveries,
    delivery_view,
    list_deliveries,
    retry_deliveries,
)
from pressroom_shared.timeutil import utcnow

blp = Blueprint(
    "deliveries",
    __name__,
    url_prefix="/v1/deliveries",
    description="Deliveries to outlets: see them, retry or cancel them (scope `operate`).",
)


def _problems(*statuses: int) -> Any:
    return documents_problems(blp, *statuses)


@blp.route("")
class Deliveries(MethodView):
    @require_scope("operate")
    @blp.doc(summary="Deliveries, most recently changed first, by state, outlet and article")
    @blp.arguments(DeliveryListArgsSchema, location="query", unknown=ma.RAISE)
    @blp.response(200, DeliveryListSchema)
    @_problems(401, 403, 422, 429)
    def get(self, args: dict[str, Any]) -> Any:
        where = DeliveryFilter(
            state=args.get("state"),
            outlet=args.get("outlet"),
            article_id=str(args["article"]) if args.get("article") else None,
            limit=args["limit"],
        )
        with intake().sessions() as session:
            return {"deliveries": [delivery_view(s) for s in list_deliveries(session, where)]}


@blp.route("/<uuid:delivery_id>/retry")
class RetryDelivery(MethodView):
    @require_scope("operate")
    @blp.doc(
        summary="Send a failed, unknown or canceled delivery again, with a fresh retry schedule",
        description="Refused (409) for a delivery that a newer version's delivery replaces, "
        "and for one that is not finished.",
    )
    @blp.response(200, DeliveryActionSchema)
    @_problems(401, 403, 404, 409, 429)
    def post(self, delivery_id: Any) -> Any:
        return _act(str(delivery_id), "retry")


@blp.route("/<uuid:delivery_id>/cancel")
class CancelDelivery(MethodView):
    @require_scope("operate")
    @blp.doc(summary="Stop a delivery that has not started, is waiting to retry, or failed")
    @blp.response(200, DeliveryActionSchema)
    @_problems(401, 403, 404, 409, 429)
    def post(self, delivery_id: Any) -> Any:
        return _act(str(delivery_id), "cancel")


def _act(delivery_id: str, action: str) -> dict[str, Any]:
    ctx = intake()
    by = f"api:{g.api_key_name}"
    actions: dict[str, Callable[[Session, list[Step]], ActionResult]] = {
        "retry": lambda session, steps: retry_deliveries(
            session, steps, now=utcnow(), policy=ctx.policy, by=by
        ),
        "cancel": lambda session, steps: cancel_deliveries(session, steps, now=utcnow(), by=by),
    }
    with transaction(ctx.sessions) as session:
        step = session.get(Step, delivery_id)
        if step is None or step.stage != Stage.DELIVER:
            raise ProblemError(
                404, "not-found", "Not Found", f"There is no delivery {delivery_id}."
            )
        result = actions[action](session, [step])
        if result.skipped:
            raise ProblemError(
                409,
                "conflict",
                "Conflict",
                f"Cannot {action} delivery {delivery_id}: {result.skipped[delivery_id]}.",
            )
        session.refresh(step)
        body = {
            "changed": result.changed,
            "skipped": result.skipped,
            "deliveries": [delivery_view(step)],
        }
    send_steps(ctx.celery, result.to_send)
    return body
