"""The suite runs from a fresh clone: everything it reads is inside the repository."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema

from tests.support.fixtures import FIXTURES, NINJS_REFERENCE, SEED_ARTICLE, ninjs_schema

REPO = Path(__file__).resolve().parents[2]
# How a path beside the checkout was spelled: ../shared/samples, REPO.parent / "shared", ...
OUTSIDE = re.compile(r"""parent\s*/\s*["']shared|shared/(?:reference|samples)|parents\[3\]""")


def test_no_test_or_benchmark_reads_beside_the_checkout() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for folder in ("tests", "bench")
        for path in (REPO / folder).rglob("*.py")
        if path.name != Path(__file__).name
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not offenders, offenders


def test_vendored_ninjs_reference_is_complete_and_licensed() -> None:
    assert "MIT License" in (NINJS_REFERENCE / "LICENSE").read_text(encoding="utf-8")
    assert "IPTC" in (FIXTURES / "README.md").read_text(encoding="utf-8")
    for version in ("2.2", "3.1"):
        schema = ninjs_schema(version)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert "Creative Commons Attribution 4.0" in schema["description"]
        examples = sorted((NINJS_REFERENCE / f"examples-{version}").glob("*.json"))
        assert len(examples) >= 7
        for path in examples:
            json.loads(path.read_text(encoding="utf-8"))


def test_the_seed_article_is_vendored() -> None:
    first_line = SEED_ARTICLE.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith("27 мая 2025 05:39, Виктория Любимова")
