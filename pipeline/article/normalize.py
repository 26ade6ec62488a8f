"""Small text normalisers shared by cleaning and metadata: lines, names, dates (pure)."""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_AUTHOR_SPLIT = re.compile(r"\s*(?:;|,|\||\band\b|&|\bund\b|\by\b|\bet\b|\be\b)\s*", re.I)
_BY_PREFIX = re.compile(r"^(by|von|par|por|di|door)\s+", re.I)
_NOT_A_NAME = re.compile(
    r"^(staff|reporter|correspondent|editor|writer|contributor|news|admin|associated press"
    r"|reuters|afp|ap|updated?|published|posted)\b|\d|@|https?:",
    re.I,
)


_CREDENTIAL = re.compile(r"^([A-Z]{2,4}|Ph\.?D|M\.?D|Jr|Sr|I{2,3}|M\.?Sc?|B\.?Sc?)\.?$")


def clean_line(text: str | None) -> str:
    """Normalise Unicode (NFC), drop invisible characters and collapse white space."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    return _SPACES.sub(" ", text).strip()


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
