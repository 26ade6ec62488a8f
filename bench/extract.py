"""``newsflow bench extract``: body-text quality and speed of newsflow against trafilatura.

Every scored corpus (:mod:`bench.corpus`) is run through three extractors: newsflow's full
extraction (body and all metadata, then cleaning and the quality gate), trafilatura's
``extract`` with its defaults (as ``shared/tools/score_snippets.py -e trafilatura`` runs it),
and trafilatura's own full extraction (``output_format="json", with_metadata=True``, the
speed reference). Each corpus is scored with its own metric (:mod:`bench.metrics`): 4-gram
shingles against an annotated body, or "with"/"without" snippets. Every extractor sees the
same decoded pages in the same run; only the extraction call is timed (one process, one
thread, a few untimed warm-up calls per corpus first), and each page goes through the
extractors one after the other so that a busy machine slows all alike.
"""

from __future__ import annotations

import logging
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.corpus import Doc, ScoredCorpus, load_scored
from bench.figures import overall_figures, speed_ratio
from bench.metrics import aggregate, aggregate_snippets, score_doc, score_snippets
from pipeline.article.assemble import parse_article
from pipeline.article.extract import (
    build_extractor,
    extract_document,
    trafilatura_defaults,
    trafilatura_json_metadata,
)
from pipeline.errors import DropArticle
from pipeline.models import Article, FeedEntry, Page, utc_now
from pipeline.settings import Settings

_WORD = re.compile(r"\w+")
WARMUP = 3
EXTRACTORS = ("newsflow", "trafilatura", "trafilatura_json_metadata")
"""The extractors of a run, in print order; newsflow is compared with the other two."""
PLACEHOLDER_URL = "http://localhost/"
"""newsflow's page URL when the corpus gives none (trafilatura then gets no URL)."""
Extract = Callable[[str, str], str]


def run_bench(
    folders: Sequence[Path],
    settings: Settings,
    *,
    sample: int | None = None,
    extractors: Sequence[str] = EXTRACTORS,
) -> dict[str, Any]:
    """Score and time each extractor on every page (or ``sample`` pages) of each corpus.

    Raises:
        ValueError: a folder holds no scored corpus.
    """
    logging.getLogger("trafilatura").setLevel(logging.ERROR)  # "discarding data" per empty page
    corpora: dict[str, Any] = {}
    for folder in folders:
        corpus = load_scored(folder, sample=sample)
        corpora[corpus.name] = bench_corpus(corpus, settings, extractors)
    report: dict[str, Any] = {"corpora": corpora, "overall": overall_figures(corpora, extractors)}
    overall = report["overall"]
    for reference in ("trafilatura", "trafilatura_json_metadata"):
        if "newsflow" in overall and reference in overall:
            report[f"speed_ratio_vs_{reference}"] = speed_ratio(
                overall["newsflow"], overall[reference]
            )
    return report


def bench_corpus(
    corpus: ScoredCorpus, settings: Settings, extractors: Sequence[str] = EXTRACTORS
) -> dict[str, Any]:
    """The figures of each extractor on one corpus (and newsflow's checks)."""
    ours = _Newsflow(settings)
    chosen = {name: _extractor(name, ours) for name in extractors}
    results = _run(corpus.docs, chosen, after_warmup=ours.reset)
    figures: dict[str, Any] = {"kind": corpus.kind, "docs": len(corpus.docs)}
    for name, (texts, seconds) in results.items():
        figures[name] = corpus_figures(corpus, texts, seconds)
    if "newsflow" in chosen:
        figures["newsflow_checks"] = ours.checks()
    return figures


def corpus_figures(corpus: ScoredCorpus, texts: list[str], seconds: float) -> dict[str, Any]:
    """Quality (the corpus's metric), empty extractions and speed of one extractor."""
    quality = {k: round(v, 4) for k, v in score_texts(corpus, texts).items()}
    return quality | {
        "empty": sum(1 for t in texts if not _WORD.search(t or "")),
        "seconds": round(seconds, 3),
        "docs_per_s": round(len(texts) / seconds, 1) if seconds else 0.0,
    }


def score_texts(corpus: ScoredCorpus, texts: list[str]) -> dict[str, float]:
    """F1, precision and recall of the texts extracted from the corpus pages, in order."""
    pairs = zip(corpus.docs, texts, strict=True)
    if corpus.kind == "snippets":
        return aggregate_snippets([score_snippets(d.present, d.absent, t) for d, t in pairs])
    return aggregate([score_doc(d.truth, t) for d, t in pairs])


def _extractor(name: str, ours: _Newsflow) -> Extract:
    known: dict[str, Extract] = {
        "newsflow": ours.text,
        "trafilatura": trafilatura_defaults,
        "trafilatura_json_metadata": trafilatura_json_metadata,
    }
    if name not in known:
        raise ValueError(f"unknown extractor {name!r}: one of {', '.join(known)}")
    return known[name]


class _Newsflow:
    """Full newsflow extraction (body + all metadata), remembering what the checks need."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._options = build_extractor(settings.extract)
        self.articles: list[Article] = []
        self.drops: Counter[str] = Counter()

    def text(self, html: str, url: str) -> str:
        url = url or PLACEHOLDER_URL
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
            "published_sources": dict(Counter(_date_source(a) for a in timed)),
            "headline_first_line": sum(1 for a in timed if _echoes_title(a)),
            "repeated_paragraph": sum(1 for a in timed if _repeats(a.text)),
            "mean_completeness": round(statistics.fmean(a.completeness for a in timed), 3)
            if timed
            else 0.0,
        }


def _run(
    docs: Sequence[Doc], extractors: dict[str, Extract], after_warmup: Callable[[], None]
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


def _date_source(article: Article) -> str:
    return article.provenance.get("published_at") or "none"


def _echoes_title(article: Article) -> bool:
    first = article.text.split("\n\n", 1)[0]
    return bool(article.title) and _norm(first) == _norm(article.title)


def _repeats(text: str) -> bool:
    paragraphs = [_norm(p) for p in text.split("\n\n") if _norm(p)]
    return len(paragraphs) != len(set(paragraphs))


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))
