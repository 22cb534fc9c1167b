"""``/session tag``, ``/session untag`` and ``/session meta``: label a conversation.

Tags find conversations again (``/session list tag:<tag>``, ``/history search``'s
sessions, ``sessionbot sessions search --tag``); metadata is free-form ``key: value``
notes. Both are shown by ``/session``, exported and imported, and kept by automatic
resets as ``carry_over`` says.
"""

from __future__ import annotations

from commands.arguments import tags_arg, text_arg
from commands.context import CommandContext
from commands.formatting import session_label
from commands.session import registry
from core.errors import UsageError
from core.models import Reply, Session
from core.sessions.edits import SessionEdit
from core.sessions.tags import (
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE,
    MAX_TAGS,
    metadata_key_of,
)

__all__ = ["registry"]


@registry.subcommand("session", "tag", usage="/session tag <tag>…", min_args=1, max_args=MAX_TAGS)
async def session_tag(ctx: CommandContext) -> Reply:
    """Tag this conversation, to find it with /session list tag:<tag>."""
    added = tags_arg(ctx.args)

    def tag(current: Session) -> SessionEdit:
        tags = list(dict.fromkeys([*current.tags, *added]))
        if len(tags) > MAX_TAGS:
            raise UsageError(f"A conversation can have at most {MAX_TAGS} tags.")
        return SessionEdit(tags=tags)

    session = await ctx.manager.sessions.edit(ctx.session, tag)
    return Reply(f"{session_label(session)} is tagged {_shown(session.tags)}.")


@registry.subcommand(
    "session", "untag", usage="/session untag <tag>…", min_args=1, max_args=MAX_TAGS
)
async def session_untag(ctx: CommandContext) -> Reply:
    """Take tags off this conversation."""
    removed = set(tags_arg(ctx.args))

    def untag(current: Session) -> SessionEdit:
        missing = sorted(removed - set(current.tags))
        if missing:
            raise UsageError(f"This conversation has no tag {', '.join(missing)}.")
        return SessionEdit(tags=[t for t in current.tags if t not in removed])

    session = await ctx.manager.sessions.edit(ctx.session, untag)
    return Reply(f"{session_label(session)} is tagged {_shown(session.tags)}.")


@registry.subcommand(
    "session", "meta", usage="/session meta <key> [value]", min_args=1, max_args=None
)
async def session_meta(ctx: CommandContext) -> Reply:
    """Note a value under a key on this conversation; without a value, remove the key."""
    try:
        key = metadata_key_of(ctx.args[0])
    except ValueError as error:
        raise UsageError(f"{error}.") from None
    value = text_arg(ctx.free_text(skip=1), "value", limit=MAX_METADATA_VALUE, required=False)

    def note(current: Session) -> SessionEdit:
        metadata = dict(current.metadata)
        if not value:
            if key not in metadata:
                raise UsageError(f"This conversation has no metadata {key!r}.")
            del metadata[key]
        else:
            metadata[key] = value
        if len(metadata) > MAX_METADATA_KEYS:
            raise UsageError(f"A conversation can have at most {MAX_METADATA_KEYS} metadata keys.")
        return SessionEdit(metadata=metadata)

    await ctx.manager.sessions.edit(ctx.session, note)
    return Reply(f"Metadata {key}: {value}" if value else f"Metadata {key} removed.")


def _shown(tags: tuple[str, ...]) -> str:
    return ", ".join(f"#{t}" for t in tags) if tags else "with nothing any more"
