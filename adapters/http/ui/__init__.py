"""The operator console at ``/ui`` (``[api] ui = true``), served by the API's app.

Server-rendered pages (Jinja2, every value escaped), one stylesheet and one small
script (the overview's refresh in place) served from the package, a
Content-Security-Policy that allows nothing inline and nothing from another host.
Signing in takes an admin API key; see :mod:`adapters.http.ui.auth`. Everything
goes through the same core operations as the API and the chat commands. Times are
shown in the session's channel's time zone, else the bot's, with the zone named.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from adapters.http.ui import pages_channels, pages_overview, pages_sessions, pages_signin
from adapters.http.ui.auth import CsrfRefused, Logins, NotSignedIn
from adapters.http.ui.render import (
    STATIC,
    PageError,
    SecurityHeaders,
    page,
    redirect,
    secured,
    ui_base,
)

__all__ = ["install"]


def install(app: FastAPI, base: str) -> None:
    """Serve the console under ``{base}/ui`` in ``app``."""
    app.state.logins = Logins()
    for module in (pages_signin, pages_overview, pages_sessions, pages_channels):
        app.include_router(module.router, prefix=f"{base}/ui", include_in_schema=False)
    app.mount(f"{base}/ui/static", _SecuredStatic(directory=STATIC), name="ui-static")
    app.add_exception_handler(NotSignedIn, _not_signed_in)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(PageError, _page_error)
    app.add_middleware(SecurityHeaders, prefix=f"{base}/ui")


class _SecuredStatic(StaticFiles):
    """The stylesheet and the script, with the console's headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        return secured(await super().get_response(path, scope))


async def _not_signed_in(request: Request, error: Exception) -> Response:
    if request.method == "GET":
        return redirect(f"{ui_base(request)}/login")
    return page(request, "login.html", 401, error="Sign in first.", notice=None)


async def _csrf_refused(request: Request, error: Exception) -> Response:
    return page(
        request,
        "error.html",
        403,
        heading="Refused",
        error="This form came without its security token; reload the page and try again.",
        notice=None,
    )


async def _page_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, PageError)
    heading = "Not found" if error.status == 404 else "Refused"
    return page(
        request, "error.html", error.status, heading=heading, error=error.message, notice=None
    )
