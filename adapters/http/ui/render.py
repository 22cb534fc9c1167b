"""Rendering console pages: Jinja2 with escaping on, and the headers every answer carries."""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import zone_name

_HERE = Path(__file__).parent

CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""The console's Content-Security-Policy: nothing inline, nothing from another host."""

_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=True,  # every value is escaped, in .html templates and any other
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def local_time(when: datetime, zone: tzinfo) -> str:
    """Format ``when`` in ``zone``, to the second, with the zone named (``… 19:05:03 CET``).

    The templates' ``local`` filter: ``{{ session.created_at | local(zone) }}``.
    """
    moment = when.astimezone(zone)
    return f"{moment:%Y-%m-%d %H:%M:%S} {zone_name(zone, moment.replace(tzinfo=None))}"


_ENV.filters["local"] = local_time

STATIC = _HERE / "static"
"""The console's own stylesheet and script: the only assets it loads."""


class PageError(Exception):
    """A console request that cannot be served: answered as a page with its status.

    Args:
        status: the HTTP status.
        message: one line saying why.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def secured(response: Response) -> Response:
    """Add the console's security headers to ``response``; return it."""
    response.headers.update(_HEADERS)
    return response


class SecurityHeaders:
    """ASGI middleware: every answer under the console's path gets its headers.

    Pages add them too; this also covers what the app answers for them, such as a
    bad query string's error.
    """

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, adding the headers to a console answer's start."""
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (
            path == self.prefix or path.startswith(self.prefix + "/")
        ):
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_secured)


def page(request: Request, template: str, status: int = 200, **values: Any) -> Response:
    """Render ``template`` with ``values`` and the console's base path."""
    html = _ENV.get_template(template).render(ui=ui_base(request), **values)
    return secured(HTMLResponse(html, status_code=status))


def redirect(location: str) -> Response:
    """Answer 303 to ``location`` (after a form post: the browser then GETs it)."""
    return secured(RedirectResponse(location, status_code=303))


def ui_base(request: Request) -> str:
    """Return the console's root path, under the API's ``base_path``."""
    base: str = request.app.state.services.settings.base_path
    return f"{base}/ui"


async def form_of(request: Request) -> dict[str, str]:
    """Return the fields of an ``application/x-www-form-urlencoded`` post (first value each)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {name: values[0] for name, values in parse_qs(body, keep_blank_values=True).items()}
