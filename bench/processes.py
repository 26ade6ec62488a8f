"""Child processes of ``newsflow bench pipeline``: CPU time, memory, stopping."""

from __future__ import annotations

import signal
import subprocess
import time

import psutil


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, its live descendants and its reaped children."""
    try:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        children = proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    for child in children:
        try:
            child_times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += child_times.user + child_times.system
    return total


def rss_mb(proc: psutil.Process) -> float:
    try:
        rss: int = proc.memory_info().rss
        return rss / 2**20
    except psutil.NoSuchProcess:
        return 0.0


def stop_processes(procs: list[subprocess.Popen[bytes]], grace_s: float = 40.0) -> None:
    """SIGTERM each process, then SIGKILL whatever is left after ``grace_s``."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
