"""Figures of ``newsflow bench pipeline`` from raw measurements: pure functions, no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PIPELINE_PROCESSES = ("workers", "poller", "redis")
"""The processes whose CPU counts as the pipeline's (the replay site plays the web)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    """One reference run (extraction only, or the naive loop)."""

    articles: int
    wall_s: float
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.articles / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_per_article(self) -> float:
        return self.cpu_s / max(1, self.articles)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_figures(latencies: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max of enqueue-to-XADD latencies, in seconds."""
    return {
        "p50_s": round(percentile(latencies, 50), 4),
        "p95_s": round(percentile(latencies, 95), 4),
        "p99_s": round(percentile(latencies, 99), 4),
        "max_s": round(max(latencies, default=0.0), 4),
    }


def cpu_figures(cpu_s: Mapping[str, float], articles: int) -> dict[str, float]:
    """CPU seconds per article for each process, plus the pipeline total (site excluded)."""
    per = {name: round(seconds / max(1, articles), 5) for name, seconds in cpu_s.items()}
    per["pipeline_total"] = round(
        sum(cpu_s.get(name, 0.0) for name in PIPELINE_PROCESSES) / max(1, articles), 5
    )
    return per


def rss_growth(samples: Sequence[tuple[float, float]], warmup_share: float = 0.1) -> dict[str, Any]:
    """Worker RSS after warm-up against the end of the run.

    ``samples`` are (progress 0..1, summed pool RSS in MB). The warm-up window is the first
    ``warmup_share`` of progress after it; the end window is the last tenth of the run.
    """
    after = [rss for progress, rss in samples if warmup_share <= progress < warmup_share * 2]
    end = [rss for progress, rss in samples if progress >= 0.9]
    if not after or not end:
        return {"rss_after_warmup_mb": None, "rss_end_mb": None, "rss_growth": None}
    start_mb, end_mb = max(after), max(end)
    return {
        "rss_after_warmup_mb": round(start_mb, 1),
        "rss_end_mb": round(end_mb, 1),
        "rss_growth": round(end_mb / start_mb - 1, 4),
    }


def ratios(
    *, pipeline_rate: float, pipeline_cpu: float, extraction: Limit, naive: Limit | None
) -> dict[str, float | None]:
    """The target ratios: throughput against both references and CPU efficiency."""
    return {
        "throughput_vs_extraction_limit": _ratio(pipeline_rate, extraction.rate),
        "throughput_vs_naive": _ratio(pipeline_rate, naive.rate) if naive else None,
        "cpu_efficiency": _ratio(extraction.cpu_per_article, pipeline_cpu),
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b > 0 else None


def limit_figures(limit: Limit) -> dict[str, float]:
    """A reference run as report fields."""
    return {
        "articles": limit.articles,
        "articles_per_s": round(limit.rate, 2),
        "cpu_s_per_article": round(limit.cpu_per_article, 5),
        "wall_s": round(limit.wall_s, 2),
    }
