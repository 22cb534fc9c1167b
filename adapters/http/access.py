"""Who is calling, and what they may see: API keys, rate limits, the sessions of a caller.

A request carries ``Authorization: Bearer <key>``. A user key acts as ``api:<user>``
and as every id ``[identity]`` links to it: it sees the sessions those own, and
any other session id answers exactly as an unknown one does (404), so a key never
learns that another user's session exists. An admin key sees every session. No
key, a malformed, unknown, wrong or revoked key: 401, all with the same message.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.base import AdapterContext
from adapters.http.errors import ApiError
from adapters.http.settings import PLATFORM, ApiSettings
from core import ApiKey, NotFoundError, Session, SessionManager, parse_api_key, secret_matches

_UNAUTHORIZED = "a valid API key is needed: Authorization: Bearer <key>"


@dataclass(frozen=True, slots=True)
class Caller:
    """The key a request came with.

    Attributes:
        key: the stored key.
        owners: the ``platform:user_id`` refs whose sessions the key sees; ``None``
            for an admin key (every session).
    """

    key: ApiKey
    owners: tuple[str, ...] | None

    @property
    def user_ref(self) -> str:
        """``api:<user>``: who the key writes as."""
        return f"{PLATFORM}:{self.key.user_id}"

    def sees(self, session: Session) -> bool:
        """Tell whether the key may read and change ``session``."""
        return self.owners is None or session.owner in self.owners


class RateLimiter:
    """At most ``per_minute`` requests per key in any 60 seconds (0: no limit)."""

    def __init__(self, per_minute: int) -> None:
        self._per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}

    def retry_after(self, key_id: str) -> int | None:
        """Count a request; return seconds to wait if it is over the limit, else ``None``."""
        if not self._per_minute:
            return None
        now = time.monotonic()
        seen = self._seen.setdefault(key_id, deque())
        while seen and seen[0] <= now - 60:
            seen.popleft()
        if len(seen) >= self._per_minute:
            return max(1, math.ceil(seen[0] + 60 - now))
        seen.append(now)
        return None


@dataclass(slots=True)
class Services:
    """What the routes work with, kept on ``app.state.services``.

    Attributes:
        settings: the ``[api]`` table.
        context: handler, bot name and status, from ``bot``.
        manager: the session core.
        limiter: requests per key.
        started: monotonic time the app was built (uptime).
        stopping: set when the server begins to stop: a request that waits for
            something (a retry waiting for the first request's answer) answers 503
            at once instead of being cut off by the shutdown's deadline.
    """

    settings: ApiSettings
    context: AdapterContext
    manager: SessionManager
    limiter: RateLimiter = field(init=False)
    started: float = field(default_factory=time.monotonic)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.settings.rate_limit_per_minute)

    def owners_of(self, user_id: str) -> tuple[str, ...]:
        """Return ``api:<user>`` and every ref ``[identity]`` links to it."""
        ref = f"{PLATFORM}:{user_id}"
        identities = self.manager.config.identities
        identity = identities.get(ref)
        if identity is None:
            return (ref,)
        linked = sorted(other for other, name in identities.items() if name == identity)
        return (ref, *(other for other in linked if other != ref))

    async def caller(self, request: Request) -> Caller:
        """Return the caller of ``request``, its rate limit counted.

        Raises:
            ApiError: 401 without a valid key, 429 over the key's rate limit.
        """
        key = await self._key_of(request.headers.get("authorization", ""))
        wait = self.limiter.retry_after(key.id)
        if wait is not None:
            raise ApiError(
                429,
                f"over {self.settings.rate_limit_per_minute} requests a minute for this key",
                headers={"Retry-After": str(wait)},
            )
        return Caller(key, None if key.admin else self.owners_of(key.user_id))

    async def _key_of(self, header: str) -> ApiKey:
        scheme, _, token = header.partition(" ")
        parsed = parse_api_key(token.strip()) if scheme.lower() == "bearer" else None
        stored = None if parsed is None else await self.manager.store.get_api_key(parsed[0])
        if parsed is None or not secret_matches(stored, parsed[1]) or stored is None:
            raise ApiError(401, _UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
        return stored

    async def session_for(self, caller: Caller, session_id: str) -> Session:
        """Return the session if the caller sees it.

        Raises:
            NotFoundError: no such session, or not the caller's: the same answer.
        """
        session = await self.manager.store.get_session(session_id)
        if session is None or not caller.sees(session):
            raise NotFoundError(f"No session {session_id!r}.")
        return session


def services_of(request: Request) -> Services:
    """Return the app's services."""
    services: Services = request.app.state.services
    return services


_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key from `sessionbot api-keys create`, as `Authorization: Bearer <key>`.",
)
"""Declares the key in the OpenAPI document, so that ``/docs`` can send one."""


async def caller_of(
    request: Request,
    declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> Caller:
    """FastAPI dependency: the request's caller (401 and 429 raised here)."""
    return await services_of(request).caller(request)


def require_admin(caller: Caller) -> None:
    """Refuse a user key where only an admin key may go.

    Raises:
        ApiError: 403.
    """
    if not caller.key.admin:
        raise ApiError(403, "this needs an admin key")
