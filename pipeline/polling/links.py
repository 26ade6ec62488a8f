"""What a feed entry may link to: absolute http(s) URLs, resolved as RFC 3986 says.

Shared by the feed parsers (:mod:`~pipeline.polling.feeds`, :mod:`~pipeline.polling.jsonfeed`)
and the sitemap reader. A link that carries a scheme is never joined to a base: ``https:/x``
(one slash) has no host and is refused, where :func:`urllib.parse.urljoin`'s backward-compatible
reading (RFC 3986 section 5.2.2, "non-strict") would make it ``https://<base host>/x``. gofeed
and Miniflux, on Go's ``net/url``, read it the same strict way and keep no host either.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from pipeline.article.sanitize import as_uri

MAX_URL_LENGTH = 2048
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def encodable(text: str) -> str:
    """``text`` with lone surrogates (which UTF-8 cannot encode) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def http_url(link: str, base: str = "") -> str | None:
    """``link`` made absolute against ``base`` if it is a usable http(s) URL, else None.

    Usable: at most ``MAX_URL_LENGTH`` characters, http or https, a host, a valid port, and
    nothing that ``urllib.parse`` refuses (``http://[::1/a``) or UTF-8 cannot encode. Only a
    link without a scheme is resolved against ``base``.
    """
    link = link.strip()
    if not link or len(link) > MAX_URL_LENGTH or encodable(link) is not link:
        return None
    has_scheme = _SCHEME.match(link) is not None
    if not base and not has_scheme:
        return None  # relative, and nothing to resolve it against
    try:
        absolute = link if has_scheme else urljoin(base, link)
        parts = urlsplit(absolute)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return as_uri(absolute) or None  # an IRI (space, é, non-ASCII host) as the URI it means


def document_base(fetched_url: str, content_location: str = "") -> str:
    """Where a fetched document's relative links start from.

    Its ``Content-Location`` resolved against the URL it was fetched from (after redirects),
    when that is a usable http(s) URL; otherwise that URL itself.
    """
    located = http_url(content_location, fetched_url) if content_location else None
    return located or fetched_url
