"""``sessionbot sessions search``: find messages by their words, as an operator."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli_sessions import _opened_manager, aligned, check_scope_key, sessions
from bot.cli_support import WholeNumber, config_option, load_settings, local_time, run_async
from core.errors import UsageError
from core.limits import MAX_LIST_LIMIT
from core.sessions.search import MAX_SEARCHED_SESSIONS
from core.sessions.tags import tag_of
from core.storage.protocols import SessionFilter
from core.text import for_terminal
from core.words import TextQuery

_HEADERS = ("SESSION", "TIME", "AUTHOR", "MESSAGE")
_SNIPPET_WIDTH = 100


@sessions.command("search")
@config_option
@click.argument("text")
@click.option("--scope-key", help="Only sessions of this scope key.")
@click.option("--tag", help="Only sessions with this tag.")
@click.option("--limit", type=WholeNumber(1, MAX_LIST_LIMIT), default=20, show_default=True)
@run_async
async def search_sessions(
    config_path: Path | None, text: str, scope_key: str | None, tag: str | None, limit: int
) -> None:
    """Find messages with every word of TEXT ("quoted phrases" too), newest first.

    Without --scope-key, the newest 5,000 sessions of the database are searched. Matches
    are shown between « and ». With encryption on, only whole words are found.
    """
    settings, _ = load_settings(config_path)
    if scope_key is not None:
        check_scope_key(scope_key)
    try:
        query = TextQuery.parse(text)
        wanted = None if tag is None else tag_of(tag)
    except ValueError as error:
        raise UsageError(str(error)) from None
    async with _opened_manager(settings) as manager:
        where = SessionFilter(scope_key=scope_key)
        candidates = await manager.search.sessions_where(where, tag=wanted)
        page = await manager.search.find(query, candidates, limit=limit)
        zones = [(await manager.reset_policy(hit.session)).timezone for hit in page.hits]
    if not page.hits:
        click.echo("no messages match")
        return
    rows = [
        (
            hit.session.id,
            local_time(hit.message.created_at, zone),
            for_terminal(hit.message.author),
            for_terminal(query.marked(hit.message.content, _SNIPPET_WIDTH, ("«", "»"))),
        )
        for hit, zone in zip(page.hits, zones, strict=True)
    ]
    for line in aligned(_HEADERS, rows):
        click.echo(line)
    if page.has_more:
        more = min(limit * 2, MAX_LIST_LIMIT)
        click.echo(f"more messages match than {limit}: add --limit {more}", err=True)
    if len(candidates) >= MAX_SEARCHED_SESSIONS:
        click.echo(f"only the newest {MAX_SEARCHED_SESSIONS} sessions were searched", err=True)
