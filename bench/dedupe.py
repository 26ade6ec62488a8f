"""``newsflow bench dedupe``: near-duplicate detection on variants of real pages.

Each benchmark page is extracted once; its copies are what syndication produces (see
:func:`variants`). Every run starts from an empty Redis and offers all copies of all stories,
round-robin over the stories, in one arrival order: the original first, shortest first
(worst first), random, or one variant first. A copy is found when its outcome points at the
article its story was published as; a merge into another story's article is a false
positive. "Body share" is how much of a story's fullest copy (word 4-grams) the last body on
the articles stream under the story's id holds: the fullest copy of the story's text is the
original page (every other copy cuts it, or adds lines that are not the story's).
"""

from __future__ import annotations

import gzip
import json
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis

from pipeline import keys
from pipeline.article.standalone import extract_page
from pipeline.dedupe import identity_url, text_fingerprint, text_signature, url_id
from pipeline.errors import PipelineError
from pipeline.fetch.charset import decode_html
from pipeline.models import Article, FeedEntry, OutcomeKind, Page, utc_now
from pipeline.publish import Publisher, decode_body, parse_outcome
from pipeline.settings import Settings

BOILER_TOP = "Sign up for our morning newsletter and never miss a story."
BOILER_END = "© 2026 Mirror Media Group. All rights reserved. Reproduction prohibited."
LEAD = "Officials and residents reacted on Tuesday, our correspondents report."
STANDFIRST = "what we know so far, and what happens next."
SHORT_WORDS = 40
FIRST_VARIANTS = (
    "boilerplate",
    "standfirst",
    "reordered",
    "lead_rewritten",
    "sentences_dropped",
    "truncated",
    "short",
)
"""Variants also run first (then the rest, shortest first); the URL-only and same-text
variants first are the original-first run again."""
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


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
    """The copies of one article other than itself, keyed by variant name."""
    mirror = f"https://mirror{n}.example.net/story/{n}"
    paragraphs = article.text.split("\n\n")
    middle = len(paragraphs) // 2
    edited = [*paragraphs]
    edited[middle] = edited[middle] + " A correction was appended to this paragraph later."
    words = article.text.split()
    standfirst = f"{article.title}: {STANDFIRST}"
    return {
        "boilerplate": _copy(
            article, f"{mirror}-b", "\n\n".join([BOILER_TOP, article.text, BOILER_END])
        ),
        "boilerplate_top": _copy(article, f"{mirror}-bt", f"{BOILER_TOP}\n\n{article.text}"),
        "tracking": _copy(
            article,
            f"{article.url}{'&' if '?' in article.url else '?'}utm_source=bench&fbclid=x",
            article.text,
        ),
        "amp": _copy(article, f"{article.url.rstrip('/')}/amp", article.text),
        "headline": replace(
            _copy(article, f"{mirror}-h", article.text), title="Updated: " + article.title
        ),
        "standfirst": replace(
            _copy(article, f"{mirror}-s", f"{standfirst}\n\n{article.text}"),
            title="Live: " + article.title,
            description=standfirst,
        ),
        "edited": _copy(article, f"{mirror}-e", "\n\n".join(edited)),
        "rewrapped": _copy(article, f"{mirror}-w", _rewrapped(paragraphs)),
        "reordered": _copy(article, f"{mirror}-r", "\n\n".join(_reordered(paragraphs))),
        "lead_rewritten": _copy(
            article, f"{mirror}-l", "\n\n".join([_rewritten(paragraphs[0]), *paragraphs[1:]])
        ),
        "sentences_dropped": _copy(article, f"{mirror}-d", _dropped(paragraphs)),
        "truncated": _copy(
            article, f"{mirror}-t", "\n\n".join(paragraphs[: max(1, int(len(paragraphs) * 0.6))])
        ),
        "truncated_70": _copy(article, f"{mirror}-t7", " ".join(words[: int(len(words) * 0.7)])),
        "short": _copy(article, f"{mirror}-x", " ".join(words[:SHORT_WORDS])),
    }


