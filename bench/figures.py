"""Figures of ``newsflow bench pipeline`` and ``bench extract`` from raw measurements: pure
functions, no I/O."""

from __future__ import annotations

import math
import statistics
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


OVERALL = "mean of the per-corpus F1, P and R (each corpus weighs the same); docs/s over all pages"
"""How ``bench extract`` combines its corpora into the overall line."""
METRICS = {"shingles": "4-gram shingle F1, macro", "snippets": "snippet F1, micro"}
"""The metric of each kind of scored corpus, as printed."""
RATIOS = {
    "speed_ratio_vs_trafilatura": "speed ratio vs trafilatura",
    "speed_ratio_vs_trafilatura_json_metadata": "speed ratio vs json+metadata",
}
"""The speed ratios of newsflow over all pages, as printed."""


def overall_figures(
    corpora: Mapping[str, Mapping[str, Any]], extractors: Sequence[str]
) -> dict[str, Any]:
    """Each extractor over all corpora, combined as :data:`OVERALL` says."""
    overall: dict[str, Any] = {"combined": OVERALL}
    for name in extractors:
        rows = [corpus[name] for corpus in corpora.values() if name in corpus]
        if not rows:
            continue
        seconds = sum(row["seconds"] for row in rows)
        docs = sum(corpus["docs"] for corpus in corpora.values() if name in corpus)
        overall[name] = {
            key: round(statistics.fmean(row[key] for row in rows), 4)
            for key in ("f1", "precision", "recall")
        } | {
            "empty": sum(row["empty"] for row in rows),
            "seconds": round(seconds, 3),
            "docs_per_s": round(docs / seconds, 1) if seconds else 0.0,
        }
    return overall


def speed_ratio(row: Mapping[str, Any], reference: Mapping[str, Any]) -> float | None:
    """How many times faster ``row`` ran than ``reference`` over the same pages."""
    return _ratio(reference["seconds"], row["seconds"])


def extract_lines(report: Mapping[str, Any]) -> list[str]:
    """The ``bench extract`` report as printed: a block per corpus, the overall line, ratios."""
    lines: list[str] = []
    for name, corpus in report["corpora"].items():
        lines.append(f"{name} ({corpus['docs']} pages, {METRICS[corpus['kind']]})")
        lines += ["  " + extractor_line(row, figures) for row, figures in _rows(corpus)]
        if "newsflow_checks" in corpus:
            lines.append("  newsflow_checks:")
            lines += [f"    {k:32} {v}" for k, v in corpus["newsflow_checks"].items()]
    overall = report["overall"]
    lines.append(f"overall ({overall['combined']})")
    lines += ["  " + extractor_line(row, figures) for row, figures in _rows(overall)]
    lines += [f"{label:36} {report[key]}" for key, label in RATIOS.items() if key in report]
    return lines


def extractor_line(name: str, row: Mapping[str, Any]) -> str:
    """One extractor's figures on one line."""
    return (
        f"{name:26} F1 {row['f1']:.4f}  P {row['precision']:.4f}  R {row['recall']:.4f}"
        f"  empty {row['empty']:3}  {row['docs_per_s']:6.1f} docs/s"
    )


def _rows(figures: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [(k, v) for k, v in figures.items() if isinstance(v, Mapping) and "f1" in v]
