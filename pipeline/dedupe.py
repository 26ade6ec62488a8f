"""Identity of articles: canonical URLs, ids and content fingerprints.

Pure functions, plus :func:`recorded_outcome`, the cheap pre-fetch check. The check only
reads: claiming happens atomically with the stream write in :mod:`pipeline.publish`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import urlsplit, urlunsplit

import courlan
import redis

from pipeline import keys
from pipeline.errors import RedisUnavailable

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_HOST_PREFIX = re.compile(r"^(www\d?|m|mobile|amp)\.(?=[^.]+\.)")
_AMP_SEGMENT = re.compile(r"/amp(?:/|$)")
_INDEX_PAGE = re.compile(r"/(?:index|default)\.(?:html?|php|aspx?|shtml|jsp)$")
_AMP_PARAM = re.compile(r"^(?:amp(?:=[^&]*)?|outputType=amp|output=amp)$", re.I)
_WORD = re.compile(r"\w+")
ANCHOR_SHINGLE = 8
"""Words per shingle of the near-duplicate anchors."""
ANCHOR_SAMPLING = 16
"""One shingle in this many (chosen by its hash, so the same in every copy) is an anchor.
A divisor of 256: the test reads the hash's last byte."""
MAX_ANCHORS = 48
"""Anchors kept per article, from the start of the text (truncated copies keep the start)."""


def canonical_url(url: str) -> str:
    """Normalise a URL: scheme/host case, default port, fragment and tracking parameters.

    courlan's non-strict mode removes tracking parameters (utm_*, fbclid, gclid, ...) but
    keeps the others: its strict mode also drops parameters that identify articles (idx=).
    """
    try:
        normalised: str = courlan.normalize_url(url.strip(), strict=False)
    except (ValueError, AttributeError):
        return url.strip()
    return normalised.split("#", 1)[0]


def identity_url(url: str) -> str:
    """The form two URLs of the same page share: canonical, then without ``www.``/``m.``/
    ``amp.`` hosts, AMP path segments and parameters, index pages and trailing slashes."""
    parts = urlsplit(canonical_url(url))
    host = _HOST_PREFIX.sub("", parts.hostname or "")
    if parts.port:
        host = f"{host}:{parts.port}"
    path = _AMP_SEGMENT.sub("/", parts.path)
    path = _INDEX_PAGE.sub("/", path)
    path = path.rstrip("/") or "/"
    query = "&".join(p for p in parts.query.split("&") if p and not _AMP_PARAM.match(p))
    return urlunsplit(("https" if parts.scheme == "http" else parts.scheme, host, path, query, ""))


def url_id(url: str) -> str:
    """The stable id of a URL: sha256 of its identity form (see :func:`identity_url`)."""
    return keys.digest(identity_url(url))


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


def near_duplicate_anchors(text: str) -> tuple[str, ...]:
    """Content-defined anchors of a body: hashes of sampled word 8-grams, in text order.

    A copy with other boilerplate, an edited paragraph or a cut end keeps most of the
    anchors of the original, because which shingles are anchors depends only on the words.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = [word.encode("utf-8") for word in _WORD.findall(folded)]
    found: list[str] = []
    for i in range(max(1, len(words) - ANCHOR_SHINGLE + 1)):
        digest = hashlib.blake2b(b" ".join(words[i : i + ANCHOR_SHINGLE]), digest_size=8).digest()
        # the big-endian integer's residue mod 16 is its last byte's (ANCHOR_SAMPLING = 16)
        if digest[-1] % ANCHOR_SAMPLING == 0 and (anchor := digest.hex()) not in found:
            found.append(anchor)
            if len(found) == MAX_ANCHORS:
                break
    return tuple(found)


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
