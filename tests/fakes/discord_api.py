"""A fake Discord on 127.0.0.1: REST v10 and a JSON gateway, for testing through discord.py.

REST (under ``/api/v10``): ``/users/@me``, ``/gateway/bot``, channel messages (JSON
and multipart with files), typing, the application command PUTs (global and per
guild), interaction callbacks and the interaction webhooks (edit and delete the
original response, follow-ups). Every request is recorded as a :class:`Call`.
Answers carry ``Content-Type: application/json`` exactly, as discord.py checks.

The gateway (``/gateway``) speaks JSON in uncompressed text frames: HELLO on
connect, READY (and a GUILD_CREATE per guild) after IDENTIFY, HEARTBEAT_ACK, and
RESUME: the events after the sequence number the client saw are sent again, then
RESUMED. :meth:`FakeDiscord.dispatch` sends an event to the connected client;
:meth:`FakeDiscord.drop_connection` closes the socket so the client resumes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

TOKEN = "fake.discord.token"
BOT_ID = 900_000_000_000_000_001
APP_ID = 900_000_000_000_000_002
GUILD_ID = 910_000_000_000_000_001
CHANNEL_ID = 920_000_000_000_000_001
THREAD_ID = 920_000_000_000_000_099
BOT_THREAD_ID = 920_000_000_000_000_098
DM_CHANNEL_ID = 930_000_000_000_000_001
WAIT = 20.0

Json = dict[str, Any]


def user(user_id: int, name: str, *, bot: bool = False) -> Json:
    """Return a Discord user object."""
    return {
        "id": str(user_id),
        "username": name,
        "global_name": name.title(),
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
    }


BOT_USER = user(BOT_ID, "sessionbot", bot=True)
ALICE = user(940_000_000_000_000_001, "alice")
BOB = user(940_000_000_000_000_002, "bob")


@dataclass(frozen=True)
class Call:
    """One REST request the fake received.

    Attributes:
        method: ``GET``, ``POST``…
        path: the path after ``/api/v10``.
        body: the JSON body (``payload_json`` of a multipart one), or ``None``.
        files: ``(filename, content)`` of each uploaded file.
        query: the query string's values.
    """

    method: str
    path: str
    body: Any
    files: tuple[tuple[str, bytes], ...] = ()
    query: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class FakeDiscord:
    """The fake: start it with ``async with FakeDiscord() as discord``.

    Attributes:
        calls: every REST request, in order.
        gateway_frames: every gateway payload the client sent, in order.
        identifies: how many IDENTIFY payloads arrived; resumes: how many RESUMEs.
    """

    def __init__(self, *, shards: int = 1) -> None:
        self.calls: list[Call] = []
        self.gateway_frames: list[Json] = []
        self.identifies = 0
        self.resumes = 0
        self.shards = shards
        self.refuse: dict[str, int] = {}  # path regex -> status, for every request
        self.refuse_once: dict[str, int] = {}  # path regex -> status, for the next one
        self.privileged_intents = True  # False: an IDENTIFY asking for one is refused (4014)
        self._ids = itertools.count(950_000_000_000_000_001)
        self._events: list[Json] = []
        self.sent_messages: dict[int, Json] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for socket in list(self._sockets):
            await socket.close()
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        """What ``api_base_url`` is set to (discord.py adds ``/v10``)."""
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def gateway_url(self) -> str:
        """What ``gateway_url`` is set to."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds after a request or a gateway frame."""
        async with asyncio.timeout(WAIT), self._changed:
            await self._changed.wait_for(condition)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- what the bot did -----------------------------------------------------------

    def requests(self, method: str, pattern: str) -> list[Call]:
        """Return the calls with ``method`` whose path matches ``pattern`` entirely."""
        return [c for c in self.calls if c.method == method and re.fullmatch(pattern, c.path)]

    def posted(self, channel_id: int | None = None) -> list[Call]:
        """Return the messages posted to channels (to ``channel_id`` only, if given)."""
        where = str(channel_id) if channel_id else r"\d+"
        return self.requests("POST", rf"/channels/{where}/messages")

    def texts(self, channel_id: int | None = None) -> list[str]:
        """Return the text of each message posted to channels, in order."""
        return [c.body.get("content") or "" for c in self.posted(channel_id) if c.body]

    def interaction_calls(self) -> list[Call]:
        """Return interaction callbacks and interaction webhook calls, in order."""
        return [
            c
            for c in self.calls
            if c.path.startswith("/interactions/") or c.path.startswith(f"/webhooks/{APP_ID}/")
        ]

    def identified(self) -> bool:
        """Tell whether a client has identified and is connected."""
        return self.identifies > 0 and bool(self._sockets)

    # -- events to the bot ----------------------------------------------------------

    async def dispatch(self, event: str, data: Json) -> None:
        """Send a dispatch event with the next sequence number to the connected client.

        It is kept, so a client that resumes after a lost connection gets it.
        """
        frame = {"op": 0, "t": event, "s": len(self._events) + 1, "d": data}
        self._events.append(frame)
        for socket in list(self._sockets):
            if not socket.closed:
                await socket.send_str(json.dumps(frame))

    def new_id(self) -> int:
        """Return a fresh snowflake."""
        return next(self._ids)

    async def message(
        self,
        content: str,
        *,
        author: Json = ALICE,
        channel_id: int = CHANNEL_ID,
        guild: bool = True,
        mentions: list[Json] | None = None,
        **extra: Any,
    ) -> int:
        """Dispatch a MESSAGE_CREATE; return the message's id."""
        message_id = self.new_id()
        data: Json = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": author,
            "content": content,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions or [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
        }
        if guild:
            data["guild_id"] = str(GUILD_ID)
            data["member"] = {
                "roles": [],
                "joined_at": _now(),
                "deaf": False,
                "mute": False,
                "flags": 0,
            }
        data.update(extra)
        self.sent_messages[message_id] = data
        await self.dispatch("MESSAGE_CREATE", data)
        return message_id

    async def edit(self, message_id: int, content: str) -> None:
        """Dispatch a MESSAGE_UPDATE: the message as sent before, with new content."""
        data = dict(self.sent_messages[message_id], content=content, edited_timestamp=_now())
        await self.dispatch("MESSAGE_UPDATE", data)

    async def interaction(
        self,
        command: str,
        options: list[Json] | None = None,
        *,
        author: Json = ALICE,
        channel_id: int = CHANNEL_ID,
        guild: bool = True,
        autocomplete: bool = False,
    ) -> tuple[int, str]:
        """Dispatch an INTERACTION_CREATE for a slash command; return its id and token."""
        interaction_id = self.new_id()
        token = f"interaction-token-{interaction_id}"
        data: Json = {
            "id": str(interaction_id),
            "application_id": str(APP_ID),
            "type": 4 if autocomplete else 2,
            "token": token,
            "version": 1,
            "channel_id": str(channel_id),
            "locale": "en-US",
            "app_permissions": "0",
            "attachment_size_limit": 10_485_760,
            "context": 0 if guild else 1,
            "entitlements": [],
            "authorizing_integration_owners": {},
            "data": {
                "id": str(self.new_id()),
                "name": command,
                "type": 1,
                "options": options or [],
            },
        }
        if guild:
            data["guild_id"] = str(GUILD_ID)
            data["guild_locale"] = "en-US"
            data["channel"] = {"id": str(channel_id), "type": 0, "guild_id": str(GUILD_ID)}
            data["member"] = {
                "user": author,
                "roles": [],
                "joined_at": _now(),
                "deaf": False,
                "mute": False,
                "permissions": "0",
                "flags": 0,
            }
        else:
            data["channel"] = {"id": str(channel_id), "type": 1}
            data["user"] = author
        await self.dispatch("INTERACTION_CREATE", data)
        return interaction_id, token

    async def drop_connection(self) -> None:
        """Close the gateway socket as a network fault would; the client resumes."""
        for socket in list(self._sockets):
            await socket.close(code=4000, message=b"fault")

    # -- REST -----------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        return await _serve(self, request)

    # -- gateway --------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    break
                payload = json.loads(frame.data)
                self.gateway_frames.append(payload)
                await self._on_gateway(socket, payload)
                await self._notify()
        finally:
            if socket in self._sockets:
                self._sockets.remove(socket)
            await self._notify()
        return socket

    async def _on_gateway(self, socket: web.WebSocketResponse, payload: Json) -> None:
        op = payload.get("op")
        if op == 1:
            await socket.send_str(json.dumps({"op": 11}))
        elif op == 2:
            message_content = 1 << 15
            if not self.privileged_intents and payload["d"]["intents"] & message_content:
                await socket.close(code=4014, message=b"Disallowed intent(s).")
                return
            self.identifies += 1
            self._sockets.append(socket)
            await self._ready(socket, payload["d"].get("shard", [0, 1]))
        elif op == 6:
            self.resumes += 1
            self._sockets.append(socket)
            seen = payload["d"].get("seq") or 0
            for frame in self._events[seen:]:
                await socket.send_str(json.dumps(frame))
            resumed = {"op": 0, "t": "RESUMED", "s": len(self._events), "d": {}}
            await socket.send_str(json.dumps(resumed))

    async def _ready(self, socket: web.WebSocketResponse, shard: list[int]) -> None:
        ready = {
            "v": 10,
            "user": BOT_USER,
            "guilds": [{"id": str(GUILD_ID), "unavailable": True}] if shard[0] == 0 else [],
            "session_id": "fake-session",
            "resume_gateway_url": self.gateway_url,
            "shard": shard,
            "application": {"id": str(APP_ID), "flags": 0},
        }
        await self.dispatch("READY", ready)
        if shard[0] == 0:
            await self.dispatch("GUILD_CREATE", guild())


