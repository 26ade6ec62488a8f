"""Re-extraction of archived pages (``newsflow reextract``): the archive's pages run through
today's extraction, and every published article whose fields changed gets an
``article.updated`` entry (same id, ``version``, ``changed``, ``reason=reextract``) through
the same update script as a changed page (:meth:`Publisher.publish_revision`).

Two passes over the archive, one page in memory at a time. The index pass notes, in Redis,
where each article's latest archived page is (``keys.reextract_latest``): an older version
of a page is never extracted over a newer one. The extract pass then takes those pages in
the selection. A checkpoint (``keys.reextract_checkpoint``: phase, file, offset, counts) is
saved as it goes; the same command run again resumes there, and once done reports the run
instead of repeating it (``restart`` runs it again, publishing only what changed since).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import redis

from pipeline import keys
from pipeline.archive.store import ArchiveFile, Store
from pipeline.archive.warc import ArchivedPage, read_pages
from pipeline.connection import redis_errors
from pipeline.errors import DropArticle
from pipeline.models import Article
from pipeline.process import Services, extract_article
from pipeline.publish import field_digests

REASON = "reextract"
CHECKPOINT_TTL_S = 30 * 24 * 3600
CHECKPOINT_EVERY = 25
"""Pages between two checkpoint saves (at most this many are extracted again on resume)."""
ARTICLE_OUTCOMES = frozenset({"published", "updated", "unchanged"})
"""Archived outcomes whose page is the page of a published article (of its own id)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """Which archived pages to extract again: fetched in [since, until), from ``source``."""

    since: datetime
    until: datetime | None = None
    source: str = ""
    """A domain: its pages and its subdomains' (``example.com`` takes ``www.example.com``)."""

    @property
    def run_id(self) -> str:
        """The id of this selection's run (its checkpoint)."""
        until = self.until.isoformat() if self.until else ""
        return keys.digest(f"{self.since.isoformat()}|{until}|{self.source.lower()}")[:16]

    def wants(self, archived: ArchivedPage) -> bool:
        """True when the page was fetched in the window, from the source."""
        when = archived.page.fetched_at
        if when < self.since or (self.until is not None and when >= self.until):
            return False
        if not self.source:
            return True
        host = (urlsplit(archived.page.final_url or archived.page.url).hostname or "").lower()
        domain = self.source.lower().strip(".")
        return host == domain or host.endswith("." + domain)


def parse_point(value: str) -> datetime:
    """A --since/--until value: an ISO 8601 date or time (UTC unless it says), or a stream id
    (``<ms>-<seq>``, as the articles stream gives them).

    Raises:
        ValueError: it is neither.
    """
    head, dash, seq = value.partition("-")
    if dash and head.isdigit() and seq.isdigit() and len(head) >= 10:
        return datetime.fromtimestamp(int(head) / 1000, UTC)
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(slots=True)
class Tally:
    """What a run found and did."""

    pages: int = 0
    """Archived pages read in the selection."""
    articles: int = 0
    """Latest pages of published articles extracted again."""
    updated: int = 0
    unchanged: int = 0
    unknown: int = 0
    """No record of the article any more (older than ``dedupe_ttl_s``): left alone."""
    dropped: int = 0
    """Today's extraction drops the page (nothing is retracted)."""
    superseded: int = 0
    """Older pages of an article whose newer page is archived too: skipped."""
    words_gained: int = 0
    words_lost: int = 0
    fields: Counter[str] = field(default_factory=Counter)
    done: bool = False
    """The run had finished before (its counts are that run's)."""

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "fields": dict(self.fields)})

    @classmethod
    def from_json(cls, text: str) -> Tally:
        raw = json.loads(text)
        return cls(**{**raw, "fields": Counter(raw.get("fields") or {})})


Progress = Callable[[str, int, int, int], None]
"""Called as pages are read: (phase ``index`` or ``extract``, archive bytes done, bytes in
all, pages read in this pass)."""


def reextract(
    store: Store,
    services: Services,
    selection: Selection,
    *,
    dry_run: bool = False,
    restart: bool = False,
    progress: Progress | None = None,
) -> Tally:
    """Extract the selected archived pages again; publish what changed (unless ``dry_run``).

    Raises:
        ArchiveError: the archive cannot be listed or read.
        RedisUnavailable: Redis could not be reached (the checkpoint keeps the progress).
    """
    client = services.client
    run = selection.run_id + (":dry" if dry_run else "")
    checkpoint = _Checkpoint(client, run)
    if restart or dry_run:
        checkpoint.clear()
    state = checkpoint.load()
    if state.get("phase") == "done":
        return dataclasses.replace(Tally.from_json(state["tally"]), done=True)
    files = store.files()
    report = progress or (lambda *_: None)
    if state.get("phase") != "extract":
        _index(store, files, checkpoint, report)
        state = {"phase": "extract"}
        checkpoint.save(state)
    tally = Tally.from_json(state["tally"]) if "tally" in state else Tally()
    start = (state.get("file", ""), int(state.get("offset", 0)))
    worker = _Reextractor(services, dry_run, tally)
    for seen, (name, archived) in enumerate(_pages(store, files, start, "extract", report)):
        if archived is not None and _eligible(archived) and selection.wants(archived):
            tally.pages += 1
            if checkpoint.is_latest(archived, name):
                worker.run(archived)
            else:
                tally.superseded += 1
        if archived is None or seen % CHECKPOINT_EVERY == 0:
            end = archived.end if archived is not None else -1
            checkpoint.save({"phase": "extract", "file": name, "offset": end}, tally)
    checkpoint.finish(tally, keep=not dry_run)
    return tally


