"""Checkpoint commands: ``/checkpoint save|list|restore|delete|branch``."""

from __future__ import annotations

from datetime import tzinfo

from commands.arguments import TITLE_LIMIT, id_arg, text_arg
from commands.context import CommandContext
from commands.formatting import format_time, one_line, plural, session_label
from commands.registry import Registry
from core.menu import MenuOption, Suggest
from core.models import Checkpoint, Reply

registry = Registry()

NAME_LIMIT = 64
DESCRIPTION_LIMIT = 500
LIST_LIMIT = 20

CHECKPOINT_ID = MenuOption("id", "The checkpoint", required=True, suggest=Suggest.CHECKPOINT)

registry.group(
    "checkpoint",
    """Save points in this conversation and go back to them.

    Saving and restoring are instant however long the conversation is, and a restore
    can always be undone: it saves where you were first.
    """,
)


@registry.subcommand(
    "checkpoint",
    "save",
    usage='/checkpoint save "name" [description]',
    min_args=1,
    max_args=None,
    options=[
        MenuOption("name", "The checkpoint's name", required=True, maximum=NAME_LIMIT),
        MenuOption("description", "What it is", maximum=DESCRIPTION_LIMIT),
    ],
)
async def checkpoint_save(ctx: CommandContext) -> Reply:
    """Save the conversation as it is now under a name.

    Quote a name of several words. Anything after the name is its description.
    """
    name = text_arg(ctx.args[0] if ctx.args else "", "name", limit=NAME_LIMIT)
    description = text_arg(ctx.free_text(1), "description", limit=DESCRIPTION_LIMIT, required=False)
    checkpoint = await ctx.manager.checkpoints.save(ctx.session, name, description, by=ctx.user)
    count = plural(checkpoint.message_count, "message")
    return Reply(
        f'Saved checkpoint "{name}" ({checkpoint.id}, {count}). '
        f"To come back here: /checkpoint restore {checkpoint.id}"
    )


@registry.subcommand("checkpoint", "list", usage="/checkpoint list")
async def checkpoint_list(ctx: CommandContext) -> Reply:
    """List this conversation's checkpoints, oldest first."""
    checkpoints = await ctx.manager.checkpoints.list(ctx.session)
    if not checkpoints:
        return Reply('No checkpoints yet. Save one with /checkpoint save "name".')
    shown = checkpoints[-LIST_LIMIT:]
    lines = ["Checkpoints:"]
    if len(checkpoints) > len(shown):
        lines.append(f"({len(checkpoints) - len(shown)} older not shown)")
    lines.extend(_list_line(checkpoint, ctx.zone) for checkpoint in shown)
    return Reply("\n".join(lines))


def _list_line(checkpoint: Checkpoint, zone: tzinfo) -> str:
    parts = [
        f'• {checkpoint.id} "{checkpoint.name}"',
        plural(checkpoint.message_count, "message"),
        format_time(checkpoint.created_at, zone),
    ]
    if checkpoint.auto:
        parts.append("automatic")
    if checkpoint.description:
        parts.append(one_line(checkpoint.description, 80))
    return " · ".join(parts)


@registry.subcommand(
    "checkpoint",
    "restore",
    usage="/checkpoint restore <id>",
    min_args=1,
    max_args=1,
    options=[CHECKPOINT_ID],
)
async def checkpoint_restore(ctx: CommandContext) -> Reply:
    """Go back to a checkpoint of this conversation.

    Where you were is saved first as an automatic checkpoint, so the reply tells you
    how to undo the restore.
    """
    checkpoint_id = id_arg(ctx.args[0], "checkpoint")
    _, target, undo = await ctx.manager.checkpoints.restore(ctx.session, checkpoint_id, by=ctx.user)
    return Reply(
        f'Restored "{target.name}": back to {plural(target.message_count, "message")}. '
        f"To undo: /checkpoint restore {undo.id}"
    )


@registry.subcommand(
    "checkpoint",
    "delete",
    usage="/checkpoint delete <id>",
    min_args=1,
    max_args=1,
    options=[CHECKPOINT_ID],
)
async def checkpoint_delete(ctx: CommandContext) -> Reply:
    """Delete a checkpoint of this conversation; the messages stay."""
    checkpoint_id = id_arg(ctx.args[0], "checkpoint")
    checkpoint = await ctx.manager.checkpoints.delete(ctx.session, checkpoint_id)
    return Reply(f'Deleted checkpoint "{checkpoint.name}" ({checkpoint.id}).')


@registry.subcommand(
    "checkpoint",
    "branch",
    usage="/checkpoint branch <id> [title]",
    min_args=1,
    max_args=None,
    options=[
        CHECKPOINT_ID,
        MenuOption("title", "A title for the new conversation", maximum=TITLE_LIMIT),
    ],
)
async def checkpoint_branch(ctx: CommandContext) -> Reply:
    """Start a new conversation from a checkpoint; the current one is archived.

    The new conversation begins with the checkpoint's history; add a title to name it.
    """
    checkpoint_id = id_arg(ctx.args[0], "checkpoint")
    title = text_arg(ctx.free_text(1), "title", limit=TITLE_LIMIT, required=False) or None
    checkpoint = await ctx.manager.checkpoints.get(ctx.session, checkpoint_id)
    session = await ctx.manager.checkpoints.branch(
        ctx.inbound, ctx.session, checkpoint.id, title=title
    )
    previous = ctx.session.id
    return Reply(
        f'Started {session_label(session)} from checkpoint "{checkpoint.name}" '
        f"({plural(checkpoint.message_count, 'message')}). The previous conversation is "
        f"archived; /session resume {previous} brings it back."
    )
