"""What a command handler is given: the checked arguments and everything around them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

from commands.parser import after_args, free_text
from core.errors import PermissionDenied
from core.models import Inbound, Session
from core.sessions.manager import SessionManager
from core.sessions.resolution import Resolution
from core.sessions.responders import Responder
from core.sessions.scope import ScopeKey
from core.sessions.strategies import ContextBuilder

if TYPE_CHECKING:
    from commands.registry import Command, Registry
    from commands.router_settings import RouterSettings


@dataclass(frozen=True, slots=True)
class CommandContext:
    """One run of one command.

    By the time a handler gets this, the command name, subcommand, argument count and
    admin flag have been checked; the handler checks the arguments' values.

    Attributes:
        inbound: the message that ran the command.
        args: the arguments, unquoted, without the command and subcommand names.
        resolution: the caller's active session and scope key, as resolved for
            this message.
        manager: the session manager, for every change the command makes.
        settings: the router's settings (bot name, admins, limits).
        registry: the commands the router knows (``/help`` lists them).
        command: the command or subcommand being run.
        is_admin: whether the caller is listed in ``settings.admins``.
        now: the manager's clock when the command started.
        zone: the time zone times are shown in: the channel's, else the bot's.
        raw_args: the arguments as typed (after the subcommand name, if any).
        responder: what answers plain messages (``/retry`` asks it again).
        contexts: builds the context the responder sees, by strategy.
    """

    inbound: Inbound
    args: tuple[str, ...]
    resolution: Resolution
    manager: SessionManager
    settings: RouterSettings
    registry: Registry
    command: Command
    is_admin: bool
    now: datetime
    zone: tzinfo = UTC
    raw_args: str = ""

    def free_text(self, skip: int = 0) -> str:
        """The arguments after the first ``skip`` as one free text, quotes kept as typed.

        See :func:`commands.parser.free_text`: ``/session title Hist "quoted" title``
        gives ``Hist "quoted" title``, and ``/new "My trip"`` gives ``My trip``.
        """
        return free_text(after_args(self.raw_args, skip))

    responder: Responder | None = None
    contexts: ContextBuilder | None = None

    @property
    def session(self) -> Session:
        """The caller's active session."""
        return self.resolution.session

    @property
    def key(self) -> ScopeKey:
        """The caller's scope key."""
        return self.resolution.key

    @property
    def user(self) -> str:
        """The caller as ``platform:user_id``."""
        return self.inbound.user_ref

    def require_admin(self, action: str) -> None:
        """Refuse non-admins.

        Args:
            action: what is being refused, such as ``"list every session"``.

        Raises:
            PermissionDenied: the caller is not an admin.
        """
        if not self.is_admin:
            raise PermissionDenied(f"Only admins can {action}.")
