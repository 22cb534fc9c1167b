from __future__ import annotations

import pytest

from commands import CommandContext, default_registry
from core.models import Reply
from tests.commands.helpers import Chat


async def test_help_lists_every_command_with_its_summary(chat: Chat) -> None:
    assert await chat.say("/help") == "\n".join(
        [
            "Commands:",
            "/new — Start a new conversation; the current one is archived.",
            "/reset — Start over; the current conversation is archived.",
            "/session — Show this conversation: id, title, scope, times, messages, tokens,"
            " checkpoints, resets.",
            "/checkpoint — Save points in this conversation and go back to them.",
            "/history — Show the last N messages of this conversation (20 unless you say,"
            " at most 200).",
            "/retry — Ask the model again to answer your last message, when it did not answer it.",
            "/help — List the commands, or explain one.",
            "Send /help <command> for more, such as /help checkpoint.",
        ]
    )


async def test_help_for_a_command_shows_usage_doc_and_subcommands(chat: Chat) -> None:
    text = await chat.say("/help /Checkpoint")
    lines = text.splitlines()
    assert lines[0] == "/checkpoint save|list|restore|delete|branch …"
    assert lines[2] == "Save points in this conversation and go back to them."
    assert '/checkpoint save "name" [description] — Save the conversation as it is now' in text
    assert "/checkpoint restore <id> — Go back to a checkpoint of this conversation." in text


async def test_help_for_a_subcommand_shows_its_whole_docstring(chat: Chat) -> None:
    text = await chat.say("/help session scope")
    assert text.startswith("/session scope main|channel|peer|channel-peer (admins)\n\n")
    assert "channel-peer: each person, in this channel." in text


async def test_help_marks_admin_only_subcommands(chat: Chat) -> None:
    text = await chat.say("/help session")
    assert "/session scope main|channel|peer|channel-peer (admins) — Choose who" in text
    assert text.startswith(
        "/session or /session "
        "list|resume|scope|context|title|reset-time|idle-reset|tag|untag|meta …\n"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/help sesion", "There is no command /sesion. Did you mean /session?"),
        ("/help qqqq", "There is no command /qqqq."),
        ("/help session nope", "/session has no subcommand 'nope'."),
        ("/help a b c", "Too many arguments for /help."),
    ],
)
async def test_help_for_unknown_names(chat: Chat, text: str, expected: str) -> None:
    assert await chat.say(text) == f"{expected} Usage: /help [command]"


async def test_help_includes_commands_registered_later() -> None:
    registry = default_registry(load_plugins=False)

    @registry.command("dice", usage="/dice [sides]", aliases=("roll",), max_args=1)
    async def dice(ctx: CommandContext) -> Reply:
        """Roll a die.

        Six sides unless you say otherwise.
        """
        return Reply("4")

    chat = Chat(registry=registry)
    assert "/dice — Roll a die." in await chat.say("/help")
    assert await chat.say("/help roll") == (
        "/dice [sides]\n\nRoll a die.\n\nSix sides unless you say otherwise.\n\nAlso: /roll"
    )


async def test_start_lists_the_commands_like_help(chat: Chat) -> None:
    # Telegram sends /start when someone first opens a chat with the bot.
    overview = await chat.say("/help")
    assert await chat.say("/start") == overview
    assert (await chat.say("/help help")).endswith("\n\nAlso: /start")
