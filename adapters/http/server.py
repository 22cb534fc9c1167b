"""The HTTP adapter: uvicorn serving the API inside the bot's own event loop.

The supervisor starts and stops it like any adapter. It binds its socket itself,
so a port in use fails the start at once with the address in the message (the
supervisor retries with backoff), and a test can bind port 0 and read the port
back. uvicorn's own signal handling is left out: the bot's handles SIGINT and
SIGTERM and stops every adapter, this one included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn

from adapters.base import AdapterContext, BaseAdapter
from adapters.http.access import Services
from adapters.http.app import create_app
from adapters.http.settings import ApiSettings
from core import ReplyFile, SessionManager

logger = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the bot."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing: the bot's handlers stop this adapter."""
        yield


class HttpAdapter(BaseAdapter[None]):
    """Serves the sessions API until stopped.

    Args:
        settings: the ``[api]`` table.
        context: handler, bot name and status.
        manager: the session core, for the management routes.

    Attributes:
        port: the port bound, once started (``[api] port``, or the one picked for 0).
    """

    name = "api"

    def __init__(
        self, settings: ApiSettings, context: AdapterContext, manager: SessionManager
    ) -> None:
        super().__init__(context.handler)
        self.settings = settings
        self.services = Services(settings, context, manager)
        self.app = create_app(self.services)
        self.port: int | None = None
        self.ready = asyncio.Event()

    async def receive(self) -> None:
        """Serve requests until :meth:`stop`; requests in progress are finished."""
        listening = self._bind()
        self.port = listening.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,  # the bot's logging, not uvicorn's
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        server = _EmbeddedServer(config)
        serving = asyncio.create_task(server.serve(sockets=[listening]), name="api-server")
        # The socket listens already: connections wait in its backlog until uvicorn
        # has started, so the adapter is ready from here.
        logger.info("api: listening on %s:%d", self.settings.listen, self.port)
        self.ready.set()
        try:
            stopping = asyncio.create_task(self.stopping.wait())
            await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
        finally:
            self.services.stopping.set()
            server.should_exit = True
            await asyncio.wait([serving])
            self.ready.clear()
            listening.close()
        serving.result()  # a server that ended by itself: its failure, or a clean stop
        if not self.stopping.is_set():
            raise RuntimeError("the api server stopped by itself")

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.settings.listen else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off only on connections
        # whose socket says TCP, and with it on, every answer written in two parts
        # (headers, body) waited 40 ms for the client's delayed acknowledgement.
        listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind((self.settings.listen, self.settings.port))
            listening.listen(1024)
        except OSError as error:
            listening.close()
            raise OSError(
                f"api: cannot listen on {self.settings.listen}:{self.settings.port}: "
                f"{error.strerror or error}"
            ) from None
        listening.setblocking(False)
        return listening

    def destination(self, channel_id: str, thread_id: str | None) -> None:
        """Return ``None``: API clients ask for messages; nothing is pushed to them."""
        return None

    async def post_text(self, destination: None, text: str, *, first: bool) -> None:
        """Never called: :meth:`destination` is always ``None``."""
        raise NotImplementedError("the api adapter pushes nothing")

    async def post_file(self, destination: None, file: ReplyFile, *, first: bool) -> None:
        """Never called: :meth:`destination` is always ``None``."""
        raise NotImplementedError("the api adapter pushes nothing")
