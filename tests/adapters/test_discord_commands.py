"""Slash commands on Discord: the real router behind the adapter, interactions from the fake."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.discord_adapter import DiscordAdapter
from commands import CommandContext, Registry, Router, RouterSettings, default_registry
from commands.menu import menu_of
from core import MenuCommand, Reply
from core.clock import ManualClock
from core.sessions.manager import SessionManager
from core.sessions.responders import EchoResponder
from core.storage.memory import MemoryStore
from tests.adapters.discord_helpers import discord_adapter, running
from tests.adapters.recording import RecordingHandler
from tests.fakes.discord_api import (
    ALICE,
    APP_ID,
    BOB,
    CHANNEL_ID,
    GUILD_ID,
    THREAD_ID,
    FakeDiscord,
)

EPHEMERAL = 64


def plugin_registry() -> Registry:
    registry = Registry()

    @registry.command("weather", usage="/weather <city>", min_args=1, max_args=2)
    async def weather(ctx: CommandContext) -> Reply:
        """Tell the weather in a city."""
        return Reply(f"Sunny in {' '.join(ctx.args)}.")

    return registry


def full_registry() -> Registry:
    registry = default_registry(load_plugins=False)
    registry.include(plugin_registry())
    return registry


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
def router() -> Router:
    manager = SessionManager(MemoryStore(), clock=ManualClock())
    return Router(manager, EchoResponder(), full_registry(), RouterSettings())


def routed_adapter(fake: FakeDiscord, router: Router, **options: Any) -> DiscordAdapter:
    return discord_adapter(
        fake, router.handle, menu=menu_of(router.registry), suggest=router.suggest, **options
    )


def sub(subcommand: str, /, **values: Any) -> list[dict[str, Any]]:
    """The options of a subcommand interaction with ``values``."""
    options = [{"name": key, "type": _type(value), "value": value} for key, value in values.items()]
    return [{"name": subcommand, "type": 1, "options": options}]


def _type(value: Any) -> int:
    return 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 3


def callbacks(fake: FakeDiscord, interaction_id: int) -> list[dict[str, Any]]:
    return [
        c.body for c in fake.requests("POST", rf"/interactions/{interaction_id}/[^/]+/callback")
    ]


async def answer_of(fake: FakeDiscord, interaction_id: int) -> dict[str, Any]:
    await fake.until(lambda: bool(callbacks(fake, interaction_id)))
    return callbacks(fake, interaction_id)[0]


async def test_save_then_suggest_only_the_callers_checkpoints_then_restore(
    fake: FakeDiscord, router: Router
) -> None:
    async with running(routed_adapter(fake, router)):
        saved, _ = await fake.interaction("checkpoint", sub("save", name="before the trip"))
        answer = await answer_of(fake, saved)
        assert answer["type"] == 4
        text = answer["data"]["content"]
        assert text.startswith('Saved checkpoint "before the trip"')
        assert not answer["data"].get("flags", 0) & EPHEMERAL
        alices = re.search(r"restore (\w+)", text)
        assert alices is not None

        bobs, _ = await fake.interaction("checkpoint", sub("save", name="bob's secret"), author=BOB)
        await answer_of(fake, bobs)

        focused = [
            {
                "name": "restore",
                "type": 1,
                "options": [{"name": "id", "type": 3, "value": "", "focused": True}],
            }
        ]
        asking, _ = await fake.interaction("checkpoint", focused, autocomplete=True)
        suggestions = await answer_of(fake, asking)
        assert suggestions["type"] == 8
        choices = suggestions["data"]["choices"]
        assert [c["value"] for c in choices] == [alices[1]]
        assert "before the trip" in choices[0]["name"]

        restoring, _ = await fake.interaction("checkpoint", sub("restore", id=alices[1]))
        restored = await answer_of(fake, restoring)
        assert restored["data"]["content"].startswith('Restored "before the trip"')


async def test_errors_and_usage_lines_are_ephemeral(fake: FakeDiscord, router: Router) -> None:
    async with running(routed_adapter(fake, router)):
        unknown, _ = await fake.interaction("checkpoint", sub("restore", id="zzzzzzzzzz"))
        answer = await answer_of(fake, unknown)
        assert answer["data"]["flags"] & EPHEMERAL
        refused, _ = await fake.interaction("session", sub("scope", scope="main"))
        answer = await answer_of(fake, refused)
        assert answer["data"]["content"] == "Only admins can use /session scope."
        assert answer["data"]["flags"] & EPHEMERAL


async def test_options_are_written_back_as_the_command_typed(
    fake: FakeDiscord, router: Router
) -> None:
    handler = RecordingHandler()
    adapter = discord_adapter(fake, handler, menu=menu_of(router.registry))
    async with running(adapter):
        await fake.interaction("new", [{"name": "title", "type": 3, "value": 'Trip "2027"'}])
        await fake.interaction("session", sub("list", all=True, page=2))
        await fake.interaction("history", sub("show", count=5))
        await fake.interaction("weather", [{"name": "arguments", "type": 3, "value": "Le Havre"}])
        await fake.interaction("help", [], guild=False, channel_id=930_000_000_000_000_001)
        await fake.interaction("reset", [], channel_id=THREAD_ID)
        await fake.until(lambda: len(handler.seen) == 6)
    assert sorted(handler.texts()) == sorted(
        [
            '/new "Trip \\"2027\\""',
            "/session list all 2",
            "/history 5",
            "/weather Le Havre",
            "/help",
            "/reset",
        ]
    )
    thread = next(i for i in handler.seen if i.text == "/reset")
    assert (thread.channel_id, thread.thread_id) == (f"{GUILD_ID}:{CHANNEL_ID}", str(THREAD_ID))
    dm = next(i for i in handler.seen if i.text == "/help")
    assert dm.is_direct and dm.channel_id == "dm:930000000000000001"
    guild = next(i for i in handler.seen if i.text == "/history 5")
    assert guild.channel_id == f"{GUILD_ID}:{CHANNEL_ID}"
    assert guild.user_id == ALICE["id"]


async def test_a_slow_answer_is_deferred_then_edited_in(fake: FakeDiscord) -> None:
    handler = RecordingHandler()
    handler.gates["/history"] = gate = asyncio.Event()
    adapter = discord_adapter(fake, handler, menu=menu_of(full_registry()))
    adapter.ack_after = 0.05
    async with running(adapter):
        slow, token = await fake.interaction("history", sub("show"))
        answer = await answer_of(fake, slow)
        assert answer == {"type": 5}  # "thinking…", within Discord's 3 seconds
        gate.set()
        edit = rf"/webhooks/{APP_ID}/{token}/messages/@original"
        await fake.until(lambda: bool(fake.requests("PATCH", edit)))
    assert fake.requests("PATCH", edit)[0].body["content"] == "echo: /history"


async def test_a_slow_private_answer_replaces_the_public_thinking(fake: FakeDiscord) -> None:
    handler = RecordingHandler(lambda inbound: [Reply("only for you", ephemeral=True)])
    handler.gates["/history"] = gate = asyncio.Event()
    adapter = discord_adapter(fake, handler, menu=menu_of(full_registry()))
    adapter.ack_after = 0.05
    async with running(adapter):
        slow, token = await fake.interaction("history", sub("show"))
        await answer_of(fake, slow)
        gate.set()
        await fake.until(lambda: bool(fake.requests("POST", rf"/webhooks/{APP_ID}/{token}")))
    assert fake.requests("DELETE", rf"/webhooks/{APP_ID}/{token}/messages/@original")
    followup = fake.requests("POST", rf"/webhooks/{APP_ID}/{token}")[0].body
    assert followup["content"] == "only for you"
    assert followup["flags"] & EPHEMERAL


async def test_an_export_arrives_as_an_attachment(fake: FakeDiscord, router: Router) -> None:
    async with running(routed_adapter(fake, router)):
        exporting, token = await fake.interaction("history", sub("export", format="json"))
        answer = await answer_of(fake, exporting)
        assert answer["data"]["content"].startswith("Here is this conversation as json")
        await fake.until(lambda: bool(fake.requests("POST", rf"/webhooks/{APP_ID}/{token}")))
    upload = fake.requests("POST", rf"/webhooks/{APP_ID}/{token}")[0]
    [(name, content)] = upload.files
    assert name.endswith(".json")
    assert content.startswith(b"{")


async def test_a_long_answer_is_split_under_2000_characters(fake: FakeDiscord) -> None:
    long_text = "\n".join(f"line {n:04d} " + "x" * 60 for n in range(80))
    handler = RecordingHandler(lambda inbound: [Reply(long_text)])
    async with running(discord_adapter(fake, handler, menu=menu_of(full_registry()))):
        asked, token = await fake.interaction("history", sub("show"))
        await answer_of(fake, asked)
        await fake.until(lambda: len(fake.requests("POST", rf"/webhooks/{APP_ID}/{token}")) == 2)
    first = callbacks(fake, asked)[0]["data"]["content"]
    rest = [c.body["content"] for c in fake.requests("POST", rf"/webhooks/{APP_ID}/{token}")]
    assert "\n".join([first, *rest]) == long_text
    assert all(len(part) <= 2000 for part in [first, *rest])


async def test_everyone_in_a_command_answer_pings_nobody(fake: FakeDiscord) -> None:
    handler = RecordingHandler(lambda inbound: [Reply("@everyone @here <@&1> hi")])
    async with running(discord_adapter(fake, handler, menu=menu_of(full_registry()))):
        asked, _ = await fake.interaction("history", sub("show"))
        answer = await answer_of(fake, asked)
    assert answer["data"]["allowed_mentions"]["parse"] == []


def expected_tree(menu: tuple[MenuCommand, ...]) -> list[tuple[str, list[Any]]]:
    def options(entry: MenuCommand) -> list[tuple[str, bool]]:
        return [(option.name, option.required) for option in entry.options]

    return [
        (entry.name, [(s.name, options(s)) for s in entry.subcommands] or options(entry))
        for entry in menu
    ]


def synced_tree(commands: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    def options(node: dict[str, Any]) -> list[tuple[str, bool]]:
        return [(o["name"], o.get("required", False)) for o in node.get("options", [])]

    tree = []
    for command in commands:
        subs = [o for o in command.get("options", []) if o["type"] == 1]
        tree.append((command["name"], [(s["name"], options(s)) for s in subs] or options(command)))
    return tree


async def test_the_synced_commands_match_the_registry_plugin_included(
    fake: FakeDiscord, router: Router
) -> None:
    async with running(routed_adapter(fake, router, sync_commands="global")):
        await fake.until(lambda: bool(fake.requests("PUT", rf"/applications/{APP_ID}/commands")))
    [put] = fake.requests("PUT", rf"/applications/{APP_ID}/commands")
    menu = menu_of(router.registry)
    assert synced_tree(put.body) == expected_tree(menu)
    assert "weather" in [command["name"] for command in put.body]
    by_name = {command["name"]: command for command in put.body}
    history = {o["name"]: o for o in by_name["history"]["options"]}
    count = history["show"]["options"][0]
    assert (count["type"], count["min_value"], count["max_value"]) == (4, 1, 200)
    formats = [c["value"] for c in history["export"]["options"][0]["choices"]]
    assert formats == ["markdown", "json", "text"]
    checkpoint = {o["name"]: o for o in by_name["checkpoint"]["options"]}
    assert checkpoint["restore"]["options"][0]["autocomplete"] is True
    assert all(len(command["description"]) <= 100 for command in put.body)


async def test_guild_sync_and_a_refused_guild_is_logged_with_the_fix(
    fake: FakeDiscord, router: Router, caplog: pytest.LogCaptureFixture
) -> None:
    missing = 910_000_000_000_000_404
    fake.refuse[rf"/applications/{APP_ID}/guilds/{missing}/commands"] = 403
    adapter = routed_adapter(fake, router, sync_commands="guilds", guild_ids=(GUILD_ID, missing))
    async with running(adapter):
        own = rf"/applications/{APP_ID}/guilds/{GUILD_ID}/commands"
        await fake.until(lambda: bool(fake.requests("PUT", own)))
        await fake.message("still answering", channel_id=930_000_000_000_000_001, guild=False)
        await fake.until(lambda: len(fake.texts()) == 1)
    assert not fake.requests("PUT", rf"/applications/{APP_ID}/commands")
    assert "applications.commands" in caplog.text
    assert str(missing) in caplog.text


async def test_a_command_discord_still_shows_but_the_bot_dropped_gets_one_private_line(
    fake: FakeDiscord, router: Router
) -> None:
    async with running(routed_adapter(fake, router)):
        gone, _ = await fake.interaction("forecast", [])
        answer = await answer_of(fake, gone)
    assert answer["data"]["content"] == "That command is not available any more; try /help."
    assert answer["data"]["flags"] & EPHEMERAL


async def test_a_value_of_the_wrong_kind_gets_one_private_line(
    fake: FakeDiscord, router: Router
) -> None:
    async with running(routed_adapter(fake, router)):
        bad, _ = await fake.interaction("history", sub("show", count="many"))
        answer = await answer_of(fake, bad)
    # Discord's client checks values; one that slips through is the router's to refuse.
    assert answer["data"]["content"].startswith(
        "The count must be a whole number from 1 to 200, not 'many'."
    )
    assert "\n" not in answer["data"]["content"]
    assert answer["data"]["flags"] & EPHEMERAL


async def test_session_ids_are_suggested_from_the_callers_own(
    fake: FakeDiscord, router: Router
) -> None:
    async with running(routed_adapter(fake, router)):
        for title, author in (("mine", ALICE), ("theirs", BOB)):
            started, _ = await fake.interaction(
                "new", [{"name": "title", "type": 3, "value": title}], author=author
            )
            await answer_of(fake, started)
        focused = [{"name": "id", "type": 3, "value": "", "focused": True}]
        asking, _ = await fake.interaction(
            "session", [{"name": "resume", "type": 1, "options": focused}], autocomplete=True
        )
        choices = (await answer_of(fake, asking))["data"]["choices"]
    labels = " ".join(choice["name"] for choice in choices)
    assert "mine" in labels and "theirs" not in labels
