"""WebSub (W3C Recommendation, https://www.w3.org/TR/websub/): what the poller needs of it.

Discovery: which hub and topic a fetched feed declares (HTTP ``Link`` headers first, then
the document's links), and the poll interval floor of a feed whose subscription is live
(polling goes on, at ``websub.fallback_interval_s``, as a safety net). The subscriptions
themselves: ``pipeline.polling.subscription`` (their rules) and
``pipeline.polling.subscriber`` (their records in Redis, the requests to hubs).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from urllib.parse import urljoin, urlsplit

import redis

from pipeline import keys
from pipeline.connection import redis_errors
from pipeline.polling.feeds import ParsedFeed
from pipeline.polling.links import MAX_URL_LENGTH
from pipeline.settings import WebSubSettings

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TARGET = re.compile(r"[\s,]*<([^>]*)>")
_PARAM = re.compile(rf'\s*;\s*({_TOKEN})\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^\s;,"]*))?')
_QUOTED_PAIR = re.compile(r"\\(.)")


def declared_hub(
    parsed: ParsedFeed, headers: Mapping[str, str], feed_url: str
) -> tuple[str, str] | None:
    """The (hub URL, topic URL) a fetched feed declares for WebSub, or None.

    As the Recommendation's discovery orders it (section 4): hubs of the HTTP ``Link``
    header (``rel="hub"``) first, else the document's (``parsed.hubs``); the first absolute
    http(s) one is taken. The topic is the ``rel="self"`` URL from the same place as the hub
    (the other place if that one has none), else ``feed_url``. ``headers`` are the
    response's (any case of ``Link``); ``feed_url`` is where the document was fetched from,
    the base of relative references.
    """
    header_links = parse_link_header(_header(headers, "link"))
    header_hubs = _targets(header_links, "hub", feed_url)
    header_self = _targets(header_links, "self", feed_url)
    document_hubs = [u for u in (_absolute(h, feed_url) for h in parsed.hubs) if u]
    document_self = [u for u in [_absolute(parsed.self_url, feed_url)] if u]
    if header_hubs:
        hub, selves = header_hubs[0], header_self + document_self
    elif document_hubs:
        hub, selves = document_hubs[0], document_self + header_self
    else:
        return None
    return hub, (selves[0] if selves else feed_url)


def parse_link_header(value: str) -> list[tuple[str, frozenset[str]]]:
    """The links of an HTTP ``Link`` header (RFC 8288): (target, relation types) pairs.

    Several link-values (comma-separated, also from repeated headers joined with commas),
    quoted or bare ``rel`` values holding a space-separated list of types (lower-cased);
    only the first ``rel`` of a link-value counts (RFC 8288, 3.3). A malformed link-value is
    skipped, never an error. Targets are as written (resolve them against the base).
    """
    links: list[tuple[str, frozenset[str]]] = []
    position = 0
    while position < len(value):
        target = _TARGET.match(value, position)
        if target is None:
            position = _next_link(value, position)
            continue
        rels, position = _rels(value, target.end())
        links.append((target.group(1).strip(), rels))
        position = _next_link(value, position)
    return links


def _rels(value: str, position: int) -> tuple[frozenset[str], int]:
    """The relation types of the link-value's parameters from ``position``, and where
    its parameters end."""
    rels: frozenset[str] | None = None
    for param in _params(value, position):
        name, raw = param.group(1).lower(), param.group(2) or ""
        if name == "rel" and rels is None:
            text = _QUOTED_PAIR.sub(r"\1", raw[1:-1]) if raw.startswith('"') else raw
            rels = frozenset(text.lower().split())
        position = param.end()
    return rels or frozenset(), position


def _params(value: str, position: int) -> Iterator[re.Match[str]]:
    while (param := _PARAM.match(value, position)) is not None:
        yield param
        position = param.end()


def _next_link(value: str, position: int) -> int:
    """Where the next link-value starts: after the next comma outside a quoted string or
    a ``<...>`` target (the end of ``value`` if there is none)."""
    quoted = bracketed = False
    for index in range(position, len(value)):
        char = value[index]
        if quoted:
            quoted = char != '"' or value[index - 1] == "\\"
        elif bracketed:
            bracketed = char != ">"
        elif char == '"':
            quoted = True
        elif char == "<":
            bracketed = True
        elif char == ",":
            return index + 1
    return len(value)


def _targets(links: list[tuple[str, frozenset[str]]], rel: str, base: str) -> list[str]:
    return [url for target, rels in links if rel in rels if (url := _absolute(target, base))]


def _absolute(reference: str, base: str) -> str:
    """``reference`` resolved against ``base`` when it is a usable http(s) URL, else ""."""
    reference = reference.strip()
    if not reference or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in reference):
        return ""
    try:
        url = urljoin(base, reference)
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return ""
    usable = parts.scheme in ("http", "https") and parts.hostname and len(url) <= MAX_URL_LENGTH
    return url.split("#")[0] if usable else ""


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), "")
    return value


# ------------------------------------------------------------------ polling as a safety net


def live_floor_s(
    expires_at: float | None, *, now: float, settings: WebSubSettings, listening: bool = True
) -> float:
    """The least interval between polls: ``fallback_interval_s`` while a subscription's
    lease runs (``expires_at`` in the future), WebSub is on and a ``newsflow websub`` is
    ``listening`` for the pushes; else 0."""
    live = expires_at is not None and expires_at > now
    if not (settings.callback_url and live and listening):
        return 0.0
    return float(settings.fallback_interval_s)


def poll_floor_s(
    client: redis.Redis, feed_url: str, settings: WebSubSettings, *, now: float
) -> float:
    """The least interval between polls of ``feed_url`` (see :func:`live_floor_s`).

    Reads, in one round trip, the lease end of the feed's verified subscription
    (``keys.WEBSUB_LIVE``) and whether a ``newsflow websub`` runs (``keys.WEBSUB_ALIVE``);
    nothing while WebSub is off (``websub.callback_url`` empty).

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    if not settings.callback_url:
        return 0.0
    with redis_errors("websub state unavailable", url=feed_url):
        pipe = client.pipeline(transaction=False)
        pipe.zscore(keys.WEBSUB_LIVE, feed_url)
        pipe.exists(keys.WEBSUB_ALIVE)
        expires_at, alive = pipe.execute()
    return live_floor_s(expires_at, now=now, settings=settings, listening=bool(alive))


def mark_listening(client: redis.Redis, owner: str, ttl_s: float) -> None:
    """Say that a ``newsflow websub`` receives pushes for the next ``ttl_s`` seconds.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("websub state unavailable"):
        client.set(keys.WEBSUB_ALIVE, owner, px=int(ttl_s * 1000))
