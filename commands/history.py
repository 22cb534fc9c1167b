"""History commands: ``/history [N]``, ``export``, ``clear``, and the pins and summary.

``pin``, ``unpin`` and ``pins`` keep the messages the smart context strategy always
shows; ``summary`` shows the running summary of the summarize strategy.
"""

from __future__ import annotations

from datetime import tzinfo
from zoneinfo import ZoneInfo

from commands.arguments import count_arg, id_arg
from commands.context import CommandContext
from commands.formatting import one_line, plural
from commands.registry import Registry
from core.errors import NotFoundError, UsageError
from core.limits import MAX_HISTORY_COUNT
from core.menu import MenuOption, OptionKind
from core.models import Message, Reply
from core.sessions.export import ExportFormat, render_export
from core.sessions.notices import zone_name

registry = Registry()

DEFAULT_COUNT = 20
# A listing, not a transcript: long messages are cut (marked with "…"); the export
# has them whole.
LINE_LIMIT = 300
PIN_LINE = 120

EXPORT_FORMATS = {
    "markdown": ExportFormat.MARKDOWN,
    "md": ExportFormat.MARKDOWN,
    "json": ExportFormat.JSON,
    "text": ExportFormat.TEXT,
    "txt": ExportFormat.TEXT,
}


@registry.command(
    "history",
    usage="/history [N]",
    max_args=1,
    options=[
        MenuOption(
            "count",
            f"How many messages (default {DEFAULT_COUNT})",
            OptionKind.INTEGER,
            minimum=1,
            maximum=MAX_HISTORY_COUNT,
        )
    ],
)
async def history(ctx: CommandContext) -> Reply:
    """Show the last N messages of this conversation (20 unless you say, at most 200).

    Long messages are shortened here; /history export gives the whole conversation.
    """
    count = (
        count_arg(ctx.args[0], "count", maximum=MAX_HISTORY_COUNT) if ctx.args else DEFAULT_COUNT
    )
    page = await ctx.manager.history.page(ctx.session, limit=count)
    if not page.messages:
        return Reply("No messages yet.")
    total = ctx.session.message_count
    shown = len(page.messages)
    header = f"All {plural(total, 'message')}" if shown == total else f"Last {shown} of {total}"
    zone = ctx.zone.key if isinstance(ctx.zone, ZoneInfo) else zone_name(ctx.zone)
    lines = [f"{header} (times in {zone}):", *(_line(m, ctx.zone) for m in page.messages)]
    return Reply("\n".join(lines))


def _line(message: Message, zone: tzinfo) -> str:
    when = message.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return f"[{when}] {message.author}: {one_line(message.content, LINE_LIMIT)}"


@registry.subcommand(
    "history",
    "export",
    usage="/history export [markdown|json|text]",
    max_args=1,
    options=[
        MenuOption("format", "markdown unless you choose", choices=("markdown", "json", "text"))
    ],
)
async def history_export(ctx: CommandContext) -> Reply:
    """Send this conversation as a file: markdown (the default), json or text."""
    fmt = _export_format(ctx.args[0]) if ctx.args else ExportFormat.MARKDOWN
    checkpoints = await ctx.manager.checkpoints.list(ctx.session)
    chunks = ctx.manager.history.chunks(ctx.session)
    file, count = await render_export(ctx.session, chunks, checkpoints, fmt)
    return Reply(
        f"Here is this conversation as {fmt.value} ({plural(count, 'message')}).", file=file
    )


def _export_format(text: str) -> ExportFormat:
    fmt = EXPORT_FORMATS.get(text.lower())
    if fmt is None:
        raise UsageError(f"Unknown format {text[:32]!r}; choose markdown, json or text.")
    return fmt


