"""What a page declares about itself: JSON-LD, <meta> tags, <link>, <html lang>.

Pure functions over a parsed lxml tree (read before the extractor prunes it). Every value
comes with its source, so the Article can say where each field came from. Dates come from
:mod:`pipeline.article.dates`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

from lxml.html import HtmlElement

from pipeline.article.dates import modified_date, published_date
from pipeline.article.normalize import strip_unsafe
from pipeline.article.sanitize import MAX_TAG, MAX_TAGS, absolute_url, image_url

JSON_LD = "json-ld"
META = "meta"
HTML = "html"

ARTICLE_TYPES = frozenset(
    {
        "article",
        "newsarticle",
        "blogposting",
        "reportagenews",
        "analysisnewsarticle",
        "opinionnewsarticle",
        "reviewnewsarticle",
        "backgroundnewsarticle",
        "scholarlyarticle",
        "techarticle",
        "liveblogposting",
        "posting",
        "socialmediaposting",
        "report",
    }
)
LISTING_TYPES = frozenset({"collectionpage", "itemlist", "searchresultspage", "profilepage"})
_MAX_JSON_LD = 500_000
_META_XPATH = "//meta[@content][@property or @name or @itemprop]"
_PAYWALL_XPATH = (
    "boolean(//*[contains(@class, 'paywall') or contains(@id, 'paywall')"
    " or contains(@class, 'subscriber-only') or contains(@class, 'premium-content')])"
)


Sourced: TypeAlias = tuple[str, str]
"""A value and where it came from (``json-ld``, ``meta``, ...); ("", "") when absent."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Declared:
    """The metadata a page declares, each value with its source."""

    title: Sourced = ("", "")
    description: Sourced = ("", "")
    authors: tuple[tuple[str, ...], str] = ((), "")
    published: Sourced = ("", "")
    modified: Sourced = ("", "")
    language: Sourced = ("", "")
    site_name: Sourced = ("", "")
    section: Sourced = ("", "")
    tags: tuple[tuple[str, ...], str] = ((), "")
    canonical_url: Sourced = ("", "")
    image: Sourced = ("", "")
    body: str = ""
    """JSON-LD ``articleBody``, when the page gives one."""
    free: bool | None = None
    """JSON-LD ``isAccessibleForFree`` (None when not declared)."""
    types: frozenset[str] = frozenset()
    """Lower-cased schema.org types declared in JSON-LD and og:type."""
    paywall_marker: bool = False
    """An element marked as a paywall or subscriber-only content (heuristic)."""


def read_declared(tree: HtmlElement, url: str) -> Declared:
    """Read JSON-LD, meta tags, <time>, <link rel=canonical> and the URL of one page."""
    objects = list(json_ld_objects(tree))
    ld = _article_object(objects)
    meta = meta_tags(tree)
    return Declared(
        title=_first((_text(ld.get("headline")), JSON_LD), (meta.get("og:title", ""), META)),
        description=_first(
            (_text(ld.get("description")), JSON_LD),
            (meta.get("og:description", ""), META),
            (meta.get("description", ""), META),
        ),
        authors=_authors(ld, meta),
        published=published_date(
            (_text(ld.get("datePublished")), _text(ld.get("dateCreated"))), meta, tree, url
        ),
        modified=modified_date(_text(ld.get("dateModified")), meta),
        language=_language(tree, meta, ld),
        site_name=_first(
            (meta.get("og:site_name", ""), META),
            (_text(_name(ld.get("publisher"))), JSON_LD),
            (meta.get("application-name", ""), META),
        ),
        section=_first(
            (meta.get("article:section", ""), META), (_text(ld.get("articleSection")), JSON_LD)
        ),
        tags=_tags(ld, meta),
        canonical_url=_first(
            (_attr(tree, "//link[@rel='canonical']/@href"), HTML), (meta.get("og:url", ""), META)
        ),
        image=_first_image(
            url,
            (meta.get("og:image", ""), META),
            (meta.get("twitter:image", ""), META),
            (_image_url(ld.get("image")), JSON_LD),
        ),
        body=_text(ld.get("articleBody")),
        free=_free(ld.get("isAccessibleForFree")),
        types=_types(objects, meta),
        paywall_marker=bool(tree.xpath(_PAYWALL_XPATH)),
    )


