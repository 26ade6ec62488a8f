"""workers.watchdog: when an idle worker with tasks waiting counts as stalled (pure)."""

from __future__ import annotations

from workers.watchdog import StallDetector


def _detector() -> tuple[StallDetector, list[float]]:
    now = [0.0]
    return StallDetector(60, clock=lambda: now[0]), now


def test_idle_with_tasks_waiting_for_stall_s_is_a_stall() -> None:
    detector, now = _detector()
    assert not detector.stalled(queue_depth=5, busy=0)
    now[0] = 59
    assert not detector.stalled(queue_depth=5, busy=0)
    now[0] = 60
    assert detector.stalled(queue_depth=5, busy=0)


def test_work_or_an_empty_queue_or_a_received_task_resets_it() -> None:
    detector, now = _detector()
    detector.stalled(queue_depth=5, busy=0)
    now[0] = 50
    assert not detector.stalled(queue_depth=5, busy=1)  # a long task: not a stall
    now[0] = 100
    assert not detector.stalled(queue_depth=5, busy=0)
    detector.received()
    now[0] = 150
    assert not detector.stalled(queue_depth=0, busy=0)  # nothing to receive
    now[0] = 200
    assert not detector.stalled(queue_depth=3, busy=0)
    now[0] = 259
    assert not detector.stalled(queue_depth=3, busy=0)
    now[0] = 260
    assert detector.stalled(queue_depth=3, busy=0)


def test_the_same_tasks_held_past_hold_s_is_a_stall() -> None:
    """F-13 seen in CI: the pool processes died at their time limit while the connection that
    would requeue their tasks was black-holed; the worker held them (busy) for good."""
    now = [0.0]
    detector = StallDetector(30, clock=lambda: now[0], hold_s=38)
    held = frozenset({"a", "b"})
    assert not detector.stalled(queue_depth=8, busy=2, held=held)
    now[0] = 37
    assert not detector.stalled(queue_depth=8, busy=2, held=held)
    now[0] = 38
    assert detector.stalled(queue_depth=8, busy=2, held=held)


def test_tasks_that_keep_changing_are_work_not_a_stall() -> None:
    now = [0.0]
    detector = StallDetector(30, clock=lambda: now[0], hold_s=38)
    for step in range(10):
        now[0] = step * 20.0
        assert not detector.stalled(queue_depth=8, busy=1, held=frozenset({str(step)}))
