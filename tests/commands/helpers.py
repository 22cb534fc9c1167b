"""A router over an encrypted in-memory store with a manual clock, and shortcuts to talk to it.

The store is sealed under a fresh master key, as ``[encryption] enabled = true``
wires it, so every command test also runs through the encryption layer.
"""

from __future__ import annotations

import re
from typing import Any

from commands import Registry, Router, RouterSettings, default_registry
from core.clock import ManualClock
from core.crypto.envelope import KeyEncryptionKey, decode_master_key, generate_master_key
from core.crypto.sealing import SealedStore
from core.models import Checkpoint, Message, Reply, Session
from core.sessions.manager import SessionManager
from core.sessions.resets import ResetRules
from core.sessions.responders import EchoResponder, Responder
from core.storage.memory import MemoryStore
from core.storage.protocols import SessionFilter, Store
from core.tokens import ESTIMATE, TokenCounter
from tests.builders import inbound

ADMIN = "root"
"""A user listed in the chat's admins (as ``console:root``)."""


class Chat:
    """Everything a command test needs, wired as ``bot`` wires it."""

    def __init__(
        self,
        *,
        settings: RouterSettings | None = None,
        responder: Responder | None = None,
        registry: Registry | None = None,
        store: Store | None = None,
        reset_rules: ResetRules | None = None,
        identities: dict[str, str] | None = None,
        carry_over: tuple[str, ...] = ("title", "tags"),
        tokens: TokenCounter = ESTIMATE,
    ) -> None:
        self.clock = ManualClock()
        self.store = store or SealedStore(
            MemoryStore(), KeyEncryptionKey(decode_master_key(generate_master_key(), source="test"))
        )
        self.manager = SessionManager(
            self.store,
            clock=self.clock,
            reset_rules=reset_rules,
            identities=identities,
            carry_over=carry_over,
            encrypted=isinstance(self.store, SealedStore) and self.store.encrypted,
            tokens=tokens,
        )
        self.settings = settings or RouterSettings(admins=frozenset({f"console:{ADMIN}"}))
        self.router = Router(
            self.manager,
            responder or EchoResponder(),
            registry or default_registry(load_plugins=False),
            self.settings,
        )

    async def send(self, text: str, **where: Any) -> list[Reply]:
        """Send ``text`` as ``inbound(text, **where)`` and return all replies."""
        return await self.router.handle(inbound(text, **where))

    async def say(self, text: str, **where: Any) -> str:
        """Send ``text`` and return the text of its one reply."""
        replies = await self.send(text, **where)
        assert len(replies) == 1, replies
        return replies[0].text

    async def session(self, **where: Any) -> Session:
        """Return the active session of the user and channel in ``where``."""
        return (await self.manager.resolve(inbound("", **where))).session

    async def contents(self, **where: Any) -> list[str]:
        """Return the visible history of the active session, as message texts."""
        messages = await self.manager.history.all_messages(await self.session(**where))
        return [message.content for message in messages]

    async def key(self, **where: Any) -> str:
        """Return the scope key of the user and channel in ``where``."""
        return (await self.manager.key_for(inbound("", **where))).value

    async def snapshot(self, key: str) -> list[tuple[Session, list[Message], list[Checkpoint]]]:
        """Everything stored under scope key ``key``: sessions, messages, checkpoints."""
        sessions = await self.manager.sessions.list(SessionFilter(scope_key=key), limit=10**6)
        return [
            (
                session,
                await self.manager.history.all_messages(session),
                await self.manager.checkpoints.list(session),
            )
            for session in sessions
        ]


def id_after(marker: str, text: str) -> str:
    """Return the id that follows ``marker`` in a reply, such as ``restore <id>``."""
    match = re.search(re.escape(marker) + r"\s*([23456789a-z]+)", text)
    assert match is not None, f"no id after {marker!r} in {text!r}"
    return match.group(1)
