"""Health checks of a deployment: Redis, persistence, memory policy, configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from pipeline.connection import mask_url
from pipeline.ops.stats import read_task_queue
from pipeline.settings import DEFAULT_USER_AGENT, Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One check: ``level`` is ok, warn or error; ``fix`` says what to do when not ok."""

    check: str
    level: str
    detail: str
    fix: str = ""


def run_checks(settings: Settings, client: redis.Redis | None) -> list[Finding]:
    """Every check; Redis checks are skipped (as one error) when ``client`` is None."""
    findings = _config_checks(settings)
    if client is None:
        return [
            Finding(
                check="redis",
                level="error",
                detail=f"cannot reach {mask_url(settings.redis_url)}",
                fix="start Redis or set NEWSFLOW_REDIS_URL / REDIS_URL",
            ),
            *findings,
        ]
    try:
        queue = _task_queue(client, settings.poller.max_queued_tasks)
        return [*_redis_checks(client), queue, *findings]
    except redis.RedisError as exc:
        return [
            Finding(
                check="redis",
                level="error",
                detail=str(exc),
                fix="check the Redis URL, password and ACL",
            ),
            *findings,
        ]


def _redis_checks(client: redis.Redis) -> list[Finding]:
    info: Any = client.info()
    version = str(info.get("redis_version", "0"))
    major_minor = tuple(int(p) for p in version.split(".")[:2])
    checks = [Finding(check="redis", level="ok", detail=f"reachable, version {version}")]
    if major_minor < (6, 2):
        checks.append(
            Finding(
                check="redis version",
                level="error",
                detail=f"{version} is older than 6.2 (XAUTOCLAIM, XTRIM MINID)",
                fix="upgrade Redis to 7.x",
            )
        )
    elif major_minor < (7, 0):
        checks.append(
            Finding(
                check="redis version",
                level="warn",
                detail=f"{version}: consumer-group lag needs Redis 7",
                fix="upgrade Redis to 7.x",
            )
        )
    checks.append(_persistence(info))
    checks.append(_memory_policy(client, info))
    return checks


def _persistence(info: dict[str, Any]) -> Finding:
    if int(info.get("aof_enabled", 0)) == 1:
        return Finding(check="persistence", level="ok", detail="AOF enabled")
    return Finding(
        check="persistence",
        level="warn",
        detail="AOF is off: a Redis restart loses the queue, the streams and pending entries",
        fix="set 'appendonly yes' and 'appendfsync everysec' (see config/redis.conf)",
    )


def _memory_policy(client: redis.Redis, info: dict[str, Any]) -> Finding:
    policy = str(info.get("maxmemory_policy", ""))
    if policy != "noeviction":
        return Finding(
            check="memory policy",
            level="error",
            detail=f"maxmemory-policy is {policy}: Redis may evict queue entries",
            fix="set 'maxmemory-policy noeviction'",
        )
    if int(info.get("maxmemory", 0)) == 0:
        return Finding(
            check="memory policy",
            level="warn",
            detail="noeviction, but no maxmemory: Redis can use all RAM",
            fix="set maxmemory to what the host can give and alarm at 70 %",
        )
    return Finding(check="memory policy", level="ok", detail="noeviction with a maxmemory")


def _task_queue(client: redis.Redis, limit: int) -> Finding:
    queue = read_task_queue(client, limit)
    depth = queue.depth
    if queue.pauses_polling:
        return Finding(
            check="task queue",
            level="warn",
            detail=f"queue depth {depth}: the poller pauses polling at {limit}",
            fix="start more workers (or check that they run), or raise poller.max_queued_tasks",
        )
    return Finding(
        check="task queue", level="ok", detail=f"queue depth {depth} (polling pauses at {limit})"
    )


def _config_checks(settings: Settings) -> list[Finding]:
    findings = [Finding(check="config", level="ok", detail="settings are valid")]
    if not any(f.enabled for f in settings.feeds):
        findings.append(
            Finding(
                check="feeds",
                level="warn",
                detail="no enabled feed",
                fix="add [[feeds]] to config/feeds.toml",
            )
        )
    if settings.fetch.user_agent == DEFAULT_USER_AGENT:
        findings.append(
            Finding(
                check="user agent",
                level="warn",
                detail="the default User-Agent names no contact of yours",
                fix="set fetch.user_agent with your contact URL or e-mail",
            )
        )
    if settings.fetch.allow:
        findings.append(
            Finding(
                check="fetch guard",
                level="warn",
                detail=f"private addresses allowed: {', '.join(settings.fetch.allow)}",
                fix="leave fetch.allow empty in production",
            )
        )
    return findings
