"""The fetch deadline watchdog: one thread per watchdog, stopped on close."""

from __future__ import annotations

import socket
import threading
import time

from pipeline.fetch.deadline import Watchdog


def _watchdog_threads() -> int:
    return sum(t.name == "fetch-deadline" for t in threading.enumerate())


def test_one_thread_serves_every_fetch_and_stops_on_close() -> None:
    before = _watchdog_threads()
    watchdog = Watchdog()
    for _ in range(50):
        with watchdog.armed(5.0):
            pass
    assert _watchdog_threads() == before + 1 and not watchdog.fired
    watchdog.close()
    assert _watchdog_threads() == before
    with watchdog.armed(5.0):  # armed again after close: a new thread
        assert _watchdog_threads() == before + 1
    watchdog.close()


def test_deadline_shuts_the_tracked_socket_down() -> None:
    left, right = socket.socketpair()
    watchdog = Watchdog()
    watchdog.track(left)
    try:
        with watchdog.armed(0.2):
            left.settimeout(5)
            started = time.monotonic()
            data = left.recv(10)  # nothing is sent: only the watchdog ends this read
        assert data == b"" and watchdog.fired and time.monotonic() - started < 2
        with watchdog.armed(0.2):  # a new fetch starts unfired
            assert not watchdog.fired
    finally:
        watchdog.close()
        left.close()
        right.close()
