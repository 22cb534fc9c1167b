"""``Idempotency-Key`` through real uvicorn: a retry, on this server or another one
sharing the store, gets the first answer and stores nothing again."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.http import idempotency
from core import Answer, EchoResponder, Message, Session
from core.crypto.envelope import decode_master_key, generate_master_key
from core.crypto.opening import open_store
from core.models import Worker
from core.storage.protocols import Store
from tests.adapters.http.conftest import BACKENDS, Api, running_api
from tests.core.conftest import opened


class HeldResponder:
    """Echoes, but holds each answer until the test lets it go."""

    name = "held"

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.go = asyncio.Event()
        self.calls = 0

    async def respond(self, session: Session, context: Sequence[Message]) -> Answer:
        self.calls += 1
        self.asked.set()
        await self.go.wait()
        return await EchoResponder().respond(session, context)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with opened(request.param, tmp_path) as opened_store:
        yield opened_store


async def session_of(api: Api, headers: dict[str, str]) -> str:
    created = await api.client.post("/api/sessions", json={"userId": "alice"}, headers=headers)
    assert created.status_code in (200, 201), created.text
    session_id: str = created.json()["sessionId"]
    return session_id


def post(api: Api, session_id: str, headers: dict[str, str], content: str, key: str) -> Any:
    return api.client.post(
        f"/api/sessions/{session_id}/messages",
        json={"content": content},
        headers={**headers, "Idempotency-Key": key},
    )


async def contents(api: Api, session_id: str, headers: dict[str, str]) -> list[str]:
    page = await api.client.get(f"/api/sessions/{session_id}/messages", headers=headers)
    return [m["content"] for m in reversed(page.json()["messages"])]


async def test_a_retry_on_another_server_gets_the_first_answer(store: Store) -> None:
    async with running_api(store) as one, running_api(store) as two:
        alice = await one.key("alice")
        session_id = await session_of(one, alice)
        first = await post(one, session_id, alice, "hello", "k-1")
        assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
        again = await post(two, session_id, alice, "hello", "k-1")
        assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        other = await post(two, session_id, alice, "hello", "k-2")  # a new key: a new message
        assert other.json()["message"]["id"] != first.json()["message"]["id"]
        assert await contents(one, session_id, alice) == ["hello", "echo: hello"] * 2


async def test_a_retry_while_the_first_is_in_flight_waits_for_its_answer(store: Store) -> None:
    held = HeldResponder()
    async with running_api(store, responder=held) as one, running_api(store) as two:
        alice = await one.key("alice")
        session_id = await session_of(one, alice)
        first = asyncio.create_task(post(one, session_id, alice, "slow", "k-1"))
        await asyncio.wait_for(held.asked.wait(), 10)
        retry = asyncio.create_task(post(two, session_id, alice, "slow", "k-1"))
        await asyncio.sleep(0.3)
        assert not retry.done()  # waiting for the first, not handling it again
        held.go.set()
        answers = [await first, await retry]
        assert [a.status_code for a in answers] == [200, 200]
        assert answers[0].json() == answers[1].json()
        assert answers[1].headers["Idempotent-Replayed"] == "true"
        assert held.calls == 1
        assert await contents(one, session_id, alice) == ["slow", "echo: slow"]


async def test_a_retry_waiting_too_long_is_told_to_come_back(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.3)
    held = HeldResponder()
    async with running_api(store, responder=held) as one, running_api(store) as two:
        alice = await one.key("alice")
        session_id = await session_of(one, alice)
        first = asyncio.create_task(post(one, session_id, alice, "slow", "k-1"))
        await asyncio.wait_for(held.asked.wait(), 10)
        busy = await post(two, session_id, alice, "slow", "k-1")
        assert busy.status_code == 409 and busy.headers["Retry-After"] == "1"
        assert busy.json()["error"]["code"] == "in_progress"
        held.go.set()
        assert (await first).status_code == 200
        later = await post(two, session_id, alice, "slow", "k-1")
        assert later.json() == (await first).json()
        assert await contents(one, session_id, alice) == ["slow", "echo: slow"]


async def test_a_retry_waiting_when_its_server_stops_is_told_to_come_back(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    held = HeldResponder()
    async with running_api(store, responder=held) as one:
        async with running_api(store) as two:
            alice = await one.key("alice")
            session_id = await session_of(one, alice)
            first = asyncio.create_task(post(one, session_id, alice, "slow", "k-1"))
            await asyncio.wait_for(held.asked.wait(), 10)
            retry = asyncio.create_task(post(two, session_id, alice, "slow", "k-1"))
            await asyncio.sleep(0.3)
            assert not retry.done()
            stopping = asyncio.get_running_loop().time()
            await two.adapter.stop()  # the retry's server stops while it waits
            busy = await retry
            # Answered at once, not cut off by the shutdown's 5 s deadline.
            assert asyncio.get_running_loop().time() - stopping < 2
            assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
            assert busy.json()["error"]["code"] == "unavailable"
        held.go.set()
        assert (await first).status_code == 200
        later = await post(one, session_id, alice, "slow", "k-1")
        assert later.json() == (await first).json()
        assert await contents(one, session_id, alice) == ["slow", "echo: slow"]
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)


async def test_a_request_whose_worker_died_is_taken_over_by_its_retry(store: Store) -> None:
    held = HeldResponder()
    async with running_api(store) as two:
        async with running_api(store, responder=held) as one:
            one.manager.deliveries.serve_as("dies", timedelta(seconds=30))
            two.manager.deliveries.serve_as("lives", timedelta(seconds=30))
            now = datetime.now(UTC)
            await store.beat(Worker("lives", "h", 1, now, now, ()), forget_before=now)
            alice = await one.key("alice")
            session_id = await session_of(one, alice)
            first = asyncio.create_task(post(one, session_id, alice, "lost?", "k-1"))
            await asyncio.wait_for(held.asked.wait(), 10)  # stored, not answered yet
        # Its server is gone mid-request (its worker never beat: it counts as dead).
        with contextlib.suppress(httpx.HTTPError):
            await first
        retry = await post(two, session_id, alice, "lost?", "k-1")
        assert retry.status_code == 200, retry.text
        assert retry.json()["message"]["content"] == "lost?"
        assert retry.json()["reply"]["content"] == "echo: lost?"
        assert await contents(two, session_id, alice) == ["lost?", "echo: lost?"]
        again = await post(two, session_id, alice, "lost?", "k-1")
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == retry.json()


async def test_a_key_reused_for_another_request_is_refused(api: Api) -> None:
    alice = await api.key("alice")
    session_id = await session_of(api, alice)
    assert (await post(api, session_id, alice, "one", "k-1")).status_code == 200
    reused = await post(api, session_id, alice, "two", "k-1")
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert await contents(api, session_id, alice) == ["one", "echo: one"]


async def test_keys_are_each_callers_own(api: Api) -> None:
    alice, admin = await api.key("alice"), await api.key("root", admin=True)
    session_id = await session_of(api, alice)
    first = await post(api, session_id, alice, "hi", "same")
    by_admin = await post(api, session_id, admin, "hi", "same")
    assert "Idempotent-Replayed" not in by_admin.headers
    assert by_admin.json()["message"]["id"] != first.json()["message"]["id"]


async def test_a_session_created_once_answers_201_to_every_retry(api: Api) -> None:
    alice = await api.key("alice")
    body = {"userId": "alice", "channelId": "web", "metadata": {"page": "home"}}
    keyed = {**alice, "Idempotency-Key": "create-1"}
    first = await api.client.post("/api/sessions", json=body, headers=keyed)
    again = await api.client.post("/api/sessions", json=body, headers=keyed)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    unkeyed = await api.client.post("/api/sessions", json=body, headers=alice)
    assert unkeyed.status_code == 200 and unkeyed.json()["sessionId"] == first.json()["sessionId"]


async def test_an_error_answer_is_not_kept(api: Api) -> None:
    alice, bob = await api.key("alice"), await api.key("bob")
    session_id = await session_of(api, alice)
    keyed = {**bob, "Idempotency-Key": "k-1"}
    url = f"/api/sessions/{session_id}/messages"
    refused = await api.client.post(url, json={"content": "hi"}, headers=keyed)
    assert refused.status_code == 404
    (bob_key,) = [k for k in await api.store.list_api_keys() if k.user_id == "bob"]
    claim = idempotency._digest(bob_key.id, "POST messages", "k-1")
    assert await api.store.delivery_finished(idempotency.SOURCE, claim) is None  # released
    assert await contents(api, session_id, alice) == []


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "é".encode()])
async def test_a_bad_key_gets_one_line_and_stores_nothing(api: Api, key: str | bytes) -> None:
    alice = await api.key("alice")
    session_id = await session_of(api, alice)
    response = await api.client.post(
        f"/api/sessions/{session_id}/messages",
        json={"content": "hi"},
        headers={**alice, "Idempotency-Key": key},
    )
    assert response.status_code == 422, response.text
    assert "Idempotency-Key" in response.json()["error"]["message"]
    assert await contents(api, session_id, alice) == []


async def test_a_kept_answer_is_sealed_and_goes_with_its_session(tmp_path: Path) -> None:
    path = tmp_path / "sealed.db"
    key = decode_master_key(generate_master_key(), source="test")
    store = await open_store(f"sqlite:///{path}", master_key=key)
    try:
        async with running_api(store) as api:
            alice = await api.key("alice")
            session_id = await session_of(api, alice)
            first = await post(api, session_id, alice, "buy the cake", "k-1")
            again = await post(api, session_id, alice, "buy the cake", "k-1")
            assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
            with sqlite3.connect(path) as db:
                ((answer,),) = db.execute(
                    "SELECT answer FROM deliveries WHERE source = 'api'"
                ).fetchall()
            assert "cake" not in answer
            deleted = await api.client.delete(f"/api/sessions/{session_id}", headers=alice)
            assert deleted.status_code == 204
            gone = await post(api, session_id, alice, "buy the cake", "k-1")
            assert gone.status_code == 409
            assert gone.json()["error"]["code"] == "idempotency_key_used"
    finally:
        await store.close()
