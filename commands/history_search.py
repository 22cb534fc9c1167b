"""``/history search <words> [all] [page N]``: find messages by their words."""

from __future__ import annotations

import re
from datetime import tzinfo

from commands.arguments import count_arg
from commands.context import CommandContext
from commands.formatting import session_label
from commands.history import registry
from commands.parser import split_args
from core.errors import UsageError
from core.models import Reply, Session
from core.sessions.search import SearchHit
from core.words import TextQuery

PAGE_SIZE = 10
MAX_PAGE = 1000
SNIPPET_WIDTH = 120
MARK = ("«", "»")

# Options come last and unquoted: `… all`, `… page 2`, `… all page 2`.
_OPTIONS = re.compile(r"(?:^|\s)(?P<all>all)?(?:\s*\bpage\s+(?P<page>\d+))?\s*$", re.IGNORECASE)


@registry.subcommand(
    "history",
    "search",
    usage='/history search <words or "a phrase"> [all] [page N]',
    min_args=1,
    max_args=None,
)
async def history_search(ctx: CommandContext) -> Reply:
    """Find messages with all these words in this conversation; "all" looks in every one of yours.

    Quote words to find them together ("blue whale"); newest first, ten to a page.
    With encryption on, only whole words are found, never parts of words.
    """
    query, every, page = _search_options(ctx.raw_args)
    sessions = await _sessions(ctx, every=every)
    found = await ctx.manager.search.find(
        query, sessions, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    where = "your conversations" if every else "this conversation"
    if not found.hits:
        return Reply(f"No messages in {where} match on page {page}.")
    lines = [f"Found in {where} (page {page}, newest first):"]
    lines.extend(_hit_line(hit, query, ctx.zone) for hit in found.hits)
    if found.has_more:
        words = _typed_words(ctx.raw_args) + (" all" if every else "")
        lines.append(f"More: /history search {words} page {page + 1}")
    return Reply("\n".join(lines))


def _search_options(raw: str) -> tuple[TextQuery, bool, int]:
    match = _OPTIONS.search(raw)
    words = raw[: match.start()] if match else raw
    every = bool(match and match.group("all"))
    page = (
        count_arg(match.group("page"), "page", maximum=MAX_PAGE)
        if match and match.group("page")
        else 1
    )
    try:
        args = split_args(words)
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        return TextQuery.from_args(args), every, page
    except ValueError as error:
        raise UsageError(f"Nothing to search for: {error}.") from None


def _typed_words(raw: str) -> str:
    match = _OPTIONS.search(raw)
    return (raw[: match.start()] if match else raw).strip()


async def _sessions(ctx: CommandContext, *, every: bool) -> list[Session]:
    if not every:
        return [ctx.session]
    owned = await ctx.manager.search.sessions_of(ctx.user)
    # The current conversation is searched too: it is the caller's to read, also
    # when someone else started it in a shared scope.
    return owned if any(s.id == ctx.session.id for s in owned) else [ctx.session, *owned]


def _hit_line(hit: SearchHit, query: TextQuery, zone: tzinfo) -> str:
    when = hit.message.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    snippet = query.marked(hit.message.content, SNIPPET_WIDTH, MARK)
    return f"• {session_label(hit.session)} [{when}] {hit.message.author}: {snippet}"
