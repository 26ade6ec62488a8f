"""Redis figures of ``newsflow bench pipeline``: outcomes, memory and commands per article."""

from __future__ import annotations

from collections import Counter
from typing import Any

import redis

from bench.corpus import article_path
from pipeline import keys
from pipeline.dedupe import url_id
from pipeline.ops.stats import OUTCOMES
from pipeline.publish import decode_body


def outcome_counts(client: redis.Redis) -> dict[str, int]:
    raw: dict[bytes, bytes] = client.hgetall(keys.OUTCOME_COUNTS)  # type: ignore[assignment]
    counts = {k.decode(): int(v) for k, v in raw.items()}
    return {name: counts[name] for name in OUTCOMES if counts.get(name)}


def memory_figures(
    client: redis.Redis, base_url: str, articles: int, before: int
) -> dict[str, Any]:
    """Redis bytes per article (whole-server growth) and per remembered URL (sampled keys)."""
    used = int(client.info("memory")["used_memory"])
    sample = range(0, articles, max(1, articles // 100))
    ids = [url_id(base_url + article_path(i)) for i in sample]
    per_url = [
        int(client.memory_usage(keys.url_outcome(i)) or 0)
        + int(client.memory_usage(keys.enqueued_marker(i)) or 0)
        for i in ids
    ]
    return {
        "used_memory_mb": round(used / 2**20, 2),
        "bytes_per_article": round((used - before) / max(1, articles)),
        "bytes_per_remembered_url": round(sum(per_url) / max(1, len(per_url))),
        "stream_length": int(client.xlen(keys.ARTICLES_STREAM)),
        "duplicates_by_match": duplicate_matches(client),
        "duplicate_examples": duplicate_examples(client),
    }


def command_calls(client: redis.Redis) -> dict[str, tuple[int, int]]:
    """(calls, microseconds) so far of every Redis command (scripts count inside EVALSHA)."""
    stats: dict[str, dict[str, Any]] = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
        for name, v in stats.items()
    }


def commands_per_article(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], articles: int
) -> dict[str, float]:
    """Redis commands per article: the total, server microseconds, and the busiest commands."""
    calls = {n: c - before.get(n, (0, 0))[0] for n, (c, _) in after.items()}
    usec = sum(u - before.get(n, (0, 0))[1] for n, (_, u) in after.items())
    busiest = sorted(calls.items(), key=lambda item: -item[1])[:8]
    return {
        "total": round(sum(calls.values()) / articles, 1),
        "server_usec": round(usec / articles, 1),
        **{name: round(count / articles, 2) for name, count in busiest},
    }


def duplicate_matches(client: redis.Redis) -> dict[str, int]:
    """How the dedupe matched the entries it called duplicates (should be none)."""
    matches: Counter[str] = Counter()
    entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(keys.EVENTS_STREAM)  # type: ignore[assignment]
    for _, fields in entries:
        if fields.get(b"type") == b"duplicate":
            matches[fields.get(b"match", b"?").decode()] += 1
    return dict(matches)


def duplicate_examples(client: redis.Redis, count: int = 3) -> list[str]:
    """The first duplicates, as ``<url> -> <url of its article> (match, similarity)``."""
    urls: dict[bytes, str] = {}
    published: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(keys.ARTICLES_STREAM)  # type: ignore[assignment]
    for _, fields in published:
        urls[fields[b"id"]] = str(decode_body(fields[b"body"])["url"])
    examples: list[str] = []
    events: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(keys.EVENTS_STREAM)  # type: ignore[assignment]
    for _, fields in events:
        if fields.get(b"type") == b"duplicate" and len(examples) < count:
            of = urls.get(fields.get(b"duplicate_of", b""), "?")
            match = fields.get(b"match", b"?").decode()
            similarity = fields.get(b"similarity", b"?").decode()
            examples.append(f"{fields[b'url'].decode()} -> {of} ({match}, {similarity})")
    return examples
