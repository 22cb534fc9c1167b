"""Who is signed in to the console: admin keys, session cookies, CSRF tokens.

Signing in takes an admin API key (``sessionbot api-keys create --user ID --admin``);
a user key is refused. The console then makes a sign-in key of its own, stored like
any API key (named ``console:<id of the key signed in with>``), and the browser
holds only that, in an HttpOnly, SameSite=Strict cookie (Secure when the request
came over HTTPS), never the key typed. Being in the database, a sign-in is known to
every worker behind a balancer. Every request checks it again: still there, not
revoked, younger than :data:`LIFETIME_SECONDS`, and the key it came from still a
valid admin key (revoking that key signs its consoles out). Signing out revokes the
sign-in key. Every form that changes something carries a CSRF token derived from
the sign-in key's secret; a post without it, or with another, is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request

from adapters.http.access import Services
from core import ApiKey, new_api_key, parse_api_key, secret_matches

COOKIE = "sessionbot_ui"
"""The name of the console's session cookie."""

LIFETIME_SECONDS = 8 * 60 * 60
"""How long a console sign-in lasts: a working day."""

_NAME_PREFIX = "console:"


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
        key_id: the sign-in key's id.
        user_id: who the admin key signed in with was made for (checkpoints name them).
        csrf: the token every changing form must carry.
    """

    key_id: str
    user_id: str
    csrf: str


class Logins:
    """Console sign-ins, kept as API keys of their own in the store."""

    async def sign_in(self, services: Services, text: str) -> str:
        """Make a sign-in key for the admin key ``text``; return the cookie's value.

        Raises:
            SignInRefused: not a valid admin key (one reason for all, so that a
                wrong key learns nothing).
        """
        store = services.manager.store
        parsed = parse_api_key(text.strip())
        stored = None if parsed is None else await store.get_api_key(parsed[0])
        if parsed is None or stored is None or not secret_matches(stored, parsed[1]):
            raise SignInRefused
        if not stored.admin or stored.name.startswith(_NAME_PREFIX):
            raise SignInRefused  # a user key, or a console's own sign-in key
        login, token = new_api_key(
            stored.user_id, admin=True, name=f"{_NAME_PREFIX}{stored.id}", at=services.manager.now()
        )
        await store.add_api_key(login)
        return token

    async def sign_out(self, services: Services, login: Login) -> None:
        """Revoke the sign-in key of ``login``."""
        await services.manager.store.revoke_api_key(login.key_id, services.manager.now())

    async def current(self, services: Services, request: Request) -> Login:
        """Return the request's session, checked as the module says.

        Raises:
            NotSignedIn: no cookie, an unknown, revoked or expired one, or the key it
                came from no longer a valid admin key.
        """
        store = services.manager.store
        parsed = parse_api_key(request.cookies.get(COOKIE, ""))
        key = None if parsed is None else await store.get_api_key(parsed[0])
        if parsed is None or key is None or not secret_matches(key, parsed[1]):
            raise NotSignedIn
        age = services.manager.now() - key.created_at
        if not key.name.startswith(_NAME_PREFIX) or age > timedelta(seconds=LIFETIME_SECONDS):
            raise NotSignedIn
        parent = await store.get_api_key(key.name.removeprefix(_NAME_PREFIX))
        if not _still_admin(parent):
            raise NotSignedIn
        csrf = hmac.new(parsed[1].encode(), b"sessionbot console csrf", hashlib.sha256)
        return Login(key.id, key.user_id, csrf.hexdigest())


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
    """Return the app's console sign-ins."""
    logins: Logins = request.app.state.logins
    return logins


async def signed_in(request: Request) -> Login:
    """FastAPI dependency: the request's console session (else :class:`NotSignedIn`)."""
    services: Services = request.app.state.services
    return await logins_of(request).current(services, request)
