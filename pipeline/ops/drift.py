"""Per-source drift detection: a publisher redesigns its pages and its articles silently turn
into empty or wrong text; this notices it from the figures of each source against its own
past.

Every page that reaches extraction is one observation of its source (the domain, without
``www.``): its outcome (extracted, or dropped with a reason), and for an extracted article
its word count (in half-octave buckets), whether it has a date, an author and an image, and
which extraction path gave its body. Counts go to the source's filling window
(``keys.drift_window(source, "cur")``); when it holds ``drift.window`` pages, one script
folds the previous window into the baseline (older windows decayed by
``drift.baseline_decay``) and keeps this one as ``last``. ``last`` is then compared with the
baseline, and the alarms of the source (``keys.DRIFT_ALARMS``) are set or cleared:

- ``drops``: drop rate at least ``drift.drop_factor`` x the baseline's and ``min_drop_rate``;
- ``words``: median word count down by ``drift.words_drop`` (half by default);
- ``date`` / ``author`` / ``image``: share of articles with one down ``coverage_drop`` (0.3);
- ``path``: the baseline's usual extraction path lost ``path_shift`` (0.5) of the articles.

A source alarms only once its baseline holds ``drift.min_baseline`` pages. A drifted layout
that stays becomes the new baseline after some windows, and its alarms clear.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis

from pipeline import keys
from pipeline.connection import LuaScript, redis_errors
from pipeline.errors import RedisUnavailable
from pipeline.models import Article
from pipeline.settings import DriftSettings

log = logging.getLogger(__name__)
SIGNALS = ("drops", "words", "date", "author", "image", "path")
TTL_S = 90 * 24 * 3600
"""A source not seen for this long loses its figures."""
_BUCKETS = 40
_OBSERVE = LuaScript(
    "pipeline.ops",
    "drift.lua",
    keys=("cur", "last", "base"),
    args=("window", "decay", "ttl"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alarm:
    """A source whose latest window moved beyond a threshold against its baseline."""

    source: str
    signal: str
    value: float
    """The window's figure (a rate, a median, a share)."""
    baseline: float
    since: float
    """Unix time the alarm was first raised (it stays until a window is normal again)."""

    def describe(self) -> str:
        """One line for ``stats`` and ``doctor``."""
        what = {
            "drops": "drop rate",
            "words": "median words",
            "date": "share with a date",
            "author": "share with an author",
            "image": "share with an image",
            "path": "share by its usual extraction path",
        }[self.signal]
        if self.signal == "words":
            return f"{self.source}: {what} {self.value:.0f} (baseline {self.baseline:.0f})"
        return f"{self.source}: {what} {self.value:.0%} (baseline {self.baseline:.0%})"


def source_of(url: str) -> str:
    """The source domain of a page: its host in lower case, without ``www.``."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return host.removeprefix("www.")


def observation(article: Article | None, reason: str = "") -> list[str]:
    """The counters one page adds: an extracted ``article``, or a drop with its ``reason``."""
    if article is None:
        return ["dropped", f"drop:{reason}"]
    return [
        "articles",
        *(("no_date",) if article.published_at is None else ()),
        *(("no_author",) if not article.authors else ()),
        *(("no_image",) if not article.image and not article.images else ()),
        f"path:{article.provenance.get('body', 'unknown')}",
        f"wb:{_bucket(article.word_count)}",
    ]


class DriftMonitor:
    """Counts observations and keeps each source's alarms. One per process."""

    def __init__(self, client: redis.Redis, settings: DriftSettings) -> None:
        self._redis = client
        self._settings = settings

    def observe(self, url: str, counters: list[str]) -> list[Alarm] | None:
        """Count one page of the source of ``url``; the source's alarms when this page
        closed a window (None otherwise). Never raises: drift figures are not worth an
        article (a Redis failure is logged)."""
        source = source_of(url)
        if not source:
            return None
        script_keys = {w: keys.drift_window(source, w) for w in ("cur", "last", "base")}
        args = {
            "window": self._settings.window,
            "decay": self._settings.baseline_decay,
            "ttl": TTL_S,
        }
        try:
            with redis_errors("drift counts failed", url=url):
                closed = _OBSERVE(self._redis, script_keys, args, more_args=counters)
                if not closed:
                    return None
                return self._evaluate(source)
        except RedisUnavailable as exc:
            log.warning("drift: %s", exc)
            return None

    def _evaluate(self, source: str) -> list[Alarm]:
        last = _floats(self._redis.hgetall(keys.drift_window(source, "last")))
        base = _floats(self._redis.hgetall(keys.drift_window(source, "base")))
        firing = compare(last, base, self._settings)
        live = live_alarms(self._redis, source)
        now = time.time()
        alarms = []
        pipe = self._redis.pipeline()
        for signal in SIGNALS:
            field = f"{source}|{signal}"
            if signal not in firing:
                pipe.hdel(keys.DRIFT_ALARMS, field)
                continue
            value, baseline = firing[signal]
            since = live[signal].since if signal in live else now
            alarm = Alarm(source=source, signal=signal, value=value, baseline=baseline, since=since)
            alarms.append(alarm)
            pipe.hset(keys.DRIFT_ALARMS, field, json.dumps(_as_dict(alarm)))
            if signal not in live:
                log.warning("drift alarm %s %s", signal, alarm.describe())
        pipe.execute()
        return alarms


