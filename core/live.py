"""What the manager keeps in memory about the conversations in progress.

Before its reply, every plain message used to read three things: its channel's
settings, its scope key's active session and the session's context window (about a
hundred messages, each decrypted). That was nine tenths of a message's cost.
:class:`LiveSessions` keeps them between messages, for a bounded number of the most
recently active conversations (least recently used ones are dropped first):

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

What may lag behind another worker: a session's title, tags and metadata (the
responder is handed the remembered session) until this process runs a command in
that conversation or forgets it.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.context import Context, estimate_tokens
from core.models import ChannelSettings, Message, Session

SETTINGS_TTL_SECONDS = 5.0
"""How long a channel's settings are used without reading them again."""

_MAX_SETTINGS = 10_000


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


class LiveSessions:
    """A bounded, least-recently-used memory of conversations in progress.

    Args:
        capacity: how many conversations are kept; 0 keeps none (every message then
            reads its session and context from the store).
        settings_ttl: seconds a channel's settings are used before being read again.
    """

    def __init__(self, capacity: int, *, settings_ttl: float = SETTINGS_TTL_SECONDS) -> None:
        if capacity < 0:
            raise ValueError("capacity must be at least 0")
        self.capacity = capacity
        self._settings_ttl = settings_ttl
        self._by_key: OrderedDict[str, _Conversation] = OrderedDict()
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
        self._by_key.move_to_end(scope_key)
        return conversation.session

    def keep(self, session: Session) -> None:
        """Remember ``session`` as its scope key's active session."""
        if not self.capacity or not session.is_active:
            return
        key = session.scope_key
        conversation = self._by_key.get(key)
        if conversation is not None and conversation.session.id == session.id:
            conversation.session = session
            self._by_key.move_to_end(key)
            return
        self.forget(key)
        self._by_key[key] = _Conversation(session)
        self._key_of[session.id] = key
        while len(self._by_key) > self.capacity:
            _, dropped = self._by_key.popitem(last=False)
            self._key_of.pop(dropped.session.id, None)

    def forget(self, scope_key: str) -> None:
        """Drop what is remembered of ``scope_key``."""
        conversation = self._by_key.pop(scope_key, None)
        if conversation is not None:
            self._key_of.pop(conversation.session.id, None)

    def forget_session(self, session_id: str) -> None:
        """Drop the conversation whose active session is ``session_id``, if remembered."""
        key = self._key_of.get(session_id)
        if key is not None:
            self.forget(key)

    def clear(self) -> None:
        """Drop everything (after changes too broad to follow one by one)."""
        self._by_key.clear()
        self._key_of.clear()
        self._settings.clear()

    def appended(self, before: Session, after: Session, stored: Sequence[Message]) -> None:
        """Move a remembered session forward after an append made it ``after``.

        The window grows by ``stored`` only if they follow it directly on its branch;
        a gap (another worker's messages in between) drops it, to be read again.
        """
        conversation = self._by_key.get(before.scope_key)
        if conversation is None or conversation.session.id != before.id:
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
                cost = estimate_tokens(message.content)
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
        return Context(conversation.window, conversation.tokens)

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
        conversation.costs = deque(estimate_tokens(m.content) for m in context)
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
