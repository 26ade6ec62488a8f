"""Stream writes: the wire format of articles and outcomes, and the atomic Lua scripts.

Every terminal outcome of an entry is written by one Lua script that first claims the
entry's outcome key, so a task that runs twice (at-least-once delivery) writes nothing twice.
This module owns the outcome value kept under that key (``outcome.lua`` is its Lua side)
and names the KEYS and ARGV of the scripts it runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import redis

from pipeline import keys
from pipeline.connection import LuaScript, flat_fields, redis_errors
from pipeline.dedupe import Signature, text_fingerprint, text_signature, url_id
from pipeline.models import Article, FeedEntry, Outcome, OutcomeKind, utc_now
from pipeline.settings import Settings

SCHEMA_VERSION = "1"
SHORT_CONTAINMENT = 0.9
"""A body too short for the sampled comparison is a near-duplicate of a story when this share
of its first shingles are the story's (its sketch), so distinct short items stay apart."""
BETTER_CONTAINMENT = 0.85
"""A copy is the better version of a story when it holds this share of the story's sampled
shingles and of its first words' shingles (sketch): shingles across the seams of cut-out
sentences differ, a rewritten lead does not count as held ..."""
BETTER_MARGIN = 0.1
"""... and has this much more text (words); with the same text, when it has more metadata."""
_ENCODER = msgspec.json.Encoder()
OUTCOME_LUA = ("pipeline", "outcome.lua")
"""The Lua side of :func:`outcome_value` / :func:`parse_outcome`, for scripts that need it."""
_PUBLISH = LuaScript(
    "pipeline",
    "publish.lua",
    keys=(
        "entry_outcome",
        "article_outcome",
        "fingerprint",
        "articles",
        "events",
        "counts",
        "feed_counts",
        "record",
        "sent",
        "sent_messages",
        "bucket",
        "bucket_prev",
    ),
    args=(
        "ttl",
        "article_id",
        "entry_id",
        "entry_url",
        "feed_url",
        "now_ms",
        "threshold",
        "digests",
        "article_url",
        "record_prefix",
        "bucket_expires_at",
        "short_threshold",
        "better_containment",
        "better_margin",
        "words",
        "metadata",
        "cut",
        "spread",
        "lead",
        "lookup",
        "sketch",
    ),
    libraries=(OUTCOME_LUA,),
)
_UPDATE = LuaScript(
    "pipeline",
    "publish_update.lua",
    keys=("record", "articles", "counts", "feed_counts"),
    args=("ttl", "digests"),
)
_RECORD = LuaScript(
    "pipeline",
    "publish_record.lua",
    keys=("entry_outcome", "stream", "counts", "feed_counts", "sent", "sent_messages"),
    args=("ttl", "kind", "reason", "entry_id"),
    libraries=(OUTCOME_LUA,),
)


@dataclass(frozen=True, slots=True)
class RecordedOutcome:
    """The outcome value of an entry, as kept under ``keys.url_outcome``."""

    kind: str
    """published, duplicate, dropped or dead."""
    ref: str
    """published: the article id; duplicate: the article it duplicates; else the reason."""
    stream_id: str = ""
    """published: the article's stream entry id."""


def outcome_value(kind: str, ref: str, stream_id: str = "") -> str:
    """The stored form of an outcome: ``kind|ref`` or ``kind|ref|stream id``."""
    return "|".join((kind, ref, stream_id) if stream_id else (kind, ref))


def parse_outcome(value: str) -> RecordedOutcome:
    """An outcome value read back."""
    kind, _, rest = value.partition("|")
    ref, _, stream_id = rest.partition("|")
    return RecordedOutcome(kind, ref, stream_id)


