"""Settings: the one object that holds configuration, read once per process.

Sources, later ones winning: built-in defaults, ``config/newsflow.toml``, ``config/feeds.toml``
(or ``NEWSFLOW_FEEDS_FILE``), then environment variables. Every setting ``x`` of the top level
is ``NEWSFLOW_X``; every setting ``y`` of section ``s`` is ``NEWSFLOW_S_Y`` (tuples are
comma-separated). ``REDIS_URL`` is accepted when ``NEWSFLOW_REDIS_URL`` is not set.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from pipeline.errors import ConfigError

Positive = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]

DEFAULT_USER_AGENT = "newsflow/0.1 (+https://github.com/newsflow/newsflow)"


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedConfig:
    """One configured feed."""

    url: str
    name: str = ""
    interval_s: PositiveInt | None = None
    enabled: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    proxy: str = ""
    backlog: bool = True
    """Enqueue the entries already in the feed at its first poll; false: only later ones."""

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"feed url must be http(s): {self.url!r}")
        _check_proxy(self.proxy)


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchSettings:
    """Limits and identity of the HTTP fetcher (pages, feeds)."""

    connect_timeout_s: Positive = 5.0
    read_timeout_s: Positive = 10.0
    deadline_s: Positive = 30.0
    max_page_bytes: PositiveInt = 5 * 1024 * 1024
    max_feed_bytes: PositiveInt = 5 * 1024 * 1024
    max_redirects: NonNegativeInt = 3
    user_agent: str = DEFAULT_USER_AGENT
    allow: tuple[str, ...] = ()
    ports: tuple[int, ...] = (80, 443, 8080, 8443)
    proxy: str = ""
    rate_per_host: Positive = 1.0
    burst_per_host: PositiveInt = 1
    max_concurrent_per_host: PositiveInt = 2
    max_throttle_wait_s: Positive = 5.0
    robots: bool = True
    robots_ttl_s: PositiveInt = 24 * 3600
    max_crawl_delay_s: Positive = 30.0
    cooldown_s: Positive = 30.0

    def __post_init__(self) -> None:
        for cidr in self.allow:
            ipaddress.ip_network(cidr, strict=False)
        _check_proxy(self.proxy)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """Celery worker behaviour (see docs/reliability in the README)."""

    concurrency: PositiveInt | None = None
    soft_time_limit_s: PositiveInt = 60
    time_limit_s: PositiveInt = 90
    visibility_timeout_s: PositiveInt = 900
    max_retries: NonNegativeInt = 5
    retry_backoff_max_s: PositiveInt = 300
    max_tasks_per_child: PositiveInt = 5000
    max_memory_per_child_kb: PositiveInt = 600_000
    warm_up: bool = True
    """Extract the sample pages in the main process before forking (docs/performance.md)."""

    def __post_init__(self) -> None:
        if self.time_limit_s <= self.soft_time_limit_s:
            raise ValueError("time_limit_s must be greater than soft_time_limit_s")
        longest = max(self.time_limit_s * 4, self.retry_backoff_max_s * 2)
        if self.visibility_timeout_s < longest:
            raise ValueError(
                f"visibility_timeout_s must be >= {longest} "
                "(4 x time_limit_s and 2 x retry_backoff_max_s), or tasks run twice"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class PollerSettings:
    """Feed polling."""

    interval_s: PositiveInt = 900
    """The interval when nothing is known yet (or ``adaptive`` is off)."""
    adaptive: bool = True
    """Adapt each feed's interval to how often it publishes, within min/max."""
    min_interval_s: PositiveInt = 300
    max_interval_s: PositiveInt = 6 * 3600
    """Also the cap of the error backoff: a failing feed is still polled this often."""
    concurrency: PositiveInt = 8
    """Feeds polled at the same time (threads of the active poller)."""
    max_polls_per_host: PositiveInt = 2
    max_entries_per_poll: PositiveInt = 500
    entries_per_task: Annotated[int, msgspec.Meta(ge=1, le=50)] = 8
    """New entries of one poll sent in one worker task (1: a task per entry). Fewer broker
    messages and dispatches per article; see docs/performance.md."""
    max_queued_tasks: PositiveInt = 20_000
    """Skip poll rounds while the workers' queue holds this many tasks (workers down or
    behind): the backlog stops growing in Redis, and feeds are polled again once it drains."""
    seen_ttl_s: PositiveInt = 30 * 24 * 3600
    lease_ttl_s: Positive = 30.0
    news_max_age_s: PositiveInt = 2 * 24 * 3600
    max_child_sitemaps: PositiveInt = 20

    def __post_init__(self) -> None:
        if not self.min_interval_s <= self.interval_s <= self.max_interval_s:
            raise ValueError(
                f"poller intervals must satisfy min_interval_s ({self.min_interval_s}) <= "
                f"interval_s ({self.interval_s}) <= max_interval_s ({self.max_interval_s})"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractSettings:
    """Extraction and the quality gate."""

    min_words: NonNegativeInt = 30
    favor_precision: bool = True
    body_format: Literal["text", "markdown", "html"] = "text"
    """Also publish the body as Markdown or HTML (``Article.body``); text is always there."""
    words_per_minute: PositiveInt = 230


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSettings:
    """Prometheus endpoints (0 turns one off)."""

    worker_port: NonNegativeInt = 9808
    poller_port: NonNegativeInt = 9809


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """All of newsflow's configuration."""

    redis_url: str = ""
    data_dir: str = ".newsflow"
    stream_maxlen: PositiveInt = 1_000_000
    stream_max_age_s: PositiveInt = 7 * 24 * 3600
    trim_interval_s: PositiveInt = 60
    dedupe_ttl_s: PositiveInt = 7 * 24 * 3600
    near_duplicate_threshold: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False
    feeds: tuple[FeedConfig, ...] = ()
    fetch: FetchSettings = field(default_factory=FetchSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    poller: PollerSettings = field(default_factory=PollerSettings)
    extract: ExtractSettings = field(default_factory=ExtractSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)

    @classmethod
    def load(cls, environ: Mapping[str, str]) -> Settings:
        """Read config files (from ``NEWSFLOW_CONFIG_DIR`` or ./config) and the environment.

        Raises:
            ConfigError: a file is unreadable or a value is invalid; the message names it.
        """
        config_dir = Path(environ.get("NEWSFLOW_CONFIG_DIR", "config"))
        raw = _read_toml(config_dir / "newsflow.toml")
        feeds_file = Path(environ.get("NEWSFLOW_FEEDS_FILE", config_dir / "feeds.toml"))
        raw["feeds"] = _read_toml(feeds_file).get("feeds", raw.get("feeds", []))
        return cls.from_mapping(_overlay_env(raw, environ))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Settings:
        """Validate a nested mapping (as read from TOML) into Settings.

        Raises:
            ConfigError: a value has the wrong type or is out of range.
        """
        try:
            return msgspec.convert(dict(raw), cls, strict=False)
        except (msgspec.ValidationError, ValueError) as exc:
            raise ConfigError(f"invalid configuration: {exc}") from exc

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some top-level fields changed."""
        return dataclasses.replace(self, **changes)


def _check_proxy(proxy: str) -> None:
    if proxy and not proxy.startswith(("http://", "https://")):
        raise ValueError(f"proxy must be an http(s) URL: {proxy!r}")


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc


_SECTIONS = {
    "fetch": FetchSettings,
    "worker": WorkerSettings,
    "poller": PollerSettings,
    "extract": ExtractSettings,
    "metrics": MetricsSettings,
}


def _overlay_env(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Apply NEWSFLOW_* variables on top of the file values."""
    merged = dict(raw)
    for f in dataclasses.fields(Settings):
        if f.name in _SECTIONS:
            section = dict(merged.get(f.name, {}))
            for sf in dataclasses.fields(_SECTIONS[f.name]):
                _set_from_env(section, sf, environ, f"NEWSFLOW_{f.name}_{sf.name}".upper())
            merged[f.name] = section
        elif f.name != "feeds":
            _set_from_env(merged, f, environ, f"NEWSFLOW_{f.name}".upper())
    if not merged.get("redis_url") and environ.get("REDIS_URL"):
        merged["redis_url"] = environ["REDIS_URL"]
    return merged


def _set_from_env(
    target: dict[str, Any], f: dataclasses.Field[Any], environ: Mapping[str, str], name: str
) -> None:
    if name not in environ:
        return
    value: Any = environ[name]
    if str(f.type).startswith("tuple"):
        value = [part.strip() for part in value.split(",") if part.strip()]
    target[f.name] = value
