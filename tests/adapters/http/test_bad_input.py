"""Bad input: one clear JSON error each, with its status, and nothing stored half."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.adapters.http.conftest import Api, running_api
from tests.core.conftest import opened


async def alice_session(api: Api) -> tuple[str, dict[str, str]]:
    alice = await api.key("alice")
    created = await api.client.post("/api/sessions", json={"userId": "alice"}, headers=alice)
    return created.json()["sessionId"], alice


def error_of(response: object) -> tuple[int, str, str]:
    status = response.status_code  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert "Traceback" not in body["error"]["message"]
    return status, body["error"]["code"], body["error"]["message"]


async def test_malformed_json_wrong_types_and_unknown_fields(api: Api) -> None:
    session_id, alice = await alice_session(api)
    url = f"/api/sessions/{session_id}/messages"
    headers = {**alice, "Content-Type": "application/json"}
    assert error_of(await api.client.post(url, content=b'{"content": "hi"', headers=headers))[
        :2
    ] == (
        400,
        "malformed_json",
    )
    assert error_of(await api.client.post(url, content=b"\xff\xfe", headers=headers))[0] in (
        400,
        422,
    )
    cases = [
        ({"content": 5}, "content"),
        ({"content": ["hi"]}, "content"),
        ({}, "content"),
        ({"content": ""}, "content"),
        ({"content": "hi", "metadata": "x"}, "metadata"),
        ({"content": "hi", "extra": 1}, "extra"),
    ]
    for body, field in cases:
        status, code, message = error_of(await api.client.post(url, json=body, headers=alice))
        assert (status, code) == (422, "invalid") and message.startswith(field), message
    bad_user = await api.client.post("/api/sessions", json={"userId": "a:b"}, headers=alice)
    assert error_of(bad_user)[:2] == (422, "invalid")
    assert error_of(await api.client.post("/api/sessions", json=[1], headers=alice))[0] == 422
    assert (await api.manager.sessions.get(session_id)).message_count == 0


async def test_nul_and_lone_surrogates_are_refused_everywhere(api: Api) -> None:
    session_id, alice = await alice_session(api)
    headers = {**alice, "Content-Type": "application/json"}
    for raw in (
        rb'{"content": "a\u0000b"}',
        rb'{"content": "a\ud800b"}',
        rb'{"content": "\udc00"}',
        rb'{"content": "ok", "metadata": {"k\u0000": 1}}',
        rb'{"content": "ok", "metadata": {"k": ["\ud83d"]}}',
    ):
        response = await api.client.post(
            f"/api/sessions/{session_id}/messages", content=raw, headers=headers
        )
        status, code, message = error_of(response)
        assert (status, code) == (422, "invalid")
        assert "U+0000" in message or "surrogate" in message
    patched = await api.client.patch(
        f"/api/sessions/{session_id}", content=rb'{"title": "x\ud800"}', headers=headers
    )
    assert error_of(patched)[0] == 422
    saved = await api.client.post(
        f"/api/sessions/{session_id}/checkpoints", content=rb'{"name": "\u0000"}', headers=headers
    )
    assert error_of(saved)[0] == 422
    # A well-formed pair is a character like any other.
    pair = await api.client.post(
        f"/api/sessions/{session_id}/messages",
        content=rb'{"content": "\ud83d\ude00"}',
        headers=headers,
    )
    assert pair.status_code == 200 and pair.json()["message"]["content"] == "\U0001f600"
    session = await api.manager.sessions.get(session_id)
    assert (session.message_count, session.title) == (2, None)
    assert await api.manager.checkpoints.list(session) == []


async def test_unknown_ids_routes_and_methods(api: Api) -> None:
    session_id, alice = await alice_session(api)
    assert error_of(await api.client.get("/api/sessions/nosuchid", headers=alice))[:2] == (
        404,
        "not_found",
    )
    missing = await api.client.post(
        f"/api/sessions/{session_id}/checkpoints/nosuch/restore", headers=alice
    )
    assert error_of(missing)[:2] == (404, "not_found")
    assert error_of(await api.client.get("/api/nothing", headers=alice))[:2] == (404, "not_found")
    assert error_of(await api.client.put(f"/api/sessions/{session_id}", headers=alice))[0] == 405
    # An id holding U+0000 (which PostgreSQL text cannot hold) is an unknown id too.
    for path in ("/api/sessions/a%00b", "/api/sessions/a%00b/messages"):
        assert error_of(await api.client.get(path, headers=alice))[:2] == (404, "not_found")
    restore = f"/api/sessions/{session_id}/checkpoints/a%00b/restore"
    assert error_of(await api.client.post(restore, headers=alice))[:2] == (404, "not_found")
    listed = await api.client.get("/api/sessions?platform=%00&channelId=c%00", headers=alice)
    assert listed.status_code == 200 and listed.json()["sessions"] == []


async def test_invalid_cursors_and_bounds(api: Api) -> None:
    session_id, alice = await alice_session(api)
    other_id = (
        await api.client.post(
            "/api/sessions", json={"userId": "alice", "channelId": "b"}, headers=alice
        )
    ).json()["sessionId"]
    for n in range(3):
        await api.client.post(
            f"/api/sessions/{other_id}/messages", json={"content": f"m{n}"}, headers=alice
        )
    foreign = (
        await api.client.get(f"/api/sessions/{other_id}/messages?limit=1", headers=alice)
    ).json()["nextCursor"]
    url = f"/api/sessions/{session_id}/messages"
    for cursor in ("garbage!", "e30", "eyJ2IjoyfQ", foreign):
        response = await api.client.get(url, params={"cursor": cursor}, headers=alice)
        assert error_of(response)[:2] == (400, "invalid_cursor"), cursor
    both = await api.client.get(
        url, params={"cursor": foreign, "before": "2026-01-01T00:00:00Z"}, headers=alice
    )
    assert error_of(both)[0] == 400
    for params in ({"limit": 0}, {"limit": "many"}, {"before": "yesterday"}, {"after": "1e999"}):
        assert error_of(await api.client.get(url, params=params, headers=alice))[0] == 422
    listing = await api.client.get("/api/sessions", params={"cursor": "nope"}, headers=alice)
    assert error_of(listing)[:2] == (400, "invalid_cursor")


async def test_archived_sessions_take_no_messages(api: Api) -> None:
    session_id, alice = await alice_session(api)
    url = f"/api/sessions/{session_id}/messages"
    await api.client.post(url, json={"content": "something"}, headers=alice)  # not empty
    new = await api.client.post(url, json={"content": "/new"}, headers=alice)
    assert new.status_code == 200
    refused = await api.client.post(
        f"/api/sessions/{session_id}/messages", json={"content": "late"}, headers=alice
    )
    assert error_of(refused)[:2] == (409, "conflict")


async def exchange(api: Api, request: bytes) -> str:
    """Send raw bytes and return what the server answers before it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", api.adapter.port)
    try:
        writer.write(request)
        await writer.drain()
        return (await asyncio.wait_for(reader.read(65536), 10)).decode()
    finally:
        writer.close()


