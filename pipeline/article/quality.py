"""The quality gate: is this cleaned page one article? Failures are drops with a reason."""

from __future__ import annotations

import re
import statistics

from pipeline.article.boilerplate import is_quantity_list
from pipeline.article.metadata import ARTICLE_TYPES, LISTING_TYPES
from pipeline.errors import NotAnArticle

_WALL = re.compile(
    r"enable javascript|javascript is disabled|verify (that )?you are (a )?human"
    r"|are you a robot|complete the captcha|unusual traffic from your|access denied"
    r"|checking your browser"
    r"|(accept|allow) (all )?cookies|cookie (settings|preferences|consent)|we value your privacy"
    r"|(sign|log) ?in to (continue|read|access|view)|create (a free|an) account to (continue|read)"
    r"|you (must|need to) (be )?(logged|signed) in",
    re.I,
)
WALL_MAX_WORDS = 150
"""A body this short that talks about cookies, logins or robots is a wall, not an article."""


def check_quality(
    paragraphs: tuple[str, ...], *, words: int, min_words: int, types: frozenset[str], url: str
) -> None:
    """Raise NotAnArticle unless the cleaned body reads as one article.

    Raises:
        NotAnArticle: too short (``too_short``), a login/consent/bot wall (``wall``), or a
            listing page (``listing``); ``check`` names which.
    """
    if words < min_words:
        raise NotAnArticle(
            f"body has {words} words, fewer than {min_words}", url=url, check="too_short"
        )
    if words < WALL_MAX_WORDS and _WALL.search(" ".join(paragraphs)):
        raise NotAnArticle("login, consent or bot wall", url=url, check="wall")
    if is_listing(paragraphs, types):
        raise NotAnArticle("listing page, not a single article", url=url, check="listing")


def is_listing(paragraphs: tuple[str, ...], types: frozenset[str]) -> bool:
    """A page declared as a collection; or one not declared an article whose body is only
    short headline-like lines: 10 of them on a declared website, 40 that do not end like
    sentences on a page that declares nothing."""
    if types & ARTICLE_TYPES:
        return False
    if types & LISTING_TYPES:
        return True
    if "website" in types:
        return _headline_lines(paragraphs, at_least=10)
    return _headline_lines(paragraphs, at_least=UNDECLARED_LISTING_LINES) and (
        _sentences(paragraphs) < 0.2
    )


UNDECLARED_LISTING_LINES = 40
"""A page that declares no type needs this many headline-like lines to count as a listing."""


def _headline_lines(paragraphs: tuple[str, ...], *, at_least: int) -> bool:
    """Many lines, most of them a few words long, none a real paragraph, and not an
    ingredient or parts list (lines that start with quantities)."""
    lines = [line for p in paragraphs for line in p.splitlines() if line.strip()]
    lengths = [len(p.split()) for p in paragraphs]
    return (
        len(lengths) >= at_least
        and statistics.median(lengths) <= 8
        and max(lengths) < 40
        and not is_quantity_list(lines)
    )


def _sentences(paragraphs: tuple[str, ...]) -> float:
    """The share of lines that end like a sentence (headlines and link texts rarely do)."""
    return sum(p.rstrip().endswith((".", "!", "?", "。")) for p in paragraphs) / len(paragraphs)
