"""The wire contract between intake, scheduler and workers: stages, lanes, queues and task names.

Producers send tasks by name with only a step id in the message; the database holds the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Stage(StrEnum):
    RENDER = "render"
    INDEX = "index"
    DELIVER = "deliver"


class Lane(StrEnum):
    """Urgency 1-2 rides its own queues through every stage: a routine backlog never delays it."""

    NORMAL = "normal"
    URGENT = "urgent"

    @classmethod
    def for_urgency(cls, urgency: int | None) -> Lane:
        return cls.URGENT if urgency is not None and urgency <= URGENT_MAX_URGENCY else cls.NORMAL


URGENT_MAX_URGENCY = 2

TASK_BY_STAGE: dict[Stage, str] = {
    Stage.RENDER: "pressroom.render",
    Stage.INDEX: "pressroom.index",
    Stage.DELIVER: "pressroom.deliver",
}
TASK_SWEEP = "pressroom.sweep"
TASK_PURGE = "pressroom.purge"
MAINTENANCE_QUEUE = "maintenance"


def queue_name(stage: Stage, lane: Lane, outlet: str = "") -> str:
    """`render`, `index.urgent`, `deliver.site`, `deliver.partner.urgent`..."""
    base = f"{stage}.{outlet}" if stage is Stage.DELIVER else str(stage)
    return base if lane is Lane.NORMAL else f"{base}.{lane}"


def stage_queues(stage: Stage, outlets: Iterable[str] = ()) -> list[str]:
    """Every queue of one stage, urgent lane first (the order a worker should list them)."""
    targets = list(outlets) if stage is Stage.DELIVER else [""]
    return [
        queue_name(stage, lane, outlet) for outlet in targets for lane in (Lane.URGENT, Lane.NORMAL)
    ]


def all_queues(outlets: Iterable[str]) -> list[str]:
    names = list(outlets)
    return [
        *stage_queues(Stage.RENDER),
        *stage_queues(Stage.INDEX),
        *stage_queues(Stage.DELIVER, names),
        MAINTENANCE_QUEUE,
    ]
