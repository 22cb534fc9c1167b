"""The router's settings, filled in by ``bot`` from the ``[bot]`` and ``[context]`` tables."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Inbound
from core.sessions.strategies import DEFAULT_SUMMARY_PROMPT, Strategy


@dataclass(frozen=True, slots=True)
class RouterSettings:
    """What the router needs to know about the bot it serves.

    Attributes:
        bot_name: the bot's username; ``/cmd@name`` runs only when ``name`` is this
            (case-insensitive, a leading ``@`` ignored). Commands addressed to another
            bot are ignored.
        admins: users allowed to run admin commands, as ``platform:user_id``.
        max_message_chars: longer messages are refused with one line; nothing is stored.
        context_max_tokens: the token budget of the history a responder sees.
        context_strategy: the context strategy of channels without an override.
        summary_prompt: the instruction summaries (``summarize``) are written with.
        rate_limit_per_minute: messages a user may send per minute; ``0`` turns the
            limit off.
        unlimited_platforms: platforms whose users are the operator (a plugin says
            so, ``bot`` fills this in); the rate limit does not apply to them.
        reset_notices: whether the scheduler posts a notice when it ends a session
            (``notify_on_reset``); the next reply then does not say it again.

    Raises:
        ValueError: a limit is out of range.
    """

    bot_name: str = "sessionbot"
    admins: frozenset[str] = frozenset()
    max_message_chars: int = 4000
    context_max_tokens: int = 2000
    context_strategy: Strategy = Strategy.RECENT
    summary_prompt: str = DEFAULT_SUMMARY_PROMPT
    rate_limit_per_minute: int = 0
    unlimited_platforms: frozenset[str] = frozenset()
    reset_notices: bool = False

    def __post_init__(self) -> None:
        if self.max_message_chars < 1:
            raise ValueError("max_message_chars must be at least 1")
        if self.context_max_tokens < 1:
            raise ValueError("context_max_tokens must be at least 1")
        if self.rate_limit_per_minute < 0:
            raise ValueError("rate_limit_per_minute must be 0 (off) or more")

    def is_rate_limited(self, inbound: Inbound) -> bool:
        """Tell whether the rate limit applies to the author of ``inbound``."""
        return self.rate_limit_per_minute > 0 and inbound.platform not in self.unlimited_platforms

    def strategy_for(self, channel_strategy: str | None) -> Strategy:
        """Return the strategy in force: the channel's override, else the default."""
        return Strategy(channel_strategy) if channel_strategy else self.context_strategy

    def is_admin(self, inbound: Inbound) -> bool:
        """Tell whether the author of ``inbound`` is listed in ``admins``."""
        return inbound.user_ref in self.admins

    def addresses_us(self, addressed_to: str | None) -> bool:
        """Tell whether a command's ``@name`` suffix (or its absence) means this bot."""
        if addressed_to is None:
            return True
        return addressed_to.lstrip("@").lower() == self.bot_name.lstrip("@").lower()
