"""History commands: ``/history [N]``, ``/history export`` and ``/history clear``."""

from __future__ import annotations

from datetime import tzinfo
from zoneinfo import ZoneInfo

from commands.arguments import count_arg
from commands.context import CommandContext
from commands.formatting import one_line, plural
from commands.registry import Registry
from core.errors import UsageError
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
