"""Test-only network tripwire, loaded by every newsflow subprocess the tests start.

The tests put this folder on PYTHONPATH, so Python imports it at start-up (and forked Celery
pool children inherit it). An audit hook refuses every socket connection to an address
outside loopback, before any packet is sent, and appends it to $NEWSFLOW_TEST_TRIPWIRE_LOG.
With $NEWSFLOW_TEST_POISON_PORT set, a process that connects to that port is SIGKILLed: the
fault tests' poison page.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import sys
from typing import Any


def _allowed(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths
    try:
        return ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback
    except ValueError:
        return False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect":
        return
    poison = os.environ.get("NEWSFLOW_TEST_POISON_PORT")
    if poison and isinstance(args[1], tuple) and str(args[1][1]) == poison:
        os.kill(os.getpid(), signal.SIGKILL)  # a page that kills its worker, every time
    if _allowed(args[1]):
        return
    log = os.environ.get("NEWSFLOW_TEST_TRIPWIRE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {args[1]!r}\n")
    raise PermissionError(f"test tripwire: connection to {args[1]!r} refused")


def install() -> None:
    """Install the hook in this process (idempotent)."""
    if not getattr(socket, "_newsflow_tripwire", False):
        sys.addaudithook(_hook)
        socket._newsflow_tripwire = True  # type: ignore[attr-defined]


install()
