"""The published form of an Article: every string safe to print, capped, every URL a URI.

:func:`published_form` is the last step of :func:`pipeline.article.assemble.parse_article`,
the one place every field of a published article goes through. It removes the characters of
:data:`pipeline.article.normalize.UNSAFE_CHARACTERS` from every string (keeping newlines and
tabs in ``text`` and ``body`` only), cuts each text field to its cap at a word boundary
(:func:`pipeline.article.normalize.shorten`), caps every list, and writes every URL as an
ASCII URI (:func:`as_uri`). A URL over :data:`MAX_URL` characters is never cut: it is dropped
(images), replaced (``canonical_url`` falls back to the fetched URL) or the article is refused
(``url``). Image URLs must be absolute http(s) URLs. The caps are documented in
``pipeline/schemas/article-v1.json`` (``maxLength``/``maxItems``) and the README.

Pure functions, no I/O.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import quote, urljoin, urlsplit

from pipeline.article.normalize import clean_line, shorten, strip_unsafe
from pipeline.errors import FetchRefused
from pipeline.models import Article, ExtractorInfo, Image, Source

MAX_URL = 4096
"""Characters of any published URL (after percent-encoding)."""
MAX_TITLE = 500
MAX_DESCRIPTION = 2000
MAX_AUTHORS = 10
MAX_AUTHOR = 100
MAX_SITE_NAME = 200
MAX_DOMAIN = 253
MAX_SECTION = 300
"""Also the cap of each category (the section is the category)."""
MAX_CATEGORIES = 10
MAX_TAGS = 30
MAX_TAG = 60
MAX_IMAGES = 40
MAX_CAPTION = 1000
MAX_CREDIT = 200
MAX_TEXT = 300_000
"""Characters of ``text``: whole paragraphs up to this (see assemble.cap_blocks)."""
MAX_BODY = 600_000
"""Characters of ``body`` (the Markdown or HTML form); an over-long one is left empty."""
MAX_PROVENANCE = 40
MAX_MISSING = 300
MAX_NAME = 100
"""Extractor name and version."""

_CORE_TEXT = ("title", "description", "section", "image")
_WHATWG_REMOVED = re.compile("[\t\n\r]")
_C0_OR_SPACE = "".join(map(chr, range(0x21)))
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_STRAY_PERCENT = re.compile("%(?![0-9A-Fa-f]{2})")
_PATH_SAFE = "/:@!$&'()*+,;=%"
"""RFC 3986 pchar (besides unreserved, which quote keeps) and "/"; "%" of existing %XX."""
_QUERY_SAFE = _PATH_SAFE + "?"
_USERINFO_SAFE = ":!$&'()*+,;=%"
_HOST = re.compile(r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?$")
_LABEL_DOTS = re.compile("[.\u3002\uff0e\uff61]")
_DEVIATIONS = frozenset("\u00df\u03c2\u200c\u200d")
"""ß, final sigma, ZWNJ, ZWJ: IDNA 2003 maps them away (faß.de -> fass.de, another domain);
IDNA 2008 and browsers (UTS #46 non-transitional) keep them (xn--fa-hia.de)."""


def as_uri(url: str) -> str:
    """An IRI or URI as an ASCII URI (RFC 3986), or "" when it is not usable.

    Tabs and newlines are removed and leading or trailing controls and spaces trimmed (as
    browsers do); the host is lower-cased and written with IDNA (punycode); in userinfo,
    path, query and fragment every character a URI may not hold (space, quotes, <>, non-ASCII
    as UTF-8...) is percent-encoded, and a "%" that does not start a %XX. Existing %XX are
    kept as they are, never encoded twice. Not usable: no scheme, a bad port or host, an
    http(s) URL without a host, or a result over :data:`MAX_URL` characters.
    """
    text = _WHATWG_REMOVED.sub("", url).strip(_C0_OR_SPACE)
    if not text or len(text) > MAX_URL:
        return ""
    try:
        parts = urlsplit(text)
        port = parts.port
        scheme = parts.scheme.lower()
        if not _SCHEME.match(scheme):
            return ""
        netloc = _netloc(parts.netloc, parts.hostname or "", port)
        if netloc is None or (scheme in ("http", "https") and not parts.hostname):
            return ""
        has_authority = text[len(scheme) + 1 :].startswith("//")
        uri = f"{scheme}:" + (f"//{netloc}" if has_authority else "")
        uri += _encode(parts.path, _PATH_SAFE)
        uri += f"?{_encode(parts.query, _QUERY_SAFE)}" if parts.query else ""
        uri += f"#{_encode(parts.fragment, _QUERY_SAFE)}" if parts.fragment else ""
    except (ValueError, UnicodeError):
        return ""
    return uri if len(uri) <= MAX_URL else ""


def image_url(url: str) -> str:
    """:func:`as_uri` of an absolute http(s) URL; "" for anything else (data:, javascript:,
    relative: resolve those against the page first)."""
    uri = as_uri(url)
    return uri if uri.startswith(("http://", "https://")) else ""


def absolute_url(base: str, reference: str) -> str:
    """``reference`` resolved against ``base`` ("" when either is malformed, as "http://[")."""
    try:
        return urljoin(base, reference.strip())
    except ValueError:
        return ""


def published_form(article: Article) -> Article:
    """``article`` as it may be published: safe characters, capped fields, URIs.

    A field emptied here loses its ``provenance`` entry. ``canonical_url`` that is not a
    usable URI becomes ``url`` (the id then follows it: the caller assembles a usable
    canonical URL first, see assemble.parse_article).

    Raises:
        FetchRefused: ``url`` is not a usable URI (over :data:`MAX_URL` characters).
    """
    url = as_uri(article.url)
    if not url:
        raise FetchRefused(
            f"page URL is not a usable URI of at most {MAX_URL} characters",
            url=article.url[:200],
        )
    cleaned = article.replace(
        url=url,
        canonical_url=as_uri(article.canonical_url) or url,
        feed_url=as_uri(article.feed_url),
        source=Source(
            name=_line(article.source.name, MAX_SITE_NAME)
            or _line(article.source.domain, MAX_DOMAIN),
            domain=_line(article.source.domain, MAX_DOMAIN),
        ),
        title=_line(article.title, MAX_TITLE),
        authors=_lines(article.authors, MAX_AUTHOR, MAX_AUTHORS),
        language=_line(article.language, 3) or None,
        language_declared=_line(article.language_declared, 3) or None,
        description=_line(article.description, MAX_DESCRIPTION),
        text=strip_unsafe(article.text, multiline=True),
        extractor=ExtractorInfo(
            name=_line(article.extractor.name, MAX_NAME),
            version=_line(article.extractor.version, MAX_NAME),
        ),
        section=_line(article.section, MAX_SECTION),
        categories=_lines(article.categories, MAX_SECTION, MAX_CATEGORIES),
        tags=_lines(article.tags, MAX_TAG, MAX_TAGS),
        image=image_url(article.image),
        images=_images(article.images),
        body=_body(article.body),
        missing={
            _line(k, MAX_PROVENANCE): _line(v, MAX_MISSING) for k, v in article.missing.items()
        },
    )
    if len(cleaned.text) > MAX_TEXT:  # assemble.cap_blocks keeps it under; never published over
        cleaned = cleaned.replace(text=shorten(cleaned.text, MAX_TEXT))
    emptied = {name for name in _CORE_TEXT if not getattr(cleaned, name)}
    emptied |= {"authors"} if not cleaned.authors else set()
    emptied |= {"site_name"} if not _line(article.source.name, MAX_SITE_NAME) else set()
    return cleaned.replace(
        provenance={
            _line(k, MAX_PROVENANCE): _line(v, MAX_PROVENANCE)
            for k, v in article.provenance.items()
            if k not in emptied
        }
    )


def _line(value: str | None, limit: int) -> str:
    return shorten(clean_line(value), limit)


def _lines(values: tuple[str, ...], limit: int, count: int) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        line = _line(value, limit)
        if line and line not in found:
            found.append(line)
        if len(found) == count:
            break
    return tuple(found)


def _images(images: tuple[Image, ...]) -> tuple[Image, ...]:
    found: dict[str, Image] = {}
    for image in images:
        url = image_url(image.url)
        if url and url not in found:
            found[url] = Image(
                url=url,
                caption=_line(image.caption, MAX_CAPTION),
                credit=_line(image.credit, MAX_CREDIT),
            )
        if len(found) == MAX_IMAGES:
            break
    return tuple(found.values())


def _body(markup: str) -> str:
    body = strip_unsafe(markup, multiline=True)
    return body if len(body) <= MAX_BODY else ""


def _netloc(netloc: str, hostname: str, port: int | None) -> str | None:
    """userinfo@host:port with the host in ASCII; None when the host is not valid."""
    userinfo, at, _ = netloc.rpartition("@")
    if not hostname:
        host = ""
    elif ":" in hostname:  # an IPv6 literal (urlsplit takes the brackets off)
        if "%" in hostname:  # a zone id: only meaningful on the machine that wrote it
            return None
        ipaddress.IPv6Address(hostname)  # ValueError if not one
        host = f"[{hostname}]"
    else:
        host = _ascii_host(hostname)
        if not _HOST.match(host):
            return None
    encoded_userinfo = _encode(userinfo, _USERINFO_SAFE) + "@" if at else ""
    return encoded_userinfo + host + (f":{port}" if port is not None else "")


def _ascii_host(host: str) -> str:
    """A host name in ASCII: IDNA (punycode) labels for non-ASCII ones.

    Python's own ``idna`` codec (IDNA 2003: nameprep maps case, width and compatibility
    forms); labels with an IDNA 2003/2008 deviation character are encoded as browsers do
    (lower case, NFC, punycode). Raises UnicodeError for a label IDNA refuses.
    """
    if host.isascii():
        return host.lower()
    labels: list[str] = []
    for label in _LABEL_DOTS.split(host):
        if label.isascii():
            labels.append(label.lower())
        elif _DEVIATIONS.intersection(label):
            code = unicodedata.normalize("NFC", label.lower()).encode("punycode")
            labels.append("xn--" + code.decode("ascii"))
        else:
            labels.append(label.encode("idna").decode("ascii"))
        if len(labels[-1]) > 63:
            raise UnicodeError(f"label too long: {labels[-1][:20]}…")
    return ".".join(labels)


def _encode(component: str, safe: str) -> str:
    """Percent-encode what ``safe`` and the unreserved characters do not cover (UTF-8);
    existing %XX stay, a stray "%" becomes %25."""
    return quote(_STRAY_PERCENT.sub("%25", component), safe=safe)
