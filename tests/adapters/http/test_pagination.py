"""Paging through a history: the seed's loop returns every message exactly once.

1,000 messages are written within a few milliseconds, many of them in one append
at one instant; times still strictly increase along the history, so ``before`` =
the ``createdAt`` of the last message received never skips nor repeats one.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from core import NewMessage, Role
from tests.adapters.http.conftest import Api

COUNT = 1000
PAGE = 50


async def fill(api: Api) -> tuple[str, dict[str, str], list[str]]:
    alice = await api.key("alice")
    created = await api.client.post("/api/sessions", json={"userId": "alice"}, headers=alice)
    session_id = created.json()["sessionId"]
    at = datetime.now(UTC)  # one instant for every append: the clock standing still
    batches = [
        [
            NewMessage(Role.USER if n % 2 else Role.ASSISTANT, "alice", f"m{b}-{n}")
            for n in range(100)
        ]
        for b in range(COUNT // 100)
    ]
    stored = await asyncio.gather(
        *(
            api.store.append_messages(
                session_id, batch, [f"{b:02d}{n:03d}x{session_id}" for n in range(100)], at
            )
            for b, batch in enumerate(batches)
        )
    )
    return session_id, alice, [m.id for chunk in stored for m in chunk]


async def test_the_seeds_before_loop_returns_each_message_once(api: Api) -> None:
    session_id, alice, ids = await fill(api)
    received: list[dict[str, Any]] = []
    before: str | None = None
    pages = 0
    while True:  # the seed's loop, in Python
        params: dict[str, Any] = {"limit": PAGE}
        if before is not None:
            params["before"] = before
        response = await api.client.get(
            f"/api/sessions/{session_id}/messages", params=params, headers=alice
        )
        assert response.status_code == 200, response.text
        page = response.json()
        received.extend(page["messages"])
        pages += 1
        if not page["hasMore"]:
            break
        before = page["messages"][-1]["createdAt"]
    assert pages == COUNT // PAGE  # the exact last page said hasMore false
    assert len(page["messages"]) == PAGE
    assert [m["id"] for m in received] == ids[::-1]
    times = [m["createdAt"] for m in received]
    assert len(set(times)) == COUNT and times == sorted(times, reverse=True)


async def test_the_cursor_loop_returns_each_message_once(api: Api) -> None:
    session_id, alice, ids = await fill(api)
    received: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 64}
        if cursor is not None:
            params["cursor"] = cursor
        page = (
            await api.client.get(
                f"/api/sessions/{session_id}/messages", params=params, headers=alice
            )
        ).json()
        received += [m["id"] for m in page["messages"]]
        cursor = page["nextCursor"]
        assert (cursor is None) == (not page["hasMore"])
        if cursor is None:
            break
    assert received == ids[::-1]


async def test_after_pages_forward_and_before_with_after_bounds_a_window(api: Api) -> None:
    session_id, alice, ids = await fill(api)
    url = f"/api/sessions/{session_id}/messages"
    everything = (await api.client.get(url, params={"limit": 200}, headers=alice)).json()
    newest = everything["messages"]
    pivot = newest[10]["createdAt"]
    forward = (await api.client.get(url, params={"after": pivot, "limit": 5}, headers=alice)).json()
    assert [m["id"] for m in forward["messages"]] == [m["id"] for m in newest[5:10]]
    assert forward["hasMore"] is True
    following = (
        await api.client.get(
            url, params={"cursor": forward["nextCursor"], "limit": 5}, headers=alice
        )
    ).json()
    assert [m["id"] for m in following["messages"]] == [m["id"] for m in newest[0:5]]
    assert following["hasMore"] is False and following["nextCursor"] is None
    window = (
        await api.client.get(
            url,
            params={"after": newest[20]["createdAt"], "before": pivot, "limit": 50},
            headers=alice,
        )
    ).json()
    assert [m["id"] for m in window["messages"]] == [m["id"] for m in newest[11:20]]
    assert window["hasMore"] is False
    exact = await api.client.get(url, params={"limit": COUNT}, headers=alice)
    assert exact.status_code == 422  # over the page limit: one clear error
    second = await api.store.get_message(ids[1])
    assert second is not None
    stamp = second.created_at.isoformat().replace("+00:00", "Z")
    last = (await api.client.get(url, params={"before": stamp}, headers=alice)).json()
    assert [m["id"] for m in last["messages"]] == [ids[0]] and last["hasMore"] is False
