"""The two plug-in kinds, Renderer and Outlet, and how they are found.

Plug-ins are classes registered as entry points (groups `pressroom.renderers` and
`pressroom.outlets`); nothing registers itself as an import side effect. Every plug-in passes
the shared contract tests in tests/contract/.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from pressroom_shared.article import Article, Event
from pressroom_shared.config import Settings
from pressroom_shared.outlets_config import OutletConfig, OutletConfigError

RENDERER_GROUP = "pressroom.renderers"
OUTLET_GROUP = "pressroom.outlets"


@dataclass(frozen=True)
class RenderContext:
    site_url: str  # canonical base URL of the newsroom's site, no trailing slash
    publisher_name: str

    def article_url(self, article: Article) -> str:
        return f"{self.site_url.rstrip('/')}/articles/{article.slug}.html"


@dataclass(frozen=True)
class Rendition:
    name: str  # the renderer's name
    media_type: str
    content: str


@runtime_checkable
class Renderer(Protocol):
    name: ClassVar[str]
    media_type: ClassVar[str]

    def render(self, article: Article, context: RenderContext) -> Rendition: ...


@dataclass(frozen=True)
class Delivery:
    """What an outlet is asked to do: carry `event` for this article version."""

    id: str  # stable across retries; receivers dedupe on it (Standard Webhooks' webhook-id)
    event: Event
    article: Article
    renditions: Mapping[str, Rendition]
    attempt: int
    previous_receipt: Mapping[str, Any] = field(default_factory=dict)  # from the earlier version


@dataclass(frozen=True)
class Receipt:
    """What an outlet reports on success; `data` is kept (e.g. a remote message id)."""

    detail: str
    data: Mapping[str, Any] = field(default_factory=dict)


class DeliveryError(Exception):
    kind: ClassVar[str] = "error"


class TransientError(DeliveryError):
    """Worth retrying: network trouble, 5xx, 429. `retry_after` honours the remote's wish."""

    kind = "transient"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Retrying cannot help: the remote rejected the content (4xx), or it cannot be rendered."""

    kind = "permanent"


class OutletHeldError(DeliveryError):
    """The outlet cannot take anything until a person acts: its mode becomes `mode`, its
    deliveries are held (not failed), and the operators are alerted; resuming it sends them on."""

    kind = "held"
    mode: ClassVar[str] = "paused"


class OutletGoneError(OutletHeldError):
    """The remote will take nothing more (HTTP 410 Gone): the outlet is disabled."""

    kind = "gone"
    mode = "disabled"


class OutletRefusedError(OutletHeldError):
    """The remote refuses our credentials (a revoked bot token, a bot removed from its channel:
    401/403): the outlet is paused until someone fixes them and resumes it."""

    kind = "refused"
    mode = "paused"


class MoreToSendError(DeliveryError):
    """Progress was made within this attempt's deadline and more remains (a newsletter to many
    recipients): run the step again at once, without counting an attempt. Raise it only after
    progress, or the step would loop."""

    kind = "continue"


class OutcomeUnknownError(DeliveryError):
    """The request may or may not have taken effect, and the outlet cannot dedupe a resend."""

    kind = "unknown"


@runtime_checkable
class Outlet(Protocol):
    """An outlet type. Optional class attributes the runner reads when present:

    - `Options`: the dataclass of its options (see pressroom_shared.outlet_options), documented
      in the README;
    - `can_flag_embargo` (bool): it may take embargoed stories at once, flagged;
    - `messages_per_minute` (float | None, may be set per instance): the runner paces its
      sends, holding steps unattempted in the database rather than a worker thread.
    """

    type_name: ClassVar[str]  # == entry-point name == `type` in the outlets file
    requires: ClassVar[frozenset[str]]  # renditions it reads

    def deliver(self, delivery: Delivery) -> Receipt: ...


@runtime_checkable
class Flushable(Protocol):
    """An outlet that defers derived work (a static site's index, feeds and sitemap, rebuilt at
    a bounded rate) and may have some pending. The periodic maintenance calls `flush()` on every
    outlet that has it, so deferred work is done even when no further delivery comes and the
    process that deferred it is gone. It must be cheap when there is nothing to do."""

    def flush(self) -> None: ...


class OutletFactory(Protocol):
    def __call__(self, config: OutletConfig, settings: Settings) -> Outlet: ...


def load_renderers() -> dict[str, type[Renderer]]:
    return {ep.name: ep.load() for ep in importlib.metadata.entry_points(group=RENDERER_GROUP)}


def load_outlet_types() -> dict[str, OutletFactory]:
    return {ep.name: ep.load() for ep in importlib.metadata.entry_points(group=OUTLET_GROUP)}


def build_outlet(
    types: Mapping[str, OutletFactory], config: OutletConfig, settings: Settings
) -> Outlet:
    """The outlet `config` describes, as every worker builds it; ValueError (OptionsError,
    OutletConfigError) naming the outlet when it cannot be."""
    factory = types.get(config.type)
    if factory is None:
        raise OutletConfigError(
            f"outlet {config.name!r}: unknown type {config.type!r} "
            f"(known: {', '.join(sorted(types))})"
        )
    if config.embargo == "flag" and not getattr(factory, "can_flag_embargo", False):
        raise OutletConfigError(
            f'outlet {config.name!r}: a {config.type} outlet cannot take embargo = "flag" '
            "(it would publish embargoed stories); only webhooks can"
        )
    return factory(config, settings)