@pytest.fixture
async def small_api(tmp_path: Path) -> AsyncIterator[Api]:
    async with opened("sqlite", tmp_path) as store, running_api(store, max_body_bytes=2048) as api:
        yield api


async def test_bodies_over_the_limit_get_413_unread(small_api: Api) -> None:
    api = small_api
    session_id, alice = await alice_session(api)
    url = f"/api/sessions/{session_id}/messages"
    declared = await api.client.post(url, json={"content": "x" * 5000}, headers=alice)
    assert error_of(declared)[:2] == (413, "too_large")
    assert declared.headers["connection"] == "close"

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"content": "'
        for _ in range(3):
            yield b"y" * 1000
        yield b'"}'

    chunked = await api.client.post(
        url, content=chunks(), headers={**alice, "Content-Type": "application/json"}
    )
    assert error_of(chunked)[:2] == (413, "too_large")
    assert (await api.manager.sessions.get(session_id)).message_count == 0
    fine = await api.client.post(url, json={"content": "x" * 1000}, headers=alice)
    assert fine.status_code == 200


async def test_a_huge_declared_body_is_refused_before_it_is_sent(small_api: Api) -> None:
    """The answer comes right after the headers: the server reads none of the body."""
    api = small_api
    session_id, alice = await alice_session(api)
    request = (
        f"POST /api/sessions/{session_id}/messages HTTP/1.1\r\nHost: t\r\n"
        f"Authorization: {alice['Authorization']}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000000\r\n\r\n"
    )
    answer = await exchange(api, request.encode())
    assert answer.startswith("HTTP/1.1 413")
    assert '"too_large"' in answer


async def test_a_chunked_body_is_refused_once_it_passes_the_limit(small_api: Api) -> None:
    """Only what came so far is read: the answer does not wait for the rest."""
    api = small_api
    session_id, alice = await alice_session(api)
    head = (
        f"POST /api/sessions/{session_id}/messages HTTP/1.1\r\nHost: t\r\n"
        f"Authorization: {alice['Authorization']}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b'{"content": "' + b"z" * 3000
    # The body never ends; the answer comes anyway.
    answer = await exchange(api, head.encode() + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    assert answer.startswith("HTTP/1.1 413")
    assert (await api.manager.sessions.get(session_id)).message_count == 0
