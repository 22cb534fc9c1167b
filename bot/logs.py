"""Logging to stderr as text or as JSON lines.

Standard output belongs to the console adapter and to CLI output, so logs always go
to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is
# worth keeping in a JSON line.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

# Libraries that log every statement, migration step or job run (SQLAlchemy's
# engine logs each SQL statement at INFO); they would drown the bot's own lines.
# httpx (python-telegram-bot's HTTP client) and httpcore are held back for a worse
# reason: they log each request's URL, and Bot API URLs contain the bot token; and the
# openai SDK logs each request's options at DEBUG, the conversation sent included.
_CHATTY = (
    "aiosqlite",
    "alembic",
    "apscheduler",
    "asyncio",
    "httpcore",
    "httpx",
    "openai",
    "sqlalchemy",
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        return json.dumps(entry, default=str, ensure_ascii=False)


class _SessionbotHandler(logging.StreamHandler[TextIO]):
    """Marks the handler this module installs, so reconfiguring replaces only it."""


def configure_logging(level: str, fmt: str, *, stream: TextIO | None = None) -> logging.Handler:
    """Send log records at ``level`` and above to stderr in ``fmt``.

    Calling it again replaces the handler it installed before and leaves other
    handlers (pytest's, an embedding application's) alone.

    Args:
        level: ``debug``, ``info``, ``warning``, ``error`` or ``critical``.
        fmt: ``text`` or ``json``.
        stream: where to write; stderr by default.

    Returns:
        The installed handler.
    """
    handler = _SessionbotHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _SessionbotHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    numeric = logging.getLevelName(level.upper())
    root.setLevel(numeric)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    return handler
