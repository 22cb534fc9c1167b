"""The Slack adapter in HTTP mode: signed requests to its endpoint, real slack-bolt underneath."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import ClientSession

from adapters.slack_adapter import SlackAdapter, SlackConnection
from core.backoff import Backoff
from core.models import Inbound, Reply
from tests.fakes.slack_api import (
    BOT_TOKEN,
    BOT_USER,
    SIGNING_SECRET,
    WAIT,
    FakeSlack,
    command_body,
    event_body,
    signed_post,
)

FAST = Backoff(initial=0.05, factor=2.0, maximum=0.2)
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


class Recording:
    def __init__(self) -> None:
        self.seen: list[Inbound] = []

    async def __call__(self, inbound: Inbound) -> list[Reply]:
        self.seen.append(inbound)
        if inbound.text.startswith("/checkpoint restore") and inbound.text.strip().count(" ") < 2:
            return [Reply("Usage: /checkpoint restore <id>", ephemeral=True)]
        return [Reply(f"echo: {inbound.text}")]


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@asynccontextmanager
async def serving(slack: FakeSlack, handler: Recording, port: int = 0) -> AsyncIterator[str]:
    connection = SlackConnection(
        "http", BOT_TOKEN, signing_secret=SIGNING_SECRET, api_url=slack.api_url, port=port
    )
    adapter = SlackAdapter(handler, connection, commands={"/checkpoint": "checkpoint"}, retry=FAST)
    await adapter.start()
    try:
        async with asyncio.timeout(WAIT):
            await adapter.wait_until_receiving()
        yield f"http://127.0.0.1:{adapter.http_port}/slack/events"
    finally:
        async with asyncio.timeout(WAIT):
            await adapter.stop()
            await adapter.wait()


async def test_a_signed_event_is_answered(slack: FakeSlack) -> None:
    handler = Recording()
    async with serving(slack, handler) as url:
        payload = slack.message_event("over http")
        status, _ = await signed_post(url, event_body(payload), content_type=JSON)
        assert status == 200
        await slack.wait_until(lambda: slack.texts("D0DM") == ["echo: over http"])
    assert handler.seen[0].user_id.endswith(":U0ALICE")


async def test_a_signed_slash_command_is_acknowledged_and_errors_are_ephemeral(
    slack: FakeSlack,
) -> None:
    handler = Recording()
    async with serving(slack, handler) as url:
        good = slack.slash_command("/checkpoint", 'save "x"', channel="C1")
        status, body = await signed_post(url, command_body(good), content_type=FORM)
        assert (status, body) == (200, "")
        await slack.wait_until(lambda: slack.texts("C1") == ['echo: /checkpoint save "x"'])
        bad = slack.slash_command("/checkpoint", "restore", channel="C1")
        status, _ = await signed_post(url, command_body(bad), content_type=FORM)
        assert status == 200
        await slack.wait_until(lambda: len(slack.calls_to("chat.postEphemeral")) == 1)
    assert slack.calls_to("chat.postEphemeral")[0].params["user"] == "U0ALICE"


@pytest.mark.parametrize(
    "how", [{"bad_signature": True}, {"timestamp": time.time() - 6 * 60}], ids=["bad", "stale"]
)
async def test_a_forged_or_stale_request_gets_401_and_is_not_handled(
    slack: FakeSlack, how: dict[str, object]
) -> None:
    handler = Recording()
    async with serving(slack, handler) as url:
        payload = slack.message_event("forged")
        status, _ = await signed_post(url, event_body(payload), content_type=JSON, **how)  # type: ignore[arg-type]
        assert status == 401
        unsigned = await _post_unsigned(url, event_body(payload))
        assert unsigned == 401
    assert handler.seen == [] and slack.posts() == []


async def test_the_url_verification_challenge_is_answered(slack: FakeSlack) -> None:
    async with serving(slack, Recording()) as url:
        challenge = {"token": "t", "challenge": "c-123", "type": "url_verification"}
        status, body = await signed_post(url, json.dumps(challenge).encode(), content_type=JSON)
    assert status == 200 and "c-123" in body


async def test_a_retried_event_is_handled_once(slack: FakeSlack) -> None:
    handler = Recording()
    async with serving(slack, handler) as url:
        payload = slack.message_event("retried", event_id="Ev0HTTP")
        for retry in (None, 1, 2):
            status, _ = await signed_post(
                url, event_body(payload), content_type=JSON, retry_num=retry
            )
            assert status == 200  # Slack stops retrying once it gets a 200
        mention = slack.mention_event(f"<@{BOT_USER}> next")
        await signed_post(url, event_body(mention), content_type=JSON)
        await slack.wait_until(lambda: len(slack.posts()) == 2)
    assert [i.text for i in handler.seen] == ["retried", "next"]


async def test_a_port_in_use_ends_the_adapter(slack: FakeSlack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        connection = SlackConnection(
            "http", BOT_TOKEN, signing_secret=SIGNING_SECRET, api_url=slack.api_url, port=port
        )
        adapter = SlackAdapter(Recording(), connection, retry=FAST)
        await adapter.start()
        with pytest.raises(OSError):
            async with asyncio.timeout(WAIT):
                await adapter.wait()


def test_http_mode_needs_the_signing_secret() -> None:
    with pytest.raises(ValueError, match="signing secret"):
        SlackConnection("http", BOT_TOKEN)
    with pytest.raises(ValueError, match="app-level token"):
        SlackConnection("socket", BOT_TOKEN)


async def _post_unsigned(url: str, body: bytes) -> int:
    async with ClientSession() as session, session.post(url, data=body) as reply:
        return reply.status


async def test_an_event_nobody_listens_to_gets_200_so_slack_does_not_retry(
    slack: FakeSlack,
) -> None:
    handler = Recording()
    async with serving(slack, handler) as url:
        reaction = slack.event_callback({"type": "reaction_added", "user": "U0ALICE"})
        status, _ = await signed_post(url, event_body(reaction), content_type=JSON)
    assert status == 200 and handler.seen == []