def _rewrapped(paragraphs: list[str]) -> str:
    """Other line breaks: pairs of paragraphs joined, each sentence on a line of its own."""
    joined = [" ".join(paragraphs[i : i + 2]) for i in range(0, len(paragraphs), 2)]
    return "\n\n".join("\n".join(_SENTENCE.split(p)) for p in joined)


def _rewritten(paragraph: str) -> str:
    """A rewritten lead: a new opening sentence, then the old lead with every third word
    left out (no 8 words in a row as they were)."""
    words = paragraph.split()
    return f"{LEAD} " + " ".join(w for i, w in enumerate(words) if i % 3 != 2)


def _reordered(paragraphs: list[str]) -> list[str]:
    """The first paragraph kept, the others in a fixed shuffled order."""
    rest = paragraphs[1:]
    random.Random(len(rest)).shuffle(rest)
    return [*paragraphs[:1], *rest]


def _dropped(paragraphs: list[str]) -> str:
    """Every fifth sentence through the body left out."""
    count = 0
    kept_paragraphs = []
    for paragraph in paragraphs:
        kept = []
        for sentence in _SENTENCE.split(paragraph):
            count += 1
            if count % 5:
                kept.append(sentence)
        if kept:
            kept_paragraphs.append(" ".join(kept))
    return "\n\n".join(kept_paragraphs)


def _copy(article: Article, url: str, text: str) -> Article:
    return replace(
        article,
        id=url_id(url),
        url=url,
        canonical_url=identity_url(url),
        text=text,
        word_count=len(text.split()),
    )


Copy = tuple[int, str, Article]
"""(story, variant name, the copy)"""


def run_bench(client: redis.Redis, corpus: Path, settings: Settings) -> dict[str, Any]:
    """Offer every story's copies in several arrival orders; return the figures."""
    articles = load_articles(corpus, settings)
    stories = [
        [(n, "original", a), *((n, k, v) for k, v in variants(a, n).items())]
        for n, a in enumerate(articles)
    ]
    cost = _cost(client, settings, articles)
    runs = {
        "original_first": _run(client, settings, stories, lambda c: 0 if c[1] == "original" else 1),
        "worst_first": _run(client, settings, stories, _words),
        "random": _run(client, settings, stories, None),
    }
    for name in FIRST_VARIANTS:
        runs[f"{name}_first"] = _run(client, settings, stories, _first(name))
    found: Counter[str] = Counter()
    offered: Counter[str] = Counter()
    false_merges = 0
    for run in runs.values():
        found.update(run.pop("found"))
        offered.update(run.pop("offered"))
        false_merges += run["false_merges"]
    true_pos = sum(found.values())
    return {
        "pages": len(articles),
        "copies_per_story": len(stories[0]),
        "precision": round(true_pos / max(1, true_pos + false_merges), 4),
        "recall": round(true_pos / max(1, sum(offered.values())), 4),
        "recall_by_variant": {k: round(found[k] / offered[k], 4) for k in offered},
        "by_order": runs,
        **cost,
    }


def _words(copy: Copy) -> int:
    return copy[2].word_count


def _first(variant: str) -> Callable[[Copy], tuple[bool, int]]:
    """Arrival order: this variant first, then the others shortest first."""
    return lambda copy: (copy[1] != variant, _words(copy))


def _run(
    client: redis.Redis,
    settings: Settings,
    stories: list[list[Copy]],
    key: Callable[[Copy], Any] | None,
) -> dict[str, Any]:
    """All copies of all stories into an empty Redis in one order (round-robin over stories)."""
    client.flushdb()
    publisher = Publisher(client, settings)
    ordered = []
    for n, copies in enumerate(stories):
        arranged = [*copies]
        if key is None:
            random.Random(n).shuffle(arranged)
        else:
            arranged.sort(key=key)
        ordered.append(arranged)
    story_of: dict[str, int] = {}
    resolved: dict[tuple[int, str], str] = {}
    for rank in range(len(stories[0])):
        for arranged in ordered:
            n, name, copy = arranged[rank]
            outcome = publisher.publish_article(copy, FeedEntry(url=copy.url))
            if outcome.kind is OutcomeKind.PUBLISHED:
                story_of.setdefault(copy.id, n)
                resolved[(n, name)] = copy.id
            elif outcome.kind is OutcomeKind.ALREADY:
                resolved[(n, name)] = parse_outcome(outcome.ref).ref
            else:
                resolved[(n, name)] = outcome.ref
    return _score(client, stories, story_of, resolved)


