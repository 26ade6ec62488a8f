"""A wall-clock deadline on a whole fetch, enforced by shutting its sockets down."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import weakref
from collections.abc import Iterator


class Watchdog:
    """Shuts down a fetcher's sockets when the fetch in flight passes its deadline.

    Socket timeouts bound each read, not their sum: a server that drips a header or a
    read-to-close body one byte at a time would otherwise hold the worker for hours.
    One long-lived thread per watchdog waits for the deadline (a timer thread per fetch
    cost 0.18 ms of CPU each).
    """

    def __init__(self) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._deadline: float | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def track(self, sock: socket.socket) -> None:
        # The socket, not the connection: http.client drops conn.sock while a read-to-close
        # body is still being read from it.
        with self._lock:
            self._sockets.add(sock)

    @contextlib.contextmanager
    def armed(self, seconds: float) -> Iterator[None]:
        with self._lock:
            self.fired = False
            self._deadline = time.monotonic() + seconds
            if self._thread is None or not self._thread.is_alive():  # none yet, or forked
                self._thread = threading.Thread(target=self._watch, name="fetch-deadline")
                self._thread.daemon = True
                self._thread.start()
            self._wake.notify()
        try:
            yield
        finally:
            with self._lock:  # disarmed under the lock: the next fetch is left be
                self._deadline = None

    def close(self) -> None:
        """Stop the watchdog's thread (it starts again if the watchdog is armed again)."""
        with self._lock:
            self._closed = True
            self._wake.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._lock:
            self._closed = False
            self._thread = None

    def _watch(self) -> None:
        with self._lock:
            while not self._closed:
                if self._deadline is None:
                    self._wake.wait()
                elif (remaining := self._deadline - time.monotonic()) > 0:
                    self._wake.wait(remaining)
                else:
                    self._deadline = None
                    self._fire()

    def _fire(self) -> None:
        self.fired = True
        for sock in list(self._sockets):  # idle pooled ones too: urllib3 reconnects those
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
