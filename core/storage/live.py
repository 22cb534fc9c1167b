"""The memory of the conversations in progress, behind :mod:`core.storage.caching`.

Before its reply, every plain message used to read three things: its channel's
settings, its scope key's active session and the session's context window (about a
hundred messages, each decrypted). That was nine tenths of a message's cost.
:class:`LiveSessions` keeps them between messages, for a bounded number of recently
active conversations (see :class:`LiveSessions` for which are dropped):

* a channel's settings, for :data:`SETTINGS_TTL_SECONDS` (this process's own changes
  are seen at once; another worker's within that time);
* a scope key's active session, moved forward by this process's appends;
* that session's context window: the messages the last reply's context held, plus
  those appended since. A context never reaches further back than the last one did
  (what is appended only adds tokens at the new end), so nothing else is needed.

Nothing here is trusted where being stale would do harm:

* the user's message is appended only if its session is still active on the same
  head branch (:class:`~core.errors.StaleSessionError` otherwise: nothing is written
  and the router resolves against the store); so a session archived by the scheduler
  or changed by another worker is noticed on the next message;
* a window is used only if it ends at the session's last message on its head branch,
  and dropped when an append's seq shows another worker wrote in between;
* a reset that a remembered session says is due is checked against the store first;
* commands resolve against the store; ``/history`` without a cursor is served from
  the window when the window ends at the stored session's last message.

What another worker changes without an append (a session's title, tags, metadata, a
channel's settings) reaches this memory through the change feed on PostgreSQL
(:mod:`core.storage.changes`); without a feed (SQLite), a title may lag until this
process runs a command in that conversation or forgets it, and settings for
:data:`SETTINGS_TTL_SECONDS`.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.models import ChannelSettings, Message, Session
from core.tokens import ESTIMATE, Context, TokenCounter

SETTINGS_TTL_SECONDS = 5.0
"""How long a channel's settings are used without reading them again."""

_MAX_SETTINGS = 10_000

EVICTION_SAMPLES = 5
"""Conversations looked at to choose the one to drop: the least recently used of them."""


@dataclass(slots=True)
class _Conversation:
    """One scope key's active session and, once a reply was built, its context window."""

    session: Session
    window: deque[Message] | None = None
    """Oldest first; ends at ``window_upto`` on ``window_head``."""
    costs: deque[int] = field(default_factory=deque)
    """The estimated tokens of each message of ``window``."""
    tokens: int = 0
    """Their sum."""
    window_head: str = ""
    window_upto: int = -1
    window_budget: int = 0
    used: int = 0
    """When it was last used, on :class:`LiveSessions`' own count."""
    slot: int = 0
    """Its place in :attr:`LiveSessions._keys`."""


