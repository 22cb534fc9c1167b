"""A fake Telegram Bot API server on 127.0.0.1, for testing through python-telegram-bot.

It speaks enough of the Bot API for the adapter: ``getMe``, ``getUpdates`` (long
polling, offsets, a queue of updates), ``sendMessage``, ``sendDocument``
(multipart), ``setMyCommands``, ``getMyCommands``, ``deleteWebhook``,
``setWebhook`` and ``getWebhookInfo``. Every call is recorded, failed ones too.
It can be told to fail: an HTTP status (502 by default) for the next N calls or
until told to recover, or flood control (429 with ``retry_after``).

Updates are built with realistic fields: a command gets its ``bot_command``
entity at offset 0, as Telegram sends it, and a forum topic message has
``message_thread_id`` and ``is_topic_message``. With a webhook set, the fake
posts updates to it the way Telegram does (:meth:`FakeTelegramAPI.post_to_webhook`).

Parameters arrive form-encoded, with non-string values JSON-encoded (that is how
python-telegram-bot sends them); the fields listed in ``_JSON_FIELDS`` are
decoded, everything else is kept as the string sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import socket
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from aiohttp import ClientSession, web

TOKEN = "123456:TEST-token_for-the-fake"
BOT_ID = 123456
BOT_USERNAME = "sessionbot_test_bot"
WAIT = 20.0
"""Seconds a wait gives up after: generous, since a loaded machine can be slow."""

_JSON_FIELDS = frozenset(
    {
        "allowed_updates",
        "commands",
        "entities",
        "link_preview_options",
        "reply_markup",
        "reply_parameters",
        "scope",
    }
)
_COMMAND = re.compile(r"/\w+(@\w+)?", re.ASCII)

Json = dict[str, Any]


@dataclass(frozen=True)
class UploadedFile:
    """A file received in a multipart request."""

    field: str
    filename: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class Call:
    """One request the fake received.

    Attributes:
        method: the Bot API method, such as ``sendMessage``.
        params: the parameters, decoded as the module docstring says.
        files: files sent in a multipart request, by field name.
        status: the HTTP status the fake answered with.
        at: when it arrived, on the event loop's clock. Calls are listed in the
            order they were answered, which for long polls comes later.
    """

    method: str
    params: Json
    files: dict[str, UploadedFile]
    status: int
    at: float

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> int:
        return int(self.params["chat_id"])

    @property
    def thread_id(self) -> int | None:
        value = self.params.get("message_thread_id")
        return None if value is None else int(value)


class _Default(Enum):
    SET = "the secret given to setWebhook"


@dataclass
class _Failure:
    status: int
    remaining: int | None  # None: until it expires or recover()
    methods: frozenset[str] | None
    retry_after: int = 0
    until: float = float("inf")  # on the event loop's clock

    def applies_to(self, method: str, now: float) -> bool:
        return now < self.until and (self.methods is None or method in self.methods)


def user(user_id: int, first_name: str = "Alice", *, username: str | None = None) -> Json:
    """Return a Telegram ``User``."""
    data: Json = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        data["username"] = username
    return data


def private_chat(person: Json) -> Json:
    """Return the private ``Chat`` between the bot and ``person``."""
    return {"id": person["id"], "type": "private", "first_name": person["first_name"]}


def group_chat(chat_id: int, title: str = "Group", *, forum: bool = False) -> Json:
    """Return a supergroup ``Chat``; ``forum`` turns its topics on."""
    data: Json = {"id": chat_id, "type": "supergroup", "title": title}
    if forum:
        data["is_forum"] = True
    return data


def command_entities(text: str) -> list[Json]:
    """Return the ``bot_command`` entity Telegram attaches to a command at offset 0."""
    match = _COMMAND.match(text)
    if match is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": _utf16_length(match.group())}]


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeTelegramAPI:
    """The fake server; use ``async with FakeTelegramAPI() as api``.

    Args:
        token: the only token it accepts (others get 401, as Telegram answers).
        username: the bot's username, reported by ``getMe``.
    """

    def __init__(self, *, token: str = TOKEN, username: str = BOT_USERNAME) -> None:
        self.token = token
        self.username = username
        self.calls: list[Call] = []
        self.commands: list[Json] = []
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self._updates: list[Json] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._sent_ids = itertools.count(10_000)
        self._chats: dict[int, Json] = {}
        self._shown: dict[tuple[int, int], str] = {}
        self._failures: list[_Failure] = []
        self._blocked: set[int] = set()
        self._migrated: dict[int, int] = {}
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0

    async def __aenter__(self) -> FakeTelegramAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The server's base URL, as the adapter's ``base_url``."""
        return f"http://127.0.0.1:{self._port}"

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on an ephemeral port of 127.0.0.1, or on ``sock`` (bound, not listening)."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        if sock is None:
            site: web.BaseSite = web.TCPSite(self._runner, "127.0.0.1", 0)
        else:
            site = web.SockSite(self._runner, sock)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Answer pending long polls at once, then stop."""
        self._closing.set()
        self._touch()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- updates ----------------------------------------------------------------

    def message(
        self,
        chat: Json,
        sender: Json | None,
        text: str | None = None,
        *,
        thread_id: int | None = None,
        caption: str | None = None,
        **content: Any,
    ) -> Json:
        """Return a ``Message`` as Telegram would send it, numbered per fake server.

        ``content`` adds media fields, such as ``sticker=sticker()``.
        """
        self._chats[chat["id"]] = chat
        data: Json = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            **content,
        }
        if sender is not None:
            data["from"] = sender
        if text is not None:
            data["text"] = text
            if entities := command_entities(text):
                data["entities"] = entities
        if caption is not None:
            data["caption"] = caption
            if entities := command_entities(caption):
                data["caption_entities"] = entities
        if thread_id is not None:
            data["message_thread_id"] = thread_id
            data["is_topic_message"] = True
        return data

    def update(self, message: Json, *, kind: str = "message") -> Json:
        """Return an update holding ``message`` under ``kind`` (``message``, ``edited_message``)."""
        return {"update_id": next(self._update_ids), kind: message}

    def push(self, update: Json) -> int:
        """Queue ``update`` for ``getUpdates``; returns its ``update_id``."""
        self._updates.append(update)
        self._touch()
        return int(update["update_id"])

    def push_message(
        self, chat: Json, sender: Json | None, text: str | None = None, **options: Any
    ) -> Json:
        """Build a message (see :meth:`message`), queue it, and return it."""
        message = self.message(chat, sender, text, **options)
        self.push(self.update(message))
        return message

    @property
    def pending_updates(self) -> int:
        """Updates queued and not yet confirmed by an offset."""
        return len(self._updates)

    async def post_to_webhook(
        self, update: Json, *, secret_token: str | _Default | None = _Default.SET
    ) -> int:
        """POST ``update`` to the webhook as Telegram does; returns the HTTP status.

        ``secret_token`` overrides the secret sent (``None`` sends no header);
        by default the one given to ``setWebhook`` is sent.
        """
        return await self.post_bytes_to_webhook(
            json.dumps(update).encode(), secret_token=secret_token
        )

    async def post_bytes_to_webhook(
        self,
        body: bytes,
        *,
        content_type: str = "application/json",
        secret_token: str | _Default | None = _Default.SET,
    ) -> int:
        """POST ``body`` as it is to the webhook; returns the HTTP status.

        ``secret_token`` as in :meth:`post_to_webhook`.
        """
        secret = self.webhook_secret if secret_token is _Default.SET else secret_token
        headers = {"Content-Type": content_type}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        async with (
            ClientSession() as session,
            session.post(self.webhook_url, data=body, headers=headers) as response,
        ):
            return response.status

    # -- failures ---------------------------------------------------------------

    def fail_next(
        self, count: int, *, status: int = 502, methods: Collection[str] | None = None
    ) -> None:
        """Answer the next ``count`` calls (to ``methods``, or any) with ``status``."""
        self._failures.append(_Failure(status, count, _methods(methods)))

    def fail_all(self, *, status: int = 502, methods: Collection[str] | None = None) -> None:
        """Answer every call (to ``methods``, or any) with ``status`` until :meth:`recover`."""
        self._failures.append(_Failure(status, None, _methods(methods)))

    def fail_for(
        self, seconds: float, *, status: int = 502, methods: Collection[str] | None = None
    ) -> None:
        """Answer every call (to ``methods``, or any) with ``status`` for ``seconds``."""
        until = asyncio.get_running_loop().time() + seconds
        self._failures.append(_Failure(status, None, _methods(methods), until=until))

    def flood(
        self, retry_after: int, *, count: int = 1, methods: Collection[str] | None = None
    ) -> None:
        """Answer the next ``count`` calls with 429 and ``retry_after`` seconds."""
        self._failures.append(_Failure(429, count, _methods(methods), retry_after))

    def block(self, chat_id: int) -> None:
        """Make sends to ``chat_id`` fail as if the user blocked the bot (403)."""
        self._blocked.add(chat_id)

    def migrate(self, chat_id: int, new_chat_id: int) -> None:
        """Make sends to ``chat_id`` fail as for a group upgraded to ``new_chat_id``."""
        self._migrated[chat_id] = new_chat_id

    def recover(self) -> None:
        """Stop every failure set up so far."""
        self._failures.clear()

    # -- inspection -------------------------------------------------------------

    def calls_to(self, method: str, *, ok: bool | None = True) -> list[Call]:
        """Return the calls to ``method``: the successful ones, or all with ``ok=None``."""
        return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def texts(self, chat_id: int | None = None, thread_id: int | None = None) -> list[str]:
        """Return the texts sent with ``sendMessage``, optionally to one chat and topic."""
        return [
            str(c.params["text"])
            for c in self.calls_to("sendMessage")
            if (chat_id is None or c.chat_id == chat_id)
            and (thread_id is None or c.thread_id == thread_id)
        ]

    async def wait_until(self, condition: Callable[[], bool], within: float = WAIT) -> None:
        """Return once ``condition()`` holds; it is checked after every call and update."""
        async with asyncio.timeout(within):
            while True:
                changed = self._changed  # taken before the check, so no change is missed
                if condition():
                    return
                await changed.wait()

    async def wait_for_calls(self, method: str, count: int = 1, within: float = WAIT) -> list[Call]:
        """Return the successful calls to ``method`` once there are at least ``count``."""
        await self.wait_until(lambda: len(self.calls_to(method)) >= count, within)
        return self.calls_to(method)

    # -- the server -------------------------------------------------------------

    def _touch(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        arrived = asyncio.get_running_loop().time()  # a long poll is answered much later
        method = request.match_info["method"]
        try:
            params, files = await _read_params(request)
        except ConnectionResetError:
            # The bot went away mid-request (a test killed it): nothing arrived.
            return web.Response(status=499)
        status, body = await self._answer(request.match_info["token"], method, params, files)
        self.calls.append(Call(method, params, files, status, arrived))
        self._touch()
        if isinstance(body, str):  # a proxy's error page, not Bot API JSON
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)

    async def _answer(
        self, token: str, method: str, params: Json, files: dict[str, UploadedFile]
    ) -> tuple[int, Json | str]:
        if token != self.token:
            return 401, _error(401, "Unauthorized")
        failure = self._failure_for(method)
        if failure is not None:
            if failure.status == 429:
                return 429, _error(
                    429,
                    f"Too Many Requests: retry after {failure.retry_after}",
                    parameters={"retry_after": failure.retry_after},
                )
            return failure.status, f"<html><body><h1>{failure.status}</h1></body></html>"
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return 404, _error(404, "Not Found")
        result = await handler(params, files)
        if isinstance(result, tuple):  # (status, error body)
            return result
        return 200, {"ok": True, "result": result}

    def _failure_for(self, method: str) -> _Failure | None:
        now = asyncio.get_running_loop().time()
        for failure in self._failures:
            if not failure.applies_to(method, now):
                continue
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
            return failure
        return None

    # -- the methods (named after the Bot API) ----------------------------------

    async def _api_getMe(self, params: Json, files: object) -> Json:
        return self._bot_user() | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _api_getUpdates(self, params: Json, files: object) -> Any:
        if self.webhook_url:
            return 409, _error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset", 0))
        limit = int(params.get("limit", 100))
        timeout = float(params.get("timeout", 0))
        if offset:  # confirms every update before it, as Telegram does
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._updates and not self._closing.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
        return self._updates[:limit]

    def _refusal(self, params: Json) -> tuple[int, Json] | None:
        chat_id = int(params["chat_id"])
        if chat_id in self._blocked:
            return 403, _error(403, "Forbidden: bot was blocked by the user")
        if chat_id in self._migrated:
            return 400, _error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                parameters={"migrate_to_chat_id": self._migrated[chat_id]},
            )
        return None

    async def _api_sendMessage(self, params: Json, files: object) -> Any:
        if refusal := self._refusal(params):
            return refusal
        if not str(params.get("text", "")).strip():
            return 400, _error(400, "Bad Request: message text is empty")
        if _utf16_length(str(params["text"])) > 4096:
            return 400, _error(400, "Bad Request: message is too long")
        return self._sent_message(params, text=params["text"])

    async def _api_editMessageText(self, params: Json, files: object) -> Any:
        if refusal := self._refusal(params):
            return refusal
        key = (int(params["chat_id"]), int(params["message_id"]))
        text = str(params.get("text", ""))
        if key not in self._shown:
            return 400, _error(400, "Bad Request: message to edit not found")
        if not text.strip():
            return 400, _error(400, "Bad Request: message text is empty")
        if _utf16_length(text) > 4096:
            return 400, _error(400, "Bad Request: MESSAGE_TOO_LONG")
        if self._shown[key] == text:
            return 400, _error(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        self._shown[key] = text
        return {
            "message_id": key[1],
            "date": int(time.time()),
            "edit_date": int(time.time()),
            "chat": self._chats.get(key[0]) or {"id": key[0], "type": "private"},
            "from": self._bot_user(),
            "text": text,
        }

    async def _api_sendChatAction(self, params: Json, files: object) -> Any:
        if refusal := self._refusal(params):
            return refusal
        return True

    def shown(self, chat_id: int) -> list[str]:
        """Return the texts of the bot's messages in a chat as they read now, edits applied."""
        return [text for (chat, _), text in sorted(self._shown.items()) if chat == chat_id]

    async def _api_sendDocument(self, params: Json, files: dict[str, UploadedFile]) -> Any:
        if refusal := self._refusal(params):
            return refusal
        upload = files.get("document")
        if upload is None:
            return 400, _error(400, "Bad Request: there is no document in the request")
        document = {
            "file_id": f"doc{len(self.calls)}",
            "file_unique_id": f"udoc{len(self.calls)}",
            "file_name": upload.filename,
            "file_size": len(upload.content),
        }
        return self._sent_message(params, document=document)

    async def _api_setMyCommands(self, params: Json, files: object) -> bool:
        self.commands = list(params.get("commands", []))
        return True

    async def _api_getMyCommands(self, params: Json, files: object) -> list[Json]:
        return self.commands

    async def _api_deleteWebhook(self, params: Json, files: object) -> bool:
        self.webhook_url, self.webhook_secret = "", None
        if params.get("drop_pending_updates") == "true":
            self._updates.clear()
        return True

    async def _api_setWebhook(self, params: Json, files: object) -> bool:
        self.webhook_url = str(params["url"])
        self.webhook_secret = params.get("secret_token")
        return True

    async def _api_getWebhookInfo(self, params: Json, files: object) -> Json:
        return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": 0}

    def _bot_user(self) -> Json:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Sessionbot", "username": self.username}

    def _sent_message(self, params: Json, **content: Any) -> Json:
        chat_id = int(params["chat_id"])
        chat = self._chats.get(chat_id) or {
            "id": chat_id,
            "type": "private" if chat_id > 0 else "supergroup",
        }
        message: Json = {
            "message_id": next(self._sent_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self._bot_user(),
            **content,
        }
        if "text" in content:
            self._shown[chat_id, message["message_id"]] = str(content["text"])
        if "message_thread_id" in params:
            message["message_thread_id"] = int(params["message_thread_id"])
            message["is_topic_message"] = True
        return message


def sticker() -> Json:
    """Return a ``Sticker``, for a message with no text."""
    return {
        "file_id": "sticker1",
        "file_unique_id": "usticker1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }


def photo() -> list[Json]:
    """Return the ``PhotoSize`` list of a photo message."""
    return [{"file_id": "photo1", "file_unique_id": "uphoto1", "width": 90, "height": 90}]


def _error(code: int, description: str, **extra: Any) -> Json:
    return {"ok": False, "error_code": code, "description": description, **extra}


def _methods(methods: Iterable[str] | None) -> frozenset[str] | None:
    return None if methods is None else frozenset(methods)


async def _read_params(request: web.Request) -> tuple[Json, dict[str, UploadedFile]]:
    if request.content_type == "application/json":
        return dict(await request.json()), {}
    params: Json = {}
    files: dict[str, UploadedFile] = {}
    form = await request.post()
    for name, value in form.items():
        if isinstance(value, web.FileField):
            files[name] = UploadedFile(name, value.filename, value.file.read(), value.content_type)
        elif name in _JSON_FIELDS:
            params[name] = json.loads(value)
        else:
            params[name] = value
    return params, files
