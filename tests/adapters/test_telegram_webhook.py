"""The webhook server, through real HTTP requests on 127.0.0.1 to a running adapter.

Every posted body that should be refused holds ``MARK``, so the tests can check
that no log line repeats what was posted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from adapters.telegram_adapter import TelegramAdapter
from adapters.telegram_webhook import MAX_BODY_BYTES, is_utf8_json
from core.clock import ManualClock, SystemClock
from core.models import Worker
from core.storage.deliveries import Deliveries
from core.storage.memory import MemoryStore
from tests.adapters.contract import WAIT
from tests.adapters.test_telegram import (
    ALICE,
    RecordingHandler,
    answered,
    free_port,
    running,
    telegram_adapter,
)
from tests.fakes.telegram_api import FakeTelegramAPI, private_chat

SECRET = "s3cret-Token_1"
MARK = "posted-data-7f3a"
WEBHOOK_LOGGER = "adapters.telegram_webhook"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as server:
        yield server


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


def webhook_adapter(
    api: FakeTelegramAPI, handler: RecordingHandler, deliveries: Deliveries | None = None
) -> TelegramAdapter:
    """A webhook-mode adapter on a free port of 127.0.0.1, with the test's secret."""
    return telegram_adapter(
        api,
        handler,
        mode="webhook",
        listen="127.0.0.1",
        port=free_port(),
        url_path="telegram",
        secret_token=SECRET,
        deliveries=deliveries,
    )


@pytest.fixture
async def webhook(
    api: FakeTelegramAPI, handler: RecordingHandler
) -> AsyncIterator[TelegramAdapter]:
    async with running(webhook_adapter(api, handler)) as adapter:
        yield adapter


def update_body(api: FakeTelegramAPI, text: str) -> bytes:
    return json.dumps(api.update(api.message(private_chat(ALICE), ALICE, text))).encode()


async def answer_to_headers_only(url: str, headers: dict[str, str], start: bytes = b"") -> bytes:
    """Send a POST's headers and only the ``start`` of its body; return all the server answers.

    Reading until the server closes the connection shows it did not wait for the
    body it was promised.
    """
    parts = urlsplit(url)
    lines = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    async with asyncio.timeout(WAIT):
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + start)
            await writer.drain()
            return await reader.read()
        finally:
            writer.close()


@pytest.mark.usefixtures("webhook")
async def test_an_oversized_body_is_refused_before_it_is_read(
    api: FakeTelegramAPI, handler: RecordingHandler
) -> None:
    ten_megabytes = {
        "Content-Type": "application/json",
        "Content-Length": str(10 * 1024 * 1024),
        "X-Telegram-Bot-Api-Secret-Token": SECRET,
    }
    answer = await answer_to_headers_only(api.webhook_url, ten_megabytes)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer

    # A body at the cap is read, and refused only for what it holds.
    at_the_cap = b" " * (MAX_BODY_BYTES - 2) + b"{}"
    assert await api.post_bytes_to_webhook(at_the_cap) == 400
    assert await api.post_bytes_to_webhook(update_body(api, "still here")) == 200
    assert await answered(api, 1) == ["echo: still here"]
    assert handler.texts() == ["still here"]


