"""Stream writes: the wire format of articles and outcomes, and the atomic Lua scripts.

Every terminal outcome of an entry is written by one Lua script that first claims the
entry's outcome key, so a task that runs twice (at-least-once delivery) writes nothing twice.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files
from typing import Any

import msgspec
import redis

from pipeline import keys
from pipeline.connection import redis_errors
from pipeline.dedupe import near_duplicate_anchors, text_fingerprint, url_id
from pipeline.models import Article, FeedEntry, Outcome, OutcomeKind, utc_now
from pipeline.settings import Settings

SCHEMA_VERSION = "1"
MIN_ANCHORS = 3
"""Texts with fewer near-duplicate anchors are only compared exactly."""
_ENCODER = msgspec.json.Encoder()
_PUBLISH_LUA = files("pipeline").joinpath("publish.lua").read_text(encoding="utf-8")
_UPDATE_LUA = files("pipeline").joinpath("publish_update.lua").read_text(encoding="utf-8")
_RECORD_LUA = files("pipeline").joinpath("publish_record.lua").read_text(encoding="utf-8")


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


def decode_body(body: bytes | str) -> dict[str, Any]:
    """The article JSON of a stream entry's ``body`` field, as a dict."""
    decoded: dict[str, Any] = msgspec.json.decode(body)
    return decoded


class Publisher:
    """Writes outcomes to Redis with registered Lua scripts. One per process."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._redis = client
        self._settings = settings
        self._publish = client.register_script(_PUBLISH_LUA)
        self._record = client.register_script(_RECORD_LUA)
        self._update = client.register_script(_UPDATE_LUA)

    def publish_article(self, article: Article, entry: FeedEntry) -> Outcome:
        """Publish ``article`` unless this entry already has an outcome or it is a duplicate.

        Raises:
            RedisUnavailable: the script could not run; nothing was written.
        """
        entry_id = url_id(entry.url)
        fingerprint = text_fingerprint(article.text)
        script_keys = [
            keys.url_outcome(entry_id),
            keys.url_outcome(article.id),
            keys.content_fingerprint(fingerprint),
            keys.ARTICLES_STREAM,
            keys.EVENTS_STREAM,
            keys.OUTCOME_COUNTS,
            keys.feed_outcomes(entry.feed_url),
            keys.article_record(article.id),
            *(keys.near_duplicate_anchor(a) for a in near_duplicate_anchors(article.text)),
        ]
        args: list[Any] = [
            self._settings.dedupe_ttl_s,
            article.id,
            entry_id,
            entry.url,
            entry.feed_url,
            _now_ms(),
            self._settings.near_duplicate_threshold,
            MIN_ANCHORS,
            field_digests(article, fingerprint),
        ]
        for name, value in encode_article(article).items():
            args += [name, value]
        kind, detail = self._run(self._publish, script_keys, args, entry.url)
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
        script_keys = [
            keys.article_record(article.id),
            keys.ARTICLES_STREAM,
            keys.OUTCOME_COUNTS,
            keys.feed_outcomes(entry.feed_url),
        ]
        args: list[Any] = [self._settings.dedupe_ttl_s, field_digests(article)]
        for name, value in encode_article(article, "article.updated").items():
            args += [name, value]
        kind, detail = self._run(self._update, script_keys, args, entry.url)
        if kind == "unknown":
            return self.publish_article(article, entry)
        return Outcome(kind=OutcomeKind(kind), url=entry.url, ref=detail)

    def record_outcome(
        self, entry: FeedEntry, kind: OutcomeKind, reason: str, error: str = "", attempts: int = 0
    ) -> Outcome:
        """Record a dropped or dead-lettered entry once, with its reason and error.

        Raises:
            RedisUnavailable: the script could not run; nothing was written.
        """
        entry_id = url_id(entry.url)
        stream = keys.DEAD_STREAM if kind is OutcomeKind.DEAD else keys.EVENTS_STREAM
        script_keys = [
            keys.url_outcome(entry_id),
            stream,
            keys.OUTCOME_COUNTS,
            keys.feed_outcomes(entry.feed_url),
        ]
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
        args: list[Any] = [
            self._settings.dedupe_ttl_s,
            kind.value,
            f"{kind.value}|{reason}",
        ]
        for name, value in fields.items():
            args += [name, value]
        status, detail = self._run(self._record, script_keys, args, entry.url)
        if status == "already":
            return Outcome(kind=OutcomeKind.ALREADY, url=entry.url, ref=detail)
        return Outcome(kind=kind, url=entry.url, ref=detail, reason=reason)

    @staticmethod
    def _run(script: Any, script_keys: list[str], args: list[Any], url: str) -> tuple[str, str]:
        with redis_errors("stream write failed", url=url):
            kind, detail = script(keys=script_keys, args=args)
        return _text(kind), _text(detail)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _now_ms() -> int:
    return int(utc_now().timestamp() * 1000)
