"""Decoding HTML bytes to text without mojibake: declared charset, then detection.

Order: the Content-Type header, the ``<meta charset>`` tag, strict UTF-8, then statistical
detection (charset-normalizer). Latin-1 and ASCII labels mean windows-1252, as browsers do.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

_HTML_LANG = re.compile(rb"<html[^>]*\slang=[\"']?([a-zA-Z]{2,3})\b", re.I)
_WESTERN = (
    "af",
    "ca",
    "da",
    "de",
    "en",
    "es",
    "et",
    "eu",
    "fi",
    "fo",
    "fr",
    "ga",
    "gl",
    "id",
    "is",
    "it",
    "ms",
    "nl",
    "no",
    "pt",
    "sq",
    "sv",
    "sw",
)
_LEGACY_BY_LANGUAGE = {
    **dict.fromkeys(_WESTERN, "cp1252"),
    **dict.fromkeys(["cs", "hr", "hu", "pl", "ro", "sk", "sl", "bs"], "cp1250"),
    **dict.fromkeys(["ru", "uk", "bg", "be", "mk", "sr"], "cp1251"),
    "el": "cp1253",
    "tr": "cp1254",
    "he": "cp1255",
    "ar": "cp1256",
    "fa": "cp1256",
    "lt": "cp1257",
    "lv": "cp1257",
    "vi": "cp1258",
    "th": "cp874",
    "ja": "shift_jis",
    "zh": "gb18030",
    "ko": "euc_kr",
}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)


def decode_html(body: bytes, content_type_header: str) -> str:
    """Decode HTML bytes: charset from the header, the meta tag, UTF-8, then detection."""
    for candidate in (_header_charset(content_type_header), _meta_charset(body), "utf-8"):
        if candidate:
            try:
                return body.decode(candidate)
            except (LookupError, UnicodeDecodeError):
                continue
    return body.decode(_detect(body), errors="replace")


def _detect(body: bytes) -> str:
    """Undeclared, not UTF-8: the page language's legacy codepage, else a detector's pick.

    Statistical detectors confuse the Latin codepages on short texts (French in windows-1252
    read as Baltic or Mac Latin-2), so windows-1252, the web's most common legacy encoding,
    wins whenever the detector finds it plausible.
    """
    lang = _HTML_LANG.search(body[:4096])
    if lang and lang.group(1).lower().decode() in _LEGACY_BY_LANGUAGE:
        return _LEGACY_BY_LANGUAGE[lang.group(1).lower().decode()]
    matches = charset_normalizer.from_bytes(body[:200_000])
    encodings = [m.encoding for m in matches]
    if "cp1252" in encodings:
        return "cp1252"
    best = matches.best()
    return best.encoding if best is not None else "cp1252"


def _header_charset(content_type: str) -> str | None:
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.I)
    return _known_codec(match.group(1)) if match else None


def _meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET.search(body[:4096])
    codec = _known_codec(match.group(1).decode("ascii", "ignore")) if match else None
    # A meta tag readable as ASCII rules out UTF-16/32 (WHATWG: such a label means UTF-8).
    return "utf-8" if codec and codec.startswith(("utf-16", "utf-32")) else codec


def _known_codec(name: str) -> str | None:
    """The codec for a declared charset; latin-1 and ASCII labels mean windows-1252 (WHATWG)."""
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    return "cp1252" if codec in ("latin-1", "iso8859-1", "ascii") else codec
