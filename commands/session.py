"""Session commands: ``/new``, ``/reset`` and ``/session`` with its subcommands."""

from __future__ import annotations

from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from commands.arguments import TITLE_LIMIT, count_arg, id_arg, tags_arg, text_arg
from commands.context import CommandContext
from commands.formatting import format_time, plural, session_label
from commands.registry import Registry
from core.errors import UsageError
from core.limits import MAX_RESET_MINUTES
from core.menu import MenuOption, OptionKind, Suggest
from core.models import ArchiveReason, Reply, Session
from core.sessions.notices import format_when
from core.sessions.resets import next_resets, parse_reset_time
from core.sessions.scope import Scope
from core.sessions.strategies import Strategy
from core.storage.protocols import SessionFilter

registry = Registry()

PAGE_SIZE = 10
MAX_PAGE = 10_000

SCOPE_MEANINGS = {
    Scope.MAIN: "everyone shares one conversation, in every channel",
    Scope.CHANNEL: "everyone in this channel shares one conversation",
    Scope.PEER: "each person has one conversation, wherever they write",
    Scope.CHANNEL_PEER: "each person has their own conversation in this channel",
}


_ENCRYPTION = "on (AES-256-GCM, this session has a key of its own)"


@registry.command(
    "new",
    usage="/new [title]",
    max_args=None,
    options=[MenuOption("title", "A title for the new conversation", maximum=TITLE_LIMIT)],
)
async def new(ctx: CommandContext) -> Reply:
    """Start a new conversation; the current one is archived.

    Add a title to name the new conversation. The archived one stays in
    /session list, and /session resume <id> brings it back.
    """
    title = text_arg(ctx.free_text(), "title", limit=TITLE_LIMIT, required=False) or None
    if await _is_blank(ctx):
        # Archiving a conversation with nothing in it would only clutter /session list.
        kept = ctx.session
        if title is not None and title != kept.title:
            kept = await ctx.manager.sessions.update(kept, title=title)
        return Reply(f"This conversation is still empty, so it stays: {session_label(kept)}.")
    session, previous = await ctx.manager.sessions.start_new(
        ctx.inbound, ArchiveReason.NEW, title=title
    )
    return Reply(_started(f"Started a new conversation, {session_label(session)}.", previous))


@registry.command("reset", usage="/reset")
async def reset(ctx: CommandContext) -> Reply:
    """Start over; the current conversation is archived.

    Nothing is deleted: /session resume <id> brings the old conversation back.
    """
    if await _is_blank(ctx):
        return Reply(f"Nothing to reset: {session_label(ctx.session)} is still empty.")
    session, previous = await ctx.manager.sessions.start_new(ctx.inbound, ArchiveReason.RESET)
    return Reply(_started(f"Starting over in {session_label(session)}.", previous))


async def _is_blank(ctx: CommandContext) -> bool:
    """Whether the caller's conversation holds nothing: no message, no checkpoint."""
    session = ctx.session
    return session.message_count == 0 and not await ctx.manager.checkpoints.count(session)


def _started(headline: str, previous: Session | None) -> str:
    # An empty session is not worth pointing back to.
    if previous is None or not previous.message_count:
        return headline
    return (
        f"{headline} The previous one ({previous.id}, {plural(previous.message_count, 'message')})"
        f" is archived; /session resume {previous.id} brings it back."
    )


@registry.command("session", usage="/session")
async def session_info(ctx: CommandContext) -> Reply:
    """Show this conversation: id, title, scope, times, messages, tokens, checkpoints, resets.

    Subcommands list your conversations, resume an archived one, rename this one,
    or (admins) choose who shares a conversation in this channel.
    """
    session, scope = ctx.session, ctx.key.scope
    checkpoints = await ctx.manager.checkpoints.count(session)
    lines = [
        f"Session {session_label(session)}",
        f"Scope: {scope.chat_name} ({SCOPE_MEANINGS[scope]})",
        f"Created: {format_time(session.created_at, ctx.zone)}",
        f"Last activity: {format_time(session.last_activity_at, ctx.zone)}",
        f"Messages: {session.message_count}",
        f"Tokens in/out: {session.tokens_in} / {session.tokens_out}",
        f"Checkpoints: {checkpoints}",
        f"Context: {await _context_line(ctx)}",
        *_labels(session),
        f"Encryption: {_ENCRYPTION if ctx.manager.encrypted else 'off'}",
        f"Next resets: {await _next_resets(ctx)}",
    ]
    return Reply("\n".join(lines))