def _score(
    client: redis.Redis,
    stories: list[list[Copy]],
    story_of: dict[str, int],
    resolved: dict[tuple[int, str], str],
) -> dict[str, Any]:
    finals = _final_texts(client)
    found: Counter[str] = Counter()
    offered: Counter[str] = Counter()
    false_merges, shares = 0, []
    for n, copies in enumerate(stories):
        home = Counter(resolved[(n, name)] for _, name, _ in copies).most_common(1)[0][0]
        for _, name, _ in copies:
            target = resolved[(n, name)]
            offered[name] += 1
            if story_of.get(target, n) != n:
                false_merges += 1
            elif target == home:
                found[name] += 1
        shares.append(_containment(copies[0][2].text, finals.get(home, "")))
    published = sum(1 for _ in story_of)
    return {
        "found": found,
        "offered": offered,
        "false_merges": false_merges,
        "stories_split": published - len(stories),
        "body_share_min": round(min(shares), 3),
        "body_share_mean": round(statistics.mean(shares), 4),
        "stories_under_95": sum(1 for s in shares if s < 0.95),
    }


def _final_texts(client: redis.Redis) -> dict[str, str]:
    """The last body text on the articles stream for every article id."""
    texts = {}
    entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(keys.ARTICLES_STREAM)  # type: ignore[assignment]
    for _, fields in entries:
        texts[fields[b"id"].decode()] = str(decode_body(fields[b"body"])["text"])
    return texts


def _containment(fullest: str, final: str) -> float:
    """Share of the fullest copy's word 4-grams that the final text holds."""
    want, have = _grams(fullest), _grams(final)
    return len(want & have) / max(1, len(want))


def _grams(text: str) -> set[tuple[str, ...]]:
    """Word 4-grams within each paragraph (line): order and line breaks do not count."""
    grams: set[tuple[str, ...]] = set()
    for line in text.splitlines():
        words = re.findall(r"\w+", line.casefold())
        grams.update(tuple(words[i : i + 4]) for i in range(max(1, len(words) - 3)))
    return grams


def _cost(client: redis.Redis, settings: Settings, articles: list[Article]) -> dict[str, Any]:
    """CPU of the dedupe work, then Redis commands and memory of publishing every page once."""
    started = time.process_time()
    for article in articles:
        identity_url(article.url)
        text_fingerprint(article.text)
        text_signature(article.text)
    cpu_ms = (time.process_time() - started) * 1000 / max(1, len(articles))
    client.flushdb()
    client.config_resetstat()
    publisher = Publisher(client, settings)
    published = sum(
        publisher.publish_article(a, FeedEntry(url=a.url)).kind is OutcomeKind.PUBLISHED
        for a in articles
    )
    stats: dict[str, dict[str, Any]] = client.info("commandstats")
    calls = {
        name.removeprefix("cmdstat_"): int(v["calls"])
        for name, v in stats.items()
        if name not in ("cmdstat_config", "cmdstat_info")
    }
    buckets = [k for k in client.scan_iter(match=keys.near_duplicate_bucket(0)[:-1] + "*")]
    index_bytes = sum(int(client.memory_usage(k, samples=0) or 0) for k in buckets)
    url_bytes = [int(client.memory_usage(keys.url_outcome(a.id)) or 0) for a in articles]
    return {
        "distinct_pages_merged": len(articles) - published,
        "cpu_ms_per_article": round(cpu_ms, 3),
        "redis_commands_per_published_article": round(sum(calls.values()) / max(1, published), 1),
        "redis_commands_by_name": {k: round(v / max(1, published), 2) for k, v in calls.items()},
        "bytes_per_remembered_url": round(statistics.mean(url_bytes), 1),
        "bytes_per_near_duplicate_signature": round(index_bytes / max(1, published), 1),
    }
