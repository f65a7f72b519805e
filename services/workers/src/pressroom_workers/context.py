"""What tasks need, built once per worker process from Settings."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from pressroom_shared.config import Settings
from pressroom_shared.outlets_config import OutletConfig, OutletConfigError
from pressroom_shared.plugins import (
    Outlet,
    RenderContext,
    Renderer,
    build_outlet,
    load_outlet_types,
    load_renderers,
)
from pressroom_shared.steps import StepPolicy
from pressroom_workers.gates import OutletGates


class UnknownOutletTypeError(ValueError):
    pass


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    sessions: sessionmaker[Session]
    renderers: tuple[Renderer, ...]  # every installed renderer
    outlets: dict[str, Outlet]
    render_context: RenderContext

    policy: StepPolicy
    outlet_configs: dict[str, OutletConfig] = field(default_factory=dict)
    gates: OutletGates = field(default_factory=lambda: OutletGates(per_outlet=4))

    @functools.cached_property
    def renderers_to_run(self) -> tuple[Renderer, ...]:
        return renderers_needed(self.renderers, self.outlets)


def build_outlets(configs: list[OutletConfig], settings: Settings) -> dict[str, Outlet]:
    types = load_outlet_types()
    outlets = {}
    for config in configs:
        try:
            outlets[config.name] = build_outlet(types, config, settings)
        except OutletConfigError as exc:
            raise UnknownOutletTypeError(str(exc)) from None
    return outlets


def build_renderers() -> tuple[Renderer, ...]:
    return tuple(cls() for _, cls in sorted(load_renderers().items()))


def renderers_needed(
    renderers: tuple[Renderer, ...], outlets: dict[str, Outlet]
) -> tuple[Renderer, ...]:
    """The renderers whose renditions some configured outlet reads: the render stage runs only
    these (a delivery that finds one missing renders it then, see stages.prepare_delivery)."""
    wanted = set().union(*(outlet.requires for outlet in outlets.values()))
    return tuple(r for r in renderers if r.name in wanted)
