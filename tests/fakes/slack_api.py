"""A fake Slack on 127.0.0.1, for testing through slack-bolt and slack_sdk.

It has three faces, all served by one aiohttp server:

* the Web API (``POST /api/<method>``): ``auth.test``, ``apps.connections.open``,
  ``chat.postMessage``, ``chat.postEphemeral``, and the upload flow of
  ``files_upload_v2`` (``files.getUploadURLExternal``, the upload URL,
  ``files.completeUploadExternal``, ``files.info``). Every call is recorded with
  its parameters, failed ones too. It can answer 429 with ``Retry-After``, a
  proxy's 502 page, or ``not_in_channel`` for a channel the bot was removed from.
* a Socket Mode WebSocket (``GET /socket``): :meth:`FakeSlack.send_envelope`
  pushes an envelope to the connected client and the ack that comes back is
  recorded; :meth:`FakeSlack.drop_connections` cuts every connection (the client
  must reconnect by itself).
* a client of the bot's HTTP endpoint: :func:`signed_post` signs a request the way
  Slack does (``v0`` HMAC-SHA256 of ``v0:{timestamp}:{body}``).

Builders make envelopes with Slack's fields: :meth:`FakeSlack.message_event`,
:meth:`FakeSlack.mention_event`, :meth:`FakeSlack.slash_command`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, WSMsgType, web

TEAM = "T0TEST"
BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0APP"
BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
SIGNING_SECRET = "fake-signing-secret"
WAIT = 20.0
"""Seconds a wait gives up after: generous, since a loaded machine can be slow."""

Json = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One Web API request the fake received.

    Attributes:
        method: the API method, such as ``chat.postMessage``.
        params: its parameters (JSON or form fields).
        ok: whether the fake answered ``ok: true``.
        token: the bearer token sent.
    """

    method: str
    params: Json
    ok: bool
    token: str


@dataclass(frozen=True)
class Upload:
    """A file uploaded through ``files_upload_v2`` and shared in a channel."""

    file_id: str
    filename: str
    title: str
    content: bytes
    channel: str
    thread_ts: str | None


@dataclass
class _State:
    uploads: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    acks: dict[str, Json] = field(default_factory=dict)