@pytest.mark.usefixtures("webhook")
async def test_a_body_without_a_length_is_read_up_to_the_cap_only(
    api: FakeTelegramAPI, handler: RecordingHandler
) -> None:
    chunked = {
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
        "X-Telegram-Bot-Api-Secret-Token": SECRET,
    }
    # One chunk announced as 2 MiB, none of it sent: refused on its announced size.
    answer = await answer_to_headers_only(api.webhook_url, chunked, b"200000\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert handler.seen == []


@pytest.mark.usefixtures("webhook")
@pytest.mark.parametrize(
    ("body", "logged"),
    [
        (b'{"update_id": 1, "message": ' + MARK.encode(), "the body is not JSON"),
        (b'{"update_id": 1, "text": "\xff' + MARK.encode() + b'"}', "the body is not UTF-8"),
        (json.dumps({"hello": MARK}).encode(), "the JSON is not an update (no update_id)"),
        (json.dumps([MARK]).encode(), "the JSON is not an update (no update_id)"),
        (json.dumps({"update_id": True, "m": MARK}).encode(), "the JSON is not an update"),
        (
            json.dumps({"update_id": 7, "message": {"text": MARK}}).encode(),
            "update 7 could not be read (",
        ),
    ],
    ids=["malformed", "not-utf8", "object", "array", "bool-id", "bad-message"],
)
async def test_a_body_that_is_not_an_update_gets_400_and_one_short_warning(
    api: FakeTelegramAPI,
    handler: RecordingHandler,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    logged: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert await api.post_bytes_to_webhook(body) == 400
    [record] = [r for r in caplog.records if r.name == WEBHOOK_LOGGER]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("telegram: refused a webhook request from 127.0.0.1")
    assert logged in record.getMessage()
    assert MARK not in caplog.text
    assert all(r.levelno < logging.ERROR for r in caplog.records)
    assert handler.seen == []


@pytest.mark.usefixtures("webhook")
async def test_the_charset_parameter_is_accepted_and_other_types_are_not(
    api: FakeTelegramAPI, handler: RecordingHandler
) -> None:
    for number, content_type in enumerate(
        ["application/json; charset=utf-8", 'Application/JSON;Charset="UTF-8"']
    ):
        body = update_body(api, f"charset {number}")
        assert await api.post_bytes_to_webhook(body, content_type=content_type) == 200
    for content_type in ["text/plain", "application/json; charset=latin-1", ""]:
        body = update_body(api, "refused")
        assert await api.post_bytes_to_webhook(body, content_type=content_type) == 415
    assert await answered(api, 2) == ["echo: charset 0", "echo: charset 1"]
    assert handler.texts() == ["charset 0", "charset 1"]


@pytest.mark.usefixtures("webhook")
async def test_the_secret_is_checked_first(
    api: FakeTelegramAPI, handler: RecordingHandler, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = update_body(api, "no secret")
    json_utf8 = "application/json; charset=utf-8"
    assert await api.post_bytes_to_webhook(body, secret_token=None) == 403
    assert await api.post_bytes_to_webhook(body, secret_token="guess") == 403
    assert (
        await api.post_bytes_to_webhook(body, content_type=json_utf8, secret_token=SECRET[:-1])
        == 403
    )
    # Without the secret nothing else is looked at, not even the declared size.
    huge = {"Content-Type": "text/plain", "Content-Length": str(10 * 1024 * 1024)}
    answer = await answer_to_headers_only(api.webhook_url, huge)
    assert answer.startswith(b"HTTP/1.1 403 ")
    assert handler.seen == []
    assert SECRET[:-1] not in caplog.text


async def test_a_webhook_port_in_use_ends_the_adapter(
    api: FakeTelegramAPI, handler: RecordingHandler
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        adapter = telegram_adapter(api, handler, mode="webhook", port=port, secret_token=SECRET)
        await adapter.start()
        with pytest.raises(OSError):
            async with asyncio.timeout(WAIT):
                await adapter.wait()
    assert api.calls_to("setWebhook", ok=None) == []


def test_utf8_json_content_types() -> None:
    assert is_utf8_json("application/json")
    assert is_utf8_json("application/json; charset=utf-8")
    assert is_utf8_json('application/json ; charset="utf8"; boundary=x')
    assert not is_utf8_json("application/json; charset=utf-16")
    assert not is_utf8_json("application/jsonp")
    assert not is_utf8_json("text/json")


async def test_a_redelivered_update_is_handled_once_by_whichever_worker_gets_it(
    api: FakeTelegramAPI,
) -> None:
    # Two workers behind one load balancer share the store's record of update ids.
    deliveries = Deliveries(MemoryStore(), SystemClock())
    handlers = [RecordingHandler(), RecordingHandler()]
    workers = [webhook_adapter(api, handler, deliveries) for handler in handlers]
    async with running(workers[0]):
        first_url = api.webhook_url
        async with running(workers[1]):
            second_url = api.webhook_url
            update = api.update(api.message(private_chat(ALICE), ALICE, "only once"))
            for url in (first_url, second_url, first_url):  # Telegram retrying
                api.webhook_url = url
                assert await api.post_to_webhook(update) == 200
            fresh = api.update(api.message(private_chat(ALICE), ALICE, "a new one"))
            assert await api.post_to_webhook(fresh) == 200
            await api.wait_for_calls("sendMessage", 2)
            await asyncio.sleep(0.2)  # a second answer, were there one, would be in by now
    handled = [text for handler in handlers for text in handler.texts()]
    assert sorted(handled) == ["a new one", "only once"]
    assert sorted(api.texts()) == ["echo: a new one", "echo: only once"]


async def test_the_200_means_handled_and_a_redelivery_of_a_busy_update_gets_503(
    api: FakeTelegramAPI, handler: RecordingHandler
) -> None:
    adapter = webhook_adapter(api, handler, Deliveries(MemoryStore(), SystemClock()))
    release = handler.gates["slow one"] = asyncio.Event()
    async with running(adapter):
        update = api.update(api.message(private_chat(ALICE), ALICE, "slow one"))
        first = asyncio.create_task(api.post_to_webhook(update))
        async with asyncio.timeout(WAIT):
            while handler.texts() != ["slow one"]:  # noqa: ASYNC110 (no event to wait on)
                await asyncio.sleep(0.01)
        assert not first.done()  # no 200 before the update is handled
        assert await api.post_to_webhook(update) == 503  # Telegram: try again later
        release.set()
        assert await first == 200
        assert api.texts() == ["echo: slow one"]  # answered before the 200
        assert await api.post_to_webhook(update) == 200  # done: dropped, not answered again
        await asyncio.sleep(0.2)
    assert handler.texts() == ["slow one"] and api.texts() == ["echo: slow one"]


def worker(worker_id: str, seen_at: datetime) -> Worker:
    return Worker(id=worker_id, host="h", pid=1, started_at=seen_at, seen_at=seen_at, roles=())


async def test_an_update_whose_worker_died_is_taken_over_as_a_redelivery(
    api: FakeTelegramAPI,
) -> None:
    # The first worker claims the update and hangs (as if killed: it beats no more);
    # Telegram posts the update again, to the second, which takes it over.
    store = MemoryStore()
    clock = ManualClock(datetime.now(UTC))
    handlers = [RecordingHandler(), RecordingHandler()]
    hang = handlers[0].gates["lost in a crash"] = asyncio.Event()
    workers = []
    for number, handler in enumerate(handlers):
        deliveries = Deliveries(store, clock)
        deliveries.serve_as(f"w{number}", timedelta(seconds=30))
        await store.beat(worker(f"w{number}", clock.now()), forget_before=clock.now())
        workers.append(webhook_adapter(api, handler, deliveries))
    async with running(workers[0]):
        first_url = api.webhook_url
        async with running(workers[1]):
            second_url = api.webhook_url
            update = api.update(api.message(private_chat(ALICE), ALICE, "lost in a crash"))
            api.webhook_url = first_url
            stuck = asyncio.create_task(api.post_to_webhook(update))
            async with asyncio.timeout(WAIT):
                while handlers[0].texts() != ["lost in a crash"]:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            api.webhook_url = second_url
            assert await api.post_to_webhook(update) == 503  # the first worker still beats
            clock.advance(timedelta(seconds=31))  # ... and then it does not any more
            await store.beat(worker("w1", clock.now()), forget_before=clock.now())
            assert await api.post_to_webhook(update) == 200
            assert [i.redelivered for i in handlers[1].seen] == [True]
            assert api.texts() == ["echo: lost in a crash"]
            assert await api.post_to_webhook(update) == 200  # done now: dropped
            hang.set()
            await stuck
    assert handlers[1].texts() == ["lost in a crash"]
