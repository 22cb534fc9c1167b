from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    logger = logging.getLogger("sessionbot.test")
    logger.debug("not shown")
    logger.info("hello %s", "world", extra={"adapter": "console"})
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("it failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "info"
    assert first["logger"] == "sessionbot.test"
    assert first["message"] == "hello world"
    assert first["adapter"] == "console"
    assert first["time"].endswith("+00:00")
    assert second["level"] == "error"
    assert "ValueError: boom" in second["exc_info"]


def test_text_lines_at_the_configured_level() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", "text", stream=stream)
    logging.getLogger("x").info("quiet")
    logging.getLogger("x").warning("loud")
    (line,) = stream.getvalue().splitlines()
    assert line.endswith("WARNING x: loud")


def test_configuring_again_replaces_only_its_own_handler() -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "text", stream=first)
    configure_logging("info", "text", stream=second)
    logging.getLogger("x").info("once")
    assert first.getvalue() == ""
    assert "once" in second.getvalue()
    assert other in logging.getLogger().handlers


def test_sql_statements_are_not_logged_at_debug() -> None:
    configure_logging("debug", "text", stream=io.StringIO())
    assert not logging.getLogger("sqlalchemy.engine").isEnabledFor(logging.INFO)


def test_http_client_request_lines_are_held_back_even_at_debug() -> None:
    # httpx logs each request's URL at INFO, and Bot API URLs hold the bot token.
    stream = io.StringIO()
    configure_logging("debug", "text", stream=stream)
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot1:x/getMe")
    logging.getLogger("httpcore.connection").debug("connect_tcp.started")
    logging.getLogger("httpx").warning("shown")
    assert "bot1:x" not in stream.getvalue()
    assert "connect_tcp" not in stream.getvalue()
    assert "shown" in stream.getvalue()


def test_the_openai_sdk_does_not_log_the_conversation_even_at_debug() -> None:
    # openai's client logs each request's options (the messages sent) at DEBUG.
    stream = io.StringIO()
    configure_logging("debug", "text", stream=stream)
    logging.getLogger("openai._base_client").debug("Request options: %s", {"messages": "secret"})
    assert "secret" not in stream.getvalue()