class FakeSlack:
    """Web API, Socket Mode server and upload host of one fake workspace.

    Use as ``async with FakeSlack() as slack:``; :attr:`api_url` is the Web API base
    URL to give the adapter (``api_url``).
    """

    def __init__(self, port: int = 0) -> None:
        self.calls: list[Call] = []
        self.uploads: list[Upload] = []
        self.connections_opened = 0
        self._state = _State()
        self._sockets: list[web.WebSocketResponse] = []
        self._ids = itertools.count(1)
        self._rate_limited: dict[str, int] = {}
        self._broken: dict[str, int] = {}
        self._removed: set[str] = set()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = port

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """The Web API base URL, as slack_sdk's ``base_url`` wants it."""
        return f"{self.url}/api/"

    async def start(self) -> None:
        """Listen on 127.0.0.1, on the port given or a free one."""
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        server = site._server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def close(self) -> None:
        """Close every connection and stop listening."""
        await self.drop_connections()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what tests do ------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After: 1``."""
        self._rate_limited[method] = times

    def break_down(self, method: str, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with a proxy's 502 HTML page."""
        self._broken[method] = times

    def remove_bot_from(self, channel: str) -> None:
        """Answer ``not_in_channel`` to every post in ``channel``."""
        self._removed.add(channel)

    def connected(self) -> int:
        """Return how many Socket Mode connections are open."""
        return sum(1 for socket in self._sockets if not socket.closed)

    async def drop_connections(self) -> None:
        """Close every Socket Mode connection, as a network cut would."""
        sockets, self._sockets = self._sockets, []
        for socket in sockets:
            await socket.close()

    async def send_envelope(self, kind: str, payload: Json, *, retry_attempt: int = 0) -> str:
        """Push an envelope to the newest connection; return its id.

        Raises:
            RuntimeError: no client is connected.
        """
        open_sockets = [socket for socket in self._sockets if not socket.closed]
        if not open_sockets:
            raise RuntimeError("no Socket Mode client is connected")
        envelope_id = f"env-{next(self._ids)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
        }
        await open_sockets[-1].send_str(json.dumps(envelope))
        return envelope_id

    async def wait_for_ack(self, envelope_id: str) -> Json:
        """Return the ack of an envelope once it came."""
        await self.wait_until(lambda: envelope_id in self._state.acks)
        return self._state.acks[envelope_id]

    def acked(self, envelope_id: str) -> bool:
        """Tell whether an envelope was acknowledged."""
        return envelope_id in self._state.acks

    async def wait_until(self, condition: Callable[[], bool], within: float = WAIT) -> None:
        """Return once ``condition()`` holds, re-checked whenever something happens."""
        async with asyncio.timeout(within):
            while not condition():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.5)

    def calls_to(self, method: str, *, ok: bool | None = True) -> list[Call]:
        """Return the calls of ``method`` (by default only the successful ones)."""
        return [c for c in self.calls if c.method == method and (ok is None or c.ok is ok)]

    def posts(self, channel: str | None = None, thread_ts: str | None = None) -> list[Call]:
        """Return the successful ``chat.postMessage`` and ``chat.postEphemeral`` calls."""
        posted = [
            c for c in self.calls if c.ok and c.method in ("chat.postMessage", "chat.postEphemeral")
        ]
        if channel is not None:
            posted = [c for c in posted if c.params.get("channel") == channel]
        if thread_ts is not None:
            posted = [c for c in posted if c.params.get("thread_ts") == thread_ts]
        return posted

    def texts(self, channel: str | None = None, thread_ts: str | None = None) -> list[str]:
        """Return the texts posted, as users read them (entities decoded)."""
        return [unescape(str(c.params.get("text", ""))) for c in self.posts(channel, thread_ts)]

    # -- envelopes --------------------------------------------------------------------

    def next_ts(self) -> str:
        """Return a new message timestamp, later than every earlier one."""
        return f"{int(time.time())}.{next(self._ids):06d}"

    def message_event(
        self,
        text: str,
        *,
        channel: str = "D0DM",
        user: str = "U0ALICE",
        channel_type: str = "im",
        thread_ts: str | None = None,
        ts: str | None = None,
        event_id: str | None = None,
        **extra: Any,
    ) -> Json:
        """Return an ``events_api`` payload for a ``message`` event."""
        event: Json = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts or self.next_ts(),
            "channel_type": channel_type,
            "team": TEAM,
        }
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        event.update(extra)
        return self.event_callback(event, event_id=event_id)

    def mention_event(
        self,
        text: str,
        *,
        channel: str = "C0GENERAL",
        user: str = "U0ALICE",
        thread_ts: str | None = None,
        event_id: str | None = None,
    ) -> Json:
        """Return an ``events_api`` payload for an ``app_mention`` event."""
        event: Json = {
            "type": "app_mention",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": self.next_ts(),
            "team": TEAM,
        }
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        return self.event_callback(event, event_id=event_id)

    def event_callback(self, event: Json, *, event_id: str | None = None) -> Json:
        """Wrap ``event`` the way the Events API delivers it."""
        event.setdefault("event_ts", event.get("ts", self.next_ts()))
        return {
            "token": "verification-token",
            "team_id": TEAM,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": TEAM, "user_id": BOT_USER, "is_bot": True, "enterprise_id": None}
            ],
            "is_ext_shared_channel": False,
        }

    def slash_command(
        self,
        command: str,
        text: str = "",
        *,
        channel: str = "C0GENERAL",
        user: str = "U0ALICE",
    ) -> Json:
        """Return a ``slash_commands`` payload."""
        return {
            "token": "verification-token",
            "team_id": TEAM,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": "alice",
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": f"{self.url}/response/{next(self._ids)}",
            "trigger_id": f"trigger-{next(self._ids)}",
        }

    # -- the server ---------------------------------------------------------------------

    def _touch(self) -> None:
        self._changed.set()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        if self._broken.get(method, 0) > 0:
            self._broken[method] -= 1
            self.calls.append(Call(method, params, False, ""))
            self._touch()
            return web.Response(
                status=502, text="<html>Bad Gateway</html>", content_type="text/html"
            )
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        status, answer, headers = self._answer(method, params, token)
        self.calls.append(Call(method, params, bool(answer.get("ok")), token))
        self._touch()
        return web.json_response(answer, status=status, headers=headers)

    def _answer(self, method: str, params: Json, token: str) -> tuple[int, Json, dict[str, str]]:
        if self._rate_limited.get(method, 0) > 0:
            self._rate_limited[method] -= 1
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}
        if method == "apps.connections.open":
            if not token.startswith("xapp-"):
                return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
            self.connections_opened += 1
            return 200, {"ok": True, "url": f"ws://127.0.0.1:{self._port}/socket"}, {}
        if token != BOT_TOKEN:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        handler = _METHODS.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return 200, handler(self, params), {}

    def _auth_test(self, params: Json) -> Json:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "sessionbot",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _post_message(self, params: Json) -> Json:
        channel = str(params.get("channel"))
        if channel in self._removed:
            return {"ok": False, "error": "not_in_channel"}
        ts = self.next_ts()
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": params.get("text")}}

    def _post_ephemeral(self, params: Json) -> Json:
        if str(params.get("channel")) in self._removed:
            return {"ok": False, "error": "not_in_channel"}
        return {"ok": True, "message_ts": self.next_ts()}

    def _upload_url(self, params: Json) -> Json:
        file_id = f"F{next(self._ids):08d}"
        self._state.uploads[file_id] = (str(params.get("filename")), b"")
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, params: Json) -> Json:
        files = params["files"]
        files = json.loads(files) if isinstance(files, str) else files
        channel = str(params.get("channel_id"))
        if channel in self._removed:
            return {"ok": False, "error": "not_in_channel"}
        thread_ts = params.get("thread_ts")
        shared = []
        for entry in files:
            name, content = self._state.uploads[entry["id"]]
            title = str(entry.get("title") or name)
            upload = Upload(entry["id"], name, title, content, channel, thread_ts)
            self.uploads.append(upload)
            shared.append({"id": upload.file_id, "name": name, "title": title})
        return {"ok": True, "files": shared}

    def _file_info(self, params: Json) -> Json:
        file_id = str(params.get("file"))
        name, _ = self._state.uploads.get(file_id, ("", b""))
        return {"ok": True, "file": {"id": file_id, "name": name}}

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if file_id not in self._state.uploads:
            return web.Response(status=404)
        name, _ = self._state.uploads[file_id]
        self._state.uploads[file_id] = (name, await request.read())
        self._touch()
        return web.Response(text=f"OK - {len(self._state.uploads[file_id][1])}")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self._touch()
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                ack = json.loads(message.data)
                self._state.acks[str(ack.get("envelope_id"))] = ack
                self._touch()
        self._touch()
        return socket


