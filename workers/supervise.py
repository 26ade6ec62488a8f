"""Child-process supervision for ``newsflow run`` and ``newsflow demo``."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


def newsflow_command(*args: str) -> list[str]:
    """The command line that runs ``newsflow ARGS`` with this interpreter."""
    return [sys.executable, "-m", "workers.cli.main", *args]


@dataclass
class Child:
    """A supervised child process, restarted if it dies unexpectedly."""

    name: str
    argv: list[str]
    env: Mapping[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)
    log_file: Path | None = None
    """Where its stdout and stderr go (appended), instead of this process's terminal."""

    def start(self) -> None:
        if self.log_file is None:
            self.process = subprocess.Popen(self.argv, env=dict(self.env), stdin=subprocess.DEVNULL)
        else:
            with self.log_file.open("ab") as out:
                self.process = subprocess.Popen(
                    self.argv,
                    env=dict(self.env),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
        self.started_at = time.monotonic()
        log.info("started %s (pid %d)", self.name, self.process.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def supervise(children: Sequence[Child], stop_signals: list[int]) -> int:
    """Run the children until SIGINT/SIGTERM; restart any that die. Returns an exit code."""
    for child in children:
        child.start()
    while not stop_signals:
        time.sleep(0.5)
        for child in children:
            if not child.alive() and not stop_signals:
                code = child.process.returncode if child.process else None
                log.warning("%s exited with %s; restarting", child.name, code)
                child.restarts += 1
                time.sleep(min(30.0, 2.0 * child.restarts))
                child.start()
    stop_children(children)
    return 0


def stop_children(children: Sequence[Child], grace_s: float = 40.0) -> None:
    """SIGTERM every child, wait up to ``grace_s`` for them, then SIGKILL what is left."""
    for child in children:
        if child.alive() and child.process is not None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0f s; killing it", child.name, grace_s)
            child.process.kill()
            child.process.wait()


def child_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with ``overrides`` applied."""
    env = dict(os.environ)
    env.update(overrides)
    return env
