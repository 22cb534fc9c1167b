"""Searching messages in SQL: the part of :class:`~core.storage.sql.store.SqlStore`.

Plain messages are found through the database's own full-text index, made by migration
``0007_search``: SQLite's FTS5 table ``messages_fts`` (kept in step by triggers on
``messages``) and PostgreSQL's GIN index on ``to_tsvector('simple', content)``. Sealed
messages are found through ``blind_index`` rows. Each query names the sessions it may
look in, and that condition is always part of the SQL, whatever an index also filters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from core.models import Message
from core.storage.search import BlindTerms, TextSearch
from core.storage.sql.rows import MESSAGE_COLUMNS, message_from_row
from core.storage.sql.schema import blind_index
from core.storage.sql.schema import messages as messages_table
from core.storage.sql.units import SqlPart, rowcount

_FTS_SESSION_FILTER_LIMIT = 200
"""Up to this many sessions, the FTS5 query itself also names them (a short doclist
to step through); beyond, the SQL condition alone narrows the matches."""

_PG_MATCH = sa.text(
    "to_tsvector('simple', messages.content) @@ plainto_tsquery('simple', :query) "
    # The index's own predicate, written the same, so the planner can use it.
    "AND substr(messages.content, 1, 13) <> 'sb:aes256gcm:'"
)
_NEWEST = (
    messages_table.c.created_at.desc(),
    messages_table.c.seq.desc(),
    messages_table.c.id.desc(),
)


class SqlSearch(SqlPart):
    """Full-text and blind-index search of messages."""

    async def search_messages(
        self, search: TextSearch, *, limit: int, offset: int = 0
    ) -> list[Message]:
        """See :meth:`core.storage.protocols.Store.search_messages`."""
        if not search.session_ids or not search.words:
            return []
        query = (
            sa.select(*MESSAGE_COLUMNS)
            .where(messages_table.c.session_id.in_(search.session_ids), self._matching(search))
            .order_by(*_NEWEST)
            .limit(limit)
            .offset(offset)
        )
        return await self._read_large(_messages, query)

    def _matching(self, search: TextSearch) -> sa.ColumnElement[bool]:
        if search.blind_version is not None:
            return messages_table.c.id.in_(_blind_matches(search, search.blind_version))
        if self._dialect == "sqlite":
            fts = sa.text("SELECT rowid FROM messages_fts WHERE messages_fts MATCH :query")
            rowid: sa.ColumnElement[int] = sa.literal_column("messages.rowid")
            return rowid.in_(fts.bindparams(query=_fts5_query(search)))
        return _PG_MATCH.bindparams(query=" ".join(search.words))  # type: ignore[return-value]

    async def add_blind_terms(self, entries: Sequence[BlindTerms]) -> None:
        """See :meth:`core.storage.protocols.Store.add_blind_terms`."""
        rows = [
            {
                "session_id": e.session_id,
                "key_version": e.version,
                "term": term,
                "message_id": e.message_id,
            }
            for e in entries
            for term in e.terms
        ]
        if rows:
            await self._write(_insert_terms, self._dialect, rows)

    async def drop_blind_terms(self, keep_version: int) -> int:
        """See :meth:`core.storage.protocols.Store.drop_blind_terms`."""
        statement = blind_index.delete().where(blind_index.c.key_version != keep_version)
        return await self._write(rowcount, statement)


def _blind_matches(search: TextSearch, version: int) -> sa.Select[Any]:
    return (
        sa.select(blind_index.c.message_id)
        .where(
            blind_index.c.session_id.in_(search.session_ids),
            blind_index.c.key_version == version,
            blind_index.c.term.in_(search.words),
        )
        .group_by(blind_index.c.message_id)
        .having(sa.func.count() == len(search.words))
    )


def _fts5_query(search: TextSearch) -> str:
    words = " AND ".join(_quoted(w) for w in search.words)
    if len(search.session_ids) > _FTS_SESSION_FILTER_LIMIT:
        return f"{{content}}: ({words})"
    sessions = " OR ".join(_quoted(s) for s in search.session_ids)
    return f"{{session_id}}: ({sessions}) AND {{content}}: ({words})"


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _messages(conn: sa.Connection, query: sa.Select[Any]) -> list[Message]:
    return [message_from_row(row) for row in conn.execute(query)]


def _insert_terms(conn: sa.Connection, dialect: str, rows: list[dict[str, Any]]) -> None:
    insert = sqlite.insert(blind_index) if dialect == "sqlite" else postgresql.insert(blind_index)
    conn.execute(insert.on_conflict_do_nothing(), rows)
