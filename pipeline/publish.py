"""Stream writes: the wire format of articles and outcomes, and the atomic Lua scripts.

Every terminal outcome of an entry is written by one Lua script that first claims the
entry's outcome key, so a task that runs twice (at-least-once delivery) writes nothing twice.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import msgspec
import redis

from pipeline import keys
from pipeline.dedupe import text_fingerprint, url_id
from pipeline.errors import RedisUnavailable
from pipeline.models import Article, FeedEntry, Outcome, OutcomeKind, utc_now
from pipeline.settings import Settings

SCHEMA_VERSION = "1"
_ENCODER = msgspec.json.Encoder()
_PUBLISH_LUA = files("pipeline").joinpath("scripts/publish.lua").read_text(encoding="utf-8")
_RECORD_LUA = files("pipeline").joinpath("scripts/record.lua").read_text(encoding="utf-8")


def encode_article(article: Article) -> dict[str, bytes | str]:
    """The stream entry fields of an article (contract v1: id, type, schema, body)."""
    return {
        "id": article.id,
        "type": "article",
        "schema": SCHEMA_VERSION,
        "body": _ENCODER.encode(article),
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
        self._publish = client.register_script(_PUBLISH_LUA)
        self._record = client.register_script(_RECORD_LUA)

    def publish_article(self, article: Article, entry: FeedEntry) -> Outcome:
        """Publish ``article`` unless this entry already has an outcome or it is a duplicate.

        Raises:
            RedisUnavailable: the script could not run; nothing was written.
        """
        entry_id = url_id(entry.url)
        script_keys = [
            keys.url_outcome(entry_id),
            keys.url_outcome(article.id),
            keys.content_fingerprint(text_fingerprint(article.text)),
            keys.ARTICLES_STREAM,
            keys.EVENTS_STREAM,
            keys.OUTCOME_COUNTS,
            keys.feed_outcomes(entry.feed_url),
        ]
        args: list[Any] = [
            self._settings.dedupe_ttl_s,
            article.id,
            entry_id,
            entry.url,
            entry.feed_url,
            _now_ms(),
        ]
        for name, value in encode_article(article).items():
            args += [name, value]
        kind, detail = self._run(self._publish, script_keys, args, entry.url)
        if kind == "already":
            return Outcome(kind=OutcomeKind.ALREADY, url=entry.url, ref=detail)
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
        try:
            kind, detail = script(keys=script_keys, args=args)
        except redis.RedisError as exc:
            raise RedisUnavailable(f"stream write failed: {exc}", url=url) from exc
        return _text(kind), _text(detail)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _now_ms() -> int:
    return int(utc_now().timestamp() * 1000)
