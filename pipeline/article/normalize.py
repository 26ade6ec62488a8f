"""Small text normalisers shared by cleaning and metadata: lines, names, dates (pure)."""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_SPACES = re.compile(r"\s+")
"""Any run of white space, line breaks included (C0/C1 separators, NBSP, U+2028...)."""
UNSAFE_CHARACTERS = (
    "\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u206f\ufff9-\ufffb\ud800-\udfff"
)
"""Characters no published string holds (a regex class body; white space is apart).

C0 and C1 control characters (ESC starts terminal sequences, BEL, NUL...) and DEL; the
explicit bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069: they reorder
what follows them on screen, the "Trojan Source" spoofing, and leak out of the field into
whatever a consumer prints next), the deprecated format controls U+206A-U+206F, the
interlinear annotation controls and lone surrogates (not encodable as UTF-8: the publish would
fail). Kept: the implicit direction marks LRM, RLM and ALM (U+200E, U+200F, U+061C), which
cannot reorder a run and are common in Arabic, Hebrew and Persian text. The white space
controls (tab, line breaks, U+001C-U+001F, NEL) become a space, or a newline in body text.
Tag characters (U+E0000-U+E007F: invisible, used to hide text) are dropped too, except in
emoji tag sequences (the flags of England, Scotland, Wales).
"""
_UNSAFE = re.compile(f"[{UNSAFE_CHARACTERS}]+")
_TAGS = re.compile("[\U000e0000-\U000e007f]")
_TAG_RUN = re.compile("(\U0001f3f4[\U000e0020-\U000e007e]{1,30}\U000e007f)|[\U000e0000-\U000e007f]")
"""An emoji tag sequence (kept: group 1) or a stray tag character."""
_LINE_BREAKS = re.compile("\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_LAST_WORD = re.compile(r"\s+\S*$")
_ELLIPSIS = "\u2026"
_AUTHOR_SPLIT = re.compile(r"\s*(?:;|,|\||\band\b|&|\bund\b|\by\b|\bet\b|\be\b)\s*", re.I)
_BY_PREFIX = re.compile(r"^(by|von|par|por|di|door)\s+", re.I)
_NOT_A_NAME = re.compile(
    r"^(staff|reporter|correspondent|editor|writer|contributor|news|admin|associated press"
    r"|reuters|afp|ap|updated?|published|posted)\b|\d|@|https?:",
    re.I,
)


_CREDENTIAL = re.compile(r"^([A-Z]{2,4}|Ph\.?D|M\.?D|Jr|Sr|I{2,3}|M\.?Sc?|B\.?Sc?)\.?$")


def clean_line(text: str | None) -> str:
    """Normalise Unicode (NFC), drop unsafe and invisible characters, collapse white space.

    The result is one line: line breaks become spaces (see :data:`UNSAFE_CHARACTERS`).
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFC", strip_unsafe(text)).translate(_INVISIBLE)
    return _SPACES.sub(" ", text).strip()


def strip_unsafe(text: str, *, multiline: bool = False) -> str:
    """``text`` without the characters of :data:`UNSAFE_CHARACTERS`.

    With ``multiline`` (body text and markup), every line break (CR LF, CR, VT, FF, U+001C-
    U+001E, NEL, U+2028, U+2029) becomes a newline and tabs stay; U+001F becomes a space.
    Without it white space is left for the caller to collapse (:func:`clean_line` does).
    """
    text = _UNSAFE.sub("", text)
    if _TAGS.search(text):
        text = _TAG_RUN.sub(lambda m: m.group(1) or "", text)
    if multiline:
        text = _LINE_BREAKS.sub("\n", text).replace("\x1f", " ")
    return text


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, ending with "…".

    The rule: a text of ``limit`` characters or fewer is kept whole. A longer one keeps its
    first ``limit - 1`` characters, less the word cut in two if a white space falls in their
    second half (else the cut is at ``limit - 1``, moved back off combining marks: text
    without spaces, such as Chinese or Japanese, is cut between characters); trailing white
    space is dropped and "…" appended.
    """
    if len(text) <= limit:
        return text
    cut = limit - 1
    if not text[cut].isspace():
        word = _LAST_WORD.search(text, limit // 2, cut)
        if word:
            cut = word.start()
        else:
            while cut > 0 and _joins_previous(text[cut]):
                cut -= 1
    return text[:cut].rstrip() + _ELLIPSIS


def _joins_previous(char: str) -> bool:
    """A combining mark, variation selector or joiner: part of the character before it."""
    return unicodedata.category(char).startswith("M") or char in "\u200c\u200d\ufe0e\ufe0f"


def clean_field(text: str | None) -> str:
    """A metadata value: :func:`clean_line` after decoding HTML entities left in it."""
    if not text:
        return ""
    text = html.unescape(html.unescape(text)) if "&" in text else text
    return clean_line(text)


def parse_authors(value: str) -> tuple[str, ...]:
    """Split a byline into clean names: "By Jane Doe and John Roe" -> two names."""
    names: list[str] = []
    for part in _AUTHOR_SPLIT.split(clean_field(value)):
        name = _BY_PREFIX.sub("", part).strip(" .,;:")
        if not name or len(name) > 80 or len(name.split()) > 5 or name in names:
            continue
        if _NOT_A_NAME.search(name) or _CREDENTIAL.match(name):
            continue
        names.append(name)
    return tuple(names[:10])


def parse_datetime(value: str | None) -> datetime | None:
    """Parse an ISO 8601 (or RFC 2822) date or datetime into an aware UTC datetime.

    A naive value is taken as UTC.
    """
    if not value:
        return None
    text = value.strip()
    parsed = _iso(text) or _rfc2822(text)
    if parsed is None or not 1990 <= parsed.year <= 2100:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _iso(text: str) -> datetime | None:
    text = text.replace("Z", "+00:00").replace("z", "+00:00")
    if re.fullmatch(r".*[+-]\d{4}", text):
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _rfc2822(text: str) -> datetime | None:
    if not re.match(r"^[A-Za-z]{3},? \d", text):
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