def recorded_outcome(client: redis.Redis, entry_url: str) -> str | None:
    """The outcome value already recorded for this URL, if any (one GET; never claims).

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("outcome lookup failed", url=entry_url):
        value = client.get(keys.url_outcome(url_id(entry_url)))
    return value.decode() if isinstance(value, bytes) else value


def encode_article(article: Article, kind: str = "article") -> dict[str, bytes | str]:
    """The stream entry fields of an article (contract v1: id, type, schema, body).

    ``kind`` is ``article``, or ``article.updated`` for a new version (which also carries
    ``version`` and ``changed``, added by the update script).
    """
    return {
        "id": article.id,
        "type": kind,
        "schema": SCHEMA_VERSION,
        "body": _ENCODER.encode(article),
    }


def field_digests(article: Article, fingerprint: str | None = None) -> str:
    """Short digests of the fields an update may change, as ``name=digest;...``.

    ``fingerprint`` is the body's :func:`text_fingerprint`, if the caller has it already.
    """
    fields = {
        "title": article.title,
        "description": article.description,
        "authors": "|".join(article.authors),
        "published_at": article.published_at.isoformat() if article.published_at else "",
        "text": fingerprint or text_fingerprint(article.text),
    }
    return ";".join(
        f"{name}={hashlib.blake2b(value.encode(), digest_size=6).hexdigest()}"
        for name, value in fields.items()
    )


def metadata_score(article: Article) -> int:
    """How many of the article's metadata fields are filled (the richer of two equal texts)."""
    filled = (
        article.title,
        article.description,
        article.authors,
        article.published_at,
        article.modified_at,
        article.language,
        article.section,
        article.image,
        article.tags or article.categories,
    )
    return sum(1 for value in filled if value)


def _signature_args(signature: Signature) -> dict[str, Any]:
    return {
        "words": signature.words,
        "cut": signature.cut,
        "spread": "".join(signature.spread),
        "lead": "".join(signature.lead),
        "lookup": "".join(signature.lookup),
        "sketch": signature.sketch,
    }


def decode_body(body: bytes | str) -> dict[str, Any]:
    """The article JSON of a stream entry's ``body`` field, as a dict."""
    decoded: dict[str, Any] = msgspec.json.decode(body)
    return decoded


