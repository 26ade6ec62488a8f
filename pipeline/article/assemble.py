"""From an extraction to a clean Article: pure functions, no I/O.

Cleaning removes what extractors leave in the body of real news pages: the headline echoed
at the top, repeated paragraphs and photo captions, bylines, UI tokens and share counters,
teasers, credits and promos (:mod:`pipeline.article.boilerplate`). Then the quality gate
(:mod:`pipeline.article.quality`) decides whether the page is one article. Last, every field
goes through :func:`pipeline.article.sanitize.published_form` (safe characters, caps, URIs).
"""

from __future__ import annotations

import html
import math
import re
from urllib.parse import urlsplit

from pipeline.article.boilerplate import is_boilerplate, is_byline, is_headline_list, is_tag_list
from pipeline.article.extract import EXTRACTOR, Block, Extraction, count_words
from pipeline.article.fields import Fields, completeness, resolve_fields
from pipeline.article.language import detect_language, normalize_language
from pipeline.article.normalize import clean_line, parse_authors, parse_datetime, shorten
from pipeline.article.quality import check_quality
from pipeline.article.sanitize import MAX_BODY, MAX_TEXT, as_uri, published_form
from pipeline.dedupe import canonical_url, trusted_canonical, url_id
from pipeline.models import Article, FeedEntry, Page, Source

__all__ = [
    "cap_blocks",
    "clean_blocks",
    "clean_body",
    "clean_line",
    "declared_language",
    "parse_article",
    "parse_authors",
    "parse_datetime",
]
_HTML_LANG = re.compile(r"<html[^>]*\slang=[\"']?([a-zA-Z]{2,3})(?:[-_][a-zA-Z0-9]+)?", re.I)
_LINE_KINDS = frozenset({"list", "table"})
"""Blocks whose lines belong together: cleaned line by line, kept as one paragraph."""


def parse_article(
    extraction: Extraction,
    page: Page,
    entry: FeedEntry,
    *,
    min_words: int,
    words_per_minute: int = 230,
) -> Article:
    """Build the clean Article for a page, filling gaps from the feed entry.

    Raises:
        NotAnArticle: the cleaned body fails the quality gate (too short, a wall, a listing).
        FetchRefused: the page URL is not a usable URI (over sanitize.MAX_URL characters).
    """
    canonical = _canonical(extraction.declared.canonical_url[0], page.final_url)
    fields = resolve_fields(extraction, entry, domain=_domain(canonical))
    blocks = cap_blocks(
        clean_blocks(
            extraction.blocks,
            titles=(fields.title, extraction.declared.title[0], extraction.html_title),
            captions=extraction.captions,
            authors=fields.authors,
            tags=fields.tags,
        )
    )
    text = "\n\n".join(b.text for b in blocks)
    words = count_words(text)
    check_quality(
        tuple(b.text for b in blocks),
        words=words,
        min_words=min_words,
        types=extraction.declared.types,
        url=page.url,
    )
    article = _assemble(extraction, page, entry, canonical=canonical, fields=fields)
    article = _with_body(article, extraction, page, blocks, minutes=words / words_per_minute)
    published = published_form(article)
    return published.replace(completeness=completeness(published.provenance))


def _canonical(declared: str, fetched_url: str) -> str:
    """The trusted canonical URL (:func:`trusted_canonical`) if it makes a usable URI (at
    most sanitize.MAX_URL characters encoded), else the fetched URL normalised. The id and
    domain come from this form; :func:`published_form` writes it as a URI."""
    try:
        trusted = trusted_canonical(declared, fetched_url)
    except ValueError:  # a malformed declared URL ("https://[x/"): urlsplit refuses it
        trusted = ""
    for candidate in (trusted, canonical_url(fetched_url)):
        if as_uri(candidate):
            return candidate
    return fetched_url


def _assemble(
    extraction: Extraction, page: Page, entry: FeedEntry, *, canonical: str, fields: Fields
) -> Article:
    return Article(
        id=url_id(canonical),
        url=page.final_url,
        canonical_url=canonical,
        feed_url=entry.feed_url,
        source=Source(name=fields.site_name, domain=_domain(canonical)),
        title=fields.title,
        authors=fields.authors,
        published_at=fields.published_at,
        language=None,
        description=fields.description,
        text="",
        word_count=0,
        fetched_at=page.fetched_at,
        extractor=EXTRACTOR,
        modified_at=fields.modified_at,
        section=fields.section,
        categories=(fields.section,) if fields.section else (),
        tags=fields.tags,
        image=fields.image,
        images=extraction.images,
        paywalled=fields.paywalled,
        provenance=dict(fields.provenance),
        missing=fields.missing,
    )


