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
from typing import Any

from pressroom_shared.config import Settings

OUTLET_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
# Published in outlets.example.toml and the README, so anyone can sign with it: outlets refuse
# it unless Settings.allow_example_secrets (local development). `pressroom webhook-receiver`
# checks with it by default.
EXAMPLE_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105


class OutletConfigError(ValueError):
    pass


@dataclass(frozen=True)
class OutletConfig:
    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)


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
        options = {k: v for k, v in table.items() if k != "type"}
        outlets.append(OutletConfig(name=name, type=table["type"], options=options))
    return outlets
