"""A ``newsflow worker`` that also writes each entry's enqueue, start and finish times (bench).

``python -m bench.probe DIR worker ...`` runs the normal ``newsflow worker`` command;
every pool process appends ``enqueued_at<TAB>started_at<TAB>finished_at<TAB>outcome`` lines to
``DIR/<pid>.tsv`` as each entry's outcome is recorded (after the XADD). An entry starts when
its task starts or when the previous entry of the same task ended.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from celery.signals import task_prerun, worker_process_init

_dir: Path | None = None
_out: dict[int, IO[str]] = {}
_started = 0.0


def _file() -> IO[str]:
    pid = os.getpid()
    if pid not in _out:
        assert _dir is not None
        _out[pid] = (_dir / f"{pid}.tsv").open("a", buffering=1, encoding="utf-8")
    return _out[pid]


@task_prerun.connect
def _start(**_: Any) -> None:
    global _started
    _started = time.time()


@worker_process_init.connect
def _hook(**_: Any) -> None:
    """In each pool process: the tasks call metrics.record_outcome once per entry (through
    the module), so wrapping it sees every entry. Imported here, after the worker command
    prepared the metrics folder (prometheus_client reads it on import)."""
    from workers import metrics

    record_outcome = metrics.record_outcome

    def record(outcome: str, reason: str, enqueued_at: float | None, now: float) -> None:
        global _started
        record_outcome(outcome, reason, enqueued_at, now)
        if _dir is not None and _started:
            _file().write(f"{enqueued_at}\t{_started}\t{now}\t{outcome}\n")
            _started = now

    metrics.record_outcome = record


def main() -> None:
    """Take the output folder from argv[1], then run the ``newsflow`` CLI."""
    global _dir
    _dir = Path(sys.argv.pop(1))
    from workers.cli.main import main as newsflow_main

    newsflow_main()


if __name__ == "__main__":
    main()