_METHODS: dict[str, Callable[[FakeSlack, Json], Json]] = {
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._post_message,
    "chat.postEphemeral": FakeSlack._post_ephemeral,
    "files.getUploadURLExternal": FakeSlack._upload_url,
    "files.completeUploadExternal": FakeSlack._complete_upload,
    "files.info": FakeSlack._file_info,
}


async def _params(request: web.Request) -> Json:
    """Return the query's parameters and the body's (JSON or form fields)."""
    params: Json = dict(request.query)
    body = await request.read()
    if request.content_type == "application/json":
        params.update(json.loads(body or b"{}"))
    else:
        params.update(urllib.parse.parse_qsl(body.decode()))
    return params


def unescape(text: str) -> str:
    """Decode the three entities Slack's message text uses."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return Slack's ``X-Slack-Signature`` for a request body."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


async def signed_post(
    url: str,
    body: bytes,
    *,
    content_type: str,
    secret: str = SIGNING_SECRET,
    timestamp: float | None = None,
    retry_num: int | None = None,
    bad_signature: bool = False,
) -> tuple[int, str]:
    """Post ``body`` to the bot's endpoint signed as Slack does; return status and text."""
    stamp = str(int(time.time() if timestamp is None else timestamp))
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature("not the secret" if bad_signature else secret, stamp, body),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    async with ClientSession() as session, session.post(url, data=body, headers=headers) as reply:
        return reply.status, await reply.text()


def event_body(payload: Json) -> bytes:
    """Encode an ``events_api`` payload as the Events API posts it."""
    return json.dumps(payload).encode()


def command_body(payload: Json) -> bytes:
    """Encode a ``slash_commands`` payload as Slack posts it (form fields)."""
    return urllib.parse.urlencode(payload).encode()