def json_ld_objects(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    """Every JSON object in the page's JSON-LD scripts, nested ones and @graph items too."""
    for script in tree.xpath("//script[@type='application/ld+json']")[:20]:
        raw = (script.text or "").strip()
        if not raw or len(raw) > _MAX_JSON_LD:
            continue
        try:
            data = json.loads(raw, strict=False)
        except ValueError:
            continue
        yield from _walk(data, depth=0)


def meta_tags(tree: HtmlElement) -> dict[str, str]:
    """The page's <meta> values by lower-cased property/name/itemprop (first one wins).

    ``article:tag`` values are joined with commas, since a page may declare many.
    """
    found: dict[str, str] = {}
    for node in tree.xpath(_META_XPATH)[:400]:
        key = (node.get("property") or node.get("name") or node.get("itemprop") or "").lower()
        value = " ".join((node.get("content") or "").split())
        if not value:
            continue
        if key == "article:tag" and key in found:
            found[key] += f", {value}"
        else:
            found.setdefault(key.strip(), value)
    return found


def _walk(data: Any, *, depth: int) -> Iterator[dict[str, Any]]:
    if depth > 6:
        return
    if isinstance(data, list):
        for item in data[:50]:
            yield from _walk(item, depth=depth + 1)
    elif isinstance(data, dict):
        yield data
        for key in ("@graph", "mainEntity", "itemListElement"):
            if key in data:
                yield from _walk(data[key], depth=depth + 1)


def _article_object(objects: list[dict[str, Any]]) -> dict[str, Any]:
    fallback: dict[str, Any] = {}
    for obj in objects:
        types = {t.lower() for t in _as_list(obj.get("@type")) if isinstance(t, str)}
        if types & ARTICLE_TYPES:
            return obj
        if not fallback and "headline" in obj:
            fallback = obj
    return fallback


def _authors(ld: dict[str, Any], meta: dict[str, str]) -> tuple[tuple[str, ...], str]:
    names = tuple(n for n in (_name(a) for a in _as_list(ld.get("author"))) if n)
    if names:
        return names, JSON_LD
    for key in ("author", "article:author", "dc.creator", "parsely-author", "sailthru.author"):
        value = meta.get(key, "")
        if value and not value.startswith(("http://", "https://")):
            return (value,), META
    return (), ""


def _tags(ld: dict[str, Any], meta: dict[str, str]) -> tuple[tuple[str, ...], str]:
    for value, source in (
        (meta.get("article:tag", ""), META),
        (ld.get("keywords"), JSON_LD),
        (meta.get("news_keywords", ""), META),
        (meta.get("keywords", ""), META),
    ):
        items = _split_tags(value)
        if items:
            return items, source
    return (), ""


def _split_tags(value: Any) -> tuple[str, ...]:
    parts = value.split(",") if isinstance(value, str) else [_text(v) for v in _as_list(value)]
    found: list[str] = []
    for part in parts:
        tag = " ".join(part.split())
        if tag and len(tag) <= MAX_TAG and tag not in found:
            found.append(tag)
    return tuple(found[:MAX_TAGS])


def _language(tree: HtmlElement, meta: dict[str, str], ld: dict[str, Any]) -> Sourced:
    return _first(
        (_attr(tree, "/html/@lang") or _attr(tree, "/html/@xml:lang"), HTML),
        (meta.get("content-language", ""), META),
        (meta.get("og:locale", ""), META),
        (_text(ld.get("inLanguage")), JSON_LD),
    )


def _types(objects: list[dict[str, Any]], meta: dict[str, str]) -> frozenset[str]:
    found = {meta.get("og:type", "").lower()} - {""}
    for obj in objects:
        found |= {t.lower() for t in _as_list(obj.get("@type")) if isinstance(t, str)}
    return frozenset(found)


def _free(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None


def _first(*candidates: Sourced) -> Sourced:
    """The first value that is not empty once white space and unsafe characters are gone."""
    for value, source in candidates:
        value = " ".join(strip_unsafe(value).split())
        if value:
            return value, source
    return ("", "")


def _first_image(base: str, *candidates: Sourced) -> Sourced:
    """The first candidate that resolves (against ``base``) to an http(s) URL, as a URI:
    data:, javascript: and malformed URLs are passed over."""
    for value, source in candidates:
        found = image_url(absolute_url(base, value)) if value.strip() else ""
        if found:
            return found, source
    return ("", "")


def _attr(tree: HtmlElement, xpath: str) -> str:
    found = tree.xpath(xpath)
    return str(found[0]).strip() if found else ""


def _name(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("name")
    if isinstance(value, list):
        value = value[0] if value else ""
    return _text(value)


def _image_url(value: Any) -> str:
    first = _as_list(value)[0] if _as_list(value) else ""
    if isinstance(first, dict):
        first = first.get("url") or first.get("contentUrl") or ""
    return _text(first)


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
