"""Identity of articles: canonical URLs, ids and content fingerprints.

Pure functions, plus :func:`recorded_outcome`, the cheap pre-fetch check. The check only
reads: claiming happens atomically with the stream write in :mod:`pipeline.publish`.
"""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import courlan

from pipeline import keys

_LETTERS = re.compile(r"[^\W_]+")
"""Runs of letters and digits: what a fingerprint keeps of a text."""
_HOST_PREFIX = re.compile(r"^(www\d?|m|mobile|amp)\.(?=[^.]+\.)")
_AMP_SEGMENT = re.compile(r"/amp(?:/|$)")
_INDEX_PAGE = re.compile(r"/(?:index|default)\.(?:html?|php|aspx?|shtml|jsp)$")
_AMP_PARAM = re.compile(r"^(?:amp(?:=[^&]*)?|outputType=amp|output=amp)$", re.I)
_WORD = re.compile(r"\w+")
ANCHOR_SHINGLE = 8
"""Words per shingle of the near-duplicate anchors."""
ANCHOR_SAMPLING = 16
"""One shingle in this many is an anchor, chosen by its words alone (so the same in every
copy): the XOR of the low bytes of its words' CRC-32s is a multiple of this. A divisor of 256."""
MAX_ANCHORS = 48
"""Anchors kept per article, from the start of the text (truncated copies keep the start)."""
_PIECE_CHARS = 5000
"""Text normalised and split into words at a time (then up to the next space). The first piece
of a long text usually holds all MAX_ANCHORS anchors (~770 words), so the rest is not read."""
_CRC_ARRAY = "I"
"""array typecode of the words' CRC-32s (4 bytes on every CPython platform)."""
_LOW_BYTE = 0 if sys.byteorder == "little" else array(_CRC_ARRAY).itemsize - 1
"""Offset of a CRC-32's low byte in its array item, so the choice is the same on every machine."""
_NOT_SAMPLED = bytes(int(b % ANCHOR_SAMPLING != 0) for b in range(256))
"""Translation of a shingle's XORed byte: 0 if the shingle is sampled."""


def canonical_url(url: str) -> str:
    """Normalise a URL: scheme/host case, default port, fragment and tracking parameters.

    courlan's non-strict mode removes tracking parameters (utm_*, fbclid, gclid, ...) but
    keeps the others: its strict mode also drops parameters that identify articles (idx=).
    """
    try:
        normalised: str = courlan.normalize_url(url.strip(), strict=False)
    except (ValueError, AttributeError):
        return url.strip()
    return normalised.split("#", 1)[0]


def identity_url(url: str) -> str:
    """The form two URLs of the same page share: canonical, then without ``www.``/``m.``/
    ``amp.`` hosts, AMP path segments and parameters, index pages and trailing slashes."""
    parts = urlsplit(canonical_url(url))
    host = _HOST_PREFIX.sub("", parts.hostname or "")
    if parts.port:
        host = f"{host}:{parts.port}"
    path = _AMP_SEGMENT.sub("/", parts.path)
    path = _INDEX_PAGE.sub("/", path)
    path = path.rstrip("/") or "/"
    query = "&".join(p for p in parts.query.split("&") if p and not _AMP_PARAM.match(p))
    return urlunsplit(("https" if parts.scheme == "http" else parts.scheme, host, path, query, ""))


def url_id(url: str) -> str:
    """The stable id of a URL: sha256 of its identity form (see :func:`identity_url`)."""
    return keys.digest(identity_url(url))


def trusted_canonical(declared: str, fetched_url: str) -> str:
    """The page's declared canonical URL if it is plausible, else the fetched URL.

    A declared canonical must stay on the same host (ignoring ``www.``) and must not point
    at the site root, which misconfigured sites declare for every page.
    """
    fetched = canonical_url(fetched_url)
    if not declared:
        return fetched
    candidate = canonical_url(declared)
    a, b = urlsplit(candidate), urlsplit(fetched)
    same_host = _bare_host(a.hostname) == _bare_host(b.hostname)
    if a.scheme in ("http", "https") and same_host and a.path not in ("", "/"):
        return candidate
    return fetched


def _bare_host(host: str | None) -> str:
    host = (host or "").lower()
    return host[4:] if host.startswith("www.") else host


def text_fingerprint(text: str) -> str:
    """Fingerprint of a body text that ignores case, punctuation and whitespace."""
    folded = _fold(text)
    # the runs between [\W_]+ runs, one space apart (as a substitution then strip; 10 % faster)
    return hashlib.sha256(" ".join(_LETTERS.findall(folded)).encode("utf-8")).hexdigest()[:32]


def near_duplicate_anchors(text: str) -> tuple[str, ...]:
    """Content-defined anchors of a body: hashes of sampled word 8-grams, in text order.

    A copy with other boilerplate, an edited paragraph or a cut end keeps most of the
    anchors of the original, because which shingles are anchors depends only on the words.

    Words are ``\\w+`` runs of the NFKC-normalised, casefolded text. A shingle is sampled
    when the XOR of the low bytes of its words' CRC-32s is a multiple of ANCHOR_SAMPLING
    (one CRC per word, XORed for every shingle at once), and its anchor is the hex blake2b
    (8 bytes) of its words joined by spaces: unique, at most MAX_ANCHORS, from the start of
    the text. Texts under ANCHOR_SHINGLE words have none. The text is read in pieces of
    about _PIECE_CHARS, each ending before a space (where NFKC, casefolding and ``\\w+``
    act as on the whole text), until MAX_ANCHORS are found: the anchors are those of the
    whole text.
    """
    found: dict[str, None] = {}
    words: list[bytes] = []
    start = 0
    while start < len(text):
        cut = text.find(" ", start + _PIECE_CHARS)
        end = len(text) if cut < 0 else cut
        # the last ANCHOR_SHINGLE - 1 words start the shingles that overlap the next piece
        words = words[1 - ANCHOR_SHINGLE :] + _words(text[start:end])
        start = end
        for i in _sampled_shingles(words):
            shingle = b" ".join(words[i : i + ANCHOR_SHINGLE])
            found.setdefault(hashlib.blake2b(shingle, digest_size=8).hexdigest())
            if len(found) == MAX_ANCHORS:
                return tuple(found)
    return tuple(found)