def _with_body(
    article: Article,
    extraction: Extraction,
    page: Page,
    blocks: tuple[Block, ...],
    *,
    minutes: float,
) -> Article:
    text = "\n\n".join(b.text for b in blocks)
    provenance = dict(article.provenance)
    language, declared = _languages(text, extraction, page, provenance)
    return article.replace(
        text=text,
        word_count=count_words(text),
        language=language,
        language_declared=declared,
        reading_time_min=max(1, math.ceil(minutes)),
        body="\n\n".join(b.markup for b in blocks if b.markup),
        body_format=extraction.body_format,
        provenance=provenance | {"body": extraction.body_source},
        completeness=completeness(provenance),
    )


def clean_blocks(
    blocks: tuple[Block, ...],
    *,
    titles: tuple[str, ...] = (),
    captions: tuple[str, ...] = (),
    authors: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
) -> tuple[Block, ...]:
    """Drop headline echoes, captions, bylines, boilerplate and repeated paragraphs.

    Paragraph blocks with line breaks become one block per line; list and table blocks keep
    their lines together (cleaned line by line). A paragraph of prose is kept once, and so
    is any block that repeats the one before it; a short line that comes back further down
    (a heading or an instruction per day of a plan) is the page's structure, and stays.
    """
    skip = {_key(t) for t in titles} | {_key(c) for c in captions}
    skip.discard("")
    seen: set[str] = set()
    kept: list[Block] = []
    last_source: Block | None = None
    for block, source in _split_paragraphs(blocks):
        lines = [clean_line(raw) for raw in block.text.splitlines()]
        lines = [ln for ln in lines if _keep_line(ln, skip, authors, first=not kept)]
        lines = [ln for ln in lines if not is_tag_list(ln, tags)]
        text = "\n".join(lines)
        key = _key(text)
        if not key or key in skip or (key in seen and _drops_repeat(text, kept)):
            continue
        seen.add(key)
        if kept and source is last_source and _continues(kept[-1].text, text):
            text = f"{kept[-1].text} {text}"
            kept[-1] = Block(kind=source.kind, text=text, markup=_markup(source, text))
            continue
        kept.append(Block(kind=block.kind, text=text, markup=_markup(block, text)))
        last_source = source
    return _drop_trailing_links(_drop_author_bio(kept, authors))


def _drop_author_bio(blocks: list[Block], authors: tuple[str, ...]) -> list[Block]:
    """Drop a note about the author among the last two blocks: a paragraph that opens
    with an author's name and "is/was" ("Jane Doe is a reporter ...", "Inga Buller ist
    ...")."""
    names = [a for a in authors if len(a.split()) >= 2]
    if not names:
        return blocks
    tail = len(blocks) - 2
    return [
        b
        for i, b in enumerate(blocks)
        if not (
            i >= tail and any(_BIO.match(b.text[len(n) :]) and b.text.startswith(n) for n in names)
        )
    ]


_BIO = re.compile(r",? (is|was|ist|war|est|es|é|è|is a|works)\b")


def _drops_repeat(text: str, kept: list[Block]) -> bool:
    """A repeat worth dropping: a whole list or table again (a widget: a calendar), the
    block just before it again, or prose (a sentence of REPEAT_PROSE_WORDS words or more:
    a pull quote, a paragraph extracted twice)."""
    if "\n" in text or (kept and _key(kept[-1].text) == _key(text)):
        return True
    return len(text.split()) >= REPEAT_PROSE_WORDS and text.rstrip().endswith(_PROSE_ENDS)


REPEAT_PROSE_WORDS = 6
_PROSE_ENDS = (".", "!", "?", "…", '"', "”", "。")


def cap_blocks(
    blocks: tuple[Block, ...], *, max_text: int = MAX_TEXT, max_markup: int = MAX_BODY
) -> tuple[Block, ...]:
    """The first blocks whose text (and markup) fit the caps, joined by blank lines.

    Whole paragraphs only; a first paragraph over the cap alone is cut at a word boundary
    (:func:`shorten`, ending with "…") and its markup rewritten from the cut text.
    """
    kept: list[Block] = []
    text_size = markup_size = -2  # no separator before the first block
    for block in blocks:
        text_size += 2 + len(block.text)
        markup_size += 2 + len(block.markup)
        if text_size > max_text or markup_size > max_markup:
            if not kept:
                text = shorten(block.text, max_text)
                kept.append(Block(kind=block.kind, text=text, markup=_markup(block, text)))
            break
        kept.append(block)
    return tuple(kept)


