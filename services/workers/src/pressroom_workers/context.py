"""What tasks need, built once per worker process from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from pressroom_shared.config import Settings
from pressroom_shared.outlets_config import OutletConfig
from pressroom_shared.plugins import (
    Outlet,
    RenderContext,
    Renderer,
    load_outlet_types,
    load_renderers,
)
from pressroom_shared.steps import StepPolicy


class UnknownOutletTypeError(ValueError):
    pass


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    sessions: sessionmaker[Session]
    renderers: tuple[Renderer, ...]
    outlets: dict[str, Outlet]
    render_context: RenderContext

    policy: StepPolicy
    outlet_configs: dict[str, OutletConfig] = field(default_factory=dict)


def build_outlets(configs: list[OutletConfig], settings: Settings) -> dict[str, Outlet]:
    types = load_outlet_types()
    outlets = {}
    for config in configs:
        factory = types.get(config.type)
        if factory is None:
            raise UnknownOutletTypeError(
                f"outlet {config.name!r}: unknown type {config.type!r} "
                f"(known: {', '.join(sorted(types))})"
            )
        if config.embargo == "flag" and not getattr(factory, "can_flag_embargo", False):
            raise UnknownOutletTypeError(
                f'outlet {config.name!r}: a {config.type} outlet cannot take embargo = "flag" '
                "(it would publish embargoed stories); only webhooks can"
            )
        outlets[config.name] = factory(config, settings)
    return outlets


def build_renderers() -> tuple[Renderer, ...]:
    return tuple(cls() for _, cls in sorted(load_renderers().items()))