class LiveSessions:
    """A bounded memory of conversations in progress.

    Past ``capacity``, the least recently used of :data:`EVICTION_SAMPLES`
    conversations picked at random is dropped (all of them, when there are no more).
    Strict least-recently-used order would drop the very conversation that speaks
    next whenever a round of conversations is a little larger than the memory: with
    1,001 conversations taking turns and room for 1,000, every message would read
    its session and context from the store, about nine times the work. Sampled, about
    one message in a few hundred does.

    Args:
        capacity: how many conversations are kept; 0 keeps none (every message then
            reads its session and context from the store).
        settings_ttl: seconds a channel's settings are used before being read again.
        rng: where the random picks come from (tests pass a seeded one).
        counter: how a window's messages are counted (the session manager's).
    """

    def __init__(
        self,
        capacity: int,
        *,
        settings_ttl: float = SETTINGS_TTL_SECONDS,
        rng: random.Random | None = None,
        counter: TokenCounter = ESTIMATE,
    ) -> None:
        if capacity < 0:
            raise ValueError("capacity must be at least 0")
        self.capacity = capacity
        self._counter = counter
        self._settings_ttl = settings_ttl
        self._by_key: dict[str, _Conversation] = {}
        self._keys: list[str] = []
        """The remembered scope keys, in no order: for picking at random."""
        self._ticks = itertools.count(1)
        self._random = rng or random.Random()
        self._key_of: dict[str, str] = {}
        self._settings: OrderedDict[str, tuple[float, ChannelSettings | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_key)

    # -- channel settings ------------------------------------------------------

    def settings(self, channel_key: str) -> tuple[bool, ChannelSettings | None]:
        """Return ``(known, settings)``; ``known`` is false when they must be read."""
        if not self.capacity:
            return False, None
        found = self._settings.get(channel_key)
        if found is None or found[0] <= time.monotonic():
            return False, None
        return True, found[1]

    def keep_settings(self, channel_key: str, settings: ChannelSettings | None) -> None:
        """Remember what the store holds for ``channel_key`` (``None``: no overrides)."""
        if not self.capacity:
            return
        self._settings[channel_key] = (time.monotonic() + self._settings_ttl, settings)
        self._settings.move_to_end(channel_key)
        if len(self._settings) > _MAX_SETTINGS:
            self._settings.popitem(last=False)

    def forget_settings(self, channel_key: str) -> None:
        """Drop a channel's settings, after they changed."""
        self._settings.pop(channel_key, None)

    # -- sessions --------------------------------------------------------------

    def session(self, scope_key: str) -> Session | None:
        """Return the remembered active session of ``scope_key``, if any."""
        conversation = self._by_key.get(scope_key)
        if conversation is None:
            return None
        conversation.used = next(self._ticks)
        return conversation.session

    def keep(self, session: Session) -> None:
        """Remember ``session`` as its scope key's active session."""
        if not self.capacity or not session.is_active:
            return
        key = session.scope_key
        conversation = self._by_key.get(key)
        if conversation is not None and conversation.session.id == session.id:
            conversation.session = session
            conversation.used = next(self._ticks)
            return
        self.forget(key)
        self._by_key[key] = _Conversation(session, used=next(self._ticks), slot=len(self._keys))
        self._keys.append(key)
        self._key_of[session.id] = key
        while len(self._by_key) > self.capacity:
            self.forget(self._least_recently_used_of_a_few())

    def _least_recently_used_of_a_few(self) -> str:
        """Pick the conversation to drop; never the one kept last (the end of the list)."""
        others = len(self._keys) - 1
        if others <= EVICTION_SAMPLES:
            picked = self._keys[:others]
        else:
            picked = [self._keys[self._random.randrange(others)] for _ in range(EVICTION_SAMPLES)]
        return min(picked, key=lambda key: self._by_key[key].used)

    def forget(self, scope_key: str) -> None:
        """Drop what is remembered of ``scope_key``."""
        conversation = self._by_key.pop(scope_key, None)
        if conversation is None:
            return
        self._key_of.pop(conversation.session.id, None)
        last = self._keys.pop()
        if last != scope_key:
            self._keys[conversation.slot] = last
            self._by_key[last].slot = conversation.slot

    def forget_session(self, session_id: str) -> None:
        """Drop the conversation whose active session is ``session_id``, if remembered."""
        key = self._key_of.get(session_id)
        if key is not None:
            self.forget(key)

    def clear(self) -> None:
        """Drop everything (after changes too broad to follow one by one)."""
        self._by_key.clear()
        self._keys.clear()
        self._key_of.clear()
        self._settings.clear()

    def appended(self, session_id: str, stored: Sequence[Message]) -> None:
        """Move a remembered session forward after ``stored`` were appended to it.

        The window grows by ``stored`` only if they follow it directly on its branch;
        a gap (another worker's messages in between) drops it, to be read again. If
        they went to another branch than the remembered head, the session is dropped.
        """
        key = self._key_of.get(session_id)
        conversation = self._by_key.get(key) if key is not None else None
        if conversation is None:
            return
        after = conversation.session.advanced_by(stored)
        if after is None:
            self.forget(conversation.session.scope_key)
            return
        conversation.session = after
        window = conversation.window
        if window is None:
            return
        follows = (
            bool(stored)
            and stored[0].branch_id == conversation.window_head
            and stored[0].seq == conversation.window_upto + 1
            and after.head_branch_id == conversation.window_head
        )
        if follows:
            for message in stored:
                cost = self._counter.count(message.content)
                window.append(message)
                conversation.costs.append(cost)
                conversation.tokens += cost
            conversation.window_upto = stored[-1].seq
            # Appends without a reply in between (a plugin, an import) must not grow
            # the window past its budget either.
            _trim(conversation, conversation.window_budget)
        else:
            conversation.window = None

    # -- context windows -------------------------------------------------------

    def window(self, session: Session, max_tokens: int) -> Context | None:
        """Return the context of ``session`` for ``max_tokens`` if it is remembered.

        ``None`` when it must be read: not remembered, cut for another budget, or not
        ending at the session's last message on its head branch.
        """
        conversation = self._current(session)
        if (
            conversation is None
            or conversation.window is None
            or conversation.window_budget != max_tokens
        ):
            return None
        _trim(conversation, max_tokens)
        return Context(conversation.window, conversation.tokens, self._counter)

    def newest(self, session: Session, limit: int) -> list[Message] | None:
        """Return the newest ``limit`` messages of ``session`` if the window holds more.

        ``None`` when they must be read: the window is missing, not current, or not
        longer than ``limit`` (so that older messages are known to exist).
        """
        conversation = self._current(session)
        if conversation is None or conversation.window is None:
            return None
        window = conversation.window
        if len(window) <= limit:
            return None
        return list(itertools.islice(window, len(window) - limit, None))

    def _current(self, session: Session) -> _Conversation | None:
        """The remembered conversation if its window ends where ``session`` does."""
        conversation = self._by_key.get(session.scope_key)
        if (
            conversation is None
            or conversation.session.id != session.id
            or conversation.window_head != session.head_branch_id
            or conversation.window_upto != session.message_count
        ):
            return None
        return conversation

    def keep_window(self, session: Session, context: Sequence[Message], max_tokens: int) -> None:
        """Remember ``context`` (oldest first), just read for ``session``, as its window."""
        conversation = self._by_key.get(session.scope_key)
        if conversation is None or conversation.session.id != session.id:
            return
        if context and context[-1].seq != session.message_count:
            return  # read for another state of the session than this one
        conversation.window = deque(context)
        conversation.costs = deque(self._counter.count(m.content) for m in context)
        conversation.tokens = sum(conversation.costs)
        conversation.window_head = session.head_branch_id
        conversation.window_upto = session.message_count
        conversation.window_budget = max_tokens


def _trim(conversation: _Conversation, max_tokens: int) -> None:
    """Keep the newest messages of the window that fit, and always the newest one.

    What no longer fits never will again: later messages only add tokens.
    """
    window, costs = conversation.window, conversation.costs
    if window is None:
        return
    while conversation.tokens > max_tokens and len(window) > 1:
        window.popleft()
        conversation.tokens -= costs.popleft()
