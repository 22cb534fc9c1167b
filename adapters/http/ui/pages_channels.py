"""Console page of a channel's settings: scope, daily reset, time zone, idle reset, context.

A channel is named by its key (a session's ``channel_key``; the session page links
to it). Values are checked as the admin chat commands check them (``/session
scope``, ``reset-time``, ``idle-reset``, ``context``), and stored through the same
core operation; an empty field, or ``default``, drops the channel's override so the
configuration's value applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from adapters.http.access import Services, services_of
from adapters.http.ui.auth import Login, check_csrf, signed_in
from adapters.http.ui.render import PageError, form_of, page, redirect, ui_base
from core import MAX_RESET_MINUTES, ChannelSettings, Scope, Strategy, parse_reset_time

router = APIRouter()

LoginDep = Annotated[Login, Depends(signed_in)]
ServicesDep = Annotated[Services, Depends(services_of)]

SCOPES = tuple(scope.chat_name for scope in Scope)
STRATEGIES = tuple(strategy.value for strategy in Strategy)


class Invalid(ValueError):
    """A field the chat commands would refuse too; its text is the one line shown."""


@dataclass(frozen=True, slots=True)
class Fields:
    """The form's fields as typed (what the page shows back after a refusal)."""

    scope: str = ""
    daily: str = ""
    timezone: str = ""
    idle: str = ""
    strategy: str = ""

    @classmethod
    def of(cls, settings: ChannelSettings | None) -> Fields:
        """Return the fields showing what is stored (empty: the default applies)."""
        if settings is None:
            return cls()
        idle = settings.idle_reset_minutes
        return cls(
            scope=Scope(settings.scope).chat_name if settings.scope else "",
            daily=settings.daily_reset_time or "",
            timezone=settings.timezone or "",
            idle="" if idle is None else "off" if idle == 0 else str(idle),
            strategy=settings.context_strategy or "",
        )

    def changes(self) -> dict[str, Any]:
        """Return the :class:`ChannelSettings` fields these values store.

        Raises:
            Invalid: the first field the chat commands would refuse.
        """
        daily = _daily(self.daily)
        if daily == "off" and self.timezone.strip():
            raise Invalid("A timezone goes with a time, not with off.")
        return {
            "scope": _scope(self.scope),
            "daily_reset_time": daily,
            "timezone": _timezone(self.timezone),
            "idle_reset_minutes": _idle(self.idle),
            "context_strategy": _strategy(self.strategy),
        }


def _default(text: str) -> bool:
    return text.strip().lower() in ("", "default")


def _scope(text: str) -> str | None:
    if _default(text):
        return None
    try:
        return Scope.parse(text).value
    except ValueError:
        raise Invalid(f"Unknown scope {text[:32]!r}; choose {', '.join(SCOPES)}.") from None


def _daily(text: str) -> str | None:
    if _default(text):
        return None
    try:
        at = parse_reset_time(text)
    except ValueError as error:
        why = str(error)
        raise Invalid(f"Daily reset: {why}.") from None
    return "off" if at is None else at.strftime("%H:%M")


def _timezone(text: str) -> str | None:
    name = text.strip()
    if _default(name):
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"Unknown timezone {name[:40]!r}; try one like Europe/Berlin.") from None
    return name


def _idle(text: str) -> int | None:
    value = text.strip().lower()
    if _default(value):
        return None
    if value == "off":
        return 0
    if value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_RESET_MINUTES:
        return int(value)
    raise Invalid(f"Idle reset: give minutes from 1 to {MAX_RESET_MINUTES}, or off.")


def _strategy(text: str) -> str | None:
    value = text.strip().lower()
    if _default(value):
        return None
    if value not in STRATEGIES:
        names = ", ".join(STRATEGIES)
        raise Invalid(f"Unknown strategy {text[:32]!r}; choose {names} or default.")
    return value


@router.get("/channels")
async def channel(
    request: Request,
    login: LoginDep,
    services: ServicesDep,
    key: Annotated[str, Query(max_length=600)] = "",
    done: str = "",
) -> Response:
    """A channel's settings, or the form to name a channel."""
    stored = await services.manager.channels.stored(key) if key else None
    notice = "Channel settings saved." if done == "saved" else None
    return _render(request, login, key, Fields.of(stored), notice=notice)


@router.post("/channels")
async def change_channel(request: Request, login: LoginDep, services: ServicesDep) -> Response:
    """Check the form as the chat commands would, then store it."""
    form = await form_of(request)
    check_csrf(login, form.get("csrf", ""))
    key = form.get("key", "").strip()
    if not key or len(key) > 600 or "\x00" in key:
        raise PageError(400, "Name the channel by its key (a session page links to it).")
    fields = Fields(**{name: form.get(name, "") for name in Fields.__slots__})
    try:
        changes = fields.changes()
    except Invalid as invalid:
        return _render(request, login, key, fields, error=str(invalid), status=400)
    await services.manager.channels.update_key(key, **changes)
    return redirect(f"{ui_base(request)}/channels?{urlencode({'key': key, 'done': 'saved'})}")


def _render(
    request: Request,
    login: Login,
    key: str,
    fields: Fields,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return page(
        request,
        "channel.html",
        status,
        key=key,
        fields=fields,
        scopes=SCOPES,
        strategies=STRATEGIES,
        max_minutes=MAX_RESET_MINUTES,
        csrf=login.csrf,
        notice=notice,
        error=error,
    )