async def _context_line(ctx: CommandContext) -> str:
    stored = await ctx.manager.channels.settings(ctx.inbound)
    strategy = ctx.settings.strategy_for(stored.context_strategy if stored else None)
    line = f"{strategy.value}, up to {ctx.settings.context_max_tokens} tokens"
    if strategy is Strategy.SMART:
        pins = await ctx.manager.notes.pins(ctx.session)
        line += f", {plural(len(pins), 'pinned message')}"
    elif strategy is Strategy.SUMMARIZE:
        summary = await ctx.manager.notes.summary(ctx.session)
        done = f"messages 1 to {summary.upto} summarized" if summary else "nothing summarized yet"
        line += f", {done}"
    return line


def _labels(session: Session) -> list[str]:
    lines = [f"Tags: {' '.join('#' + t for t in session.tags)}"] if session.tags else []
    # Keys starting with "_" are sessionbot's own (pins, summaries), not a user's notes.
    notes = {key: value for key, value in session.metadata.items() if not key.startswith("_")}
    lines.extend(f"Meta {key}: {value}" for key, value in notes.items())
    return lines


async def _next_resets(ctx: CommandContext) -> str:
    # Without reset rules the manager never resets, whatever a channel has stored.
    if ctx.manager.reset_rules is None:
        return "off"
    policy = await ctx.manager.reset_policy(ctx.session)
    daily, idle = next_resets(ctx.session, policy, ctx.now)
    parts = [
        f"{kind} {format_when(when, ctx.now, ctx.zone)}"
        for kind, when in (("daily", daily), ("idle", idle))
        if when is not None
    ]
    return " · ".join(parts) or "off"


@registry.subcommand(
    "session",
    "list",
    usage="/session list [all] [tag:<tag>] [page]",
    max_args=3,
    options=[
        MenuOption("all", "Every conversation of this channel (admins)", OptionKind.FLAG),
        MenuOption("page", "Page number", OptionKind.INTEGER, minimum=1, maximum=MAX_PAGE),
    ],
)
async def session_list(ctx: CommandContext) -> Reply:
    """List your conversations in this scope, newest first; the active one is marked.

    Ten to a page: /session list 2 shows the next ten; tag:<tag> lists only those
    tagged so. Admins can add "all" to list every conversation started in this channel.
    """
    every, tag, page = _list_options(ctx.args)
    if every:
        ctx.require_admin("list every conversation of this channel")
        where = SessionFilter(platform=ctx.inbound.platform, channel_id=ctx.inbound.channel_id)
    else:
        where = SessionFilter(scope_key=ctx.key.value)
    offset = (page - 1) * PAGE_SIZE
    if tag is None:
        found = await ctx.manager.sessions.list(where, limit=PAGE_SIZE + 1, offset=offset)
    else:
        tagged = await ctx.manager.search.sessions_where(where, tag=tag)
        found = tagged[offset : offset + PAGE_SIZE + 1]
    if not found:
        return Reply(f"No conversations on page {page}.")
    title = "Conversations in this channel" if every else "Your conversations"
    lines = [f"{title}{f' tagged #{tag}' if tag else ''} (page {page}):"]
    lines.extend(_list_line(s, ctx.zone, show_owner=every) for s in found[:PAGE_SIZE])
    if len(found) > PAGE_SIZE:
        options = ("all " if every else "") + (f"tag:{tag} " if tag else "")
        lines.append(f"More: /session list {options}{page + 1}")
    return Reply("\n".join(lines))


