"""``newsflow bench dedupe``: near-duplicate detection on variants of real pages.

Each benchmark page is extracted once and published; then six copies of it are offered:
re-wrapped in other boilerplate (another host), with tracking parameters, as an AMP URL, with
a changed headline, with one paragraph edited, and cut to its first 60 %. A copy counts as
found when its outcome is ``duplicate`` (or ``already`` for the URL variants). Precision also
counts every original wrongly merged into another original.
"""

from __future__ import annotations

import gzip
import json
import statistics
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis

from pipeline import keys
from pipeline.article.standalone import extract_page
from pipeline.dedupe import identity_url, near_duplicate_anchors, text_fingerprint, url_id
from pipeline.errors import PipelineError
from pipeline.fetch.charset import decode_html
from pipeline.models import Article, FeedEntry, OutcomeKind, Page, utc_now
from pipeline.publish import Publisher
from pipeline.settings import Settings

BOILER_TOP = "Sign up for our morning newsletter and never miss a story."
BOILER_END = "© 2026 Mirror Media Group. All rights reserved. Reproduction prohibited."
FOUND = {OutcomeKind.DUPLICATE, OutcomeKind.ALREADY}


def load_articles(corpus: Path, settings: Settings) -> list[Article]:
    """Extract every page of the benchmark corpus (pages without an article are skipped)."""
    truth = json.loads((corpus / "ground-truth.json").read_text(encoding="utf-8"))
    articles = []
    for doc_id, meta in sorted(truth.items()):
        html = decode_html(
            gzip.decompress((corpus / "html" / f"{doc_id}.html.gz").read_bytes()),
            "text/html; charset=utf-8",
        )
        page = Page(
            url=meta["url"],
            final_url=meta["url"],
            status=200,
            content_type="text/html",
            html=html,
            fetched_at=utc_now(),
        )
        try:
            articles.append(extract_page(page, settings))
        except PipelineError:
            continue
    return articles


def variants(article: Article, n: int) -> dict[str, Article]:
    """The six copies of one article, keyed by variant name."""
    mirror = f"https://mirror{n}.example.net/story/{n}"
    paragraphs = article.text.split("\n\n")
    middle = len(paragraphs) // 2
    edited = [*paragraphs]
    edited[middle] = edited[middle] + " A correction was appended to this paragraph later."
    cut = paragraphs[: max(1, int(len(paragraphs) * 0.6))]
    return {
        "boilerplate": _copy(
            article, f"{mirror}-b", "\n\n".join([BOILER_TOP, article.text, BOILER_END])
        ),
        "tracking": _copy(
            article,
            f"{article.url}{'&' if '?' in article.url else '?'}utm_source=bench&fbclid=x",
            article.text,
        ),
        "amp": _copy(article, f"{article.url.rstrip('/')}/amp", article.text),
        "headline": replace(
            _copy(article, f"{mirror}-h", article.text), title="Updated: " + article.title
        ),
        "edited": _copy(article, f"{mirror}-e", "\n\n".join(edited)),
        "truncated": _copy(article, f"{mirror}-t", "\n\n".join(cut)),
    }


def _copy(article: Article, url: str, text: str) -> Article:
    return replace(
        article,
        id=url_id(url),
        url=url,
        canonical_url=identity_url(url),
        text=text,
        word_count=len(text.split()),
    )


def run_bench(client: redis.Redis, corpus: Path, settings: Settings) -> dict[str, Any]:
    """Publish originals then variants into an empty Redis; return the figures."""
    articles = load_articles(corpus, settings)
    publisher = Publisher(client, settings)
    merged = [
        a
        for a in articles
        if publisher.publish_article(a, FeedEntry(url=a.url)).kind is not OutcomeKind.PUBLISHED
    ]
    found: Counter[str] = Counter()
    offered: Counter[str] = Counter()
    for n, article in enumerate(articles):
        for name, copy in variants(article, n).items():
            offered[name] += 1
            if publisher.publish_article(copy, FeedEntry(url=copy.url)).kind in FOUND:
                found[name] += 1
    true_pos = sum(found.values())
    return {
        "pages": len(articles),
        "distinct_pages_merged": len(merged),
        "precision": round(true_pos / max(1, true_pos + len(merged)), 4),
        "recall": round(true_pos / max(1, sum(offered.values())), 4),
        "recall_by_variant": {k: round(found[k] / offered[k], 4) for k in offered},
        "cpu_ms_per_article": _cpu_ms(articles),
        "redis_round_trips_per_article": 2,
        **_memory(client, articles),
    }


def _cpu_ms(articles: list[Article]) -> float:
    """Dedupe work on top of extraction: URL identity, fingerprint and anchors."""
    started = time.process_time()
    for article in articles:
        identity_url(article.url)
        text_fingerprint(article.text)
        near_duplicate_anchors(article.text)
    return round((time.process_time() - started) * 1000 / max(1, len(articles)), 3)


def _memory(client: redis.Redis, articles: list[Article]) -> dict[str, Any]:
    url_bytes = [int(client.memory_usage(keys.url_outcome(a.id)) or 0) for a in articles]
    anchor_keys = [
        keys.near_duplicate_anchor(x) for a in articles for x in near_duplicate_anchors(a.text)
    ]
    anchor_bytes = sum(int(client.memory_usage(k) or 0) for k in anchor_keys)
    return {
        "bytes_per_remembered_url": round(statistics.mean(url_bytes), 1),
        "bytes_per_near_duplicate_signature": round(anchor_bytes / max(1, len(articles)), 1),
        "anchors_per_article": round(len(anchor_keys) / max(1, len(articles)), 1),
    }
