"""``Idempotency-Key``: a request retried with the same key is handled once, on any worker.

A client that got no answer (a timeout, a dropped connection, a worker killed)
sends the request again with the same ``Idempotency-Key`` header. The first request
claims the key in the store's deliveries, which every worker shares; once handled,
its answer is kept there (sealed like its session), and every retry, on whichever
worker it lands, gets that answer back with ``Idempotent-Replayed: true`` and
changes nothing. A retry that arrives while the first is still being handled waits
for its answer (up to :data:`WAIT_SECONDS`, then 409 ``in_progress`` with
``Retry-After``; 503 ``unavailable`` at once if this server begins to stop
meanwhile). A request whose worker died while handling it (its heartbeat stopped)
is taken over by the retry: it runs as a redelivery, so what the dead worker stored
of it (found by the message id derived from the key) is not stored again. A key is
the caller's own (scoped by API key and route) and remembered for a day; reusing it
for a different request is refused (422 ``idempotency_key_reused``). An error
answer is not kept: nothing was stored, so a retry runs anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from adapters.http.access import Caller, Services
from adapters.http.errors import ApiError
from core import DeliveryAnswer

logger = logging.getLogger(__name__)

SOURCE = "api"
"""The deliveries' source of API requests."""

WAIT_SECONDS = 30.0
"""How long a retry waits for the answer of the same request still being handled."""

REPLAYED = "Idempotent-Replayed"
"""The header saying an answer is the one kept for an earlier request."""

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID): a retry with the same key gets the "
        "first request's answer and changes nothing.",
    ),
]
"""The header, checked: 1 to 255 printable ASCII characters without spaces."""


@dataclass(frozen=True)
class Attempt:
    """How a request is being run.

    Attributes:
        message_id: the id its stored message carries: the same for every retry
            with one key (``None`` without a key: the route picks one).
        redelivered: it was taken over from a worker that died running it.
    """

    message_id: str | None = None
    redelivered: bool = False


@dataclass(frozen=True)
class Answered:
    """What an idempotent route answered.

    Attributes:
        status: the HTTP status.
        body: the answer's model.
        session_id: the session it is about (its key seals the kept answer).
    """

    status: int
    body: BaseModel
    session_id: str


async def once(
    services: Services,
    caller: Caller,
    key: str | None,
    request: str,
    run: Callable[[Attempt], Awaitable[Answered]],
) -> JSONResponse:
    """Run ``run`` once per key; a retry gets the kept answer.

    Args:
        services: the API's services (the store's deliveries).
        caller: the key the request came with; keys are each caller's own.
        key: the ``Idempotency-Key`` header, or ``None`` (``run`` simply runs).
        request: the route and its parameters, as text: a key reused for another
            request is refused.
        run: handles the request.
    """
    if key is None:
        return _response(await run(Attempt()))
    delivery_id = _digest(caller.key.id, request.partition("\n")[0], key)
    marker = f"api-{delivery_id[:32]}"
    fingerprint = _digest(request)
    deadline = time.monotonic() + WAIT_SECONDS
    pause = 0.02
    deliveries = services.manager.deliveries
    while True:
        if await deliveries.first_time(SOURCE, delivery_id):
            return await _run_and_keep(services, delivery_id, fingerprint, run, Attempt(marker))
        state = await services.manager.store.delivery_finished(SOURCE, delivery_id)
        if state:
            return _replay(await deliveries.answer(SOURCE, delivery_id), fingerprint)
        if state is None:
            continue  # released by a first request that failed: this one runs
        if await deliveries.take_over(SOURCE, delivery_id):
            logger.warning("api: took over a request whose worker died")
            attempt = Attempt(marker, redelivered=True)
            return await _run_and_keep(services, delivery_id, fingerprint, run, attempt)
        if time.monotonic() >= deadline:
            raise ApiError(
                409,
                "a request with this Idempotency-Key is still being handled; try again shortly",
                code="in_progress",
                headers={"Retry-After": "1"},
            )
        await _pause_unless_stopping(services.stopping, pause)
        pause = min(pause * 2, 0.5)


async def _pause_unless_stopping(stopping: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``; raise 503 if the server begins to stop before or meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
    if stopping.is_set():
        raise ApiError(
            503,
            "this server is stopping; send the request again",
            code="unavailable",
            headers={"Retry-After": "1"},
        )


async def _run_and_keep(
    services: Services,
    delivery_id: str,
    fingerprint: str,
    run: Callable[[Attempt], Awaitable[Answered]],
    attempt: Attempt,
) -> JSONResponse:
    deliveries = services.manager.deliveries
    try:
        answered = await run(attempt)
    except Exception:
        await deliveries.release(SOURCE, delivery_id)
        raise
    body = answered.body.model_dump(mode="json", by_alias=True)
    kept = json.dumps({"request": fingerprint, "status": answered.status, "body": body})
    await deliveries.keep_answer(SOURCE, delivery_id, DeliveryAnswer(answered.session_id, kept))
    return JSONResponse(body, status_code=answered.status)


def _replay(kept: DeliveryAnswer | None, fingerprint: str) -> JSONResponse:
    if kept is None:
        raise ApiError(
            409,
            "this Idempotency-Key was used by a request whose answer is no longer kept",
            code="idempotency_key_used",
        )
    answer: dict[str, Any] = json.loads(kept.text)
    if answer["request"] != fingerprint:
        raise ApiError(
            422,
            "this Idempotency-Key was used for a different request",
            code="idempotency_key_reused",
        )
    return JSONResponse(answer["body"], status_code=answer["status"], headers={REPLAYED: "true"})


def _response(answered: Answered) -> JSONResponse:
    body = answered.body.model_dump(mode="json", by_alias=True)
    return JSONResponse(body, status_code=answered.status)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()
