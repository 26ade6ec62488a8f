"""Identity of articles: canonical URLs, ids and content fingerprints.

Pure functions, plus :func:`recorded_outcome`, the cheap pre-fetch check. The check only
reads: claiming happens atomically with the stream write in :mod:`pipeline.publish`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import urlsplit

import courlan
import redis

from pipeline import keys
from pipeline.errors import RedisUnavailable

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def canonical_url(url: str) -> str:
    """Normalise a URL: scheme/host case, default port, fragment and tracking parameters."""
    try:
        normalised: str = courlan.normalize_url(url.strip(), strict=True)
    except (ValueError, AttributeError):
        return url.strip()
    return normalised


def url_id(url: str) -> str:
    """The stable id of a URL: sha256 of its canonical form."""
    return keys.digest(canonical_url(url))


def trusted_canonical(declared: str, fetched_url: str) -> str:
    """The page's declared canonical URL if it is plausible, else the fetched URL.

    A declared canonical must stay on the same host (ignoring ``www.``) and must not point
    at the site root, which misconfigured sites declare for every page.
    """
    fetched = canonical_url(fetched_url)
    if not declared:
        return fetched
    candidate = canonical_url(declared)
    a, b = urlsplit(candidate), urlsplit(fetched)
    same_host = _bare_host(a.hostname) == _bare_host(b.hostname)
    if a.scheme in ("http", "https") and same_host and a.path not in ("", "/"):
        return candidate
    return fetched


def _bare_host(host: str | None) -> str:
    host = (host or "").lower()
    return host[4:] if host.startswith("www.") else host


def text_fingerprint(text: str) -> str:
    """Fingerprint of a body text that ignores case, punctuation and whitespace."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return hashlib.sha256(_NON_WORD.sub(" ", folded).strip().encode("utf-8")).hexdigest()[:32]


def recorded_outcome(client: redis.Redis, entry_url: str) -> str | None:
    """The outcome already recorded for this URL, if any (one GET; never claims).

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    try:
        value = client.get(keys.url_outcome(url_id(entry_url)))
    except redis.RedisError as exc:
        raise RedisUnavailable(f"outcome lookup failed: {exc}", url=entry_url) from exc
    return value.decode() if isinstance(value, bytes) else value
