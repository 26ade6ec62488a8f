"""Settings: files, environment, validation with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import Settings


def test_defaults_are_safe(tmp_path: Path) -> None:
    settings = Settings.load({"NEWSFLOW_CONFIG_DIR": str(tmp_path)})
    assert settings.fetch.allow == () and settings.fetch.max_redirects == 3
    assert settings.worker.visibility_timeout_s >= 4 * settings.worker.time_limit_s
    assert settings.feeds == ()


def test_files_then_environment(tmp_path: Path) -> None:
    (tmp_path / "newsflow.toml").write_text("stream_maxlen = 50\n[fetch]\ndeadline_s = 9\n")
    (tmp_path / "feeds.toml").write_text(
        '[[feeds]]\nurl = "https://example.com/rss"\ninterval_s = 60\n'
    )
    settings = Settings.load(
        {
            "NEWSFLOW_CONFIG_DIR": str(tmp_path),
            "NEWSFLOW_FETCH_ALLOW": "127.0.0.0/8, ::1/128",
            "NEWSFLOW_STREAM_MAXLEN": "70",
            "REDIS_URL": "redis://r:6379/1",
        }
    )
    assert settings.stream_maxlen == 70 and settings.fetch.deadline_s == 9
    assert settings.fetch.allow == ("127.0.0.0/8", "::1/128")
    assert settings.feeds[0].url == "https://example.com/rss" and settings.feeds[0].interval_s == 60
    assert settings.redis_url == "redis://r:6379/1"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"NEWSFLOW_STREAM_MAXLEN": "many"}, "stream_maxlen"),
        ({"NEWSFLOW_STREAM_MAXLEN": "0"}, "stream_maxlen"),
        ({"NEWSFLOW_FETCH_ALLOW": "300.0.0.1/8"}, "300.0.0.1/8"),
        ({"NEWSFLOW_LOG_LEVEL": "LOUD"}, "log_level"),
        ({"NEWSFLOW_WORKER_TIME_LIMIT_S": "30"}, "time_limit_s"),
        ({"NEWSFLOW_WORKER_VISIBILITY_TIMEOUT_S": "60"}, "visibility_timeout_s"),
    ],
)
def test_bad_values_name_the_setting(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.load({"NEWSFLOW_CONFIG_DIR": str(tmp_path), **environ})


def test_bad_feed_and_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "feeds.toml").write_text('[[feeds]]\nurl = "file:///etc/passwd"\n')
    with pytest.raises(ConfigError, match="http"):
        Settings.load({"NEWSFLOW_CONFIG_DIR": str(tmp_path)})
    (tmp_path / "feeds.toml").write_text("[[feeds]\nurl = ")
    with pytest.raises(ConfigError, match="feeds.toml"):
        Settings.load({"NEWSFLOW_CONFIG_DIR": str(tmp_path)})


def test_shipped_config_is_valid() -> None:
    root = Path(__file__).resolve().parents[1]
    settings = Settings.load({"NEWSFLOW_CONFIG_DIR": str(root / "config")})
    assert len(settings.feeds) >= 3
    assert all(feed.url.startswith("https://") for feed in settings.feeds)
