"""Decoding HTML bytes to text without mojibake: declared charset, then detection.

Order: a byte-order mark, the Content-Type header, the ``<meta charset>`` tag, the XML
declaration, strict UTF-8, then statistical detection (charset-normalizer).

Only the labels of the WHATWG Encoding Standard are honoured, mapped as browsers map them
(Latin-1 and ASCII labels mean windows-1252, GBK means GB18030, Shift_JIS means windows-31J):
a page names its charset, but Python's codec registry also holds codecs that are not text
encodings at all (``undefined`` always raises, ``punycode`` and ``unicode_escape`` decode in
quadratic time, ``base64``/``zlib``/``rot13`` transform bytes), so any other label is ignored
and the next source decides.
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
_XML_ENCODING = re.compile(rb"""\s*<\?xml[^>]{0,200}?\sencoding\s*=\s*["']([a-zA-Z0-9_.:-]+)""")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_WHATWG_LABELS = {
    "utf-8": "unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf-8 utf8 x-unicode20utf8",
    "cp866": "866 cp866 csibm866 ibm866",
    "iso8859-2": "csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2"
    " iso_8859-2:1987 l2 latin2",
    "iso8859-3": "csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3"
    " iso_8859-3:1988 l3 latin3",
    "iso8859-4": "csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4"
    " iso_8859-4:1988 l4 latin4",
    "iso8859-5": "csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595"
    " iso_8859-5 iso_8859-5:1988",
    "iso8859-6": "arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6"
    " iso-8859-6-e iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6 iso_8859-6:1987",
    "iso8859-7": "csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 iso-ir-126"
    " iso8859-7 iso88597 iso_8859-7 iso_8859-7:1987 sun_eu_greek",
    "iso8859-8": "csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e iso-ir-138"
    " iso8859-8 iso88598 iso_8859-8 iso_8859-8:1988 visual csiso88598i iso-8859-8-i logical",
    "iso8859-10": "csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6",
    "iso8859-13": "iso-8859-13 iso8859-13 iso885913",
    "iso8859-14": "iso-8859-14 iso8859-14 iso885914",
    "iso8859-15": "csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9",
    "iso8859-16": "iso-8859-16",
    "koi8-r": "cskoi8r koi koi8 koi8-r koi8_r",
    "koi8-u": "koi8-ru koi8-u",
    "mac-roman": "csmacintosh mac macintosh x-mac-roman",
    "cp874": "dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874",
    "cp1250": "cp1250 windows-1250 x-cp1250",
    "cp1251": "cp1251 windows-1251 x-cp1251",
    "cp1252": "ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100"
    " iso8859-1 iso88591 iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252",
    "cp1253": "cp1253 windows-1253 x-cp1253",
    "cp1254": "cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9"
    " iso_8859-9:1989 l5 latin5 windows-1254 x-cp1254",
    "cp1255": "cp1255 windows-1255 x-cp1255",
    "cp1256": "cp1256 windows-1256 x-cp1256",
    "cp1257": "cp1257 windows-1257 x-cp1257",
    "cp1258": "cp1258 windows-1258 x-cp1258",
    "mac-cyrillic": "x-mac-cyrillic x-mac-ukrainian",
    "gb18030": "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 x-gbk"
    " gb18030",
    "big5hkscs": "big5 big5-hkscs cn-big5 csbig5 x-x-big5",
    "euc_jp": "cseucpkdfmtjapanese euc-jp x-euc-jp",
    "iso2022_jp": "csiso2022jp iso-2022-jp",
    "cp932": "csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis",
    "cp949": "cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989"
    " ksc5601 ksc_5601 windows-949",
    "utf-16-be": "unicodefffe utf-16be",
    "utf-16-le": "csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16 utf-16le",
}
"""Python codec: the WHATWG labels that name it (https://encoding.spec.whatwg.org/#names-and-labels).
Left out: the "replacement" encoding's labels (ISO-2022-KR/CN, HZ) and x-user-defined, which
have no Python codec; such a label is ignored like an unknown one."""
_CODEC_BY_LABEL = {
    label: codec for codec, labels in _WHATWG_LABELS.items() for label in labels.split()
}


def decode_html(body: bytes, content_type_header: str) -> str:
    """Decode HTML bytes: a BOM, then the charset of the header, the meta tag or the XML
    declaration (WHATWG labels only), UTF-8, then detection."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    candidates = (
        _header_charset(content_type_header),
        _in_document(_META_CHARSET.search(body[:4096])),
        _in_document(_XML_ENCODING.match(body[:512])),
        "utf-8",
    )
    for candidate in candidates:
        if candidate:
            try:
                return body.decode(candidate)
            except (LookupError, UnicodeError):
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
    match = re.search(r"charset\s*=\s*[\"']?\s*([\w.:-]+)", content_type, re.I)
    return _known_codec(match.group(1)) if match else None


def _in_document(match: re.Match[bytes] | None) -> str | None:
    """The codec a label inside the document names (meta tag, XML declaration)."""
    codec = _known_codec(match.group(1).decode("ascii", "ignore")) if match else None
    # A label readable as ASCII rules out UTF-16 (WHATWG: such a label means UTF-8).
    return "utf-8" if codec and codec.startswith("utf-16") else codec


def _known_codec(label: str) -> str | None:
    """The Python codec for a WHATWG encoding label (any case, blanks around), else None."""
    return _CODEC_BY_LABEL.get(label.strip().lower())