class Publisher:
    """Writes outcomes to Redis with registered Lua scripts. One per process."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._redis = client
        self._settings = settings

    def publish_article(self, article: Article, entry: FeedEntry) -> Outcome:
        """Publish ``article`` unless this entry already has an outcome or it is a duplicate.

        Raises:
            RedisUnavailable: the script could not run; nothing was written.
        """
        entry_id = url_id(entry.url)
        fingerprint = text_fingerprint(article.text)
        now_ms = _now_ms()
        ttl = self._settings.dedupe_ttl_s
        bucket = now_ms // 1000 // ttl
        script_keys = {
            "entry_outcome": keys.url_outcome(entry_id),
            "article_outcome": keys.url_outcome(article.id),
            "fingerprint": keys.content_fingerprint(fingerprint),
            "articles": keys.ARTICLES_STREAM,
            "events": keys.EVENTS_STREAM,
            "counts": keys.OUTCOME_COUNTS,
            "feed_counts": keys.feed_outcomes(entry.feed_url),
            "record": keys.article_record(article.id),
            "sent": keys.SENT_ENTRIES,
            "sent_messages": keys.SENT_MESSAGES,
            "bucket": keys.near_duplicate_bucket(bucket),
            "bucket_prev": keys.near_duplicate_bucket(bucket - 1),
        }
        args = {
            "ttl": ttl,
            "article_id": article.id,
            "entry_id": entry_id,
            "entry_url": entry.url,
            "feed_url": entry.feed_url,
            "now_ms": now_ms,
            "threshold": self._settings.near_duplicate_threshold,
            "digests": field_digests(article, fingerprint),
            "article_url": article.url,
            "record_prefix": keys.article_record(""),
            "bucket_expires_at": (bucket + 2) * ttl,
            "short_threshold": SHORT_CONTAINMENT,
            "better_containment": BETTER_CONTAINMENT,
            "better_margin": BETTER_MARGIN,
            "metadata": metadata_score(article),
            **_signature_args(text_signature(article.text)),
        }
        kind, detail = self._run(
            _PUBLISH, script_keys, args, entry.url, (), flat_fields(encode_article(article))
        )
        if kind == "already":
            return Outcome(kind=OutcomeKind.ALREADY, url=entry.url, ref=detail)
        return Outcome(kind=OutcomeKind(kind), url=entry.url, ref=detail)

    def publish_update(self, article: Article, entry: FeedEntry) -> Outcome:
        """Publish ``article.updated`` if a published article's fields changed (once per change).

        An article we have no record of (never published here, or expired) goes through
        :meth:`publish_article` instead.

        Raises:
            RedisUnavailable: the script could not run; nothing was written.
        """
        script_keys = {
            "record": keys.article_record(article.id),
            "articles": keys.ARTICLES_STREAM,
            "counts": keys.OUTCOME_COUNTS,
            "feed_counts": keys.feed_outcomes(entry.feed_url),
        }
        args = {"ttl": self._settings.dedupe_ttl_s, "digests": field_digests(article)}
        fields = flat_fields(encode_article(article, "article.updated"))
        kind, detail = self._run(_UPDATE, script_keys, args, entry.url, (), fields)
        if kind == "unknown":
            return self.publish_article(article, entry)
        return Outcome(kind=OutcomeKind(kind), url=entry.url, ref=detail)

    def publish_revision(
        self, article: Article, entry: FeedEntry, *, reason: str
    ) -> Outcome | None:
        """Publish ``article.updated`` with a ``reason`` field (``reextract``) if a published
        article's fields changed: the update script of :meth:`publish_update`, but an
        article we have no record of (never published here, or expired) is left alone
        (None: nothing written).

        Raises:
            RedisUnavailable: the script could not run; nothing was written.
        """
        script_keys = {
            "record": keys.article_record(article.id),
            "articles": keys.ARTICLES_STREAM,
            "counts": keys.OUTCOME_COUNTS,
            "feed_counts": keys.feed_outcomes(entry.feed_url),
        }
        args = {"ttl": self._settings.dedupe_ttl_s, "digests": field_digests(article)}
        fields = {**encode_article(article, "article.updated"), "reason": reason}
        kind, detail = self._run(_UPDATE, script_keys, args, entry.url, (), flat_fields(fields))
        if kind == "unknown":
            return None
        return Outcome(kind=OutcomeKind(kind), url=entry.url, ref=detail, reason=reason)

    def record_outcome(
        self, entry: FeedEntry, kind: OutcomeKind, reason: str, error: str = "", attempts: int = 0
    ) -> Outcome:
        """Record a dropped or dead-lettered entry once, with its reason and error.

        Raises:
            RedisUnavailable: the script could not run; nothing was written.
        """
        entry_id = url_id(entry.url)
        stream = keys.DEAD_STREAM if kind is OutcomeKind.DEAD else keys.EVENTS_STREAM
        script_keys = {
            "entry_outcome": keys.url_outcome(entry_id),
            "stream": stream,
            "counts": keys.OUTCOME_COUNTS,
            "feed_counts": keys.feed_outcomes(entry.feed_url),
            "sent": keys.SENT_ENTRIES,
            "sent_messages": keys.SENT_MESSAGES,
        }
        fields = {
            "type": kind.value,
            "id": entry_id,
            "url": entry.url,
            "feed_url": entry.feed_url,
            "reason": reason,
            "error": error[:2000],
            "attempts": str(attempts),
            "at": str(_now_ms()),
            "entry": _ENCODER.encode(entry.to_message()),
        }
        args = {
            "ttl": self._settings.dedupe_ttl_s,
            "kind": kind.value,
            "reason": reason,
            "entry_id": entry_id,
        }
        status, detail = self._run(_RECORD, script_keys, args, entry.url, (), flat_fields(fields))
        if status == "already":
            return Outcome(kind=OutcomeKind.ALREADY, url=entry.url, ref=detail)
        return Outcome(kind=kind, url=entry.url, ref=detail, reason=reason)

    def _run(
        self,
        script: LuaScript,
        script_keys: dict[str, str],
        args: dict[str, Any],
        url: str,
        more_keys: Sequence[str],
        more_args: Sequence[Any],
    ) -> tuple[str, str]:
        with redis_errors("stream write failed", url=url):
            kind, detail = script(
                self._redis, script_keys, args, more_keys=more_keys, more_args=more_args
            )
        return _text(kind), _text(detail)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _now_ms() -> int:
    return int(utc_now().timestamp() * 1000)