@registry.subcommand("history", "clear", usage="/history clear")
async def history_clear(ctx: CommandContext) -> Reply:
    """Clear this conversation's messages; its settings and checkpoints stay.

    The cleared messages are saved as an automatic checkpoint first, so a clear can
    be undone with /checkpoint restore.
    """
    if not ctx.session.message_count:
        return Reply("There is nothing to clear.")
    _, saved = await ctx.manager.checkpoints.clear(ctx.session, by=ctx.user)
    cleared = plural(ctx.session.message_count, "message")
    undo = f" To undo: /checkpoint restore {saved.id}" if saved is not None else ""
    return Reply(f"Cleared {cleared}; settings and checkpoints are kept.{undo}")


# -- pins and the summary (the smart and summarize context strategies) -------------


@registry.subcommand(
    "history",
    "pin",
    usage="/history pin [number|id]",
    max_args=1,
    options=[MenuOption("message", "Its number or id; the last message if left out")],
)
async def history_pin(ctx: CommandContext) -> Reply:
    """Pin a message (the last one unless you give its number or id).

    With the smart context strategy, pinned messages are always shown to the model,
    however old. Pins belong to this point of the conversation: a restored checkpoint
    has the pins it had.
    """
    message = await _message_arg(ctx, ctx.args[0] if ctx.args else None)
    if not await ctx.manager.notes.pin(ctx.session, message):
        return Reply(f"Message #{message.seq} is pinned already.")
    return Reply(f"Pinned message #{message.seq}: {one_line(message.content, PIN_LINE)}")


@registry.subcommand(
    "history",
    "unpin",
    usage="/history unpin <number|id>",
    min_args=1,
    max_args=1,
    options=[MenuOption("message", "The pinned message's number or id", required=True)],
)
async def history_unpin(ctx: CommandContext) -> Reply:
    """Unpin a pinned message, by its number or id (see /history pins)."""
    ref = ctx.args[0].removeprefix("#")
    pins = await ctx.manager.notes.pins(ctx.session)
    pin = next((p for p in pins if ref in (str(p.seq), p.message_id)), None)
    if pin is None:
        raise NotFoundError(f"No pinned message {ctx.args[0][:32]!r}; /history pins lists them.")
    await ctx.manager.notes.unpin(ctx.session, pin)
    return Reply(f"Unpinned message #{pin.seq}.")


@registry.subcommand("history", "pins", usage="/history pins")
async def history_pins(ctx: CommandContext) -> Reply:
    """List the pinned messages of this conversation."""
    pins = await ctx.manager.notes.pins(ctx.session)
    if not pins:
        return Reply("No pinned messages. /history pin pins the last one.")
    lines = [f"{plural(len(pins), 'pinned message')}:"]
    for pin in pins:
        message = await ctx.manager.history.message(ctx.session, pin.message_id)
        lines.append(f"#{pin.seq} {message.author}: {one_line(message.content, PIN_LINE)}")
    return Reply("\n".join(lines))


@registry.subcommand("history", "summary", usage="/history summary")
async def history_summary(ctx: CommandContext) -> Reply:
    """Show the running summary the summarize context strategy keeps, if there is one."""
    summary = await ctx.manager.notes.summary(ctx.session)
    if summary is None:
        return Reply("No summary yet: one is written when the conversation outgrows its window.")
    return Reply(f"Summary of messages 1 to {summary.upto}:\n{summary.text}")


async def _message_arg(ctx: CommandContext, ref: str | None) -> Message:
    """The message a pin names: the last one, a number in this history, or an id."""
    total = ctx.session.message_count
    if ref is None:
        if not total:
            raise NotFoundError("There are no messages to pin yet.")
        ref = str(total)
    ref = ref.removeprefix("#")
    if ref.isdigit():
        seq = int(ref)
        found = (
            await ctx.manager.history.between(ctx.session, seq, seq, limit=1)
            if 1 <= seq <= total
            else []
        )
        if not found:
            raise NotFoundError(f"No message #{ref[:12]}; this conversation has {total}.")
        return found[0]
    return await ctx.manager.history.message(ctx.session, id_arg(ref, "message"))
