"""Bodies over ``[api] max_body_bytes`` get 413 without being read whole.

A declared ``Content-Length`` over the limit is refused before any of the body is
read; a body sent without one (chunked) is counted as it arrives and refused as
soon as it passes the limit. Either way the connection is closed after the answer,
so the rest of the body is never read.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http.errors import error_response


class _TooLarge(Exception):
    """The body passed the limit while being read."""


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with 413.

    Args:
        app: the application it guards.
        max_bytes: the largest body accepted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        started = False
        too_large = False
        received = 0

        async def counted() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                return  # the app's answer to a body cut short; ours follows
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            # FastAPI turns a failed body read into a 400 of its own; either way,
            # the answer is 413 unless the app had begun answering already.
            if started:
                raise
        if too_large and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            f"the body is larger than {self.max_bytes} bytes",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
