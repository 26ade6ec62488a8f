"""Settings: the one object that holds configuration, read once per process.

Sources, later ones winning: built-in defaults, ``config/newsflow.toml``, ``config/feeds.toml``
(or ``NEWSFLOW_FEEDS_FILE``), then environment variables. Every setting ``x`` of the top level
is ``NEWSFLOW_X``; every setting ``y`` of section ``s`` is ``NEWSFLOW_S_Y`` (tuples are
comma-separated). ``REDIS_URL`` is accepted when ``NEWSFLOW_REDIS_URL`` is not set.

Nothing is ignored silently: an unknown key or section in a file, or an unknown
``NEWSFLOW_<SECTION>_*`` variable, is an error (any other unknown ``NEWSFLOW_*`` variable is
a warning naming the closest setting), and so is a value of the wrong type, out of
range (every number is finite and bounded) or unsafe (a header with CR/LF, a URL that is not
one). Every :class:`~pipeline.errors.ConfigError` starts with the setting as the user wrote
it: ``NEWSFLOW_FETCH_DEADLINE_S (fetch.deadline_s): ...`` or
``config/newsflow.toml: fetch.deadline_s: ...``.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import logging
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

import msgspec

from pipeline.errors import ConfigError

log = logging.getLogger(__name__)

HOUR = 3600
DAY = 24 * HOUR
YEAR = 365 * DAY

# Every number has an upper bound too: msgspec then refuses inf (and NaN fails every bound).
Timeout = Annotated[float, msgspec.Meta(gt=0, le=HOUR)]
"""Seconds, more than 0 and at most an hour."""
Delay = Annotated[float, msgspec.Meta(gt=0, le=DAY)]
"""Seconds, more than 0 and at most a day."""
IntervalS = Annotated[int, msgspec.Meta(gt=0, le=30 * DAY)]
"""Whole seconds, at most 30 days."""
LimitS = Annotated[int, msgspec.Meta(gt=0, le=DAY)]
"""Whole seconds, at most a day."""
TtlS = Annotated[int, msgspec.Meta(gt=0, le=10 * YEAR)]
"""Whole seconds, at most ten years."""
Bytes = Annotated[int, msgspec.Meta(gt=0, le=2**31)]
"""A size in bytes, at most 2 GiB."""
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
OptionalPort = Annotated[int, msgspec.Meta(ge=0, le=65535)]
"""A TCP port, or 0 for off."""
PerHost = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
Processes = Annotated[int, msgspec.Meta(ge=1, le=4096)]

DEFAULT_USER_AGENT = "newsflow/0.1 (+https://github.com/newsflow/newsflow)"
DEFAULT_CONFIG_DIR = "config"
REDIS_SCHEMES = ("redis", "rediss", "unix")

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""An RFC 9110 token: the characters a header field name may hold."""
_FETCHER_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    }
)
"""Set by the fetcher (Host for the address it validated) or by HTTP framing itself."""


