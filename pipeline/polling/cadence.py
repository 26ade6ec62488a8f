"""How often to poll a feed: pure functions, no I/O.

The interval adapts to how often the feed publishes (the mean gap between its entries of the
last week), is never shorter than what the server asks for (RSS ``<ttl>``,
``sy:updatePeriod``, ``Cache-Control: max-age``, ``Expires``) and stays within the configured
bounds. Errors back off exponentially with jitter up to the maximum, never for good.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

WEEK_S = 7 * 24 * 3600.0
_MAX_AGE = re.compile(r"(?:^|[,\s])(?:s-)?max-age\s*=\s*\"?(\d{1,10})", re.I)
_NO_CACHE = re.compile(r"(?:^|[,\s])(?:no-cache|no-store)(?:$|[,\s])", re.I)
_PERIODS_S = {
    "hourly": 3600.0,
    "daily": 86400.0,
    "weekly": WEEK_S,
    "monthly": 30 * 86400.0,
    "yearly": 365 * 86400.0,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Bounds:
    """The configured limits of a feed's interval."""

    default_s: float
    min_s: float
    max_s: float


def observed_interval(published: Iterable[str | None], now: float) -> float | None:
    """The mean gap between the feed's entries of the last week, or None without dates.

    Dates in the future (beyond an hour of clock skew) are ignored. A document that holds
    only recent entries is measured over the time it covers; one with no entry in the last
    week but older ones says the feed is slow (a gap of a week).
    """
    times = [t for t in map(_epoch, published) if t is not None and t <= now + 3600]
    if not times:
        return None
    recent = [t for t in times if t >= now - WEEK_S]
    if not recent:
        return WEEK_S
    covers_week = len(recent) < len(times)
    span = WEEK_S if covers_week else max(now - min(recent), 60.0)
    return span / len(recent)


def server_hint_s(
    headers: Mapping[str, str], *, ttl_s: float | None, period_s: float | None, now: float
) -> float:
    """The shortest interval the server asks for (0 if it asks nothing)."""
    return max(_cache_lifetime_s(headers, now), ttl_s or 0.0, period_s or 0.0)


def feed_period_s(ttl_minutes: str, update_period: str, update_frequency: str) -> float | None:
    """RSS ``<ttl>`` (minutes) and ``sy:updatePeriod``/``sy:updateFrequency`` as seconds."""
    hints = [_positive(ttl_minutes) * 60.0]
    period = _PERIODS_S.get(update_period.strip().lower())
    if period is not None:
        hints.append(period / max(_positive(update_frequency), 1.0))
    best = max(hints)
    return best if best > 0 else None


def next_interval(
    bounds: Bounds,
    *,
    observed_s: float | None,
    previous_s: float | None,
    overflowed: bool,
    hint_s: float,
) -> float:
    """The interval until the next poll after a successful one.

    ``overflowed`` means every entry of the document was new: items may have been missed,
    so the interval at least halves.
    """
    interval = observed_s if observed_s is not None else (previous_s or bounds.default_s)
    if overflowed and previous_s:
        interval = min(interval, previous_s / 2)
    interval = max(interval, min(hint_s, bounds.max_s))
    return min(max(interval, bounds.min_s), bounds.max_s)


def backoff_interval(bounds: Bounds, *, normal_s: float, streak: int) -> float:
    """The delay after ``streak`` consecutive errors: doubling, capped at ``max_s``, jittered.

    It never gives up: a failing feed is still polled every ``max_s`` or so.
    """
    delay = min(normal_s * 2 ** min(streak, 20), max(bounds.max_s, normal_s))
    return jitter(delay)


def jitter(seconds: float, spread: float = 0.1) -> float:
    """``seconds`` moved by up to ±``spread`` (so feeds do not poll in lockstep)."""
    return seconds * random.uniform(1 - spread, 1 + spread)  # noqa: S311 - not crypto


def _cache_lifetime_s(headers: Mapping[str, str], now: float) -> float:
    control = headers.get("cache-control", "")
    if _NO_CACHE.search(control):
        return 0.0
    match = _MAX_AGE.search(control)
    if match:
        return max(float(match.group(1)) - _positive(headers.get("age", "")), 0.0)
    expires = _http_date(headers.get("expires", ""))
    return max(expires - now, 0.0) if expires is not None else 0.0


def _http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp() if value else None
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _positive(text: str) -> float:
    try:
        value = float(text.strip())
    except (ValueError, AttributeError):
        return 0.0
    return value if 0 < value < 1e9 else 0.0
