"""A TCP proxy in front of Redis that can turn every open connection into a black hole.

After :meth:`BlackholeProxy.blackhole` the connections open at that moment stay open but
nothing more is forwarded in either direction (as when a NAT or firewall drops its state:
no RST, no FIN, replies never come); connections opened afterwards work. Reliability plan F-13.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading


class BlackholeProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target_port>."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.5)  # the accept loop sees stop() within 0.5 s
        self.port = int(self._listener.getsockname()[1])
        self._generation = 0
        self._dead_below = 0
        self._sockets: list[socket.socket] = []
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> BlackholeProxy:
        self._acceptor.start()
        return self

    def blackhole(self) -> None:
        """Silence every connection open now, for good."""
        self._generation += 1
        self._dead_below = self._generation

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()
        self._acceptor.join(timeout=5)  # no socket is added after this
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            self._sockets.append(client)
            try:
                upstream = socket.create_connection(("127.0.0.1", self._target_port))
            except OSError:
                client.close()
                continue
            self._sockets.append(upstream)
            generation = self._generation
            for src, dst in ((client, upstream), (upstream, client)):
                args = (src, dst, generation)
                threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, generation: int) -> None:
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([src], [], [], 0.5)
                if not ready:
                    continue
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if generation >= self._dead_below:  # opened after the last blackhole
                    dst.sendall(data)
            except OSError:
                return