def guild() -> Json:
    """Return the test guild: one text channel, a user's thread and the bot's thread."""

    def thread(thread_id: int, owner: int) -> Json:
        return {
            "id": str(thread_id),
            "type": 11,
            "guild_id": str(GUILD_ID),
            "parent_id": str(CHANNEL_ID),
            "owner_id": str(owner),
            "name": f"thread {thread_id}",
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": _now(),
                "locked": False,
            },
            "message_count": 0,
            "member_count": 2,
            "rate_limit_per_user": 0,
        }

    return {
        "id": str(GUILD_ID),
        "name": "Test guild",
        "owner_id": ALICE["id"],
        "unavailable": False,
        "member_count": 3,
        "roles": [{"id": str(GUILD_ID), "name": "@everyone", "permissions": "0", "position": 0}],
        "emojis": [],
        "stickers": [],
        "features": [],
        "members": [],
        "channels": [
            {
                "id": str(CHANNEL_ID),
                "type": 0,
                "name": "general",
                "position": 0,
                "guild_id": str(GUILD_ID),
                "permission_overwrites": [],
            }
        ],
        "threads": [thread(THREAD_ID, int(ALICE["id"])), thread(BOT_THREAD_ID, BOT_ID)],
        "voice_states": [],
        "presences": [],
        "joined_at": _now(),
        "large": False,
    }


