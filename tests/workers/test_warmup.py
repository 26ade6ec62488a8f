"""Warming a worker's main process before it forks its pool."""

from __future__ import annotations

import gc

from pipeline.settings import Settings
from workers.warmup import warm_up


def test_warm_up_extracts_the_samples_and_freezes_the_heap() -> None:
    try:
        assert warm_up(Settings()) > 0
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