def _list_options(args: tuple[str, ...]) -> tuple[bool, str | None, int]:
    every, tag, page = False, None, None
    for arg in args:
        if arg.lower() == "all" and not every:
            every = True
        elif page is None and arg.isdigit():
            page = count_arg(arg, "page", maximum=MAX_PAGE)
        elif tag is None and arg.lower().startswith("tag:"):
            tag = tags_arg((arg[4:],))[0]
        else:
            raise UsageError(f"Expected 'all', tag:<tag> or a page number, not {arg[:32]!r}.")
    return every, tag, page or 1


def _list_line(session: Session, zone: tzinfo, *, show_owner: bool) -> str:
    marker = "▶" if session.is_active else "•"
    parts = [
        f"{marker} {session_label(session)}",
        plural(session.message_count, "message"),
        f"started {format_time(session.created_at, zone)}",
    ]
    if show_owner:
        parts.append(f"by {session.owner}")
    line = " · ".join(parts)
    return f"{line} (active)" if session.is_active else line


@registry.subcommand(
    "session",
    "resume",
    usage="/session resume <id>",
    min_args=1,
    max_args=1,
    options=[MenuOption("id", "The conversation", required=True, suggest=Suggest.SESSION)],
)
async def session_resume(ctx: CommandContext) -> Reply:
    """Make an archived conversation of this scope the active one again.

    The conversation you leave is archived, so you can come back to it the same way.
    """
    session_id = id_arg(ctx.args[0], "session")
    resumed, displaced = await ctx.manager.sessions.resume(ctx.key, session_id)
    if displaced is None and resumed.id == ctx.session.id:
        return Reply(f"{session_label(resumed)} is already the current conversation.")
    text = f"Resumed {session_label(resumed)} ({plural(resumed.message_count, 'message')})."
    if displaced is not None:
        text += f" {displaced.id} is archived; /session resume {displaced.id} goes back."
    return Reply(text)


@registry.subcommand(
    "session",
    "scope",
    usage="/session scope main|channel|peer|channel-peer",
    min_args=1,
    max_args=1,
    admin_only=True,
    options=[
        MenuOption(
            "scope",
            "Who shares a conversation here",
            required=True,
            choices=tuple(scope.chat_name for scope in Scope),
        )
    ],
)
async def session_scope(ctx: CommandContext) -> Reply:
    """Choose who shares a conversation in this channel (admins only).

    main: everyone, everywhere; channel: everyone in this channel; peer: each person,
    across channels; channel-peer: each person, in this channel.
    """
    try:
        scope = Scope.parse(ctx.args[0])
    except ValueError:
        names = ", ".join(scope.chat_name for scope in Scope)
        raise UsageError(f"Unknown scope {ctx.args[0][:32]!r}; choose {names}.") from None
    await ctx.manager.channels.set_scope(ctx.inbound, scope)
    return Reply(f"This channel now uses the {scope.chat_name} scope: {SCOPE_MEANINGS[scope]}.")


@registry.subcommand(
    "session",
    "context",
    usage="/session context recent|smart|summarize|default",
    min_args=1,
    max_args=1,
    admin_only=True,
    options=[
        MenuOption(
            "strategy",
            "What the model sees",
            required=True,
            choices=(*(s.value for s in Strategy), "default"),
        )
    ],
)
async def session_context(ctx: CommandContext) -> Reply:
    """Choose what part of the history the model sees in this channel (admins only).

    recent: the newest messages that fit; smart: pinned messages (/history pin), then
    the newest; summarize: a running summary of older messages, then the newest;
    default: what the configuration says.
    """
    choice = ctx.args[0].lower()
    if choice == "default":
        await ctx.manager.channels.update(ctx.inbound, context_strategy=None)
        default = ctx.settings.context_strategy.value
        return Reply(f"This channel now uses the configured context strategy ({default}).")
    try:
        strategy = Strategy(choice)
    except ValueError:
        names = ", ".join(s.value for s in Strategy)
        raise UsageError(
            f"Unknown strategy {ctx.args[0][:32]!r}; choose {names} or default."
        ) from None
    await ctx.manager.channels.update(ctx.inbound, context_strategy=strategy.value)
    return Reply(f"This channel now uses the {strategy.value} context strategy.")


