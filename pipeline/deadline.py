"""A wall-clock deadline on a whole fetch, enforced by shutting its sockets down."""

from __future__ import annotations

import contextlib
import socket
import threading
import weakref
from collections.abc import Iterator


class Watchdog:
    """Shuts down a fetcher's sockets when the fetch in flight passes its deadline.

    Socket timeouts bound each read, not their sum: a server that drips a header or a
    read-to-close body one byte at a time would otherwise hold the worker for hours.
    """

    def __init__(self) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()

    def track(self, sock: socket.socket) -> None:
        # The socket, not the connection: http.client drops conn.sock while a read-to-close
        # body is still being read from it.
        with self._lock:
            self._sockets.add(sock)

    @contextlib.contextmanager
    def armed(self, seconds: float) -> Iterator[None]:
        self.fired = False
        finished = threading.Event()
        timer = threading.Timer(seconds, self._fire, args=(finished,))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            with self._lock:  # a timer firing now sees `finished` and leaves the next fetch be
                finished.set()
            timer.cancel()

    def _fire(self, finished: threading.Event) -> None:
        with self._lock:
            if finished.is_set():
                return
            self.fired = True
            for sock in list(self._sockets):  # idle pooled ones too: urllib3 reconnects those
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
