"""Which outlets exist: parsed from the TOML file named by PRESSROOM_OUTLETS_FILE.

Intake needs the list (it records one delivery per outlet with the article); workers also need
the options to build each outlet plug-in.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pressroom_shared.article import ArticleContent
from pressroom_shared.config import Settings
from pressroom_shared.outlet_options import OptionsError, option, parse_options, positive

OUTLET_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
# Published in outlets.example.toml and the README, so anyone can sign with it: outlets refuse
# it unless Settings.allow_example_secrets (local development). `pressroom webhook-receiver`
# checks with it by default.
EXAMPLE_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105


class OutletConfigError(ValueError):
    pass


def _urgency(value: Any) -> str | None:
    return None if 1 <= value <= 9 else f"must be 1 (most urgent) to 9, got {value!r}"


@dataclass(frozen=True)
class Routing:
    """Which stories an outlet gets (`[outlets.NAME.routing]`); empty lists match everything.

    A story must match every include rule that is given and no exclude rule. Rubrics and tags
    compare case-insensitively; a language rule `en` matches `en-GB` too.
    """

    rubrics: tuple[str, ...] = option((), "Only stories in one of these rubrics.")
    exclude_rubrics: tuple[str, ...] = option((), "No story in one of these rubrics.")
    languages: tuple[str, ...] = option((), "Only stories in one of these languages (BCP 47).")
    exclude_languages: tuple[str, ...] = option((), "No story in one of these languages.")
    tags: tuple[str, ...] = option((), "Only stories with at least one of these tags.")
    exclude_tags: tuple[str, ...] = option((), "No story with any of these tags.")
    min_urgency: int | None = option(
        None,
        "Only stories at least this urgent: urgency 1..N (1 is the most urgent). A story "
        "without an urgency does not pass this rule.",
        check=_urgency,
    )

    def matches(self, content: ArticleContent) -> bool:
        rubric = (content.rubric or "").casefold()
        tags = {t.casefold() for t in content.tags}
        language = content.language.casefold()
        if self.rubrics and rubric not in _folded(self.rubrics):
            return False
        if rubric and rubric in _folded(self.exclude_rubrics):
            return False
        if self.languages and not any(_language_in(language, x) for x in self.languages):
            return False
        if any(_language_in(language, x) for x in self.exclude_languages):
            return False
        if self.tags and not tags & _folded(self.tags):
            return False
        if tags & _folded(self.exclude_tags):
            return False
        return self.min_urgency is None or (
            content.urgency is not None and content.urgency <= self.min_urgency
        )


def _folded(values: tuple[str, ...]) -> set[str]:
    return {v.casefold() for v in values}


def _language_in(language: str, rule: str) -> bool:
    rule = rule.casefold()
    return language == rule or language.startswith(rule + "-")


def _not_negative(value: Any) -> str | None:
    return None if value >= 0 else f"must be 0 or more, got {value!r}"


@dataclass(frozen=True)
class BreakerPolicy:
    """The outlet's circuit breaker (`[outlets.NAME.breaker]`); off unless `failures` is set.

    Off by default because it changes what a long outage means: deliveries held by an open
    breaker spend no attempts, so they wait for the outlet to recover, as a paused outlet's do,
    instead of failing when the retry schedule runs out.
    """

    failures: int = option(
        0,
        "Consecutive failed attempts that open the breaker (0: no breaker).",
        check=_not_negative,
    )
    cooldown: float = option(
        60.0,
        "Seconds an open breaker holds the outlet's deliveries (unattempted) before one probe.",
        check=positive,
    )

    @property
    def enabled(self) -> bool:
        return self.failures > 0


EmbargoMode = Literal["hold", "flag"]


@dataclass(frozen=True)
class OutletConfig:
    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)  # the type's own options
    routing: Routing = field(default_factory=Routing)
    # "hold": embargoed stories wait for their release; "flag": sent at once, marked embargoed
    # (only outlet types that can say so, i.e. webhooks).
    embargo: EmbargoMode = "hold"
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)

    def wants(self, content: ArticleContent) -> bool:
        return self.routing.matches(content)


COMMON_KEYS = frozenset({"type", "routing", "embargo", "breaker"})


def load_outlets(settings: Settings) -> list[OutletConfig]:
    if settings.outlets_file is None:
        return [
            OutletConfig(
                name="site",
                type="static_site",
                options={"path": str(settings.var_dir / "site"), "base_url": settings.site_url},
            )
        ]
    return parse_outlets(
        Path(settings.outlets_file).read_text(encoding="utf-8"), settings.outlets_file
    )


def parse_outlets(text: str, source: Path | str = "<outlets>") -> list[OutletConfig]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OutletConfigError(f"{source}: {exc}") from exc
    tables = document.get("outlets")
    if not isinstance(tables, dict) or not tables:
        raise OutletConfigError(f"{source}: no [outlets.NAME] tables")
    outlets = []
    for name, table in tables.items():
        if not OUTLET_NAME.match(name):
            raise OutletConfigError(
                f"{source}: outlet name {name!r} must be lower-case letters, digits, - or _"
            )
        if not isinstance(table, dict) or not isinstance(table.get("type"), str):
            raise OutletConfigError(f'{source}: [outlets.{name}] needs type = "..."')
        options = {k: v for k, v in table.items() if k not in COMMON_KEYS}
        try:
            routing = parse_options(Routing, name, _table(table, "routing"), Settings())
            breaker = parse_options(BreakerPolicy, name, _table(table, "breaker"), Settings())
        except OptionsError as exc:
            raise OutletConfigError(f"{source}: {exc}") from None
        embargo = table.get("embargo", "hold")
        if embargo not in ("hold", "flag"):
            raise OutletConfigError(
                f'{source}: [outlets.{name}] embargo must be "hold" or "flag", got {embargo!r}'
            )
        outlets.append(
            OutletConfig(
                name=name,
                type=table["type"],
                options=options,
                routing=routing,
                embargo=embargo,
                breaker=breaker,
            )
        )
    return outlets


def _table(table: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise OutletConfigError(f"{key} must be a table ([outlets.NAME.{key}])")
    return value
