"""Pins and summaries: what the ``smart`` and ``summarize`` context strategies keep.

Both live in the session's metadata, so they are sealed like everything a user
wrote (:mod:`core.crypto.sealing`), exported with the session, and need no table
of their own. Both belong to a **branch**, as messages do:

* a pin is an event ``(branch, at, +/-, message id, seq)``, ``at`` being the
  branch's message count when it was made. A branch sees the events of its own and,
  for each ancestor, those made at or before its fork point: a restored checkpoint
  has the pins it had, and a later pin does not leak into it.
* a summary ``(branch, upto, text)`` stands for the messages ``1..upto`` of that
  branch's history; a branch uses the newest summary of its chain whose ``upto``
  does not pass its fork point, or none.

Writes change one metadata value from what the session holds at that moment
(:func:`core.sessions.edits.edit_session`, compare-and-set): two workers pinning,
or summarising, in one session at the same instant both keep what they wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.clock import Clock
from core.errors import CommandError, NotFoundError
from core.locks import KeyedLocks
from core.models import Branch, Message, Session
from core.sessions.edits import SessionEdit, edit_session
from core.storage.caching import CachingStore

PINS_KEY = "_pins"
"""The session metadata key of pin events (``_``: sessionbot's own, not a user's note)."""

SUMMARIES_KEY = "_summaries"
"""The session metadata key of summaries (``_``: sessionbot's own)."""

MAX_PINS = 20
"""Pins a branch may hold at once."""

MAX_PIN_EVENTS = 500
"""Pin and unpin events a session keeps; past it, new ones are refused."""

MAX_SUMMARIES = 4
"""Summaries a session keeps, newest last; older ones (of old branches) are dropped."""


@dataclass(frozen=True, slots=True)
class Pin:
    """A pinned message: its id and its number in the history."""

    message_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class Summary:
    """A running summary of the messages ``1..upto`` of a branch's history."""

    branch_id: str
    upto: int
    text: str


@dataclass(frozen=True, slots=True)
class _Link:
    """One branch of a history's chain and the last seq of it the history sees."""

    branch: Branch
    bound: int


class Notes:
    """Reads and writes pins and summaries.

    Args:
        store: the caching store.
        clock: source of the current time.
    """

    def __init__(self, store: CachingStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._locks = KeyedLocks()

    # -- pins -----------------------------------------------------------------------

    async def pins(self, session: Session) -> list[Pin]:
        """Return the pins the session's history sees, oldest message first."""
        pinned: dict[str, int] = {}
        for link, metadata in await self._chain(session):
            for event in metadata.get(PINS_KEY, ()):
                branch_id, at, op, message_id, seq = event
                if branch_id != link.branch.id or at > link.bound:
                    continue
                if op == "+":
                    pinned[message_id] = seq
                else:
                    pinned.pop(message_id, None)
        return sorted((Pin(i, s) for i, s in pinned.items()), key=lambda pin: pin.seq)

    async def pin(self, session: Session, message: Message) -> bool:
        """Pin ``message`` (of the session's history) on the head branch.

        Returns:
            ``False`` if it was pinned already.

        Raises:
            CommandError: the branch already holds :data:`MAX_PINS` pins, or the
                session :data:`MAX_PIN_EVENTS` events.
        """
        async with self._locks.lock_for(session.id):
            current = await self.pins(session)
            if any(pin.message_id == message.id for pin in current):
                return False
            if len(current) >= MAX_PINS:
                raise CommandError(f"This conversation already has {MAX_PINS} pins; unpin one.")
            await self._add_pin_event(session, "+", message.id, message.seq)
        return True

    async def unpin(self, session: Session, pin: Pin) -> None:
        """Unpin a pin of the session's history, on the head branch."""
        async with self._locks.lock_for(session.id):
            await self._add_pin_event(session, "-", pin.message_id, pin.seq)

    async def _add_pin_event(self, session: Session, op: str, message_id: str, seq: int) -> None:
        def add(fresh: Session) -> SessionEdit:
            events = list(fresh.metadata.get(PINS_KEY, ()))
            if len(events) >= MAX_PIN_EVENTS:
                raise CommandError("This conversation's pins changed too often; start a new one.")
            events.append([fresh.head_branch_id, fresh.message_count, op, message_id, seq])
            return SessionEdit(metadata={**fresh.metadata, PINS_KEY: events})

        try:
            await edit_session(self._store, self._clock, session.id, add)
        except NotFoundError:
            raise NotFoundError("This conversation no longer exists.") from None

    # -- summaries ------------------------------------------------------------------

    async def summary(self, session: Session) -> Summary | None:
        """Return the newest summary that covers a point of the session's history."""
        best: Summary | None = None
        for link, metadata in await self._chain(session):
            for item in metadata.get(SUMMARIES_KEY, ()):
                if item["branch"] != link.branch.id or item["upto"] > link.bound:
                    continue
                if best is None or item["upto"] > best.upto:
                    best = Summary(item["branch"], item["upto"], item["text"])
        return best

    async def save_summary(self, session_id: str, summary: Summary) -> None:
        """Store ``summary`` with the session; the oldest beyond :data:`MAX_SUMMARIES` go."""
        item = {"branch": summary.branch_id, "upto": summary.upto, "text": summary.text}

        def add(fresh: Session) -> SessionEdit:
            kept = [*fresh.metadata.get(SUMMARIES_KEY, ()), item][-MAX_SUMMARIES:]
            return SessionEdit(metadata={**fresh.metadata, SUMMARIES_KEY: kept})

        async with self._locks.lock_for(session_id):
            try:
                await edit_session(self._store, self._clock, session_id, add)
            except NotFoundError:
                return  # deleted meanwhile: nothing to summarise any more

    # -- the chain ------------------------------------------------------------------

    async def _chain(self, session: Session) -> list[tuple[_Link, Mapping[str, Any]]]:
        """The session's branch chain, oldest first, each with its session's metadata.

        Costs a branch read per restore or branch in the chain (and a session read
        per other session it crosses), never anything per message.
        """
        links: list[_Link] = []
        branch = await self._store.get_branch(session.head_branch_id)
        bound = session.message_count
        while branch is not None:
            links.append(_Link(branch, bound))
            bound = min(bound, branch.fork_seq)
            if branch.parent_id is None:
                break
            branch = await self._store.get_branch(branch.parent_id)
        metadata: dict[str, Mapping[str, Any]] = {session.id: session.metadata}
        for link in links:
            owner = link.branch.session_id
            if owner not in metadata:
                other = await self._store.get_session(owner)
                metadata[owner] = other.metadata if other is not None else {}
        return [(link, metadata[link.branch.session_id]) for link in reversed(links)]