def _words(piece: str) -> list[bytes]:
    """The UTF-8 words of a piece of text, normalised and casefolded."""
    return " ".join(_WORD.findall(_fold(piece))).encode("utf-8").split()


def _fold(text: str) -> str:
    """The form fingerprints and anchors compare: NFKC-normalised, casefolded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _sampled_shingles(words: list[bytes], table: bytes = _NOT_SAMPLED) -> Iterator[int]:
    """Where the sampled shingles of ``words`` start, in order (see ANCHOR_SAMPLING; ``table``
    translates a shingle's XORed byte to 0 where it is sampled).

    Computed without a Python step per word: the words' CRC-32 low bytes as one byte string,
    XORed with itself shifted by 1..ANCHOR_SHINGLE-1 words as big integers, then searched
    for the shingles whose byte translates to 0.
    """
    count = len(words) - ANCHOR_SHINGLE + 1
    if count <= 0:
        return
    crcs = array(_CRC_ARRAY, map(zlib.crc32, words))
    low = crcs.tobytes()[_LOW_BYTE :: crcs.itemsize]
    mixed = 0
    for k in range(ANCHOR_SHINGLE):
        mixed ^= int.from_bytes(low[k : k + count], "little")
    sampled = mixed.to_bytes(count, "little").translate(table)
    i = sampled.find(0)
    while i >= 0:
        yield i
        i = sampled.find(0, i + 1)


DENSE_SAMPLING = 4
"""One shingle in this many (by the XOR of its words' CRC low bytes, like the anchors) is a
signature shingle. A divisor of 256."""
SPREAD_MAX = 12
"""Indexed shingles spread over a whole text: the ones with the smallest hashes (bottom-k)."""
LEAD_WORDS = 32
"""Signature shingles starting in a text's first words are also indexed (short copies)."""
LEAD_MAX = 6
SKETCH_WORDS = 160
"""The sketch (containment of short texts) covers the shingles starting this early."""
LOOKUP_BELOW = "4"
"""Past 2 * SKETCH_WORDS words (a longer copy's sketch region) a text looks up only its
shingles whose hash is below this (1/4 of them)."""
LOOKUP_MAX = 320
MAX_SIGNATURE_WORDS = 20_000
_NOT_DENSE = bytes(int(b % DENSE_SAMPLING != 0) for b in range(256))


@dataclass(frozen=True, slots=True)
class Signature:
    """What the near-duplicate index keeps and looks up for one text.

    Shingle hashes are 12 lower-case hex digits, so they compare as strings as they do as
    numbers. ``spread`` (the SPREAD_MAX smallest, at most ``cut``) and ``lead`` are indexed
    when the text is published; ``lookup`` is what it is compared on (every shingle of the
    first SKETCH_WORDS words, the smaller hashes after them, and all indexed ones);
    ``sketch`` holds the last 4 hex digits of the first SKETCH_WORDS words' shingles, sorted
    (the containment of short texts).
    """

    words: int
    cut: str
    spread: tuple[str, ...]
    lead: tuple[str, ...]
    lookup: tuple[str, ...]
    sketch: str


def text_signature(text: str) -> Signature:
    """The near-duplicate signature of a body text (see :class:`Signature`).

    Shingles are ANCHOR_SHINGLE words (``\\w+`` runs of the NFKC-normalised, casefolded
    text); one in DENSE_SAMPLING is kept, chosen by its words alone (the same in every copy),
    and named by the first 6 bytes of its blake2b hash. Only the first MAX_SIGNATURE_WORDS
    words are read.
    """
    words = _words(text)[:MAX_SIGNATURE_WORDS]
    found: dict[str, int] = {}
    for i in _sampled_shingles(words, _NOT_DENSE):
        shingle = b" ".join(words[i : i + ANCHOR_SHINGLE])
        found.setdefault(hashlib.blake2b(shingle, digest_size=6).hexdigest(), i)
    spread = tuple(sorted(found)[:SPREAD_MAX])
    indexed = set(spread)
    lead = tuple(a for a, i in found.items() if i < LEAD_WORDS and a not in indexed)[:LEAD_MAX]
    indexed.update(lead)
    early = [a for a, i in found.items() if i < SKETCH_WORDS]
    others = [
        a
        for a, i in found.items()
        if a not in indexed and (i < 2 * SKETCH_WORDS or a < LOOKUP_BELOW)
    ]
    lookup = [a for a in found if a in indexed] + others[: max(0, LOOKUP_MAX - len(indexed))]
    return Signature(
        words=len(words),
        cut=spread[-1] if spread else "",
        spread=spread,
        lead=lead,
        lookup=tuple(lookup),
        sketch="".join(sorted({a[-4:] for a in early})),
    )
