from __future__ import annotations

import pytest

from pressroom_shared.contracts import Lane, Stage, all_queues, queue_name, stage_queues
from pressroom_shared.outlets_config import OutletConfigError, parse_outlets


def test_queue_names() -> None:
    assert queue_name(Stage.RENDER, Lane.NORMAL) == "render"
    assert queue_name(Stage.INDEX, Lane.URGENT) == "index.urgent"
    assert queue_name(Stage.DELIVER, Lane.NORMAL, "site") == "deliver.site"
    assert stage_queues(Stage.DELIVER, ["a"]) == ["deliver.a.urgent", "deliver.a"]
    assert all_queues(["site"]) == [
        "render.urgent",
        "render",
        "index.urgent",
        "index",
        "deliver.site.urgent",
        "deliver.site",
        "maintenance",
    ]


@pytest.mark.parametrize(
    ("urgency", "lane"), [(1, Lane.URGENT), (2, Lane.URGENT), (3, Lane.NORMAL), (None, Lane.NORMAL)]
)
def test_lane_for_urgency(urgency: int | None, lane: Lane) -> None:
    assert Lane.for_urgency(urgency) is lane


def test_outlets_file_is_parsed() -> None:
    outlets = parse_outlets('[outlets.site]\ntype = "static_site"\npath = "var/site"\n')
    assert [(o.name, o.type, dict(o.options)) for o in outlets] == [
        ("site", "static_site", {"path": "var/site"})
    ]


@pytest.mark.parametrize(
    "text",
    ["", "[outlets]", '[outlets.Site]\ntype = "x"', "[outlets.site]\npath = 1", "not toml ="],
)
def test_bad_outlets_files_are_refused(text: str) -> None:
    with pytest.raises(OutletConfigError):
        parse_outlets(text)
