"""Where the archive's files live: a folder or a bucket, through fsspec (the one module that
imports it). Every fsspec/OS/S3 error becomes :class:`~pipeline.errors.ArchiveError`.

Layout: ``<root>/<YYYY>/<MM>/<DD>/newsflow-<start>-<host>-<pid>-<n>.warc.gz``. Names start
with the file's start time, so sorting names sorts files by time. Each process writes only
its own files (never an append to a shared one). In a folder a file being written is named
``*.warc.gz.open`` and renamed when done; in a bucket an object appears only once it is
complete.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import fsspec

from pipeline.errors import ArchiveError
from pipeline.settings import ArchiveSettings

SUFFIX = ".warc.gz"
OPEN_SUFFIX = ".open"
_NAME = re.compile(r"newsflow-(\d{8}T\d{6}Z)-.*\.warc\.gz(\.open)?$")


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """One archive file: its path (below the root), size and start time."""

    name: str
    size: int
    started: datetime
    open: bool = False
    """Still being written (a folder's ``.open`` file)."""


def archive_url(settings: ArchiveSettings, data_dir: str) -> str:
    """The archive's location: ``archive.url`` or ``<data_dir>/archive``."""
    return settings.url or os.path.join(data_dir, "archive")


def file_name(started: datetime, sequence: int) -> str:
    """A new file's path below the root, unique to this process."""
    stamp = started.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:60] or "host"
    day = started.astimezone(UTC).strftime("%Y/%m/%d")
    return f"{day}/newsflow-{stamp}-{host}-{os.getpid()}-{sequence:06d}{SUFFIX}"


@contextlib.contextmanager
def archive_errors(what: str) -> Iterator[None]:
    """Turn storage errors into ArchiveError ``what: ...``."""
    try:
        yield
    except ArchiveError:
        raise
    except Exception as exc:  # fsspec backends raise OSError, botocore and aiohttp errors
        raise ArchiveError(f"{what}: {type(exc).__name__}: {exc}") from exc


class Store:
    """The archive's folder or bucket."""

    def __init__(self, url: str, *, endpoint_url: str = "") -> None:
        options: dict[str, Any] = {}
        if endpoint_url:
            options["client_kwargs"] = {"endpoint_url": endpoint_url}
        with archive_errors(f"cannot open the archive at {url}"):
            self._fs, root = fsspec.core.url_to_fs(url, **options)
        self._root = root.rstrip("/")
        self.local = "file" in _protocols(self._fs)
        self._bucket_ready = False
        self.url = url

    @classmethod
    def of(cls, settings: ArchiveSettings, data_dir: str) -> Store:
        """The store named by the settings.

        Raises:
            ArchiveError: the URL's backend is unknown or not installed (s3fs).
        """
        return cls(archive_url(settings, data_dir), endpoint_url=settings.endpoint_url)

    def path(self, name: str) -> str:
        return f"{self._root}/{name}"

    def create(self, name: str) -> IO[bytes]:
        """A new file to write ``name`` (a folder: as ``name.open`` until :meth:`finish`).

        Raises:
            ArchiveError: it cannot be created.
        """
        target = self.path(name) + (OPEN_SUFFIX if self.local else "")
        with archive_errors(f"cannot create {target}"):
            if self.local:
                self._fs.makedirs(self._fs._parent(target), exist_ok=True)
            elif not self._bucket_ready:
                bucket = self._root.split("/", 1)[0]
                if not self._fs.exists(bucket):
                    self._fs.mkdir(bucket)  # a fresh MinIO has no bucket yet
                self._bucket_ready = True
            handle: IO[bytes] = self._fs.open(target, "wb")
        return handle

    def finish(self, name: str) -> None:
        """Give a written file its final name (a folder only).

        Raises:
            ArchiveError: it cannot be renamed.
        """
        if self.local:
            with archive_errors(f"cannot finish {name}"):
                self._fs.mv(self.path(name) + OPEN_SUFFIX, self.path(name))

    def files(self, *, include_open: bool = False) -> list[ArchiveFile]:
        """Every archive file, oldest first.

        Raises:
            ArchiveError: the folder or bucket cannot be listed.
        """
        with archive_errors(f"cannot list {self.url}"):
            if not self._fs.exists(self._root):
                return []
            found = self._fs.find(self._root, detail=True)
        listed = []
        for path, info in found.items():
            match = _NAME.search(path)
            if not match or (match[2] and not include_open):
                continue
            started = datetime.strptime(match[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            name = path[len(self._fs._strip_protocol(self._root)) :].lstrip("/")
            listed.append(ArchiveFile(name, int(info.get("size") or 0), started, bool(match[2])))
        return sorted(listed, key=lambda f: (f.started, f.name))

    def open(self, name: str) -> IO[bytes]:
        """Read a file (seekable).

        Raises:
            ArchiveError: it cannot be opened.
        """
        with archive_errors(f"cannot read {name}"):
            handle: IO[bytes] = self._fs.open(self.path(name), "rb")
        return handle

    def remove(self, name: str) -> bool:
        """Delete a file; False when it was gone already (another process pruned it).

        Raises:
            ArchiveError: it exists but cannot be deleted.
        """
        with archive_errors(f"cannot delete {name}"):
            try:
                self._fs.rm_file(self.path(name))
            except FileNotFoundError:
                return False
        return True


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
