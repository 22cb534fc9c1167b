"""HTTP mode: the one endpoint Slack posts events and slash commands to.

A small aiohttp server hands each request to the Bolt app, whose middleware checks
the signature and the timestamp (a wrong signature, or a request more than five
minutes old, gets 401 and is not handled) and answers the URL verification
challenge. Bodies over 1 MiB are refused with 413 by aiohttp before they are read
whole. No access log: the paths are known, and nothing else would be worth it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
"""The largest request body accepted (Slack's payloads are a few KiB)."""


class SlackEndpoint:
    """Serves ``POST {path}`` on ``listen:port`` for one Bolt app.

    Args:
        app: the Bolt app that handles what is posted.
        listen: the address to bind.
        port: the port (0: any free one, see :attr:`port`).
        path: the endpoint's path.
    """

    def __init__(self, app: AsyncApp, *, listen: str, port: int, path: str) -> None:
        self._app = app
        self._listen = listen
        self._port = port
        self._path = path
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port bound (the configured one, or the one picked for 0)."""
        return self._port

    async def start(self) -> None:
        """Bind and serve.

        Raises:
            OSError: the address cannot be bound (a port in use).
        """
        server = web.Application(client_max_size=MAX_BODY)
        server.router.add_post(self._path, self._post)
        runner = web.AppRunner(server, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._listen, self._port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        sockets = runner.addresses
        if sockets:
            self._port = int(sockets[0][1])
        logger.info("slack: listening for events on %s:%d%s", self._listen, self._port, self._path)

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _post(self, request: web.Request) -> web.Response:
        raw = await request.read()
        # Slack's bodies are UTF-8; anything else cannot match its signature and
        # is refused by the verification with 401, not by a decoding error.
        body = raw.decode("utf-8", errors="replace")
        headers: dict[str, str | Sequence[str]] = {
            name.lower(): request.headers.getall(name) for name in request.headers
        }
        bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=headers)
        response = await self._app.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)
