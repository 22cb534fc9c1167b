"""Telegram's webhook: a small HTTP server of ours in front of python-telegram-bot.

python-telegram-bot's own webhook server reads a whole body into memory before it
looks at it, answers a body it cannot parse with 500, logs a body that is not an
update at CRITICAL with the posted data, and refuses
``application/json; charset=utf-8`` with 403. This one checks each request in the
order that costs least, and answers what is wrong:

1. the secret token header (403), compared in constant time;
2. the declared size, before a byte of the body is read (413); a body sent
   without ``Content-Length`` is read up to the same cap, and tornado refuses it
   with 400 beyond it;
3. the content type: ``application/json``, with no charset or UTF-8 (415);
4. the body: UTF-8 (400), JSON (400), an update python-telegram-bot can read (400).

A request refused on its headers (1-3) is answered and its connection closed, so
its body is never read. An accepted update goes onto the application's update
queue, as the library's own server does, and gets 200. Refusals are logged in one
line that never holds the body.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import tornado.web
from telegram import Bot, Update
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPHeaders
from tornado.iostream import StreamClosedError

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
"""The largest body accepted. Telegram's updates are a few kilobytes; 1 MiB leaves room
for the largest (a long message with many entities) and none for a flood."""

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

Deliver = Callable[[Update], Awaitable[None]]
"""Takes an accepted update (the application's ``update_queue.put``)."""


class Refused(Exception):
    """A request that is answered with an error status and a short log line.

    Args:
        status: the answer.
        reason: what was wrong, for the log; never the body.
    """

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class WebhookServer:
    """Receives Telegram's webhook posts and delivers the updates.

    Args:
        listen: the address to bind.
        port: the port to bind.
        url_path: the path updates are posted to, without slashes around it.
        secret_token: what Telegram sends in ``X-Telegram-Bot-Api-Secret-Token``.
        bot: reads updates (``Update.de_json`` links them to it).
        deliver: takes each accepted update.
        max_body_bytes: larger bodies are refused with 413 unread.
    """

    def __init__(
        self,
        *,
        listen: str,
        port: int,
        url_path: str,
        secret_token: str,
        bot: Bot,
        deliver: Deliver,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._address = (listen, port)
        self._path = url_path
        self._secret = secret_token.encode()
        self._bot = bot
        self._deliver = deliver
        self.max_body_bytes = max_body_bytes
        self._server: HTTPServer | None = None

    def start(self) -> None:
        """Bind and listen.

        Raises:
            OSError: the address cannot be bound (the port is in use).
        """
        application = tornado.web.Application(
            [(rf"/{re.escape(self._path)}/?", _UpdateHandler, {"webhook": self})],
            log_function=_no_access_log,
        )
        # Tornado refuses larger bodies itself; this caps bodies sent without a length.
        server = HTTPServer(application, max_body_size=self.max_body_bytes)
        server.add_socket(_listening_socket(*self._address))
        self._server = server

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            await server.close_all_connections()

    def check_headers(self, headers: HTTPHeaders) -> None:
        """Check what can be checked before the body is read.

        Raises:
            Refused: the secret token is missing or wrong, the body is declared
                too large, or the content type is not UTF-8 JSON.
        """
        token = headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(token, self._secret):
            raise Refused(HTTPStatus.FORBIDDEN, "no secret token, or a wrong one")
        length = headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a body of {length} bytes")
        content_type = headers.get("Content-Type", "")
        if not is_utf8_json(content_type):
            raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "content type is not UTF-8 JSON")

    async def receive(self, body: bytes) -> None:
        """Read ``body`` as an update and deliver it.

        Raises:
            Refused: the body is not UTF-8, not JSON, or not an update.
        """
        try:
            data = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise Refused(HTTPStatus.BAD_REQUEST, "the body is not UTF-8") from None
        except json.JSONDecodeError:
            raise Refused(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
        await self._deliver(self._update(data))

    def _update(self, data: Any) -> Update:
        update_id = data.get("update_id") if isinstance(data, dict) else None
        # bool is an int to Python, not to Telegram.
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise Refused(HTTPStatus.BAD_REQUEST, "the JSON is not an update (no update_id)")
        try:
            return Update.de_json(data, self._bot)
        except Exception as error:
            # The error's text may quote the data; its type is enough to say why.
            reason = f"update {update_id} could not be read ({type(error).__name__})"
            raise Refused(HTTPStatus.BAD_REQUEST, reason) from None


def is_utf8_json(content_type: str) -> bool:
    """Tell whether a ``Content-Type`` is JSON in UTF-8 (JSON's only charset, RFC 8259).

    ``application/json`` with no parameters, or with ``charset=utf-8`` (any case,
    quoted or not), is; other charsets and media types are not.
    """
    media_type, *parameters = content_type.split(";")
    if media_type.strip().lower() != "application/json":
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower() in ("utf-8", "utf8")
    return True


def _listening_socket(listen: str, port: int) -> socket.socket:
    """Bind and listen; a failed bind closes its socket (tornado's ``listen`` leaks it)."""
    family = socket.AF_INET6 if ":" in listen else socket.AF_INET
    sock = socket.create_server((listen, port), family=family)
    sock.setblocking(False)
    return sock


def _no_access_log(handler: tornado.web.RequestHandler) -> None:
    """Log no line per request: updates come all day; refusals are logged by the handler."""


@tornado.web.stream_request_body
class _UpdateHandler(tornado.web.RequestHandler):
    """One request to the webhook path.

    Streaming (``stream_request_body``) makes tornado call :meth:`prepare` as soon
    as the headers are in, before reading any of the body.
    """

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, webhook: WebhookServer) -> None:
        self._webhook = webhook
        self._body = bytearray()

    async def prepare(self) -> None:
        try:
            self._webhook.check_headers(self.request.headers)
        except Refused as refusal:
            await self._close_with(refusal)

    def data_received(self, chunk: bytes) -> None:
        self._body += chunk

    async def post(self) -> None:
        try:
            await self._webhook.receive(bytes(self._body))
        except Refused as refusal:
            self._log_refusal(refusal)
            self._answer(refusal.status)
            return
        self._answer(HTTPStatus.OK)

    def _answer(self, status: HTTPStatus) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status.value} {status.phrase}\n")

    async def _close_with(self, refusal: Refused) -> None:
        """Answer and close the connection, leaving the body unread.

        Finishing the response the usual way would let tornado go on to read
        the body, up to the cap, just to throw it away.
        """
        self._log_refusal(refusal)
        status = refusal.status
        text = f"{status.value} {status.phrase}\n".encode()
        head = (
            f"HTTP/1.1 {status.value} {status.phrase}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(text)}\r\n"
            "Connection: close\r\n\r\n"
        )
        stream = self.detach()
        try:
            await stream.write(head.encode() + text)
        except StreamClosedError:
            pass  # the client left first: nobody to tell
        finally:
            stream.close()

    def _log_refusal(self, refusal: Refused) -> None:
        # A missing secret is what scanners of the open internet send: routine.
        level = logging.INFO if refusal.status is HTTPStatus.FORBIDDEN else logging.WARNING
        logger.log(
            level,
            "telegram: refused a webhook request from %s with %d: %s",
            self.request.remote_ip,
            refusal.status,
            refusal.reason,
        )
