"""The Celery app: configuration derived from Settings for at-least-once delivery."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import task_received, worker_init, worker_process_shutdown, worker_ready

from pipeline import keys
from pipeline.dedupe import url_id
from pipeline.settings import Settings
from workers import resources
from workers.watchdog import StallDetector, start_watchdog


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for late acks, bounded redelivery and JSON-only messages."""
    worker = settings.worker
    transport = {
        "visibility_timeout": worker.visibility_timeout_s,
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        "health_check_interval": 10,
        "retry_on_timeout": True,
        "global_keyprefix": keys.CELERY_KEY_PREFIX,
    }
    return {
        "broker_url": settings.redis_url,
        "broker_transport_options": transport,
        "result_backend_transport_options": {"visibility_timeout": worker.visibility_timeout_s},
        "visibility_timeout": worker.visibility_timeout_s,
        "broker_connection_retry_on_startup": True,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": keys.CELERY_QUEUE,
        "task_acks_late": True,
        # A failure that escapes the task is a Redis outage while recording the outcome:
        # leave the message for redelivery. A hard time limit kill is dead-lettered by
        # workers.tasks._dead_letter_lost_task, so its message is acked rather than looped.
        "task_acks_on_failure": False,
        "task_acks_on_timeout": True,
        "task_reject_on_worker_lost": True,
        "task_retry_on_worker_lost": True,
        "task_soft_time_limit": worker.soft_time_limit_s,
        "task_time_limit": worker.time_limit_s,
        "worker_prefetch_multiplier": 1,
        "worker_disable_rate_limits": True,  # none are used; saves the main process a check
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_soft_shutdown_timeout": 30,
        "worker_max_tasks_per_child": worker.max_tasks_per_child,
        "worker_max_memory_per_child": worker.max_memory_per_child_kb,
        "worker_hijack_root_logger": False,
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 10,
            "interval_start": 0.5,
            "interval_step": 1.0,
            "interval_max": 5.0,
        },
    }


ENTRY_TASK = "newsflow.process_entry"
"""One feed entry: the message is the entry."""
ENTRIES_TASK = "newsflow.process_entries"
"""Several entries of one poll, run one after the other: the message is their list."""


def entry_task(messages: list[dict[str, Any]]) -> tuple[str, list[Any], str, str]:
    """Task name, arguments, id and short description for one or more entry messages.

    One entry's task id is its URL id, so every task for an entry (first send, retry, split
    off a batch) carries the same id.
    """
    first = messages[0]["url"]
    if len(messages) == 1:
        return ENTRY_TASK, messages, url_id(first), repr(first)
    task_id = keys.digest(" ".join(m["url"] for m in messages))
    return ENTRIES_TASK, [messages], task_id, f"[{len(messages)} entries: {first} ...]"


def create_app(settings: Settings) -> Celery:
    """A configured Celery app named ``newsflow`` with our tasks registered."""
    celery_app = Celery("newsflow", include=["workers.tasks"])
    celery_app.conf.update(celery_config(settings))
    return celery_app


app = create_app(resources.settings())


@worker_init.connect
def _warm_up(**_: Any) -> None:
    """Warm extraction in the main process, before the pool forks (see workers.warmup)."""
    settings = resources.settings()
    if settings.worker.warm_up:
        from workers.warmup import warm_up

        seconds = warm_up(settings)
        logging.getLogger(__name__).info("extraction warmed up in %.2f s before forking", seconds)


@worker_process_shutdown.connect
def _close_resources(pid: int | None = None, **_: Any) -> None:
    resources.close()
    if pid is not None:
        from workers.metrics import forget_process

        forget_process(pid)


_detector: StallDetector | None = None


@worker_ready.connect
def _watch_consumer(**_: Any) -> None:
    """Stop this worker if its broker connection stalls (see workers.watchdog)."""
    global _detector
    settings = resources.settings()
    worker = settings.worker
    _detector = start_watchdog(
        settings.redis_url, worker.stall_s, hold_s=worker.time_limit_s + worker.stall_s
    )


@task_received.connect
def _received(**_: Any) -> None:
    if _detector is not None:
        _detector.received()
