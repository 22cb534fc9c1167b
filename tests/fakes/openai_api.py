"""A fake OpenAI-compatible chat-completions server on 127.0.0.1.

It speaks ``POST /v1/chat/completions`` as OpenAI does: a ``chat.completion`` object,
or with ``"stream": true`` server-sent events of ``chat.completion.chunk`` objects
ending in ``data: [DONE]``, with a usage chunk when ``stream_options.include_usage``
asks for it. Every request body is recorded.

Each answer is ``re: <the last user message>`` unless told otherwise. It can be
told to answer slowly, to refuse with 429 and ``Retry-After``, with 500, to report
no usage, or not to answer at all (a hung endpoint) for messages holding a word.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

API_KEY = "sk-test-fake-key"
WAIT = 20.0
"""Seconds a wait gives up after: generous, since a loaded machine can be slow."""
Json = dict[str, Any]


@dataclass(frozen=True)
class Refusal:
    """An error answer: an HTTP status, with ``Retry-After`` seconds if given."""

    status: int
    retry_after: float | None = None


class FakeOpenAI:
    """The fake server; use ``async with FakeOpenAI() as api``.

    Attributes:
        requests: every request body received, in order (refused ones too).
        usage: whether answers report token usage.
        usage_scale: if set, the prompt tokens reported are this many times
            sessionbot's estimate (four characters a token) of the messages;
            otherwise a word counts one token and a message four more.
        chunk_delay: seconds between streamed chunks.
        delay: seconds before any answer starts.
        hang_on: a request whose last user message holds this is never answered.
        answer_text: the answer to give instead of ``re: …``, if set.
        summary_marker: a request with a system message holding this is asked for a
            summary: the answer is ``S[<previous summary>; <each message>]``, each
            message shortened to its first word (``re:`` before it for an answer)
            and joined with ``,``, so a test can see what was folded.
        summary_requests: the bodies of those requests.
        cut_stream_after: a stream is cut (the connection closed) after this many
            events.
    """

    def __init__(self, *, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.requests: list[Json] = []
        self.usage = True
        self.usage_scale: float | None = None
        self.chunk_delay = 0.0
        self.delay = 0.0
        self.hang_on: str | None = None
        self.answer_text: str | None = None
        self.summary_marker: str | None = None
        self.cut_stream_after: int | None = None
        self.summary_requests: list[Json] = []
        self._refusals: deque[Refusal] = deque()
        self._ids = itertools.count(1)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0

    async def __aenter__(self) -> FakeOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The base URL, as ``[responder] base_url``."""
        return f"http://127.0.0.1:{self._port}/v1"

    async def start(self) -> None:
        """Listen on an ephemeral port of 127.0.0.1."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Let hung requests go, then stop."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def refuse_next(self, status: int, *, count: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``count`` requests with ``status`` (and ``Retry-After``)."""
        self._refusals.extend([Refusal(status, retry_after)] * count)

    async def wait_for_requests(self, count: int) -> None:
        """Wait until ``count`` requests have arrived (at most :data:`WAIT` seconds)."""
        deadline = time.monotonic() + WAIT
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.requests)} requests, not {count}")
            await asyncio.sleep(0.01)

    # -- the endpoint -------------------------------------------------------------

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        body: Json = await request.json()
        self.requests.append(body)
        if self._refusals:
            refusal = self._refusals.popleft()
            headers = (
                {} if refusal.retry_after is None else {"Retry-After": str(refusal.retry_after)}
            )
            return _error(refusal.status, "refused by the test", "test_refusal", headers)
        last = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        if self.hang_on is not None and self.hang_on in last:
            await self._closing.wait()
            return _error(503, "the fake is closing", "closing")
        if self.delay:
            await asyncio.sleep(self.delay)
        text = self.answer_text if self.answer_text is not None else f"re: {last}"
        if self._is_summary(body):
            self.summary_requests.append(body)
            text = _summary(body)
        usage = _usage(body, text, self.usage_scale) if self.usage else None
        if body.get("stream"):
            return await self._stream(request, body, text, usage)
        return web.json_response(self._completion(body, text, usage))

    def _is_summary(self, body: Json) -> bool:
        marker = self.summary_marker
        return marker is not None and any(
            m["role"] == "system" and marker in m["content"] for m in body["messages"]
        )

    def _completion(self, body: Json, text: str, usage: Json | None) -> Json:
        answer: Json = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
        }
        if usage is not None:
            answer["usage"] = usage
        return answer

    async def _stream(
        self, request: web.Request, body: Json, text: str, usage: Json | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        ident, created = f"chatcmpl-{next(self._ids)}", int(time.time())

        def chunk(delta: Json, finish: str | None) -> Json:
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        events = [chunk({"role": "assistant", "content": ""}, None)]
        events += [chunk({"content": piece}, None) for piece in _pieces(text)]
        events.append(chunk({}, "stop"))
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        if usage is not None and include_usage:
            events.append({**chunk({}, None), "choices": [], "usage": usage})
        for number, event in enumerate(events):
            if number == self.cut_stream_after and request.transport is not None:
                request.transport.close()
                return response
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _summary(body: Json) -> str:
    previous = ""
    texts: list[str] = []
    for message in body["messages"][:-1]:  # the last asks for the summary
        if message["role"] != "system":
            content = message["content"]
            answer = content.startswith("re: ")
            first = content.removeprefix("re: ").split()[0]
            texts.append(f"re:{first}" if answer else first)
        elif message["content"].startswith("Summary of the conversation so far:\n"):
            previous = message["content"].split("\n", 1)[1]
    return f"S[{previous}; {','.join(texts)}]"


def _pieces(text: str) -> list[str]:
    """Split ``text`` into word-sized pieces, spaces kept, as a model streams tokens."""
    pieces: list[str] = []
    for word in text.split(" "):
        pieces.append(word if not pieces else " " + word)
    return pieces


def _usage(body: Json, text: str, scale: float | None) -> Json:
    if scale is None:
        prompt = sum(len(m["content"].split()) + 4 for m in body["messages"])
    else:
        prompt = round(scale * sum((len(m["content"]) + 3) // 4 for m in body["messages"]))
    completion = len(text.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _error(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> web.Response:
    error = {"error": {"message": message, "type": "test_error", "param": None, "code": code}}
    return web.json_response(error, status=status, headers=headers)