async def _read_body(request: web.Request) -> tuple[Any, tuple[tuple[str, bytes], ...]]:
    if request.content_type.startswith("multipart/"):
        body: Any = None
        files: list[tuple[str, bytes]] = []
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "payload_json":
                body = json.loads(await part.text())
            else:
                files.append((part.filename or "", bytes(await part.read())))
        return body, tuple(files)
    raw = await request.read()
    return (json.loads(raw) if raw else None), ()


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py parses JSON only when Content-Type is exactly application/json.
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


async def _serve(self: FakeDiscord, request: web.Request) -> web.StreamResponse:
    path = "/" + request.match_info["path"]
    body, files = await _read_body(request)
    call = Call(request.method, path, body, files, dict(request.query))
    self.calls.append(call)
    await self._notify()
    for pattern, status in list(self.refuse_once.items()):
        if re.fullmatch(pattern, path):
            del self.refuse_once[pattern]
            return _refusal(status)
    for pattern, status in list(self.refuse.items()):
        if re.fullmatch(pattern, path):
            return _refusal(status)
    return _answer(self, call)


def _refusal(status: int) -> web.Response:
    if status == 429:
        limited = {"message": "You are being rate limited.", "retry_after": 0.2, "global": False}
        response = _json(limited, 429)
        # discord.py takes a 429 without Via for a Cloudflare ban, not a rate limit.
        response.headers["Via"] = "1.1 google"
        return response
    codes = {401: 0, 403: 50001, 404: 10003}
    return _json({"code": codes.get(status, 0), "message": "refused by the fake"}, status)


def _message_for(self: FakeDiscord, call: Call, channel_id: str) -> Json:
    body = call.body or {}
    return {
        "id": str(self.new_id()),
        "channel_id": channel_id,
        "author": BOT_USER,
        "content": body.get("content") or "",
        "timestamp": _now(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [
            {
                "id": str(self.new_id()),
                "filename": name,
                "size": len(content),
                "url": "",
                "proxy_url": "",
            }
            for name, content in call.files
        ],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": body.get("flags", 0),
    }


def _answer(self: FakeDiscord, call: Call) -> web.StreamResponse:
    path, method = call.path, call.method
    if path == "/users/@me":
        return _json(BOT_USER)
    if path == "/oauth2/applications/@me":
        return _json(
            {
                "id": str(APP_ID),
                "name": "sessionbot",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": ALICE,
                "verify_key": "0" * 64,
                "flags": 0,
            }
        )
    if path == "/gateway/bot":
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": self.shards, "session_start_limit": limit})
    if path == "/gateway":
        return _json({"url": self.gateway_url})
    if match := re.fullmatch(r"/channels/(\d+)/messages", path):
        return _json(_message_for(self, call, match[1]))
    if re.fullmatch(r"/channels/\d+/typing", path):
        return web.Response(status=204)
    if re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", path) and method == "PUT":
        return _json(
            [
                dict(c, id=str(self.new_id()), application_id=str(APP_ID), version="1")
                for c in call.body
            ]
        )
    if match := re.fullmatch(r"/interactions/(\d+)/[^/]+/callback", path):
        return _json({"interaction": {"id": match[1], "type": 2}})
    if re.fullmatch(rf"/webhooks/{APP_ID}/[^/]+/messages/@original", path):
        if method == "DELETE":
            return web.Response(status=204)
        return _json(_message_for(self, call, str(CHANNEL_ID)))
    if re.fullmatch(rf"/webhooks/{APP_ID}/[^/]+", path):
        return _json(_message_for(self, call, str(CHANNEL_ID)))
    return _json({"code": 0, "message": f"the fake has no {method} {path}"}, 404)