def _index(
    store: Store, files: list[ArchiveFile], checkpoint: _Checkpoint, report: Progress
) -> None:
    """Note each article's latest archived page (whatever the selection: a newer page of an
    article outside the window still wins over an older one inside it)."""
    for name, archived in _pages(store, files, ("", 0), "index", report):
        if archived is not None and _eligible(archived):
            checkpoint.note_latest(archived, name)


def _pages(
    store: Store,
    files: list[ArchiveFile],
    start: tuple[str, int],
    phase: str,
    report: Progress,
) -> Iterator[tuple[str, ArchivedPage | None]]:
    """(file, page) from ``start`` on, then (file, None) at the end of each file; -1 as the
    start offset means the file was done."""
    total = sum(f.size for f in files) or 1
    done = read = 0
    for f in files:
        if start[0] and f.name < start[0]:
            done += f.size
            continue
        offset = start[1] if f.name == start[0] else 0
        if offset >= 0:
            with store.open(f.name) as fh:
                fh.seek(offset)
                for archived in read_pages(fh, f.name):
                    yield f.name, archived
                    read += 1
                    report(phase, done + archived.end, total, read)
        done += f.size
        report(phase, done, total, read)
        yield f.name, None


def _eligible(archived: ArchivedPage) -> bool:
    produced = archived.produced
    return bool(produced.article_id) and produced.outcome in ARTICLE_OUTCOMES


class _Reextractor:
    """Extracts one archived page again and publishes (or, dry, counts) its changes."""

    def __init__(self, services: Services, dry_run: bool, tally: Tally) -> None:
        self._services = services
        self._dry_run = dry_run
        self._tally = tally

    def run(self, archived: ArchivedPage) -> None:
        tally = self._tally
        try:
            article = extract_article(archived.page, archived.entry, self._services)
        except DropArticle:
            tally.dropped += 1
            return
        tally.articles += 1
        changed = _changed_fields(self._services.client, article)
        if changed is None:
            tally.unknown += 1
            return
        if not self._dry_run:
            outcome = self._services.publisher.publish_revision(
                article, archived.entry, reason=REASON
            )
            if outcome is None:
                tally.unknown += 1
                return
            changed = changed if outcome.kind == "updated" else []
        if not changed:
            tally.unchanged += 1
            return
        tally.updated += 1
        tally.fields.update(changed)
        delta = article.word_count - archived.produced.word_count
        tally.words_gained += max(delta, 0)
        tally.words_lost += max(-delta, 0)


def _changed_fields(client: redis.Redis, article: Article) -> list[str] | None:
    """The fields whose digest differs from the published version's; None: no record."""
    with redis_errors("article record lookup failed", url=article.url):
        record = client.hgetall(keys.article_record(article.id))
    if not record:
        return None
    known = {_text(k): _text(v) for k, v in record.items()}
    changed = []
    for pair in field_digests(article).split(";"):
        name, _, value = pair.partition("=")
        if known.get(name) != value:
            changed.append(name)
    return changed


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _Checkpoint:
    """A run's checkpoint and latest-page index in Redis."""

    def __init__(self, client: redis.Redis, run: str) -> None:
        self._client = client
        self._key = keys.reextract_checkpoint(run)
        self._latest = keys.reextract_latest(run)

    def load(self) -> dict[str, str]:
        with redis_errors("reextract checkpoint read failed"):
            raw = self._client.hgetall(self._key)
        return {_text(k): _text(v) for k, v in raw.items()}

    def save(self, state: Mapping[str, object], tally: Tally | None = None) -> None:
        mapping = {k: str(v) for k, v in state.items()}
        if tally is not None:
            mapping["tally"] = tally.to_json()
        with redis_errors("reextract checkpoint write failed"):
            pipe = self._client.pipeline()
            pipe.hset(self._key, mapping=mapping)  # type: ignore[arg-type]
            pipe.expire(self._key, CHECKPOINT_TTL_S)
            pipe.execute()

    def clear(self) -> None:
        with redis_errors("reextract checkpoint reset failed"):
            self._client.delete(self._key, self._latest)

    def finish(self, tally: Tally, *, keep: bool) -> None:
        self.save({"phase": "done"}, tally)
        with redis_errors("reextract checkpoint write failed"):
            self._client.delete(*((self._latest,) if keep else (self._latest, self._key)))

    def note_latest(self, archived: ArchivedPage, name: str) -> None:
        value = _where(archived, name)
        article_id = archived.produced.article_id
        with redis_errors("reextract index write failed"):
            current = self._client.hget(self._latest, article_id)
            if current is None or _text(current) < value:
                self._client.hset(self._latest, article_id, value)
                self._client.expire(self._latest, CHECKPOINT_TTL_S)

    def is_latest(self, archived: ArchivedPage, name: str) -> bool:
        with redis_errors("reextract index read failed"):
            current = self._client.hget(self._latest, archived.produced.article_id)
        return current is not None and _text(current) == _where(archived, name)


def _where(archived: ArchivedPage, name: str) -> str:
    """Sortable by fetch time, then file and offset."""
    stamp = int(archived.page.fetched_at.timestamp() * 1_000_000)
    return f"{stamp:020d}|{name}|{archived.offset:015d}"
