"""Console pages: sign in, sign out, and the root."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from adapters.http.access import services_of
from adapters.http.ui.auth import COOKIE, LIFETIME_SECONDS, SignInRefused, check_csrf, logins_of
from adapters.http.ui.render import form_of, page, redirect, ui_base

router = APIRouter()

_REFUSED = "That is not a valid admin API key."


@router.get("")
async def root(request: Request) -> Response:
    """Send the operator to the sessions."""
    return redirect(f"{ui_base(request)}/sessions")


@router.get("/login")
async def login_form(request: Request) -> Response:
    """The sign-in form."""
    return page(request, "login.html", error=None, notice=None)


@router.post("/login")
async def login(request: Request) -> Response:
    """Sign in with an admin key: set the session cookie, go to the sessions."""
    form = await form_of(request)
    try:
        token = await logins_of(request).sign_in(services_of(request), form.get("key", ""))
    except SignInRefused:
        return page(request, "login.html", 401, error=_REFUSED, notice=None)
    response = redirect(f"{ui_base(request)}/sessions")
    response.set_cookie(
        COOKIE,
        token,
        max_age=LIFETIME_SECONDS,
        path=ui_base(request),
        httponly=True,
        samesite="strict",
        secure=_https(request),
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Sign out: forget the session, clear the cookie."""
    services = services_of(request)
    login = await logins_of(request).current(services, request)
    check_csrf(login, (await form_of(request)).get("csrf", ""))
    await logins_of(request).sign_out(services, login)
    response = page(request, "login.html", error=None, notice="Signed out.")
    response.delete_cookie(
        COOKIE, path=ui_base(request), httponly=True, samesite="strict", secure=_https(request)
    )
    return response


def _https(request: Request) -> bool:
    """Tell whether the browser reached us over HTTPS (directly or through a proxy)."""
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.lower() == "https"
