"""What the console's banner raises, from what it was told: a pure function, so every alert is
checked here without building the situation it describes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pressroom_shared.monitoring import (
    OutletInfo,
    QueueInfo,
    WorkerInfo,
    alerts,
    judge_worker,
)

NOW = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)


def outlet(name: str, mode: str = "active", **counts: int) -> OutletInfo:
    return OutletInfo(
        name=name,
        mode=mode,
        mode_reason="410 Gone" if mode == "disabled" else None,
        mode_changed_by="remote" if mode == "disabled" else "console:desk",
        counts={"delivered": 5, "failed": 0, "retrying": 0, **counts},
        success_rate=None,
        p50_seconds=None,
        p95_seconds=None,
        last_error="HTTP 503" if counts.get("failed") else None,
        last_error_at=None,
        last_outcome="transient" if counts.get("failed") else "done",
    )


def worker(name: str, **fields: object) -> WorkerInfo:
    base: dict[str, object] = {
        "hostname": name,
        "pid": 1,
        "queues": ["deliver.partner"],
        "concurrency": 2,
        "started_at": NOW - timedelta(hours=1),
        "heartbeat_at": NOW - timedelta(seconds=1),
        "last_task_at": NOW - timedelta(minutes=30),
        "processed": 10,
    }
    return WorkerInfo(**{**base, **fields})  # type: ignore[arg-type]


def test_a_quiet_system_raises_nothing() -> None:
    assert (
        alerts(
            outlets=[outlet("site")],
            queues=[QueueInfo("render", 0, None, ["w@h"], None, None)],
            workers=[worker("w@h")],
            unknown=0,
            supervisor={"programs": {"intake": {"state": "running"}}},
            queue_age_alert=300,
        )
        == []
    )


def test_each_thing_that_needs_a_human_is_raised_errors_first() -> None:
    found = alerts(
        outlets=[
            outlet("partner", failed=3),
            outlet("wire", mode="disabled"),
            outlet("feed", "paused"),
        ],
        queues=[
            QueueInfo("deliver.partner", 40, 900.0, ["w@h"], 1.0, 2400.0),
            QueueInfo("deliver.wire", 2, 5.0, [], None, None),
        ],
        workers=[worker("stuck@h", stalled=True, why="deliver.partner hold old work")],
        unknown=2,
        supervisor={"programs": {"worker-partner": {"state": "crash-looping", "restarts": 6}}},
        queue_age_alert=300,
    )
    texts = [a.text for a in found]
    assert any("partner is failing: 3 failed" in t and "HTTP 503" in t for t in texts)
    assert any("wire is disabled: 410 Gone" in t for t in texts)
    assert any("feed is paused by console:desk" in t for t in texts)
    assert any("deliver.partner: its oldest message has waited 900 s" in t for t in texts)
    assert any("deliver.wire has work and no consumer" in t for t in texts)
    assert any("2 deliveries are unknown" in t for t in texts)
    assert any("stuck@h" in t for t in texts)
    assert any("worker-partner is crash-looping" in t for t in texts)
    assert not any("breaker" in t for t in texts)
    tripped = outlet("partner")
    tripped.breaker = "open"
    assert (
        alerts(
            outlets=[tripped], queues=[], workers=[], unknown=0, supervisor={}, queue_age_alert=1
        )[0].text
        == "Outlet partner: its circuit breaker is open, deliveries wait"
    )
    levels = [a.level for a in found]
    assert levels == sorted(levels, key=lambda level: level != "error")


def test_a_worker_is_stalled_only_when_old_work_waits_and_it_did_nothing_for_as_long() -> None:
    busy = worker("busy@h", last_task_at=NOW - timedelta(seconds=5))
    judge_worker(busy, now=NOW, stall_after=120, heads={"deliver.partner": 600.0})
    assert not busy.stalled  # old work waits, but it is taking work

    idle = worker("idle@h")
    judge_worker(idle, now=NOW, stall_after=120, heads={"deliver.partner": None})
    assert not idle.stalled  # nothing waits: idle, not stuck

    stuck = worker("stuck@h")
    judge_worker(stuck, now=NOW, stall_after=120, heads={"deliver.partner": 600.0})
    assert stuck.stalled
    assert "deliver.partner" in stuck.why

    quiet = worker("quiet@h", heartbeat_at=NOW - timedelta(seconds=30))
    judge_worker(quiet, now=NOW, stall_after=120, heads={})
    assert quiet.silent
