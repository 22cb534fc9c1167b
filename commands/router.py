"""The router: the one way a message enters sessionbot.

:meth:`Router.handle` applies the guards, resolves the session, and either runs a
command or passes the message to the responder. It never raises: every failure
becomes one line for the user and, when it is not the user's doing, a log record.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter

from commands.completion import suggest
from commands.context import CommandContext
from commands.parser import ParsedCommand, parse_command
from commands.registry import Command, Registry
from commands.router_settings import RouterSettings
from commands.throttle import RateLimiter, Verdict
from core.errors import (
    CommandError,
    NotFoundError,
    PermissionDenied,
    RejectedValueError,
    StaleSessionError,
    UsageError,
)
from core.locks import KeyedLocks
from core.menu import Suggest, Suggestion
from core.models import Inbound, Reply
from core.sessions.channels import Placement
from core.sessions.conversation import converse
from core.sessions.manager import SessionManager
from core.sessions.notices import reset_notice
from core.sessions.resolution import Resolution
from core.sessions.responders import Responder
from core.sessions.strategies import ContextBuilder

logger = logging.getLogger(__name__)

GENERIC_ERROR = "Sorry, something went wrong on my side. Please try again."

REFUSED_VALUE = "That message holds something the database cannot store, so it is not saved."

STORE_ATTEMPTS = 5
"""Tries at storing a plain message in its active session while that session keeps
changing under it (another worker's ``/new`` each time); each try reads it afresh."""

RATE_LIMITED = "rate_limit"
"""The :attr:`Router.refused` reason of a message over the per-user rate limit."""

TOO_LONG = "too_long"
"""The :attr:`Router.refused` reason of a message over ``max_message_chars``."""

KEPT_CHANGING = (
    "This conversation kept changing while I was saving your message, so it is not "
    "saved; please send it again."
)


class Router:
    """Turns inbound messages into replies.

    Args:
        manager: the session manager.
        responder: answers plain messages.
        registry: the commands to run, usually :func:`commands.default_registry`.
        settings: bot name, admins and limits.

    Attributes:
        refused: messages the guards refused, by ``(reason, platform)``, such as
            ``(RATE_LIMITED, "telegram")``; each refusal is also logged, without
            its text. Counters only grow, as a metrics exporter expects.
        commands_run: commands run, by ``(path, outcome)``: outcome ``ok``,
            ``error`` (the user's: bad arguments, unknown id, not allowed) or
            ``failed`` (a bug, logged); an unknown command counts as
            ``("unknown", "error")``.
        failures: messages whose handling failed, by kind: ``internal`` (a bug,
            logged) or ``rejected_value`` (the database refused a value).
    """

    def __init__(
        self,
        manager: SessionManager,
        responder: Responder,
        registry: Registry,
        settings: RouterSettings | None = None,
    ) -> None:
        self.manager = manager
        self.responder = responder
        self.registry = registry
        self.settings = settings or RouterSettings()
        self.contexts = ContextBuilder(
            manager, responder, summary_prompt=self.settings.summary_prompt
        )
        self._locks = KeyedLocks()
        self._limiter = RateLimiter(self.settings.rate_limit_per_minute)
        self.refused: Counter[tuple[str, str]] = Counter()
        self.commands_run: Counter[tuple[str, str]] = Counter()
        self.failures: Counter[str] = Counter()

    async def handle(self, inbound: Inbound) -> list[Reply]:
        """Handle one inbound message and return the replies to send back.

        Messages of one scope key are handled one at a time, in arrival order.
        Never raises (except when the task is cancelled).

        Args:
            inbound: the normalised message.

        Returns:
            The replies; empty when there is nothing to say (an empty message, a
            command for another bot, a user already told to slow down).
        """
        try:
            return await self._handle(inbound)
        except RejectedValueError:
            self.failures["rejected_value"] += 1
            logger.warning(
                "the database refused a value of a message from %s in %s",
                inbound.user_ref,
                inbound.channel_id,
            )
            return [Reply(REFUSED_VALUE, ephemeral=True)]
        except Exception:
            self.failures["internal"] += 1
            logger.exception(
                "failed to handle a message from %s in %s", inbound.user_ref, inbound.channel_id
            )
            return [Reply(GENERIC_ERROR, ephemeral=True)]

    async def suggest(self, inbound: Inbound, kind: Suggest, typed: str) -> list[Suggestion]:
        """Suggest the caller's own ids of ``kind`` matching ``typed``; a :data:`core.Completer`.

        Changes nothing; a failure is logged and suggests nothing.
        """
        try:
            return await suggest(self.manager, inbound, kind, typed)
        except Exception:
            logger.exception("suggesting %s ids for %s failed", kind, inbound.user_ref)
            return []

    async def _handle(self, inbound: Inbound) -> list[Reply]:
        if not inbound.text.strip():
            return []
        parsed = parse_command(inbound.text)
        if parsed is not None and not self.settings.addresses_us(parsed.addressed_to):
            return []
        refusal = self._guard(inbound)
        if refusal is not None:
            return refusal
        # The channel's settings are read once: for the key locked here, and again by
        # resolve for the scope and the reset policy. Plain messages start from what
        # the manager remembers of the conversation; commands read the store (and
        # change sessions through the manager, which keeps its memory in step).
        # A redelivery reads the store: the worker that died may have written since.
        remembered = parsed is None and not inbound.redelivered
        placement = await self.manager.place(inbound, remembered=remembered)
        async with self._locks.lock_for(placement.key.value):
            if parsed is None:
                resolution, reply = await self._converse(inbound, placement)
            else:
                resolution = await self.manager.resolve(inbound, placement)
                reply = await self._run(parsed, inbound, resolution, placement)
        return [self._with_reset_notice(reply, resolution)]

    async def _converse(self, inbound: Inbound, placement: Placement) -> tuple[Resolution, Reply]:
        remembered = not inbound.redelivered
        resolution = await self.manager.resolve(inbound, placement, remembered=remembered)
        for _ in range(STORE_ATTEMPTS - 1):
            try:
                return resolution, await self._answer(inbound, resolution, placement)
            except StaleSessionError:
                # The session ended or moved on meanwhile (the scheduler, a command
                # on another worker) and nothing was stored: again, from the store.
                resolution = await self.manager.resolve(inbound, placement)
        try:
            return resolution, await self._answer(inbound, resolution, placement)
        except StaleSessionError:
            logger.warning(
                "gave up storing a message from %s: its session changed %d times in a row",
                inbound.user_ref,
                STORE_ATTEMPTS,
            )
            return resolution, Reply(KEPT_CHANGING, ephemeral=True)

    async def _answer(
        self, inbound: Inbound, resolution: Resolution, placement: Placement
    ) -> Reply:
        stored = placement.settings.context_strategy if placement.settings else None
        return await converse(
            self.manager,
            self.responder,
            inbound,
            resolution.session,
            bot_name=self.settings.bot_name,
            max_tokens=self.settings.context_max_tokens,
            contexts=self.contexts,
            strategy=self.settings.strategy_for(stored),
        )

    def _guard(self, inbound: Inbound) -> list[Reply] | None:
        """Return the replies for a refused message, or ``None`` to let it through."""
        limit = self.settings.max_message_chars
        if len(inbound.text) > limit:
            self._count_refusal(TOO_LONG, inbound)
            return [
                Reply(
                    f"That message is too long ({len(inbound.text)} characters); "
                    f"the limit is {limit}. Nothing was saved.",
                    ephemeral=True,
                )
            ]
        if not self.settings.is_rate_limited(inbound):
            return None
        verdict = self._limiter.check(inbound.user_ref, self.manager.now())
        if verdict is Verdict.ALLOW:
            return None
        # Quiet refusals too: the user is not told again, so the operator must be.
        self._count_refusal(RATE_LIMITED, inbound)
        if verdict is Verdict.REFUSE_QUIETLY:
            return []
        per_minute = self.settings.rate_limit_per_minute
        text = f"Slow down a little: up to {per_minute} messages a minute. Try again shortly."
        return [Reply(text, ephemeral=True)]

    def _with_reset_notice(self, reply: Reply, resolution: Resolution) -> Reply:
        """Prefix a reply with why the previous session ended, after an automatic reset.

        Said once: not when the scheduler archived that session before this message
        and posted its own notice (``notify_on_reset``).
        """
        replaced = resolution.replaced
        if replaced is None or (resolution.replaced_earlier and self.settings.reset_notices):
            return reply
        notice = reset_notice(replaced, self.manager.now())
        return dataclasses.replace(reply, text=f"{notice}\n\n{reply.text}")

    def _count_refusal(self, reason: str, inbound: Inbound) -> None:
        self.refused[reason, inbound.platform] += 1
        logger.warning(
            "refused a message from %s in %s: %s", inbound.user_ref, inbound.channel_id, reason
        )

    async def _run(
        self, parsed: ParsedCommand, inbound: Inbound, resolution: Resolution, placement: Placement
    ) -> Reply:
        """Check, then handle: bind and authorise the command, then run its handler."""
        command: Command | None = None
        try:
            policy = await self.manager.reset_policy(resolution.session, placement)
            invocation = self.registry.bind(parsed)
            command = invocation.command
            is_admin = self.settings.is_admin(inbound)
            if invocation.admin_only and not is_admin:
                raise PermissionDenied(f"Only admins can use {command.path}.")
            context = CommandContext(
                inbound=inbound,
                args=invocation.args,
                resolution=resolution,
                manager=self.manager,
                settings=self.settings,
                registry=self.registry,
                command=command,
                is_admin=is_admin,
                now=self.manager.now(),
                zone=policy.timezone,
                raw_args=invocation.raw_args,
                responder=self.responder,
                contexts=self.contexts,
            )
            reply = await invocation.handler(context)
        except CommandError as error:
            self._count_command(command, "error")
            usage = self.registry.usage_of(command) if command is not None else None
            return Reply(_error_text(error, usage), ephemeral=True)
        except Exception:
            self._count_command(command, "failed")
            logger.exception("command /%s failed for %s", parsed.name, inbound.user_ref)
            return Reply(GENERIC_ERROR, ephemeral=True)
        if not isinstance(reply, Reply):
            # A plugin's handler can return anything at run time; adapters need Replies.
            self._count_command(command, "failed")
            logger.error("command /%s returned %r, not a Reply", parsed.name, type(reply))
            return Reply(GENERIC_ERROR, ephemeral=True)
        self._count_command(command, "ok")
        return reply

    def _count_command(self, command: Command | None, outcome: str) -> None:
        # Names typed at random must not each become a metrics label: "unknown".
        self.commands_run[command.path if command is not None else "unknown", outcome] += 1


def _error_text(error: CommandError, usage: str | None) -> str:
    """The user's line for a command error, with the usage when it helps."""
    if isinstance(error, UsageError) and error.usage:
        return str(error)
    if isinstance(error, UsageError | NotFoundError) and usage:
        return f"{error} Usage: {usage}"
    return str(error)
