"""Paths of the vendored test fixtures (tests/fixtures/README.md says where they come from)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SEED_ARTICLE = FIXTURES / "seed-article.txt"
NINJS_REFERENCE = FIXTURES / "iptc" / "ninjs"


def ninjs_example_path(version: str, name: str) -> Path:
    return NINJS_REFERENCE / f"examples-{version}" / name


def ninjs_schema(version: str) -> Any:
    """IPTC's JSON Schema of ninjs `version` ("2.2" or "3.1")."""
    path = NINJS_REFERENCE / "schema" / f"ninjs-schema_{version}.json"
    return json.loads(path.read_text(encoding="utf-8"))