def _drop_trailing_links(blocks: list[Block]) -> tuple[Block, ...]:
    """Drop lists of headlines (related stories) among the last blocks of the body.

    A list that the text introduces with a sentence ending in a colon ("The nominees
    are:") is the article's own, whatever its capitals; related links come under a label.
    """
    tail = len(blocks) - 3
    return tuple(
        b
        for i, b in enumerate(blocks)
        if not (
            i >= tail
            and b.kind == "list"
            and is_headline_list(b.text)
            and not (i > 0 and _introduces(blocks[i - 1].text))
        )
    )


def _introduces(text: str) -> bool:
    """A sentence (six words or more) ending in a colon, as a list's lead-in."""
    return text.rstrip().endswith(":") and len(text.split()) >= 6


def clean_body(text: str, *, title: str, captions: tuple[str, ...] = ()) -> str:
    """Clean plain body text (one paragraph per line) into paragraphs separated by a blank line."""
    blocks = tuple(Block(kind="p", text=line) for line in text.splitlines())
    return "\n\n".join(b.text for b in clean_blocks(blocks, titles=(title,), captions=captions))


def declared_language(html: str) -> str | None:
    """The language the page declares on its <html> element (ISO 639 code), if any."""
    match = _HTML_LANG.search(html[:5000])
    return match.group(1).lower() if match else None


def _markup(block: Block, text: str) -> str:
    """The block's markup, or the cleaned text marked up plainly when cleaning changed it."""
    if not block.markup or _key(text) == _key(block.text):
        return block.markup
    if block.markup.startswith("<"):
        return "<p>" + html.escape(text).replace("\n", "<br/>") + "</p>"
    return text.replace("\n", "  \n")


def _split_paragraphs(blocks: tuple[Block, ...]) -> list[tuple[Block, Block]]:
    """Each block, or each line of a paragraph with line breaks, with the block it is from."""
    split: list[tuple[Block, Block]] = []
    for block in blocks:
        if block.kind in _LINE_KINDS or "\n" not in block.text:
            split.append((block, block))
            continue
        lines = [line for line in block.text.splitlines() if line.strip()]
        split += [
            (Block(kind=block.kind, text=line, markup=_markup(block, line)), block)
            for line in lines
        ]
    return split


def _continues(before: str, line: str) -> bool:
    """``line`` (kept after cleaning) goes on with the sentence of the line kept ``before``
    it in the same paragraph, cut by a line break (hard-wrapped text, ``<br>`` for layout):
    ``before`` ends in a word or comma, not a sentence end, and ``line`` is prose that
    starts in lower case, or both are long ("... won the" / "Africa Movie Academy ...")."""
    before, line = before.strip(), line.strip()
    if "\n" in before or not line or not (before[-1].isalpha() or before[-1] == ","):
        return False
    words = len(line.split())
    if line[0].islower():
        return words >= LONG_LINE_WORDS // 2 and "(" not in line
    last = before.split()[-1]
    return (
        min(len(before.split()), words) >= LONG_LINE_WORDS
        and line[0].isalpha()
        and (last.endswith(",") or last[0].islower())
    )


LONG_LINE_WORDS = 8
"""Both lines around a break at least this long: prose wrapped by hand, not a list."""


def _keep_line(line: str, skip: set[str], authors: tuple[str, ...], *, first: bool) -> bool:
    key = _key(line)
    if not key or key in skip or is_boilerplate(line) or is_byline(line, authors):
        return False
    return not (first and _echoes(key, skip))


def _echoes(key: str, skip: set[str]) -> bool:
    """A first line that is a longer or shorter form of the headline."""
    return any(
        len(k) > 20
        and abs(len(key) - len(k)) <= max(12, len(k) // 5)
        and (key.startswith(k) or k.startswith(key))
        for k in skip
    )


def _key(line: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", line.casefold()))


def _languages(
    text: str, extraction: Extraction, page: Page, provenance: dict[str, str]
) -> tuple[str | None, str | None]:
    code, source = extraction.declared.language
    declared = normalize_language(code) or declared_language(page.html)
    detected = detect_language(text)
    if detected:
        provenance["language"] = "detected"
        return detected, declared
    if declared:
        provenance["language"] = source or "html"
    return declared, declared


def _domain(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host
