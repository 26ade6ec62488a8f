"""The archive writer of one process: one open file at a time, rotated by size and age,
old files pruned at each rotation. It never raises: an archive failure is counted, logged
and skipped, and the article goes on (docs/operations.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Protocol

from pipeline.archive.store import ArchiveFile, Store, file_name
from pipeline.archive.warc import Produced, page_record, warcinfo_record
from pipeline.errors import ArchiveError
from pipeline.models import FeedEntry, Page, utc_now
from pipeline.settings import ArchiveSettings

log = logging.getLogger(__name__)
SOFTWARE = "newsflow"
STALE_OPEN_S = 3600
"""A folder's ``.open`` file untouched this long past its rotation age belongs to a process
that died: it is given its final name (readable up to its last whole record)."""


class ArchiveHooks(Protocol):
    """Where the writer reports what it did (metrics)."""

    def archived(self, nbytes: int, new_files: int) -> None: ...

    def archive_failed(self) -> None: ...


class _NoHooks:
    def archived(self, nbytes: int, new_files: int) -> None:
        pass

    def archive_failed(self) -> None:
        pass


@dataclass(slots=True)
class _Current:
    name: str
    handle: IO[bytes]
    started: datetime
    size: int
    pid: int


class ArchiveWriter:
    """Writes pages to this process's current archive file. One per process."""

    def __init__(
        self,
        store: Store,
        settings: ArchiveSettings,
        hooks: ArchiveHooks | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self._settings = settings
        self._hooks = hooks or _NoHooks()
        self._clock = clock
        self._current: _Current | None = None
        self._sequence = 0

    def write(self, page: Page, entry: FeedEntry, produced: Produced) -> bool:
        """Append one page's record; False (counted and logged) when it could not be."""
        try:
            record = page_record(page, entry, produced)
            self._ensure_file(len(record))
            assert self._current is not None
            self._current.handle.write(record)
            self._current.size += len(record)
        except Exception as exc:  # never lose the article over its archive copy
            self._hooks.archive_failed()
            log.warning("archive write failed for %s: %s", page.url, exc)
            self._drop_current()
            return False
        self._hooks.archived(len(record), 0)
        return True

    def close(self) -> None:
        """Finish the current file (at process exit); never raises."""
        current, self._current = self._current, None
        if current is None or current.pid != os.getpid():
            return
        try:
            current.handle.close()
            self.store.finish(current.name)
        except Exception as exc:
            self._hooks.archive_failed()
            log.warning("archive file %s could not be finished: %s", current.name, exc)

    def _ensure_file(self, next_bytes: int) -> None:
        current = self._current
        if current is not None and current.pid != os.getpid():
            self._current = current = None  # inherited across a fork: the parent's file
        now = self._clock()
        if current is not None and not self._due(current, now, next_bytes):
            return
        self.close()
        try:
            prune(self.store, self._settings, now)
        except ArchiveError as exc:  # retention waits for the next rotation
            self._hooks.archive_failed()
            log.warning("archive retention failed: %s", exc)
        self._sequence += 1
        name = file_name(now, self._sequence)
        handle = self.store.create(name)
        header = warcinfo_record(name.rsplit("/", 1)[-1], SOFTWARE)
        handle.write(header)
        self._current = _Current(name, handle, now, len(header), os.getpid())
        self._hooks.archived(len(header), 1)

    def _due(self, current: _Current, now: datetime, next_bytes: int) -> bool:
        too_old = now - current.started >= timedelta(seconds=self._settings.max_file_age_s)
        too_big = current.size + next_bytes > self._settings.max_file_bytes
        return too_old or (too_big and current.size > 0)

    def _drop_current(self) -> None:
        current, self._current = self._current, None
        if current is not None and current.pid == os.getpid():
            try:
                current.handle.close()
                self.store.finish(current.name)
            except Exception as exc:
                log.warning("archive file %s left unfinished: %s", current.name, exc)


def prune(store: Store, settings: ArchiveSettings, now: datetime) -> list[str]:
    """Apply retention (age, then total size, oldest first) and finish stale ``.open``
    files; the names deleted. Other processes may prune at the same time: a file already
    gone is skipped.

    Raises:
        ArchiveError: the archive cannot be listed or a file cannot be deleted.
    """
    files = store.files(include_open=store.local)
    stale = now - timedelta(seconds=settings.max_file_age_s + STALE_OPEN_S)
    for f in files:
        if f.open and f.started < stale:
            log.warning("archive file %s was left open by a process that ended: finished", f.name)
            _finish_stale(store, f)
    closed = [f for f in files if not f.open]
    deleted = _expired(closed, now - timedelta(seconds=settings.max_age_s))
    kept = [f for f in closed if f.name not in deleted]
    if settings.max_total_bytes:
        total = sum(f.size for f in kept)
        for f in kept[:-1]:  # the newest file is never pruned for size
            if total <= settings.max_total_bytes:
                break
            deleted.append(f.name)
            total -= f.size
    return [name for name in deleted if store.remove(name)]


def _expired(files: list[ArchiveFile], cutoff: datetime) -> list[str]:
    return [f.name for f in files if f.started < cutoff]


def _finish_stale(store: Store, f: ArchiveFile) -> None:
    try:
        store.finish(f.name.removesuffix(".open"))
    except ArchiveError as exc:  # another process finished it first
        log.info("stale archive file %s: %s", f.name, exc)
