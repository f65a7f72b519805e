"""The README documents every option of every outlet type, and every type has its options."""

from __future__ import annotations

from pathlib import Path

import pytest

from pressroom_shared.outlet_options import documentation
from pressroom_shared.outlets_config import BreakerPolicy, Routing
from pressroom_shared.plugins import load_outlet_types

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
OUTLETS = README[README.index("## Outlets") : README.index("## Delivery guarantees")]


def section(title: str) -> str:
    start = OUTLETS.index(f"### {title}\n")
    end = OUTLETS.find("\n### ", start + 1)
    return OUTLETS[start : end if end != -1 else None]


@pytest.mark.parametrize("type_name", sorted(load_outlet_types()))
def test_every_option_of_every_outlet_type_is_in_the_readme(type_name: str) -> None:
    options = getattr(load_outlet_types()[type_name], "Options", None)
    assert options is not None, f"{type_name} declares no Options dataclass"
    text = section(type_name)
    for key, _, _ in documentation(options):
        for part in key.split(" / "):
            assert f"`{part}`" in text, f"README's {type_name} section lacks `{part}`"


def test_routing_and_breaker_options_are_in_the_readme() -> None:
    for cls in (Routing, BreakerPolicy):
        for key, _, _ in documentation(cls):
            assert f"| `{key}` |" in OUTLETS


def test_the_readme_outlets_file_builds_every_outlet() -> None:
    import re

    from pressroom_shared.config import Settings
    from pressroom_shared.outlets_config import parse_outlets
    from pressroom_shared.plugins import build_outlet

    match = re.search(r"```toml\n(.*?)```", OUTLETS, re.DOTALL)
    assert match is not None
    secrets = {
        "PRESSROOM_SECRET_PARTNER": "whsec_QUJDRA==",
        "PRESSROOM_SECRET_TELEGRAM": "123:abc",
        "PRESSROOM_SECRET_SMTP": "password",
    }
    outlets = parse_outlets(match.group(1))
    for config in outlets:
        build_outlet(load_outlet_types(), config, Settings(secrets=secrets))
    assert {o.type for o in outlets} == set(load_outlet_types())
