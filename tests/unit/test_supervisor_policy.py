"""`pressroom run`'s restart policy, driven with made-up clock readings: no waiting."""

from __future__ import annotations

from pressroom_cli.supervisor import ProgramStatus, RestartPolicy

POLICY = RestartPolicy(
    first_delay=1.0, max_delay=30.0, stable_after=60.0, loop_exits=5, loop_window=120.0
)


def running(pid: int = 100, now: float = 0.0) -> ProgramStatus:
    status = ProgramStatus(POLICY)
    status.started(pid, now)
    return status


def test_the_delay_doubles_up_to_the_cap() -> None:
    assert [POLICY.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_first_start_is_not_a_restart() -> None:
    status = running(pid=7, now=5.0)
    assert (status.state, status.pid, status.restarts, status.since) == ("running", 7, 0, 5.0)
    assert not status.due(1e9)


def test_an_exit_schedules_a_restart_after_the_first_delay() -> None:
    status = running(now=0.0)
    status.exited(-9, now=10.0)
    assert status.state == "restarting"
    assert status.pid is None
    assert status.last_exit_code == -9
    assert status.since == 10.0
    assert not status.due(10.9)
    assert status.due(11.0)
    status.started(101, now=11.0)
    assert (status.state, status.pid, status.restarts) == ("running", 101, 1)


def test_quick_exits_back_off_and_a_long_run_resets_the_backoff() -> None:
    status = running(now=0.0)
    now = 0.0
    waits = []
    for _ in range(4):
        now += 0.5  # up half a second, then down again
        status.exited(1, now)
        assert status.restart_at is not None
        waits.append(status.restart_at - now)
        now = status.restart_at
        status.started(200, now)
    assert waits == [1, 2, 4, 8]
    status.exited(1, now + POLICY.stable_after)  # stayed up long enough: a fresh start
    assert status.restart_at == now + POLICY.stable_after + POLICY.first_delay
    assert status.restarts == 4


def test_five_exits_within_the_window_are_a_crash_loop_that_is_still_restarted() -> None:
    status = running(now=0.0)
    now = 0.0
    states = []
    for _ in range(5):
        now += 1.0
        status.exited(2, now)
        states.append(status.state)
        assert status.restart_at is not None
        now = status.restart_at
        status.started(300, now)
    assert states == ["restarting"] * 4 + ["crash-looping"]
    assert status.state == "running"  # restarted all the same: what it lacked may come back
    assert status.restarts == 5


def test_exits_spread_wider_than_the_window_are_no_loop() -> None:
    status = running(now=0.0)
    now = 0.0
    for _ in range(10):
        now += POLICY.loop_window / 4 + 1  # at most four exits in any window
        status.exited(1, now)
        assert status.state == "restarting"
        status.started(400, now)


def test_stopped_clears_the_pending_restart() -> None:
    status = running(now=0.0)
    status.exited(1, now=1.0)
    status.stopped(now=1.5)
    assert status.state == "stopped"
    assert not status.due(1e9)


def test_the_defaults_are_the_ones_the_readme_states() -> None:
    assert RestartPolicy() == POLICY
