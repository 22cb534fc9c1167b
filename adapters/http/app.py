"""The FastAPI application: routes, error answers, body limit, CORS."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from adapters.http import (
    routes_checkpoints,
    routes_messages,
    routes_ops,
    routes_search,
    routes_sessions,
)
from adapters.http.access import Services
from adapters.http.body_limit import BodyLimit
from adapters.http.errors import install_error_handlers

DESCRIPTION = """\
Sessions of sessionbot over HTTP: start or find a user's session, send messages
(the bot answers as on any platform; commands work too), page through histories,
save and restore checkpoints, export and import.

Every `/api` route but `/api/sessions/health` needs an API key:
`Authorization: Bearer <key>` (`sessionbot api-keys create --user ID`). A user key
sees its user's sessions only; an admin key sees all. Errors answer
`{"error": {"code", "message"}}`. Times are ISO 8601 UTC to the microsecond, and
strictly increase along a session's history.
"""


def create_app(services: Services) -> ASGIApp:
    """Return the API over ``services`` as an ASGI application, body limit and CORS around it."""
    settings, context = services.settings, services.context
    base = settings.base_path
    app = FastAPI(
        title=f"{context.bot_name} sessions API",
        description=DESCRIPTION,
        version="1",
        docs_url=f"{base}/docs",
        redoc_url=None,
        openapi_url=f"{base}/openapi.json",
    )
    app.state.services = services
    install_error_handlers(app)
    for module in (routes_ops, routes_search, routes_sessions, routes_messages, routes_checkpoints):
        app.include_router(module.router, prefix=base)
    if settings.ui:
        from adapters.http.ui import install  # Jinja2 is loaded only when the console is on

        install(app, base)
    guarded: ASGIApp = app
    if settings.cors_origins:
        guarded = CORSMiddleware(
            guarded,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    return BodyLimit(guarded, settings.max_body_bytes)