@registry.subcommand(
    "session",
    "title",
    usage="/session title <text>",
    min_args=1,
    max_args=None,
    options=[MenuOption("text", "The title", required=True, maximum=TITLE_LIMIT)],
)
async def session_title(ctx: CommandContext) -> Reply:
    """Give this conversation a title."""
    title = text_arg(ctx.free_text(), "title", limit=TITLE_LIMIT)
    session = await ctx.manager.sessions.update(ctx.session, title=title)
    return Reply(f"This conversation is now called {session_label(session)}.")


@registry.subcommand(
    "session",
    "reset-time",
    usage="/session reset-time HH:MM [TIMEZONE] | off",
    min_args=1,
    max_args=2,
    admin_only=True,
    options=[
        MenuOption("time", "HH:MM, or off", required=True, maximum=5),
        MenuOption("timezone", "Such as Europe/Berlin; the bot's own if left out", maximum=64),
    ],
)
async def session_reset_time(ctx: CommandContext) -> Reply:
    """Set this channel's daily reset (admins only).

    Every day at HH:MM (in TIMEZONE, or the bot's timezone) conversations here start
    over; one still going at that time waits for a quiet moment. ``off`` turns the
    daily reset off for this channel.
    """
    try:
        at = parse_reset_time(ctx.args[0])
    except ValueError as error:
        why = str(error)
        raise UsageError(f"{why[:1].upper()}{why[1:]}.") from None
    changes: dict[str, str] = {"daily_reset_time": "off" if at is None else at.strftime("%H:%M")}
    if len(ctx.args) == 2:
        if at is None:
            raise UsageError("A timezone goes with a time, not with off.")
        changes["timezone"] = _timezone_arg(ctx.args[1])
    await ctx.manager.channels.update(ctx.inbound, **changes)
    if at is None:
        return Reply("Daily reset is off for this channel.")
    policy = await ctx.manager.reset_policy(ctx.session)
    daily, _ = next_resets(ctx.session, policy, ctx.now)
    return Reply(
        f"Daily reset for this channel: {changes['daily_reset_time']} {policy.timezone}. "
        f"Next: {format_when(daily, ctx.now, policy.timezone)}."
    )


def _timezone_arg(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"Unknown timezone {name[:40]!r}; try one like Europe/Berlin.") from None
    return name


@registry.subcommand(
    "session",
    "idle-reset",
    usage="/session idle-reset MINUTES | off",
    min_args=1,
    max_args=1,
    admin_only=True,
    options=[MenuOption("minutes", f"1 to {MAX_RESET_MINUTES}, or off", required=True, maximum=6)],
)
async def session_idle_reset(ctx: CommandContext) -> Reply:
    """Set this channel's idle reset (admins only).

    A conversation nobody has written to for MINUTES starts over with the next
    message (bot replies do not count as activity). ``off`` turns it off here.
    """
    text = ctx.args[0].strip().lower()
    if text == "off":
        await ctx.manager.channels.update(ctx.inbound, idle_reset_minutes=0)
        return Reply("Idle reset is off for this channel.")
    try:
        minutes = count_arg(text, "minutes", maximum=MAX_RESET_MINUTES)
    except UsageError:
        raise UsageError(f"Give minutes from 1 to {MAX_RESET_MINUTES}, or off.") from None
    await ctx.manager.channels.update(ctx.inbound, idle_reset_minutes=minutes)
    return Reply(
        f"Conversations in this channel now start over after {plural(minutes, 'minute')} "
        "without a message."
    )
