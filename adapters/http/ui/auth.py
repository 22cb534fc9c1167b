"""Who is signed in to the console: admin keys, session cookies, CSRF tokens.

Signing in takes an admin API key (``sessionbot api-keys create --user ID --admin``); a
user key is refused. The browser then holds only a random session token, in an
HttpOnly, SameSite=Strict cookie (Secure when the request came over HTTPS), never
the key. Every form that changes something carries the session's CSRF token, and
a post without it, or with another, is refused. The key is looked up again on
every request, so a revoked key signs its console sessions out.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from fastapi import Request

from adapters.http.access import Services
from core import ApiKey, parse_api_key, secret_matches

COOKIE = "sessionbot_ui"
"""The name of the console's session cookie."""

LIFETIME_SECONDS = 8 * 60 * 60
"""How long a console sign-in lasts: a working day."""


class SignInRefused(Exception):
    """The key given cannot sign in: unknown, wrong, revoked, or not an admin key."""


class NotSignedIn(Exception):
    """A console page was asked for without a valid session cookie."""


class CsrfRefused(Exception):
    """A changing form came without the session's CSRF token."""


@dataclass(frozen=True, slots=True)
class Login:
    """One signed-in console session.

    Attributes:
        key_id: the admin key it was opened with.
        user_id: who that key was made for (checkpoints name them).
        csrf: the token every changing form must carry.
        expires: monotonic time after which it is gone.
    """

    key_id: str
    user_id: str
    csrf: str
    expires: float


class Logins:
    """The console sessions of this process, by cookie token."""

    def __init__(self) -> None:
        self._open: dict[str, Login] = {}

    async def sign_in(self, services: Services, text: str) -> str:
        """Open a session for the admin key ``text``; return the cookie's token.

        Raises:
            SignInRefused: not a valid admin key (one reason for all, so that a
                wrong key learns nothing).
        """
        parsed = parse_api_key(text.strip())
        stored = None if parsed is None else await services.manager.store.get_api_key(parsed[0])
        if parsed is None or stored is None or not secret_matches(stored, parsed[1]):
            raise SignInRefused
        if not stored.admin:
            raise SignInRefused
        self._drop_expired()
        token = secrets.token_urlsafe(32)
        self._open[token] = Login(
            stored.id,
            stored.user_id,
            secrets.token_urlsafe(32),
            time.monotonic() + LIFETIME_SECONDS,
        )
        return token

    def sign_out(self, token: str) -> None:
        """Close the session of ``token`` (nothing if there is none)."""
        self._open.pop(token, None)

    async def current(self, services: Services, request: Request) -> Login:
        """Return the request's session, its key still a valid admin key.

        Raises:
            NotSignedIn: no cookie, an unknown or expired one, or a revoked key.
        """
        token = request.cookies.get(COOKIE, "")
        login = self._open.get(token)
        if login is None or login.expires <= time.monotonic():
            self._open.pop(token, None)
            raise NotSignedIn
        key = await services.manager.store.get_api_key(login.key_id)
        if not _still_admin(key):
            self._open.pop(token, None)
            raise NotSignedIn
        return login

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for token in [t for t, login in self._open.items() if login.expires <= now]:
            del self._open[token]


def _still_admin(key: ApiKey | None) -> bool:
    return key is not None and key.admin and not key.revoked


def check_csrf(login: Login, given: str) -> None:
    """Refuse a changing form whose token is not the session's.

    Raises:
        CsrfRefused: missing or different.
    """
    if not given or not hmac.compare_digest(given.encode(), login.csrf.encode()):
        raise CsrfRefused


def logins_of(request: Request) -> Logins:
    """Return the app's console sessions."""
    logins: Logins = request.app.state.logins
    return logins


async def signed_in(request: Request) -> Login:
    """FastAPI dependency: the request's console session (else :class:`NotSignedIn`)."""
    services: Services = request.app.state.services
    return await logins_of(request).current(services, request)
