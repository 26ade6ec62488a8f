"""Logging setup: plain or JSON lines, with passwords in URLs masked."""

from __future__ import annotations

import logging
import re
import sys

import msgspec

_SECRET_URL = re.compile(r"(\w+://[^:/@\s]*:)[^@\s]*@")


class MaskSecrets(logging.Filter):
    """Replace passwords in URLs (``redis://user:pw@host``) with ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "@" in message:
            record.msg = _SECRET_URL.sub(r"\1***@", message)
            record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(payload).decode()


def configure_logging(level: str, *, json_lines: bool) -> None:
    """Send logs to stderr at ``level``, as JSON lines if asked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(MaskSecrets())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
