"""WARC records of archived pages: the one module that imports warcio.

Each fetched page is one ``response`` record: the HTTP status line and headers as the
fetcher received them (Content-Encoding and Transfer-Encoding removed: the body is stored
decoded), the body bytes, ``WARC-Date`` = the fetch time, and ``NewsFlow-*`` headers naming
the feed entry, the article it produced (id, version, stream id) or why it was dropped.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.errors import ArchiveError
from pipeline.fetch.charset import decode_html
from pipeline.models import FeedEntry, Page

_DROPPED_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
_REASONS = {200: "OK", 203: "Non-Authoritative Information"}
COMPRESS_LEVEL = 6
"""gzip level of each record: warcio's own is 9, a third more CPU per page for 0.6 % smaller
files on the benchmark corpus (docs/scaling.md)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Produced:
    """What a page produced: an article (id, version, stream id) or a drop reason."""

    outcome: str
    """published, updated, unchanged, duplicate, already or dropped."""
    article_id: str = ""
    version: str = ""
    stream_id: str = ""
    reason: str = ""
    word_count: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchivedPage:
    """One page read back from the archive, with where it was found."""

    page: Page
    entry: FeedEntry
    produced: Produced
    offset: int
    """Where its record starts in its (compressed) file: a place to resume from."""
    end: int = 0
    """Where its record ends in its file (the next record's offset)."""


def warcinfo_record(filename: str, software: str) -> bytes:
    """The gzipped ``warcinfo`` record that opens each file."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    info = {"software": software, "format": "WARC File Format 1.1"}
    writer.write_record(writer.create_warcinfo_record(filename, info))
    return _gzip_member(out.getvalue())


def page_record(page: Page, entry: FeedEntry, produced: Produced) -> bytes:
    """The gzipped ``response`` record of a page (one gzip member: files can be cut anywhere
    between records and read from any record's offset)."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    headers = [(k, v) for k, v in page.headers if k.lower() not in _DROPPED_HEADERS]
    headers.append(("content-length", str(len(page.body))))
    status = f"{page.status} {_REASONS.get(page.status, 'OK')}"
    warc_headers = {
        "WARC-Date": _warc_date(page.fetched_at),
        "NewsFlow-Entry-URL": page.url,
        "NewsFlow-Entry": json.dumps(entry.to_message(), ensure_ascii=True),
        "NewsFlow-Outcome": produced.outcome,
        "NewsFlow-Article-Id": produced.article_id,
        "NewsFlow-Article-Version": produced.version,
        "NewsFlow-Stream-Id": produced.stream_id,
        "NewsFlow-Reason": produced.reason,
        "NewsFlow-Word-Count": str(produced.word_count),
    }
    record = writer.create_warc_record(
        page.final_url,
        "response",
        payload=io.BytesIO(page.body),
        length=len(page.body),
        http_headers=StatusAndHeaders(status, headers, protocol="HTTP/1.1"),
        warc_headers_dict={k: v for k, v in warc_headers.items() if v},
    )
    writer.write_record(record)
    return _gzip_member(out.getvalue())


def _gzip_member(record: bytes) -> bytes:
    """One record as one gzip member (record-at-a-time compression, as WARC readers expect)."""
    compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return compressor.compress(record) + compressor.flush()


def read_pages(stream: IO[bytes], name: str) -> Iterator[ArchivedPage]:
    """The archived pages of one file (from where ``stream`` is), in order. A file cut
    short (its writer was killed) ends at its last whole record.

    Raises:
        ArchiveError: the file is not WARC at all.
    """
    records = ArchiveIterator(stream)  # offsets: of the file (it starts at stream.tell())
    try:
        for record in records:
            if record.rec_type != "response":
                continue
            page = _page_of(record)
            if len(page.body) != int(record.http_headers.get_header("content-length") or -1):
                return  # the last record, cut short
            records.read_to_end(record)
            offset = records.get_record_offset()
            yield ArchivedPage(
                page=page,
                entry=_entry_of(record),
                produced=_produced_of(record),
                offset=offset,
                end=offset + records.get_record_length(),
            )
    except ArchiveLoadFailed as exc:
        raise ArchiveError(f"{name}: not a WARC file ({exc})") from exc
    except (EOFError, OSError, ValueError):  # zlib/gzip errors of a file cut short
        return


def _page_of(record: Any) -> Page:
    http = record.http_headers
    headers = tuple((k.lower(), v) for k, v in http.headers)
    body = record.raw_stream.read()
    content_type = http.get_header("content-type") or ""
    return Page(
        url=record.rec_headers.get_header("NewsFlow-Entry-URL") or "",
        final_url=record.rec_headers.get_header("WARC-Target-URI") or "",
        status=int(http.get_statuscode() or 200),
        content_type=content_type.split(";")[0].strip().lower(),
        html=decode_html(body, content_type),
        fetched_at=datetime.fromisoformat(record.rec_headers.get_header("WARC-Date")),
        headers=headers,
        body=body,
    )


def _entry_of(record: Any) -> FeedEntry:
    raw = record.rec_headers.get_header("NewsFlow-Entry") or "{}"
    message = json.loads(raw)
    if not message.get("url"):
        message["url"] = record.rec_headers.get_header("NewsFlow-Entry-URL") or ""
    return FeedEntry.from_message(message)


def _produced_of(record: Any) -> Produced:
    def header(name: str) -> str:
        return str(record.rec_headers.get_header(f"NewsFlow-{name}") or "")

    words = header("Word-Count")
    return Produced(
        outcome=header("Outcome"),
        article_id=header("Article-Id"),
        version=header("Article-Version"),
        stream_id=header("Stream-Id"),
        reason=header("Reason"),
        word_count=int(words) if words.isdigit() else 0,
    )


def _warc_date(when: datetime) -> str:
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")
