"""Finding feeds: autodiscovery from an HTML page, robots.txt ``Sitemap:`` lines, and OPML
import/export. Pure functions."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from urllib.parse import urljoin, urlsplit
from xml.sax.saxutils import quoteattr

from pipeline.errors import FeedError
from pipeline.settings import FeedConfig

FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
)
WELL_KNOWN_PATHS = (
    "/feed",
    "/rss",
    "/rss.xml",
    "/feed.xml",
    "/atom.xml",
    "/index.xml",
    "/feeds/posts/default",
    "/feed.json",
)
MAX_ROBOTS_SITEMAPS = 10
"""``Sitemap:`` lines of a robots.txt taken at most (each is fetched to check it)."""
_LINK = re.compile(r"<link\b[^>]*>", re.I)
_SITEMAP_LINE = re.compile(r"^[ \t]*sitemap[ \t]*:[ \t]*(\S+)", re.I | re.M)
_ATTR = re.compile(r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


def discover_feeds(html: str, page_url: str) -> list[str]:
    """Feed URLs a page declares with ``<link rel="alternate" type="…feed type…">``."""
    found: list[str] = []
    for tag in _LINK.findall(html[:500_000]):
        attrs = {
            m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or ""
            for m in _ATTR.finditer(tag)
        }
        rel = attrs.get("rel", "").lower().split()
        kind = attrs.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rel and kind in FEED_TYPES and attrs.get("href"):
            url = urljoin(page_url, attrs["href"])
            if urlsplit(url).scheme in ("http", "https") and url not in found:
                found.append(url)
    return found


def well_known_candidates(page_url: str) -> list[str]:
    """Usual feed locations of a site, tried when a page declares none."""
    parts = urlsplit(page_url)
    return [f"{parts.scheme}://{parts.netloc}{path}" for path in WELL_KNOWN_PATHS]


def is_site_root(url: str) -> bool:
    """Whether the URL is a site's root (``https://host`` or ``https://host/``)."""
    parts = urlsplit(url)
    return parts.path in ("", "/") and not parts.query


def robots_url(page_url: str) -> str:
    """The robots.txt of the page's site."""
    parts = urlsplit(page_url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


def robots_sitemaps(robots_txt: str, robots_txt_url: str) -> list[str]:
    """The http(s) sitemap URLs a robots.txt declares (``Sitemap:`` lines, in any case,
    anywhere in the file; relative ones resolved against it), once each, at most
    ``MAX_ROBOTS_SITEMAPS``."""
    found: list[str] = []
    for match in _SITEMAP_LINE.finditer(robots_txt[:524_288]):
        url = urljoin(robots_txt_url, match.group(1))
        if urlsplit(url).scheme in ("http", "https") and url not in found:
            found.append(url)
        if len(found) == MAX_ROBOTS_SITEMAPS:
            break
    return found


def parse_opml(body: bytes) -> list[FeedConfig]:
    """Feeds of an OPML file (every ``outline`` with an ``xmlUrl``).

    Raises:
        FeedError: the file is not well-formed OPML.
    """
    if b"<!DOCTYPE" in body[:2048] or b"<!ENTITY" in body:
        raise FeedError("OPML with a DOCTYPE or entities is refused")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise FeedError(f"invalid OPML: {exc}") from exc
    feeds = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if url.startswith(("http://", "https://")):
            feeds.append(
                FeedConfig(url=url, name=outline.get("title") or outline.get("text") or "")
            )
    return feeds


def render_opml(feeds: list[FeedConfig], title: str = "newsflow feeds") -> str:
    """An OPML 2.0 document listing the feeds."""
    outlines = "\n".join(
        f'    <outline type="rss" text={quoteattr(f.name or f.url)} '
        f"title={quoteattr(f.name or f.url)} xmlUrl={quoteattr(f.url)}/>"
        for f in feeds
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">\n'
        f"  <head><title>{title}</title></head>\n  <body>\n{outlines}\n  </body>\n</opml>\n"
    )
