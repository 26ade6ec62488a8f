"""Publication and modification dates of a page, each with its source.

Candidates in order: JSON-LD, <meta> tags, a <time> element in the article, a date in the URL
path, then htmldate's search of the whole page (the only module importing htmldate). A value
is taken only if it parses as a date; a year-only guess is not a date.
"""

from __future__ import annotations

import re

import htmldate
from lxml.html import HtmlElement

from pipeline.article.normalize import parse_datetime

JSON_LD = "json-ld"
META = "meta"
TIME = "time"
URL = "url"
HTMLDATE = "htmldate"
_PUBLISHED_META = (
    "article:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "date",
    "dc.date",
    "dcterms.created",
)
_MODIFIED_META = ("article:modified_time", "og:updated_time", "datemodified", "dcterms.modified")
_TIME_XPATH = (
    "(//time[@itemprop='datePublished' or @pubdate][@datetime]"
    " | //article//time[@datetime] | //main//time[@datetime])[1]/@datetime"
)
_URL_DATE = re.compile(
    r"/((?:19|20)\d{2})[/-]?(0[1-9]|1[0-2])[/-]?(0[1-9]|[12]\d|3[01])(?:[/_.-]|$)"
)


def published_date(
    ld_dates: tuple[str, ...], meta: dict[str, str], tree: HtmlElement, url: str
) -> tuple[str, str]:
    """The first publication date that parses, with its source; ("", "") when none."""
    candidates = [(d, JSON_LD) for d in ld_dates]
    candidates += [(meta.get(key, ""), META) for key in _PUBLISHED_META]
    found = tree.xpath(_TIME_XPATH)
    candidates += [(str(found[0]) if found else "", TIME), (url_date(url), URL)]
    return first_date(candidates) or _htmldate(tree, url)


def modified_date(ld_date: str, meta: dict[str, str]) -> tuple[str, str]:
    """The last-modified date declared in JSON-LD or meta tags, with its source."""
    candidates = [(ld_date, JSON_LD)] + [(meta.get(key, ""), META) for key in _MODIFIED_META]
    return first_date(candidates) or ("", "")


def first_date(candidates: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The first (value, source) whose value parses as a date."""
    for value, source in candidates:
        if value and parse_datetime(value) is not None:
            return value.strip(), source
    return None


def url_date(url: str) -> str:
    """The date in a URL path like /2019/11/19/ or /20191119/, as YYYY-MM-DD, else ""."""
    match = _URL_DATE.search(url)
    return "-".join(match.groups()) if match else ""


def _htmldate(tree: HtmlElement, url: str) -> tuple[str, str]:
    try:
        found = htmldate.find_date(
            tree,
            extensive_search=True,
            original_date=True,
            outputformat="%Y-%m-%dT%H:%M:%S%z",
            url=url,
        )
    except (ValueError, TypeError, AttributeError, OverflowError):
        return ("", "")
    if not found or found[4:19] == "-01-01T00:00:00":
        return ("", "")  # nothing, or only a year (htmldate's guess from a copyright line)
    return (found, HTMLDATE)


_WARM_UP_PAGE = "<html><body><p>Publicado el 5 de junio de 2023</p></body></html>"
"""A date htmldate hands to dateparser, which then loads its per-language tables."""


def warm_up_dates() -> None:
    """Load htmldate's and dateparser's language tables now (about 1.5 s and 40 MB).

    Called in a worker's main process before the pool forks, so that every pool process
    shares them instead of stalling on the first page whose date only dateparser reads.
    """
    htmldate.find_date(_WARM_UP_PAGE, extensive_search=True, original_date=True)
