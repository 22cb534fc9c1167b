"""The HTTP sessions API: its ``[api]`` settings and its plugin.

The server itself is :class:`adapters.http.server.HttpAdapter` (FastAPI served by
uvicorn inside the bot's event loop); this module imports neither, so reading the
configuration never loads them: :func:`build` does, when ``[api] enabled`` is true.

What clients see: JSON routes under ``/api`` (OpenAPI documentation at ``/docs``),
API keys as ``Authorization: Bearer <key>`` (``sessionbot api-keys create``),
``/healthz``, ``/readyz`` and, with an admin key, Prometheus ``/metrics``.
Messages go through the router like any platform's, as platform ``api``.
"""

from __future__ import annotations

from adapters.base import Adapter, AdapterContext, AdapterPlugin
from adapters.http.settings import PLATFORM, ApiSettings
from core import ConfigError

__all__ = ["PLATFORM", "ApiSettings", "build", "plugin"]


def build(settings: ApiSettings, context: AdapterContext) -> Adapter:
    """Build the HTTP adapter (imports FastAPI and uvicorn).

    Raises:
        ConfigError: the bot gave no session manager (the API needs the core).
    """
    from adapters.http.server import HttpAdapter

    if context.manager is None:
        raise ConfigError("api: the HTTP API needs the session manager")
    return HttpAdapter(settings, context, context.manager)


plugin = AdapterPlugin(name=PLATFORM, settings_model=ApiSettings, build=build, table="api")
"""The API's entry point in the ``sessionbot.adapters`` group; its table is ``[api]``."""
