"""The Celery configuration gives at-least-once delivery and never runs tasks eagerly."""

from __future__ import annotations

from pipeline import keys
from pipeline.settings import Settings
from workers.app import celery_config, create_app


def test_at_least_once_configuration() -> None:
    conf = celery_config(Settings(redis_url="redis://localhost:1/0"))
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["task_retry_on_worker_lost"] and not conf["task_acks_on_failure"]
    assert conf["task_acks_on_timeout"]  # hard time limit: acked, then dead-lettered
    assert conf["worker_prefetch_multiplier"] == 1
    vt = conf["broker_transport_options"]["visibility_timeout"]
    assert (
        vt
        == conf["visibility_timeout"]
        == conf["result_backend_transport_options"]["visibility_timeout"]
    )
    assert vt >= 4 * conf["task_time_limit"] > conf["task_soft_time_limit"]
    assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
    assert conf["broker_transport_options"]["global_keyprefix"] == keys.CELERY_KEY_PREFIX


def test_app_is_not_eager_and_registers_the_task() -> None:
    app = create_app(Settings(redis_url="redis://localhost:1/0"))
    assert not app.conf.task_always_eager
    app.loader.import_default_modules()
    assert "newsflow.process_entry" in app.tasks
    batch = app.tasks["newsflow.process_entries"]
    assert batch.max_retries == 0 and not batch.reject_on_worker_lost  # split, not retried