def compare(
    last: Mapping[str, float], base: Mapping[str, float], settings: DriftSettings
) -> dict[str, tuple[float, float]]:
    """The signals beyond their threshold: signal -> (window's figure, baseline's)."""
    if base.get("n", 0) < settings.min_baseline or not last.get("n"):
        return {}
    firing: dict[str, tuple[float, float]] = {}
    drops = (_share(last, "dropped", "n"), _share(base, "dropped", "n"))
    if drops[0] >= settings.min_drop_rate and drops[0] >= settings.drop_factor * drops[1]:
        firing["drops"] = drops
    if last.get("articles", 0) < 5 or base.get("articles", 0) < 5:
        return firing
    words = (_median_words(last), _median_words(base))
    if words[0] <= (1 - settings.words_drop) * words[1]:
        firing["words"] = words
    for signal in ("date", "author", "image"):
        covered = (1 - _share(last, f"no_{signal}"), 1 - _share(base, f"no_{signal}"))
        if covered[0] <= covered[1] - settings.coverage_drop:
            firing[signal] = covered
    usual = max((k for k in base if k.startswith("path:")), key=lambda k: base[k], default="")
    if usual:
        paths = (_share(last, usual), _share(base, usual))
        if paths[0] <= paths[1] - settings.path_shift:
            firing["path"] = paths
    return firing


def live_alarms(client: redis.Redis, source: str = "") -> dict[str, Alarm]:
    """The live alarms (of one source, by signal; of all, by ``source|signal``).

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("drift alarms read failed"):
        raw = client.hgetall(keys.DRIFT_ALARMS)
    alarms = {}
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else str(field)
        alarm = Alarm(**json.loads(value))
        if not source:
            alarms[name] = alarm
        elif alarm.source == source:
            alarms[alarm.signal] = alarm
    return alarms


def _bucket(words: int) -> int:
    return min(int(2 * math.log2(words + 1)), _BUCKETS)


def _median_words(counts: Mapping[str, float]) -> float:
    """The median word count, from the half-octave buckets (the bucket's middle)."""
    buckets = sorted((int(k[3:]), v) for k, v in counts.items() if k.startswith("wb:"))
    half, seen = sum(v for _, v in buckets) / 2, 0.0
    for bucket, count in buckets:
        seen += count
        if seen >= half:
            return round(2 ** ((bucket + 0.5) / 2) - 1)
    return 0.0


def _share(counts: Mapping[str, float], name: str, of: str = "articles") -> float:
    total = counts.get(of, 0)
    return counts.get(name, 0) / total if total else 0.0


def _floats(raw: Mapping[bytes | str, bytes | str]) -> dict[str, float]:
    return {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()}


def _as_dict(alarm: Alarm) -> dict[str, object]:
    return {
        "source": alarm.source,
        "signal": alarm.signal,
        "value": alarm.value,
        "baseline": alarm.baseline,
        "since": alarm.since,
    }
