"""``newsflow bench extract``: body-text quality and speed of newsflow against trafilatura.

The metric is the article-extraction benchmark's, as implemented by
``shared/tools/score_extraction.py``: ``\\w+`` tokens (case kept), 4-gram shingles counted as
a multiset, per-document precision and recall (both empty or identical = 1.0), macro
averages where an empty prediction counts only against recall, F1 = harmonic mean of the
two means. Every extractor sees the same decoded pages in the same run; only the extraction
call is timed (one process, one thread, a few untimed warm-up calls first), and each page
goes through the extractors one after the other so that a busy machine slows all alike.
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.article.assemble import parse_article
from pipeline.article.extract import (
    build_extractor,
    extract_document,
    trafilatura_json_metadata,
    trafilatura_plain,
)
from pipeline.errors import DropArticle
from pipeline.models import Article, FeedEntry, Page, utc_now
from pipeline.settings import Settings

_WORD = re.compile(r"\w+")
WARMUP = 3
Shingles = Counter[tuple[str, ...]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Doc:
    """One benchmark page: its id, URL, decoded HTML and annotated body."""

    doc_id: str
    url: str
    html: str
    truth: str


@dataclass(frozen=True, slots=True)
class DocScore:
    """Shingle counts of one prediction against the truth."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        if self.fp == 0 and self.fn == 0:
            return 1.0
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        if self.fp == 0 and self.fn == 0:
            return 1.0
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


def load_corpus(corpus: Path) -> list[Doc]:
    """The pages of a scrapinghub-format corpus (ground-truth.json + html/<id>.html.gz)."""
    truth = json.loads((corpus / "ground-truth.json").read_text(encoding="utf-8"))
    docs = []
    for doc_id, meta in sorted(truth.items()):
        raw = gzip.decompress((corpus / "html" / f"{doc_id}.html.gz").read_bytes())
        docs.append(
            Doc(
                doc_id=doc_id,
                url=meta.get("url") or "",
                html=raw.decode("utf-8", errors="replace"),
                truth=meta.get("articleBody") or "",
            )
        )
    return docs


def shingles(text: str | None, n: int = 4) -> Shingles:
    """The multiset of n-grams of \\w+ tokens (a 1..n-1 token text is one shingle)."""
    tokens = _WORD.findall(text or "")
    if not tokens:
        return Counter()
    if len(tokens) < n:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def score_doc(truth: str, prediction: str | None) -> DocScore:
    """Shingle true/false positives and false negatives of one prediction."""
    t, p = shingles(truth), shingles(prediction)
    return DocScore(sum((t & p).values()), sum((p - t).values()), sum((t - p).values()))


def aggregate(scores: list[DocScore]) -> dict[str, float]:
    """Macro precision (non-empty predictions), macro recall (non-empty truths) and F1."""
    precs = [s.precision for s in scores if s.tp + s.fp > 0]
    recs = [s.recall for s in scores if s.tp + s.fn > 0]
    p = statistics.fmean(precs) if precs else 0.0
    r = statistics.fmean(recs) if recs else 0.0
    return {"f1": 2 * p * r / (p + r) if p + r else 0.0, "precision": p, "recall": r}


def run_bench(corpus: Path, settings: Settings) -> dict[str, Any]:
    """Score and time newsflow and trafilatura on every page of ``corpus``."""
    docs = load_corpus(corpus)
    ours = _Newsflow(settings)
    extractors: dict[str, Callable[[str, str], str]] = {
        "newsflow": ours.text,
        "trafilatura": trafilatura_plain,
        "trafilatura_json_metadata": trafilatura_json_metadata,
    }
    results = _run(docs, extractors, after_warmup=ours.reset)
    figures: dict[str, Any] = {"docs": len(docs)}
    for name, (texts, seconds) in results.items():
        figures[name] = _figures(docs, texts, seconds)
    base = figures["trafilatura_json_metadata"]["docs_per_s"]
    figures["speed_ratio_vs_trafilatura"] = round(
        figures["newsflow"]["docs_per_s"] / figures["trafilatura"]["docs_per_s"], 3
    )
    figures["speed_ratio_vs_trafilatura_json_metadata"] = round(
        figures["newsflow"]["docs_per_s"] / base, 3
    )
    figures["newsflow_checks"] = ours.checks()
    return figures


class _Newsflow:
    """Full newsflow extraction (body + all metadata), remembering what the checks need."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._options = build_extractor(settings.extract)
        self.articles: list[Article] = []
        self.drops: Counter[str] = Counter()

    def text(self, html: str, url: str) -> str:
        page = Page(
            url=url,
            final_url=url,
            status=200,
            content_type="text/html",
            html=html,
            fetched_at=utc_now(),
        )
        limits = self._settings.extract
        try:
            extraction = extract_document(page, options=self._options)
            article = parse_article(
                extraction,
                page,
                FeedEntry(url=url),
                min_words=limits.min_words,
                words_per_minute=limits.words_per_minute,
            )
        except DropArticle as exc:
            self.drops[getattr(exc, "check", exc.reason)] += 1
            return ""
        self.articles.append(article)
        return article.text

    def reset(self) -> None:
        """Forget the warm-up pages."""
        self.articles.clear()
        self.drops.clear()

    def checks(self) -> dict[str, Any]:
        """Dates found or nulled with a reason, headline echoes and repeated paragraphs."""
        timed = self.articles
        dated = sum(1 for a in timed if a.published_at is not None)
        nulled = sum(1 for a in timed if a.published_at is None and a.missing.get("published_at"))
        return {
            "articles": len(timed),
            "dropped": dict(self.drops),
            "published_found": dated,
            "published_null_with_reason": nulled,
            "published_sources": dict(Counter(a.provenance.get("published_at") for a in timed)),
            "headline_first_line": sum(1 for a in timed if _echoes_title(a)),
            "repeated_paragraph": sum(1 for a in timed if _repeats(a.text)),
            "mean_completeness": round(statistics.fmean(a.completeness for a in timed), 3)
            if timed
            else 0.0,
        }


def _run(
    docs: list[Doc],
    extractors: dict[str, Callable[[str, str], str]],
    after_warmup: Callable[[], None],
) -> dict[str, tuple[list[str], float]]:
    """Each page through every extractor in turn, so that load on the machine hits all alike."""
    for doc in docs[:WARMUP]:
        for extract in extractors.values():
            extract(doc.html, doc.url)
    after_warmup()
    texts: dict[str, list[str]] = {name: [] for name in extractors}
    seconds = dict.fromkeys(extractors, 0.0)
    for doc in docs:
        for name, extract in extractors.items():
            started = time.perf_counter()
            texts[name].append(extract(doc.html, doc.url))
            seconds[name] += time.perf_counter() - started
    return {name: (texts[name], seconds[name]) for name in extractors}


def _figures(docs: list[Doc], texts: list[str], seconds: float) -> dict[str, Any]:
    scores = [score_doc(d.truth, t) for d, t in zip(docs, texts, strict=True)]
    quality = {k: round(v, 4) for k, v in aggregate(scores).items()}
    return quality | {
        "empty": sum(1 for t in texts if not _WORD.search(t or "")),
        "seconds": round(seconds, 3),
        "docs_per_s": round(len(docs) / seconds, 1) if seconds else 0.0,
    }


def _echoes_title(article: Article) -> bool:
    first = article.text.split("\n\n", 1)[0]
    return bool(article.title) and _norm(first) == _norm(article.title)


def _repeats(text: str) -> bool:
    paragraphs = [_norm(p) for p in text.split("\n\n") if _norm(p)]
    return len(paragraphs) != len(set(paragraphs))


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))
