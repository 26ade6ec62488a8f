"""Charset labels: only WHATWG text encodings are honoured, wherever the label comes from."""

from __future__ import annotations

import codecs
import json
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.article.standalone import extract_input
from pipeline.fetch.charset import _WHATWG_LABELS, decode_html
from pipeline.local.site import sample_site_dir
from pipeline.settings import Settings
from tests.commands import ROOT, newsflow

NOT_TEXT_ENCODINGS = [
    "undefined",
    "punycode",
    "idna",
    "rot13",
    "rot_13",
    "base64",
    "base64_codec",
    "hex",
    "hex_codec",
    "zlib",
    "zlib_codec",
    "bz2",
    "bz2_codec",
    "uu",
    "quopri",
    "utf-7",
    "utf7",
    "raw_unicode_escape",
    "unicode_escape",
    "utf-32",
    "x-user-defined",
    "mbcs",
]
"""Labels Python's codec registry may know that no browser accepts for a page."""

# ASCII only, and lowercase letters after the last "-": punycode decodes this in
# quadratic time (0.1 s for 20 KB, about 10 s for this one), unicode_escape and idna
# accept it too; utf-8 reads it in microseconds.
SLOW_BAIT = b"<html><head><title>Budget</title></head><body><p>ok</p>-" + b"ba" * 100_000
PAGE = "<html><head>{decl}<title>Café</title></head><body><p>Grüße — 東京 ✓</p></body></html>"


def _declared(label: str, where: str, body: bytes) -> tuple[bytes, str]:
    """``body`` with ``label`` declared in the header, a meta tag or the XML declaration."""
    if where == "header":
        return body, f"text/html; charset={label}"
    if where == "meta":
        return body.replace(b"<head>", f'<head><meta charset="{label}">'.encode(), 1), ""
    return f'<?xml version="1.0" encoding="{label}"?>'.encode() + body, ""


@pytest.mark.parametrize("where", ["header", "meta", "xml"])
@pytest.mark.parametrize("label", NOT_TEXT_ENCODINGS)
def test_a_label_that_is_not_a_text_encoding_is_ignored(label: str, where: str) -> None:
    body, header = _declared(label, where, SLOW_BAIT)
    started = time.monotonic()
    text = decode_html(body, header)
    assert time.monotonic() - started < 0.5
    assert text.endswith("<p>ok</p>-" + "ba" * 100_000)

    body, header = _declared(label, where, PAGE.format(decl="").encode())
    assert "<title>Café</title></head><body><p>Grüße — 東京 ✓</p>" in decode_html(body, header)


def test_undefined_charset_in_a_file_gives_an_article(tmp_path: Path) -> None:
    """It used to raise UnicodeError out of `newsflow extract` (traceback, inputs abandoned)."""
    html = (sample_site_dir() / "articles" / "rates-hold.html").read_text(encoding="utf-8")
    page = tmp_path / "undefined.html"
    page.write_text(html.replace('<meta charset="utf-8">', '<meta charset="undefined">'))
    assert '"undefined"' in page.read_text(encoding="utf-8")
    url = "https://gazette.example/articles/rates-hold.html"
    article = extract_input(str(page), Settings(), url)
    assert article["title"].startswith("Central bank holds interest rates")

    done = subprocess.run(
        newsflow("extract", str(page), str(page), "--base-url", url),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert "Traceback" not in done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["article"]["title"] for line in lines] == [article["title"]] * 2


@pytest.mark.parametrize(
    ("body", "header", "expected"),
    [
        # Latin-1 and ASCII labels mean windows-1252: 0x93/0x94 are curly quotes.
        (b"\x93caf\xe9\x94", "text/html; charset=ISO-8859-1", "\u201ccafé\u201d"),
        (b"\x93caf\xe9\x94", "text/html; charset=us-ascii", "\u201ccafé\u201d"),
        (b"\x93caf\xe9\x94", "text/html; Charset = 'LATIN1'", "\u201ccafé\u201d"),
        (b"<meta charset='ascii'>\x80 5", "", "€ 5"),
        # Shift_JIS means windows-31J (0x8740 is NEC's circled one), GBK means GB18030.
        (b"\x87\x40 \x93\x8c\x8b\x9e", "text/html; charset=Shift_JIS", "① 東京"),
        ("东京 €".encode("gb18030"), "text/html; charset=gb2312", "东京 €"),
        ("서울".encode("cp949"), "text/html; charset=ks_c_5601-1987", "서울"),
        ("Привет".encode("koi8-r"), "text/html; charset=koi8", "Привет"),
        ("Привет".encode("cp1251"), "text/html; charset=x-cp1251", "Привет"),
        ("שלום".encode("iso8859-8"), "text/html; charset=iso-8859-8-i", "שלום"),
        # The XML declaration counts when nothing earlier names a charset.
        (b'<?xml version="1.0" encoding="windows-1251"?><p>\xcf\xf0\xe8', "", "<p>При"),
        (b'<?xml version="1.0" encoding="utf-16"?><p>caf\xc3\xa9', "", "<p>café"),
        # A byte-order mark wins over every label (WHATWG).
        (codecs.BOM_UTF8 + "café".encode(), "text/html; charset=windows-1252", "café"),
        (codecs.BOM_UTF16_BE + "café".encode("utf-16-be"), "text/html; charset=utf-16", "café"),
        (codecs.BOM_UTF16_LE + "café".encode("utf-16-le"), "", "café"),
    ],
)
def test_whatwg_labels_map_as_browsers_map_them(body: bytes, header: str, expected: str) -> None:
    text = decode_html(body, header)
    assert text == expected or text.endswith(expected), text
    assert "\ufeff" not in text and "\ufffd" not in text


def test_every_allowed_codec_is_a_text_encoding() -> None:
    for codec in _WHATWG_LABELS:
        assert codecs.lookup(codec)._is_text_encoding, codec
