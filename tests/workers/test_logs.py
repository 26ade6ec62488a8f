"""Logging: JSON lines by a switch, passwords in URLs masked."""

from __future__ import annotations

import json
import logging

import pytest

from workers.logs import configure_logging


def test_json_lines_with_masked_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_lines=True)
    try:
        logging.getLogger("newsflow.test").info(
            "outcome=%s via %s", "published", "redis://user:hunter2@redis:6379/0"
        )
    finally:
        logging.getLogger().handlers.clear()
    line = json.loads(capsys.readouterr().err.strip())
    assert line["level"] == "INFO" and line["logger"] == "newsflow.test"
    assert line["message"] == "outcome=published via redis://user:***@redis:6379/0"


def test_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", json_lines=False)
    try:
        logging.getLogger("newsflow.test").info("hidden")
        logging.getLogger("newsflow.test").warning("poll feed=%s status=error", "https://x.test/")
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    assert "hidden" not in err and "WARNING newsflow.test: poll feed=https://x.test/" in err
