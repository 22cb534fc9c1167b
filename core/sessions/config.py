"""How sessions behave: what the operator configured, handed to every part of the manager."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from core.sessions.resets import ResetRules
from core.sessions.scope import DEFAULT_SCOPE, Scope

SESSION_ID_LENGTH = 10
"""Characters of session, branch and checkpoint ids."""

MESSAGE_ID_RANDOM_LENGTH = 10
"""Random characters of a message id, after the time (see :func:`core.ids.new_ordered_ids`)."""


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """The operator's choices about sessions (``[sessions]``, ``[identity]``).

    Attributes:
        default_scope: scope of channels without an override.
        identities: ``platform:user_id`` to linked identity name, for ``per-peer``.
        threads_are_channels: whether a thread counts as its own channel.
        reset_rules: daily and idle reset settings; ``None`` never resets.
        carry_over: session fields (``title``, ``tags``, ``metadata``) an automatic
            reset keeps.
        encrypted: whether the store seals what users write (shown by ``/session``).
    """

    default_scope: Scope = DEFAULT_SCOPE
    identities: Mapping[str, str] = field(default_factory=dict)
    threads_are_channels: bool = True
    reset_rules: ResetRules | None = None
    carry_over: frozenset[str] = frozenset({"title", "tags"})
    encrypted: bool = False
