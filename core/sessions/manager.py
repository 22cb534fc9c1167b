"""The session manager: one object that holds every part of the session core together.

Commands, the scheduler, the CLI and adapters' proactive work reach sessions through
a :class:`SessionManager`:

* :meth:`SessionManager.resolve` (and :meth:`~SessionManager.place`): the session a
  message belongs to, after any reset due (:mod:`core.sessions.resolution`);
* :attr:`~SessionManager.channels`: channel settings and scopes
  (:mod:`core.sessions.channels`);
* :attr:`~SessionManager.sessions`: start, read, list, archive, resume, change,
  delete (:mod:`core.sessions.lifecycle`);
* :attr:`~SessionManager.history`: append, page, read whole
  (:mod:`core.sessions.history`);
* :attr:`~SessionManager.checkpoints`: save, restore, branch, delete, clear
  (:mod:`core.sessions.checkpoints`);
* :attr:`~SessionManager.maintenance`: import, cleanup, reset sweeps
  (:mod:`core.sessions.maintenance`);
* :attr:`~SessionManager.notes`: pins and summaries (:mod:`core.sessions.notes`).
* :attr:`~SessionManager.search`: messages and sessions by words and tags
  (:mod:`core.sessions.search`).

Each part checks that ids belong to the caller's scope and leaves transactions to
the store. The store they share is a :class:`~core.storage.caching.CachingStore`,
which keeps what it remembers of conversations in progress right by itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from core.clock import Clock, SystemClock
from core.models import ArchiveReason, Inbound, Session
from core.sessions.branches import BranchWalker
from core.sessions.channels import Channels, Placement
from core.sessions.checkpoints import Checkpoints
from core.sessions.config import SessionConfig
from core.sessions.history import History
from core.sessions.lifecycle import Lifecycle
from core.sessions.maintenance import Maintenance
from core.sessions.notes import Notes
from core.sessions.resets import ResetPolicy, ResetRules
from core.sessions.resolution import Resolution, Resolver
from core.sessions.scope import DEFAULT_SCOPE, Scope, ScopeKey
from core.sessions.search import Search
from core.storage.caching import CachingStore
from core.storage.changes import ChangeFeed
from core.storage.deliveries import Deliveries
from core.storage.protocols import Store
from core.tokens import ESTIMATE, TokenCounter


class SessionManager:
    """Resolves, changes and reads sessions.

    Args:
        store: where everything is kept (wrapped here in a
            :class:`~core.storage.caching.CachingStore`).
        clock: source of the current time.
        default_scope: scope of channels without an override.
        identities: ``platform:user_id`` to linked identity name, for ``per-peer``.
        threads_are_channels: whether a thread counts as its own channel.
        reset_rules: daily and idle reset settings; ``None`` never resets.
        carry_over: session fields (``title``, ``tags``) an automatic reset keeps.
        encrypted: whether the store seals what users write (shown by ``/session``).
        live_conversations: how many conversations in progress are kept in memory
            between messages (:mod:`core.storage.live`); 0 keeps none.
        feed: carries what the workers sharing the database change, so that each
            forgets what it remembers of it (:mod:`core.storage.changes`).
        tokens: how every token budget counts (:data:`core.tokens.ESTIMATE`, or the
            model's tokenizer where the bot has one locally).

    Attributes:
        tokens: the counter in force.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        default_scope: Scope = DEFAULT_SCOPE,
        identities: Mapping[str, str] | None = None,
        threads_are_channels: bool = True,
        reset_rules: ResetRules | None = None,
        carry_over: Sequence[str] = ("title", "tags"),
        encrypted: bool = False,
        live_conversations: int = 1000,
        feed: ChangeFeed | None = None,
        tokens: TokenCounter = ESTIMATE,
    ) -> None:
        self.config = SessionConfig(
            default_scope=default_scope,
            identities=dict(identities or {}),
            threads_are_channels=threads_are_channels,
            reset_rules=reset_rules,
            carry_over=frozenset(carry_over),
            encrypted=encrypted,
        )
        self.clock: Clock = clock or SystemClock()
        self.tokens = tokens
        self.store = CachingStore(store, live_conversations, feed=feed, counter=tokens)
        walker = BranchWalker(self.store)
        self.channels = Channels(self.store, self.clock, self.config)
        self.sessions = Lifecycle(self.store, self.clock, self.config, walker, self.channels)
        self.history = History(self.store, self.clock, walker, self.sessions)
        self.checkpoints = Checkpoints(self.store, self.clock, self.sessions, self.channels)
        self.maintenance = Maintenance(self.store, self.clock, self.config, self.sessions)
        self.notes = Notes(self.store, self.clock)
        self.search = Search(self.store, self.config, walker)
        self._resolver = Resolver(self.store, self.clock, self.config, self.channels, self.sessions)
        self.deliveries = Deliveries(self.store, self.clock)

    @property
    def encrypted(self) -> bool:
        """Whether the store seals what users write."""
        return self.config.encrypted

    @property
    def reset_rules(self) -> ResetRules | None:
        """The configured reset rules; ``None`` never resets."""
        return self.config.reset_rules

    def now(self) -> datetime:
        """Return the manager's current time."""
        return self.clock.now()

    async def place(self, inbound: Inbound, *, remembered: bool = False) -> Placement:
        """Return where the message belongs; see :meth:`Channels.place`."""
        return await self.channels.place(inbound, remembered=remembered)

    async def key_for(self, inbound: Inbound) -> ScopeKey:
        """Return the scope key of the message."""
        return (await self.channels.place(inbound)).key

    async def resolve(
        self, inbound: Inbound, placement: Placement | None = None, *, remembered: bool = False
    ) -> Resolution:
        """Return the active session for the message; see :meth:`Resolver.resolve`."""
        return await self._resolver.resolve(inbound, placement, remembered=remembered)

    async def due_reset(
        self, session: Session, placement: Placement | None = None
    ) -> ArchiveReason | None:
        """Return why ``session`` should be reset now, or ``None``."""
        return await self._resolver.due_reset(session, placement)

    async def reset_policy(
        self, session: Session, placement: Placement | None = None
    ) -> ResetPolicy:
        """Return the reset policy in force for ``session``."""
        return await self._resolver.reset_policy(session, placement)
