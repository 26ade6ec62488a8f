"""Health checks of a deployment: Redis, persistence, memory policy, configuration, feeds and
the pollers' heartbeats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from pipeline import keys
from pipeline.connection import mask_url
from pipeline.errors import RedisUnavailable
from pipeline.ops.drift import live_alarms
from pipeline.ops.lag import read_group_lags
from pipeline.ops.stats import read_task_queue
from pipeline.polling.registry import registered_feeds
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
            _configured_feeds(settings),
        ]
    try:
        queue = _task_queue(client, settings.poller.max_queued_tasks)
        feeds = _registered_feeds(client, settings)
        drift = _drifting_sources(client)
        lags = _group_lags(client, settings)
        return [*_redis_checks(client), queue, *lags, *findings, feeds, _pollers(client), *drift]
    except (redis.RedisError, RedisUnavailable) as exc:
        return [
            Finding(
                check="redis",
                level="error",
                detail=str(exc),
                fix="check the Redis URL, password and ACL",
            ),
            *findings,
            _configured_feeds(settings),
        ]


_ADD_FEEDS = "add [[feeds]] to config/feeds.toml, or run `newsflow feeds add URL`"


def _configured_feeds(settings: Settings) -> Finding:
    """The feeds of config/feeds.toml (Redis unreachable: the registry cannot be read)."""
    enabled = sum(f.enabled for f in settings.feeds)
    if not enabled:
        return Finding(check="feeds", level="warn", detail="no enabled feed", fix=_ADD_FEEDS)
    return Finding(
        check="feeds", level="ok", detail=f"{enabled} enabled in config/ (registry not read)"
    )


def _registered_feeds(client: redis.Redis, settings: Settings) -> Finding:
    """The feeds the poller polls: the registry in Redis (``newsflow feeds``), and those of
    config/feeds.toml that a poller registers when it starts."""
    registered = registered_feeds(client)
    urls = {f.url for f in registered}
    enabled = sum(f.enabled for f in registered)
    pending = sum(f.enabled for f in settings.feeds if f.url not in urls)
    if not enabled and not pending:
        detail = "no enabled feed"
        if registered:
            detail += f" ({len(registered)} registered, all disabled)"
        return Finding(check="feeds", level="warn", detail=detail, fix=_ADD_FEEDS)
    detail = f"{enabled} enabled in the registry"
    if pending:
        detail += f", {pending} more in config/ (registered when a poller starts)"
    return Finding(check="feeds", level="ok", detail=detail)


def poller_heartbeats(client: redis.Redis, host: str | None = None) -> dict[str, str]:
    """Owner -> ``active`` or ``standby`` for every poller process whose loop ran within its
    lease TTL (``keys.poller_heartbeat``); only the owners ``<host>-<pid>`` with ``host``.

    Raises:
        redis.RedisError: Redis could not be read.
    """
    prefix = keys.POLLER_HEARTBEAT_PREFIX
    pattern = prefix + (_glob_escape(host) + "-*" if host else "*")
    found: dict[str, str] = {}
    for key in client.scan_iter(match=pattern, count=1000):
        value = client.get(key)
        name = key.decode() if isinstance(key, bytes) else str(key)
        if value is not None:
            found[name[len(prefix) :]] = value.decode() if isinstance(value, bytes) else value
    return found


def poller_alive(client: redis.Redis, host: str) -> Finding:
    """Whether a poller process on ``host`` runs its loop (active or standby): the check of
    ``newsflow doctor --poller``, the compose healthcheck of the poller container."""
    beats = poller_heartbeats(client, host)
    if not beats:
        return Finding(
            check="poller",
            level="error",
            detail=f"no poller loop on {host} has renewed or asked for the lease lately",
            fix="start `newsflow poller` here, or read its log: its loop is stuck or stopped",
        )
    listed = ", ".join(f"{owner} {state}" for owner, state in sorted(beats.items()))
    return Finding(check="poller", level="ok", detail=f"loop alive: {listed}")


def _pollers(client: redis.Redis) -> Finding:
    beats = poller_heartbeats(client)
    if not beats:
        return Finding(
            check="pollers",
            level="warn",
            detail="no poller is running (no heartbeat)",
            fix="start `newsflow poller` (one or more: one polls, the others stand by)",
        )
    active = sorted(owner for owner, state in beats.items() if state == "active")
    detail = f"{len(beats)} running, active: {', '.join(active) or 'none yet'}"
    return Finding(check="pollers", level="ok", detail=detail)


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


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


def _group_lags(client: redis.Redis, settings: Settings) -> list[Finding]:
    """A finding per group of ``poller.lag_groups``: polling holds while one lags too far."""
    findings = []
    poller = settings.poller
    for lag in read_group_lags(client, poller.lag_groups, poller.max_group_lag):
        if lag.lag is None:
            level, fix = "warn", "start its consumers, or take it out of poller.lag_groups"
        elif lag.holds:
            level, fix = (
                "warn",
                "polling is paused: speed up its consumers, or raise poller.max_group_lag",
            )
        else:
            level, fix = "ok", ""
        findings.append(Finding(check="consumer lag", level=level, detail=lag.describe(), fix=fix))
    return findings


def _drifting_sources(client: redis.Redis) -> list[Finding]:
    """A warning per live drift alarm (a source whose pages changed: pipeline/ops/drift.py)."""
    return [
        Finding(
            check="source drift",
            level="warn",
            detail=alarm.describe(),
            fix=f"look at a recent page of {alarm.source} (`newsflow extract URL`): a new "
            "layout? Once extraction handles it, `newsflow reextract --source` fixes its articles",
        )
        for alarm in sorted(live_alarms(client).values(), key=lambda a: (a.source, a.signal))
    ]


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
