"""A ``newsflow worker`` that also writes each task's enqueue and finish times (for the bench).

``python -m workers.bench_probe DIR worker ...`` runs the normal ``newsflow worker`` command;
every pool process appends ``enqueued_at<TAB>started_at<TAB>finished_at<TAB>outcome`` lines to
``DIR/<pid>.tsv`` once its task returned (after the XADD).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from celery.signals import task_postrun, task_prerun

_dir: Path | None = None
_out: dict[int, IO[str]] = {}
_started: dict[str, float] = {}


def _file() -> IO[str]:
    pid = os.getpid()
    if pid not in _out:
        assert _dir is not None
        _out[pid] = (_dir / f"{pid}.tsv").open("a", buffering=1, encoding="utf-8")
    return _out[pid]


@task_prerun.connect
def _start(task_id: str = "", **_: Any) -> None:
    _started[task_id] = time.time()


@task_postrun.connect
def _record(task_id: str = "", args: Any = None, retval: Any = None, **_: Any) -> None:
    finished = time.time()
    started = _started.pop(task_id, finished)
    if _dir is None or not args or not isinstance(args[0], dict):
        return
    enqueued = args[0].get("enqueued_at")
    _file().write(f"{enqueued}\t{started}\t{finished}\t{retval}\n")


def main() -> None:
    """Take the output folder from argv[1], then run the ``newsflow`` CLI."""
    global _dir
    _dir = Path(sys.argv.pop(1))
    from workers.cli import main as newsflow_main

    newsflow_main()


if __name__ == "__main__":
    main()