class _Invalid(ValueError):
    """A value refused by a ``__post_init__``, naming its field(s): the first one the user
    set is the one the error message names."""

    def __init__(self, fields: str | tuple[str, ...], problem: str) -> None:
        self.fields = (fields,) if isinstance(fields, str) else fields
        self.problem = problem
        super().__init__(f"{self.fields[0]}: {problem}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedConfig:
    """One configured feed."""

    url: str
    name: str = ""
    interval_s: IntervalS | None = None
    enabled: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    proxy: str = ""
    backlog: bool = True
    """Enqueue the entries already in the feed at its first poll; false: only later ones."""

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")) or _has_control(self.url):
            raise _Invalid("url", f"must be an http(s) URL, got {self.url!r}")
        _check_headers(self.headers)
        _check_proxy(self.proxy)


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchSettings:
    """Limits and identity of the HTTP fetcher (pages, feeds)."""

    connect_timeout_s: Timeout = 5.0
    read_timeout_s: Timeout = 10.0
    deadline_s: Timeout = 30.0
    max_page_bytes: Bytes = 5 * 1024 * 1024
    max_feed_bytes: Bytes = 5 * 1024 * 1024
    max_redirects: Annotated[int, msgspec.Meta(ge=0, le=30)] = 3
    user_agent: str = DEFAULT_USER_AGENT
    allow: tuple[str, ...] = ()
    ports: tuple[Port, ...] = (80, 443, 8080, 8443)
    proxy: str = ""
    rate_per_host: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)] = 1.0
    burst_per_host: PerHost = 1
    max_concurrent_per_host: PerHost = 2
    max_throttle_wait_s: Timeout = 5.0
    robots: bool = True
    robots_ttl_s: Annotated[int, msgspec.Meta(gt=0, le=YEAR)] = 24 * 3600
    max_crawl_delay_s: Delay = 30.0
    cooldown_s: Delay = 30.0

    def __post_init__(self) -> None:
        for cidr in self.allow:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise _Invalid("allow", f"not a network (CIDR): {exc}") from None
        problem = _header_value_problem(self.user_agent)
        if problem or not self.user_agent.strip():
            raise _Invalid("user_agent", problem or "must not be empty")
        _check_proxy(self.proxy)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """Celery worker behaviour (see docs/reliability in the README)."""

    concurrency: Processes | None = None
    soft_time_limit_s: LimitS = 60
    time_limit_s: LimitS = 90
    visibility_timeout_s: IntervalS = 900
    max_retries: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 5
    retry_backoff_max_s: LimitS = 300
    max_tasks_per_child: Annotated[int, msgspec.Meta(gt=0, le=10**9)] = 5000
    max_memory_per_child_kb: Annotated[int, msgspec.Meta(gt=0, le=2**31)] = 600_000
    warm_up: bool = True
    """Extract the sample pages in the main process before forking (docs/performance.md)."""
    stall_s: LimitS = 120
    """An idle worker that receives nothing this long while tasks wait stops (exit 70) to be
    restarted: its broker connection stalled (workers/watchdog.py)."""

    def __post_init__(self) -> None:
        if self.time_limit_s <= self.soft_time_limit_s:
            raise _Invalid(
                ("time_limit_s", "soft_time_limit_s"),
                f"time_limit_s ({self.time_limit_s}) must be greater than "
                f"soft_time_limit_s ({self.soft_time_limit_s})",
            )
        longest = max(self.time_limit_s * 4, self.retry_backoff_max_s * 2)
        if self.visibility_timeout_s < longest:
            raise _Invalid(
                ("visibility_timeout_s", "time_limit_s", "retry_backoff_max_s"),
                f"visibility_timeout_s ({self.visibility_timeout_s}) must be >= {longest} "
                "(4 x time_limit_s and 2 x retry_backoff_max_s), or tasks run twice",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class PollerSettings:
    """Feed polling."""

    interval_s: IntervalS = 900
    """The interval when nothing is known yet (or ``adaptive`` is off)."""
    adaptive: bool = True
    """Adapt each feed's interval to how often it publishes, within min/max."""
    min_interval_s: IntervalS = 300
    max_interval_s: IntervalS = 6 * 3600
    """Also the cap of the error backoff: a failing feed is still polled this often."""
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 8
    """Feeds polled at the same time (threads of the active poller)."""
    max_polls_per_host: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 2
    max_entries_per_poll: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 500
    entries_per_task: Annotated[int, msgspec.Meta(ge=1, le=50)] = 8
    """New entries of one poll sent in one worker task (1: a task per entry). Fewer broker
    messages and dispatches per article; see docs/performance.md."""
    max_queued_tasks: Annotated[int, msgspec.Meta(gt=0, le=10**9)] = 20_000
    """Skip poll rounds while the workers' queue holds this many tasks (workers down or
    behind): the backlog stops growing in Redis, and feeds are polled again once it drains."""
    lag_groups: tuple[str, ...] = ()
    """Consumer groups of the articles stream that hold polling while they lag (others never)."""
    max_group_lag: Annotated[int, msgspec.Meta(gt=0, le=10**9)] = 100_000
    """Skip poll rounds while a group of ``lag_groups`` has this many entries not yet
    delivered to it (pipeline/ops/lag.py)."""
    seen_ttl_s: TtlS = 30 * 24 * 3600
    lease_ttl_s: Timeout = 30.0
    claim_ttl_s: Annotated[float, msgspec.Meta(ge=1, le=86400)] = 300.0
    """How long a poller holds the feeds it took from the schedule (pipeline.polling.claim):
    a feed whose poller died is due again this long after it was taken."""
    news_max_age_s: TtlS = 2 * 24 * 3600
    max_child_sitemaps: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 20

    def __post_init__(self) -> None:
        if not self.min_interval_s <= self.interval_s <= self.max_interval_s:
            raise _Invalid(
                ("interval_s", "min_interval_s", "max_interval_s"),
                f"poller intervals must satisfy min_interval_s ({self.min_interval_s}) <= "
                f"interval_s ({self.interval_s}) <= max_interval_s ({self.max_interval_s})",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractSettings:
    """Extraction and the quality gate."""

    min_words: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 30
    favor_precision: bool = True
    body_format: Literal["text", "markdown", "html"] = "text"
    """Also publish the body as Markdown or HTML (``Article.body``); text is always there."""
    words_per_minute: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 230


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveSettings:
    """The raw page archive: every page that reaches extraction, kept as compressed WARC
    (pipeline/archive/, docs/operations.md)."""

    enabled: bool = True
    url: str = ""
    """Where the WARC files go: a folder, or an fsspec URL (``s3://bucket/prefix``, needs
    the ``s3`` extra); empty: ``<data_dir>/archive``."""
    endpoint_url: str = ""
    """An S3-compatible server (MinIO, ...) instead of AWS; credentials come from the usual
    AWS variables or files, read by the S3 client itself."""
    max_file_bytes: Bytes = 128 * 1024 * 1024
    """A process starts a new file once its current one holds this many compressed bytes."""
    max_file_age_s: LimitS = HOUR
    """... or once its current file is this old (checked at each write and at exit)."""
    max_age_s: TtlS = 180 * DAY
    """Files older than this are deleted (retention by age)."""
    max_total_bytes: Annotated[int, msgspec.Meta(ge=0, le=2**50)] = 0
    """Oldest files are deleted while the archive holds more than this; 0: no size cap."""

    def __post_init__(self) -> None:
        if _has_space_or_control(self.url) or _has_space_or_control(self.endpoint_url):
            raise _Invalid(("url", "endpoint_url"), "contains whitespace or control characters")
        if self.endpoint_url and not self.endpoint_url.startswith(("http://", "https://")):
            raise _Invalid("endpoint_url", f"must be an http(s) URL, got {self.endpoint_url!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftSettings:
    """Per-source drift detection: each source's latest window of articles against its own
    baseline (pipeline/ops/drift.py)."""

    enabled: bool = True
    window: Annotated[int, msgspec.Meta(ge=5, le=100_000)] = 50
    """Pages of one source (that reached extraction) per window."""
    min_baseline: Annotated[int, msgspec.Meta(ge=5, le=10_000_000)] = 100
    """Pages the baseline must hold before the source can raise an alarm."""
    baseline_decay: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.9
    """Weight the baseline keeps at each window (the older windows fade)."""
    drop_factor: Annotated[float, msgspec.Meta(gt=1, le=1000)] = 3.0
    """Alarm ``drops``: the window's drop rate is this many times the baseline's ..."""
    min_drop_rate: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.2
    """... and at least this."""
    words_drop: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.5
    """Alarm ``words``: the median word count fell by this share."""
    coverage_drop: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.3
    """Alarm ``date``/``author``/``image``: the share of articles with one fell this much."""
    path_shift: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    """Alarm ``path``: the baseline's usual extraction path lost this share of articles."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSettings:
    """Prometheus endpoints (0 turns one off)."""

    worker_port: OptionalPort = 9808
    poller_port: OptionalPort = 9809
    bind: str = "127.0.0.1"
    """Address the endpoints listen on: loopback unless a scraper elsewhere needs them
    (they have no authentication); ``0.0.0.0`` or ``::`` for every interface."""
    max_host_labels: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 200
    """Distinct ``host`` label values of the fetch counter per worker; later hosts are
    counted as ``other`` (a label per host would grow without bound)."""

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.bind)
        except ValueError:
            raise _Invalid(
                "bind", f"must be an IP address (127.0.0.1, 0.0.0.0, ::), got {self.bind!r}"
            ) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSubSettings:
    """WebSub push (``newsflow websub``): off while ``callback_url`` is empty."""

    callback_url: str = ""
    """The public http(s) URL hubs reach ``newsflow websub`` at (each subscription's
    callback is this URL plus a random path segment); empty: WebSub is off."""
    bind: str = "127.0.0.1:8085"
    """``address:port`` the callback service listens on (``0.0.0.0:8085``, ``[::]:8085``)."""
    lease_s: Annotated[int, msgspec.Meta(ge=60, le=YEAR)] = 10 * DAY
    """The lease asked of hubs (``hub.lease_seconds``); each hub grants what it wants."""
    renew_before_s: IntervalS = DAY
    """Renew a subscription this long before its lease ends (at least a tenth of the
    lease, at most half of it)."""
    fallback_interval_s: IntervalS = 6 * HOUR
    """A feed with a live subscription is still polled, at least this far apart."""
    scan_interval_s: LimitS = 60
    """How often every feed is compared with its subscription (a hub found or changed by a
    poll, a feed removed): how soon such a change reaches the hub."""

    def __post_init__(self) -> None:
        if self.callback_url:
            problem = _callback_url_problem(self.callback_url)
            if problem:
                raise _Invalid("callback_url", f"{problem}, got {self.callback_url!r}")
        if bind_address(self.bind) is None:
            raise _Invalid(
                "bind",
                "must be address:port (127.0.0.1:8085, 0.0.0.0:8085, [::]:8085), "
                f"got {self.bind!r}",
            )


def bind_address(bind: str) -> tuple[str, int] | None:
    """(IP address, port) of an ``address:port`` setting (IPv6 in brackets), or None."""
    host, colon, port = bind.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    if not colon or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        return None
    return host, int(port)


def _callback_url_problem(url: str) -> str | None:
    if _has_space_or_control(url):
        return "contains whitespace or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL with a host"
    if parts.fragment or url.endswith("#"):
        return "must not have a fragment (#...)"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """All of newsflow's configuration."""

    redis_url: str = ""
    data_dir: str = ".newsflow"
    stream_maxlen: Annotated[int, msgspec.Meta(gt=0, le=10**12)] = 1_000_000
    stream_max_age_s: TtlS = 7 * 24 * 3600
    trim_interval_s: LimitS = 60
    dedupe_ttl_s: TtlS = 7 * 24 * 3600
    near_duplicate_threshold: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False
    feeds: tuple[FeedConfig, ...] = ()
    fetch: FetchSettings = field(default_factory=FetchSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    poller: PollerSettings = field(default_factory=PollerSettings)
    extract: ExtractSettings = field(default_factory=ExtractSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    websub: WebSubSettings = field(default_factory=WebSubSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    drift: DriftSettings = field(default_factory=DriftSettings)

    def __post_init__(self) -> None:
        problem = redis_url_problem(self.redis_url) if self.redis_url else None
        if problem:
            raise _Invalid("redis_url", problem)

    @classmethod
    def load(cls, environ: Mapping[str, str]) -> Settings:
        """Read config files (from ``NEWSFLOW_CONFIG_DIR`` or ./config) and the environment.

        A folder or feeds file named by ``NEWSFLOW_CONFIG_DIR`` / ``NEWSFLOW_FEEDS_FILE``
        must exist; without ``NEWSFLOW_CONFIG_DIR``, a missing ./config means the built-in
        defaults (logged once per process as a warning).

        Raises:
            ConfigError: a file is missing or unreadable, a key unknown or a value invalid;
                the message starts with the setting (variable, or file and key).
        """
        origins: dict[tuple[str, ...], str] = {}
        config_dir = _config_dir(environ)
        toml_file = config_dir / "newsflow.toml"
        raw = _read_toml(toml_file) if config_dir.is_dir() else {}
        _note_origins(raw, str(toml_file), origins)
        feeds_file = _feeds_file(environ, config_dir)
        feeds_raw = _read_toml(feeds_file) if feeds_file.is_file() else {}
        for key in feeds_raw:
            if key != "feeds":
                hint = _did_you_mean(key, ["feeds"])
                raise ConfigError(f"{feeds_file}: {key}: unknown key{hint}")
        if "feeds" in feeds_raw:
            raw["feeds"] = feeds_raw["feeds"]
            origins[("feeds",)] = str(feeds_file)
        return cls._validate(_overlay_env(raw, environ, origins), origins)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Settings:
        """Validate a nested mapping (as read from TOML) into Settings.

        Raises:
            ConfigError: a key is unknown, or a value has the wrong type or is out of range.
        """
        return cls._validate(raw, {})

    @classmethod
    def _validate(cls, raw: Mapping[str, Any], origins: Mapping[tuple[str, ...], str]) -> Settings:
        def label(path: tuple[str, ...]) -> str:
            return _label(path, origins)

        _check_keys(raw, label)
        try:
            return msgspec.convert(dict(raw), cls, strict=False)
        except (msgspec.ValidationError, ValueError) as exc:
            raise _config_error(exc, raw, origins) from exc

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some top-level fields changed.

        Raises:
            ConfigError: a changed value is invalid.
        """
        try:
            return dataclasses.replace(self, **changes)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc


def redis_url_problem(url: str) -> str | None:
    """What is wrong with a Redis URL, without repeating it (it may hold a password), or
    None when redis-py can use it: ``redis://``, ``rediss://`` or ``unix://``, a numeric port
    and database."""
    if _has_space_or_control(url):
        return "contains whitespace or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL ({str(exc).split(' as ')[0]})"
    scheme = parts.scheme.lower()
    if scheme not in REDIS_SCHEMES or not url[len(scheme) :].startswith("://"):
        return "must start with redis://, rediss:// or unix:// (redis://[:password@]host:port/db)"
    if scheme == "unix":
        if not parts.path:
            return "a unix:// URL needs the socket's path (unix:///run/redis.sock)"
    elif port == 0:
        return "the port must be 1-65535"
    database = parts.path.lstrip("/") if scheme != "unix" else ""
    for name, value in parse_qsl(parts.query):
        if name == "db":
            database = value
    if database and not (database.isascii() and database.isdigit()):
        return "the database (the path, or ?db=) must be a number"
    return None


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def _has_space_or_control(text: str) -> bool:
    return _has_control(text) or any(c.isspace() for c in text)


def _header_value_problem(value: str) -> str | None:
    """RFC 9110 5.5: no CR, LF or NUL, no other control character but tab, and bytes only
    (a header is sent as ISO-8859-1)."""
    if any(c in value for c in "\r\n\0"):
        return "contains CR, LF or NUL (it would end the header: refused)"
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        return "contains a control character"
    if any(ord(c) > 0xFF for c in value):
        return "contains characters an HTTP header cannot carry (beyond ISO-8859-1)"
    return None


def _check_headers(headers: Mapping[str, str]) -> None:
    seen: set[str] = set()
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            raise _Invalid("headers", f"{name!r} is not a header name (RFC 9110 token)")
        if name.lower() in _FETCHER_HEADERS:
            raise _Invalid("headers", f"{name} is set by the fetcher, not by configuration")
        if name.lower() in seen:
            raise _Invalid("headers", f"{name} is given twice (names ignore case)")
        seen.add(name.lower())
        problem = _header_value_problem(value)
        if problem:
            raise _Invalid("headers", f"the value of {name} {problem}")


def _check_proxy(proxy: str) -> None:
    if not proxy:
        return
    problem = None
    try:
        parts = urlsplit(proxy)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        problem = "is not a URL"
    else:
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "must be an http(s) URL with a host"
    if problem or _has_space_or_control(proxy):
        # Not repeated: a proxy URL may hold a password.
        raise _Invalid("proxy", f"{problem or 'contains whitespace or control characters'}")


def _config_dir(environ: Mapping[str, str]) -> Path:
    explicit = environ.get("NEWSFLOW_CONFIG_DIR")
    if explicit:
        path = Path(explicit)
        if not path.is_dir():
            what = "not a directory" if path.exists() else "no such directory"
            raise ConfigError(f"NEWSFLOW_CONFIG_DIR: {what}: {path}")
        return path
    path = Path(DEFAULT_CONFIG_DIR)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path}: not a directory (the default config folder)")
    if not path.exists():
        _warn_once(
            f"no config folder {path.resolve()}: running on built-in defaults with no "
            "configured feeds (set NEWSFLOW_CONFIG_DIR to use another folder)"
        )
    return path


def _feeds_file(environ: Mapping[str, str], config_dir: Path) -> Path:
    explicit = environ.get("NEWSFLOW_FEEDS_FILE")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            what = "not a file" if path.exists() else "no such file"
            raise ConfigError(f"NEWSFLOW_FEEDS_FILE: {what}: {path}")
        return path
    return config_dir / "feeds.toml"


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from exc


_SECTIONS: dict[str, type] = {
    "fetch": FetchSettings,
    "worker": WorkerSettings,
    "poller": PollerSettings,
    "extract": ExtractSettings,
    "metrics": MetricsSettings,
    "websub": WebSubSettings,
    "archive": ArchiveSettings,
    "drift": DriftSettings,
}
_SECRET_FIELDS = frozenset({"redis_url", "proxy", "headers"})
"""Values never repeated in an error message (they may hold a password or a cookie)."""


def _names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _note_origins(raw: Mapping[str, Any], where: str, origins: dict[tuple[str, ...], str]) -> None:
    """Remember that every key of ``raw`` (and of its sections) comes from file ``where``."""
    for key, value in raw.items():
        origins[(key,)] = where
        if isinstance(value, Mapping) and key in _SECTIONS:
            for sub in value:
                origins[(key, sub)] = where


def _overlay_env(
    raw: dict[str, Any], environ: Mapping[str, str], origins: dict[tuple[str, ...], str]
) -> dict[str, Any]:
    """Apply NEWSFLOW_* variables on top of the file values, noting where each came from."""
    merged = dict(raw)
    for f in dataclasses.fields(Settings):
        if f.name in _SECTIONS:
            section = merged.get(f.name, {})
            section = dict(section) if isinstance(section, Mapping) else section
            for sf in dataclasses.fields(_SECTIONS[f.name]):
                variable = f"NEWSFLOW_{f.name}_{sf.name}".upper()
                if variable in environ and isinstance(section, dict):
                    section[sf.name] = _env_value(sf, environ[variable])
                    origins[(f.name, sf.name)] = f"env:{variable}"
            if section or f.name in merged:
                merged[f.name] = section
        elif f.name != "feeds":
            variable = f"NEWSFLOW_{f.name}".upper()
            if variable in environ:
                merged[f.name] = _env_value(f, environ[variable])
                origins[(f.name,)] = f"env:{variable}"
    if not merged.get("redis_url") and environ.get("REDIS_URL"):
        merged["redis_url"] = environ["REDIS_URL"]
        origins[("redis_url",)] = "env:REDIS_URL"
    _check_section_variables(environ)
    _warn_unknown_variables(environ)
    return merged


def _env_value(f: dataclasses.Field[Any], value: str) -> Any:
    if str(f.type).startswith("tuple"):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _check_section_variables(environ: Mapping[str, str]) -> None:
    """NEWSFLOW_<SECTION>_<NAME> must name a setting: a typo is not ignored."""
    known = {
        f"NEWSFLOW_{section}_{name}".upper()
        for section, cls in _SECTIONS.items()
        for name in _names(cls)
    }
    prefixes = tuple(f"NEWSFLOW_{section.upper()}_" for section in _SECTIONS)
    for variable in sorted(environ):
        if variable.startswith(prefixes) and variable not in known:
            hint = _did_you_mean(variable, known)
            raise ConfigError(f"{variable}: unknown setting{hint}")


_OTHER_VARIABLES = frozenset(
    {
        "NEWSFLOW_CONFIG_DIR",
        "NEWSFLOW_FEEDS_FILE",
        # Set by `newsflow consume` for its command (workers/cli/consume.py).
        "NEWSFLOW_STREAM_ID",
        "NEWSFLOW_ARTICLE_ID",
        "NEWSFLOW_DELIVERIES",
        # The Dockerfile's build argument, and the test suite's switches.
        "NEWSFLOW_EXTRAS",
        "NEWSFLOW_FAULTS_FULL",
        "NEWSFLOW_F19_MINUTES",
    }
)
"""NEWSFLOW_* variables that are not settings but are read (or set) elsewhere."""
_OTHER_PREFIXES = ("NEWSFLOW_TEST_",)


def _setting_variables() -> set[str]:
    """Every NEWSFLOW_* variable that names a setting."""
    top = {f"NEWSFLOW_{f.name}".upper() for f in dataclasses.fields(Settings)}
    top -= {"NEWSFLOW_FEEDS", *(f"NEWSFLOW_{s}".upper() for s in _SECTIONS)}
    sections = {
        f"NEWSFLOW_{section}_{name}".upper()
        for section, cls in _SECTIONS.items()
        for name in _names(cls)
    }
    return top | sections


def _warn_unknown_variables(environ: Mapping[str, str]) -> None:
    """A top-level NEWSFLOW_* variable that names no setting is ignored, with a warning
    naming the closest setting (NEWSFLOW_USER_AGENT: did you mean NEWSFLOW_FETCH_USER_AGENT?).
    Not an error: other tools and newsflow's own children set NEWSFLOW_* variables too."""
    known = _setting_variables()
    for variable in sorted(environ):
        if (
            not variable.startswith("NEWSFLOW_")
            or variable in known
            or variable in _OTHER_VARIABLES
            or variable.startswith(_OTHER_PREFIXES)
        ):
            continue
        hint = _did_you_mean(variable, [*known, "NEWSFLOW_CONFIG_DIR", "NEWSFLOW_FEEDS_FILE"])
        _warn_once(f"{variable}: not a newsflow setting, ignored{hint}")


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _check_keys(raw: Mapping[str, Any], label: Callable[[tuple[str, ...]], str]) -> None:
    """Every key of every table must be a setting: a typo is an error, not a default."""
    top = _names(Settings)
    for key, value in raw.items():
        if key not in top:
            what = "unknown section" if isinstance(value, Mapping) else "unknown setting"
            raise ConfigError(f"{label((key,))}: {what}{_did_you_mean(key, top)}")
        if key in _SECTIONS and isinstance(value, Mapping):
            allowed = _names(_SECTIONS[key])
            for sub in value:
                if sub not in allowed:
                    hint = _did_you_mean(sub, allowed)
                    raise ConfigError(f"{label((key, sub))}: unknown setting{hint}")
    feeds = raw.get("feeds")
    if isinstance(feeds, list):
        allowed = _names(FeedConfig)
        for i, feed in enumerate(feeds):
            for sub in feed if isinstance(feed, Mapping) else ():
                if sub not in allowed:
                    hint = _did_you_mean(sub, allowed)
                    raise ConfigError(f"{label(('feeds', f'[{i}]', sub))}: unknown key{hint}")


def _dotted(path: tuple[str, ...]) -> str:
    return "".join(p if p.startswith("[") or i == 0 else f".{p}" for i, p in enumerate(path))


def _label(path: tuple[str, ...], origins: Mapping[tuple[str, ...], str]) -> str:
    """How the user wrote the setting at ``path``: its variable, or its file and key."""
    for end in range(len(path), 0, -1):
        origin = origins.get(path[:end])
        if origin is None:
            continue
        if origin.startswith("env:"):
            return f"{origin[4:]} ({_dotted(path)})"
        return f"{origin}: {_dotted(path)}"
    return _dotted(path)


_AT = re.compile(r"^(?P<problem>.*) - at `\$(?P<path>[^`]*)`$", re.DOTALL)


def _config_error(
    exc: Exception, raw: Mapping[str, Any], origins: Mapping[tuple[str, ...], str]
) -> ConfigError:
    """The ConfigError for a msgspec error: ``<setting>: <problem>``."""
    match = _AT.match(str(exc))
    problem, where = (match["problem"], match["path"]) if match else (str(exc), "")
    path = tuple(
        f"[{index}]" if index else name
        for name, index in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", where)
    )
    cause = exc.__cause__ if isinstance(exc.__cause__, _Invalid) else exc
    if isinstance(cause, _Invalid):
        candidates = [(*path, name) for name in cause.fields]
        chosen = next((p for p in candidates if _label(p, origins) != _dotted(p)), candidates[0])
        return ConfigError(f"{_label(chosen, origins)}: {cause.problem}")
    setting = tuple(p for p in path if not p.startswith("[")) or path
    value = _value_at(raw, path)
    if any(part in _SECRET_FIELDS for part in setting):
        return ConfigError(f"{_label(path, origins)}: invalid value: {problem}")
    if _is_unbounded_number(value):
        return ConfigError(f"{_label(path, origins)}: must be a finite number, got {value!r}")
    return ConfigError(f"{_label(path, origins)}: invalid value {_short(value)}: {problem}")


def _value_at(raw: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = raw
    for part in path:
        try:
            value = value[int(part[1:-1])] if part.startswith("[") else value[part]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return value


def _is_unbounded_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return False
    try:
        return not math.isfinite(float(value))
    except (ValueError, OverflowError):
        return False


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
