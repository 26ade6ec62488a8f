"""``newsflow websub``: WebSub push (the hubs' callbacks and the feeds' subscriptions)."""

from __future__ import annotations

import os

from workers.cli.kit import fail, load_settings, require_redis, stop_on_signals


def websub() -> None:
    """Serve WebSub callbacks and subscribe feeds that declare a hub (needs websub.callback_url)."""
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # one process: no shared metrics folder
    settings = load_settings()
    if not settings.websub.callback_url:
        fail(
            "websub.callback_url is not set (NEWSFLOW_WEBSUB_CALLBACK_URL): WebSub is off. "
            "Set it to the public http(s) URL hubs reach this service at; see the README, "
            '"WebSub push".',
            code=2,
        )
    client = require_redis(settings)
    from workers.websub import run_websub

    run_websub(settings, client, stop_on_signals())
