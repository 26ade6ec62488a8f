"""Decoding HTML bytes to text without mojibake: declared charset, then detection.

Order: the Content-Type header, the ``<meta charset>`` tag, strict UTF-8, then statistical
detection (charset-normalizer). Latin-1 and ASCII labels mean windows-1252, as browsers do.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)


def decode_html(body: bytes, content_type_header: str) -> str:
    """Decode HTML bytes: charset from the header, the meta tag, UTF-8, then detection."""
    for candidate in (_header_charset(content_type_header), _meta_charset(body), "utf-8"):
        if candidate:
            try:
                return body.decode(candidate)
            except (LookupError, UnicodeDecodeError):
                continue
    best = charset_normalizer.from_bytes(body[:200_000]).best()
    encoding = best.encoding if best is not None else "utf-8"
    return body.decode(encoding, errors="replace")


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
