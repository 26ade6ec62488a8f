"""A Redis lease: at most one holder at a time, taken over when the holder stops renewing.

Used so that several poller processes can run for availability while exactly one polls.
"""

from __future__ import annotations

import contextlib
import os
import socket

import redis

from pipeline.connection import LuaScript, redis_errors

_TAKE_OR_RENEW = LuaScript(
    "pipeline.polling", "lease_take.lua", keys=("lease",), args=("owner", "ttl_ms")
)
_RELEASE = LuaScript("pipeline.polling", "lease_release.lua", keys=("lease",), args=("owner",))


class Lease:
    """One process's claim on ``key`` for ``ttl_s`` seconds at a time."""

    def __init__(
        self, client: redis.Redis, key: str, ttl_s: float, owner: str | None = None
    ) -> None:
        self.key = key
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}"
        self._ttl_ms = int(ttl_s * 1000)
        self._client = client

    def hold(self) -> bool:
        """Take the lease if it is free, or renew it if we hold it; False if another does.

        Raises:
            RedisUnavailable: Redis could not be reached.
        """
        with redis_errors(f"lease {self.key} unavailable"):
            args = {"owner": self.owner, "ttl_ms": self._ttl_ms}
            return bool(_TAKE_OR_RENEW(self._client, {"lease": self.key}, args))

    def release(self) -> None:
        """Give the lease up at once (a standby takes over without waiting for the TTL)."""
        with contextlib.suppress(redis.RedisError):  # else it expires on its own
            _RELEASE(self._client, {"lease": self.key}, {"owner": self.owner})
