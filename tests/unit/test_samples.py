"""The samples the README posts are what it says they are."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest
import yaml

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_the_cp1251_story_is_the_seed_article_in_windows_1251() -> None:
    seed = (SAMPLES / "seed-article.txt").read_text(encoding="utf-8")
    raw = (SAMPLES / "story-cp1251.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # else it would prove nothing about charset=windows-1251
    # windows-1251 has no 👁: the export's optional views field is left out.
    assert raw.decode("cp1251") == seed.replace(", 👁 946", "", 1)


def test_fixed_is_the_seed_article_with_one_correction() -> None:
    seed = (SAMPLES / "seed-article.txt").read_text(encoding="utf-8").splitlines()
    fixed = (SAMPLES / "fixed.txt").read_text(encoding="utf-8").splitlines()
    changed = [line for line in difflib.ndiff(seed, fixed) if line[:1] in "+-"]
    assert len(changed) == 2, changed
    assert "2024" in changed[0]
    assert "2025" in changed[1]


def test_the_ninjs_and_markdown_samples_are_whole_text_stories() -> None:
    ninjs = json.loads((SAMPLES / "story.ninjs.json").read_text(encoding="utf-8"))
    assert ninjs["type"] == "text"
    assert ninjs["headlines"][0]["value"]
    assert ninjs["bodies"][0]["value"]
    _, front, body = (SAMPLES / "story.md").read_text(encoding="utf-8").split("---\n", 2)
    assert {"headline", "language"} <= yaml.safe_load(front).keys()
    assert body.strip()
