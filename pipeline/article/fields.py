"""Article metadata chosen from what the page declares, page heuristics and the feed entry.

Each chosen value carries its provenance: ``json-ld``, ``meta``, ``html``, ``time``, ``url``,
``htmldate`` (page), ``heuristic`` (our or the extractor's guess), ``feed`` (the feed entry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pipeline.article.extract import Extraction
from pipeline.article.normalize import clean_field, parse_authors, parse_datetime
from pipeline.article.sanitize import image_url
from pipeline.models import FeedEntry

FEED = "feed"
HEURISTIC = "heuristic"
CORE_FIELDS = (
    "title",
    "authors",
    "published_at",
    "description",
    "language",
    "site_name",
    "image",
    "section",
)
_TAG_ID = re.compile(r"[_@=|{}]|^[\w-]+:|^\d+$")
_TITLE_SUFFIX = re.compile(r"^(.{10,}?)\s+[|\-–—:·•»]\s+([^|\-–—:·•»]{2,60})$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Fields:
    """The metadata of one article with the source of each value."""

    title: str
    description: str
    authors: tuple[str, ...]
    published_at: datetime | None
    modified_at: datetime | None
    site_name: str
    section: str
    tags: tuple[str, ...]
    image: str
    paywalled: bool
    provenance: dict[str, str]
    missing: dict[str, str]


def resolve_fields(extraction: Extraction, entry: FeedEntry, *, domain: str) -> Fields:
    """Pick each field from the page first, then heuristics, then the feed entry."""
    d = extraction.declared
    prov: dict[str, str] = {}
    site = _pick(prov, "site_name", (clean_field(d.site_name[0]), d.site_name[1]))
    title = _pick(
        prov,
        "title",
        (strip_site_suffix(clean_field(d.title[0]), site), d.title[1]),
        (strip_site_suffix(clean_field(extraction.html_title), site), HEURISTIC),
        (clean_field(entry.title), FEED),
    )
    authors = _authors(prov, extraction, entry)
    published, missing = _published(prov, d.published, entry)
    modified = parse_datetime(d.modified[0])
    if modified:
        prov["modified_at"] = d.modified[1]
    return Fields(
        title=title,
        description=_pick(
            prov,
            "description",
            (clean_field(d.description[0]), d.description[1]),
            (clean_field(entry.summary)[:500], FEED),
        ),
        authors=authors,
        published_at=published,
        modified_at=modified,
        site_name=site or domain,
        section=_pick(prov, "section", (clean_field(d.section[0]), d.section[1])),
        tags=clean_tags(d.tags[0]),
        image=_image(prov, extraction),
        paywalled=_paywalled(prov, extraction),
        provenance=prov | ({"tags": d.tags[1]} if d.tags[0] else {}),
        missing=missing,
    )


def clean_tags(tags: tuple[str, ...]) -> tuple[str, ...]:
    """Tags as readers see them: no internal ids ("ctp_video", "@post-id:19"), no repeats."""
    found: list[str] = []
    for raw in tags:
        tag = clean_field(raw)
        if not re.search(r"[^\W_]", tag) or _TAG_ID.search(tag) or tag in found:
            continue
        found.append(tag)
    return tuple(found)


def completeness(provenance: dict[str, str]) -> float:
    """Share of the core metadata fields that have a value (0..1, two decimals)."""
    return round(sum(1 for f in CORE_FIELDS if f in provenance) / len(CORE_FIELDS), 2)


def strip_site_suffix(title: str, site: str) -> str:
    """ "Big news | The Gazette" -> "Big news" when the suffix is the site's name."""
    match = _TITLE_SUFFIX.match(title)
    if not match or not site:
        return title
    suffix = match.group(2).casefold().replace(" ", "")
    name = site.casefold().replace(" ", "")
    return match.group(1) if suffix in name or name in suffix else title


def _pick(prov: dict[str, str], name: str, *candidates: tuple[str, str]) -> str:
    for value, source in candidates:
        if value:
            prov[name] = source
            return value
    return ""


def _image(prov: dict[str, str], extraction: Extraction) -> str:
    """The declared image, else the first photo: the first that is an http(s) URL."""
    declared, source = extraction.declared.image
    first_photo = next((u for u in (image_url(i.url) for i in extraction.images) if u), "")
    return _pick(prov, "image", (image_url(declared), source), (first_photo, HEURISTIC))


def _paywalled(prov: dict[str, str], extraction: Extraction) -> bool:
    if extraction.declared.free is False:
        prov["paywalled"] = "json-ld"
        return True
    if extraction.declared.paywall_marker:
        prov["paywalled"] = HEURISTIC
        return True
    return False


def _authors(prov: dict[str, str], extraction: Extraction, entry: FeedEntry) -> tuple[str, ...]:
    declared, source = extraction.declared.authors
    names = tuple(n for v in declared for n in parse_authors(v))
    if names:
        prov["authors"] = source
        return names
    names = parse_authors(extraction.byline)
    if names and len(names) <= 5:
        prov["authors"] = HEURISTIC
        return names
    names = tuple(dict.fromkeys(n for n in map(clean_field, entry.authors) if n))
    if names:
        prov["authors"] = FEED
    return names


def _published(
    prov: dict[str, str], declared: tuple[str, str], entry: FeedEntry
) -> tuple[datetime | None, dict[str, str]]:
    parsed = parse_datetime(declared[0])
    if parsed:
        prov["published_at"] = declared[1]
        return parsed, {}
    from_feed = parse_datetime(entry.published_at)
    if from_feed:
        prov["published_at"] = FEED
        return from_feed, {}
    reason = (
        f"unparseable date {declared[0]!r} ({declared[1]})"
        if declared[0]
        else "no date in JSON-LD, meta tags, <time>, the URL, the page text or the feed"
    )
    return None, {"published_at": reason}
