"""A Redis lease: at most one holder at a time, taken over when the holder stops renewing.

Used so that several poller processes can run for availability while exactly one polls.
"""

from __future__ import annotations

import contextlib
import os
import socket

import redis

from pipeline.connection import redis_errors

_TAKE_OR_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """One process's claim on ``key`` for ``ttl_s`` seconds at a time."""

    def __init__(
        self, client: redis.Redis, key: str, ttl_s: float, owner: str | None = None
    ) -> None:
        self.key = key
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}"
        self._ttl_ms = int(ttl_s * 1000)
        self._take = client.register_script(_TAKE_OR_RENEW)
        self._release = client.register_script(_RELEASE)

    def hold(self) -> bool:
        """Take the lease if it is free, or renew it if we hold it; False if another does.

        Raises:
            RedisUnavailable: Redis could not be reached.
        """
        with redis_errors(f"lease {self.key} unavailable"):
            return bool(self._take(keys=[self.key], args=[self.owner, self._ttl_ms]))

    def release(self) -> None:
        """Give the lease up at once (a standby takes over without waiting for the TTL)."""
        with contextlib.suppress(redis.RedisError):  # else it expires on its own
            self._release(keys=[self.key], args=[self.owner])
