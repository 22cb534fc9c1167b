"""Every route through real uvicorn and httpx, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from core.storage.sql.schema import SCHEMA_REVISION
from core.storage.sql.store import SqlStore
from tests.adapters.http.conftest import Api


def set_revision(conn: sa.Connection, revision: str) -> None:
    conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


async def create(api: Api, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await api.client.post(
        "/api/sessions", json={"userId": "alice", **body}, headers=headers
    )
    assert response.status_code in (200, 201), response.text
    data: dict[str, Any] = response.json()
    return data


async def send(api: Api, headers: dict[str, str], session_id: str, content: str) -> httpx.Response:
    return await api.client.post(
        f"/api/sessions/{session_id}/messages", json={"content": content}, headers=headers
    )


async def test_a_web_chat_creates_a_session_talks_and_reads_it_back(api: Api) -> None:
    alice = await api.key("alice")
    created = await create(api, alice, channelId="web", metadata={"page": "home"})
    session_id = created["sessionId"]
    assert created["userId"] == "alice" and created["channelId"] == "web"
    assert created["metadata"] == {"page": "home"} and created["messageCount"] == 0
    again = await api.client.post(
        "/api/sessions", json={"userId": "alice", "channelId": "web"}, headers=alice
    )
    assert again.status_code == 200  # the scope's session, not a new one
    assert again.json()["sessionId"] == session_id
    other = await api.client.post("/api/sessions", json={"userId": "alice"}, headers=alice)
    assert other.status_code == 201 and other.json()["sessionId"] != session_id

    sent = await api.client.post(
        f"/api/sessions/{session_id}/messages",
        json={"content": "hello there", "metadata": {"clientId": "c-1"}},
        headers=alice,
    )
    assert sent.status_code == 200, sent.text
    posted = sent.json()
    assert posted["sessionId"] == session_id
    message, reply = posted["message"], posted["reply"]
    assert (message["content"], message["authorId"], message["isAgent"]) == (
        "hello there",
        "alice",
        False,
    )
    assert message["metadata"]["clientId"] == "c-1"
    assert reply["isAgent"] is True and "hello there" in reply["content"]
    assert reply["createdAt"] > message["createdAt"]
    assert posted["replies"] == [reply["content"]]

    detail = (await api.client.get(f"/api/sessions/{session_id}", headers=alice)).json()
    assert detail["messageCount"] == 2
    assert (
        detail["usage"]["totalTokens"] == detail["usage"]["tokensIn"] + detail["usage"]["tokensOut"]
    )
    assert detail["checkpoints"] == [] and set(detail["nextResets"]) == {"daily", "idle"}
    page = (await api.client.get(f"/api/sessions/{session_id}/messages", headers=alice)).json()
    assert [m["id"] for m in page["messages"]] == [reply["id"], message["id"]]
    assert page["hasMore"] is False and page["nextCursor"] is None


async def test_a_command_is_run_and_stores_nothing(api: Api) -> None:
    alice = await api.key("alice")
    session_id = (await create(api, alice))["sessionId"]
    response = await send(api, alice, session_id, "/help")
    assert response.status_code == 200
    posted = response.json()
    assert posted["message"] is None and posted["reply"] is None
    assert "/checkpoint" in posted["replies"][0]
    detail = (await api.client.get(f"/api/sessions/{session_id}", headers=alice)).json()
    assert detail["messageCount"] == 0


async def test_sessions_are_listed_filtered_changed_and_deleted(api: Api) -> None:
    admin = await api.key("ops", admin=True)
    alice = await api.key("alice")
    bob = await api.key("bob")
    ids = [(await create(api, alice, channelId=f"c{n}"))["sessionId"] for n in range(3)]
    bob_session = (await create(api, bob, userId="bob"))["sessionId"]

    mine = (await api.client.get("/api/sessions", headers=alice)).json()
    assert [s["sessionId"] for s in mine["sessions"]] == ids[::-1] and mine["total"] == 3
    first = (await api.client.get("/api/sessions?limit=2", headers=admin)).json()
    assert first["total"] == 4 and first["hasMore"] is True
    rest = (
        await api.client.get(f"/api/sessions?limit=2&cursor={first['nextCursor']}", headers=admin)
    ).json()
    assert rest["hasMore"] is False and rest["nextCursor"] is None
    listed = [s["sessionId"] for s in first["sessions"] + rest["sessions"]]
    assert sorted(listed) == sorted([*ids, bob_session])
    only_bob = (await api.client.get("/api/sessions?userId=bob", headers=admin)).json()
    assert [s["sessionId"] for s in only_bob["sessions"]] == [bob_session]
    by_channel = await api.client.get("/api/sessions?platform=api&channelId=c1", headers=admin)
    assert [s["sessionId"] for s in by_channel.json()["sessions"]] == [ids[1]]
    archived = await api.client.get("/api/sessions?status=archived", headers=admin)
    assert archived.json()["total"] == 0
    await api.client.patch(f"/api/sessions/{ids[2]}", json={"title": "Berlin trip"}, headers=alice)
    titled = (await api.client.get("/api/sessions?title=berlin", headers=admin)).json()
    assert [s["sessionId"] for s in titled["sessions"]] == [ids[2]] and titled["total"] == 1

    changed = await api.client.patch(
        f"/api/sessions/{ids[0]}",
        json={"title": "Trip", "tags": ["travel"], "metadata": {"k": 1}},
        headers=alice,
    )
    assert changed.status_code == 200
    assert (changed.json()["title"], changed.json()["tags"]) == ("Trip", ["travel"])
    assert (await api.client.delete(f"/api/sessions/{ids[0]}", headers=alice)).status_code == 204
    assert (await api.client.get(f"/api/sessions/{ids[0]}", headers=alice)).status_code == 404


async def test_checkpoints_save_restore_branch_and_delete(api: Api) -> None:
    alice = await api.key("alice")
    session_id = (await create(api, alice))["sessionId"]
    await send(api, alice, session_id, "one")
    saved = await api.client.post(
        f"/api/sessions/{session_id}/checkpoints",
        json={"name": "after one", "description": "first turn"},
        headers=alice,
    )
    assert saved.status_code == 201
    checkpoint = saved.json()
    assert (checkpoint["name"], checkpoint["messageCount"]) == ("after one", 2)
    await send(api, alice, session_id, "two")
    base = f"/api/sessions/{session_id}/checkpoints"
    listed = (await api.client.get(base, headers=alice)).json()
    assert [c["checkpointId"] for c in listed] == [checkpoint["checkpointId"]]

    restored = await api.client.post(f"{base}/{checkpoint['checkpointId']}/restore", headers=alice)
    assert restored.status_code == 200
    assert restored.json()["session"]["messageCount"] == 2
    undo = restored.json()["undoCheckpoint"]
    assert undo["auto"] is True and undo["messageCount"] == 4
    page = (await api.client.get(f"/api/sessions/{session_id}/messages", headers=alice)).json()
    assert [m["content"] for m in page["messages"]][-1] == "one"

    branched = await api.client.post(
        f"{base}/{undo['checkpointId']}/branch", json={"title": "both"}, headers=alice
    )
    assert branched.status_code == 201
    new = branched.json()
    assert new["sessionId"] != session_id and (new["messageCount"], new["title"]) == (4, "both")
    old = (await api.client.get(f"/api/sessions/{session_id}", headers=alice)).json()
    assert (old["status"], old["archiveReason"]) == ("archived", "branched")

    deleted = await api.client.delete(f"{base}/{checkpoint['checkpointId']}", headers=alice)
    assert deleted.status_code == 204
    gone = await api.client.delete(f"{base}/{checkpoint['checkpointId']}", headers=alice)
    assert gone.status_code == 404


async def test_export_and_import_round_trip(api: Api) -> None:
    alice = await api.key("alice")
    admin = await api.key("ops", admin=True)
    session_id = (await create(api, alice))["sessionId"]
    await send(api, alice, session_id, "keep this")
    exported = await api.client.get(f"/api/sessions/{session_id}/export?format=json", headers=alice)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/json")
    assert f"session-{session_id}.json" in exported.headers["content-disposition"]
    markdown = await api.client.get(f"/api/sessions/{session_id}/export", headers=alice)
    assert "keep this" in markdown.text
    text = await api.client.get(f"/api/sessions/{session_id}/export?format=text", headers=alice)
    assert "keep this" in text.text

    refused = await api.client.post(
        "/api/sessions/import?userId=carol", json=exported.json(), headers=alice
    )
    assert refused.status_code == 403
    imported = await api.client.post(
        "/api/sessions/import?userId=carol", json=exported.json(), headers=admin
    )
    assert imported.status_code == 201, imported.text
    copy = imported.json()
    assert (copy["userId"], copy["status"], copy["messageCount"]) == ("carol", "archived", 2)
    carol = await api.key("carol")
    page = (
        await api.client.get(f"/api/sessions/{copy['sessionId']}/messages", headers=carol)
    ).json()
    assert [m["content"] for m in page["messages"]][-1] == "keep this"
    bad = await api.client.post(
        "/api/sessions/import?userId=carol", json={"format": "other"}, headers=admin
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"


async def test_health_liveness_readiness_and_docs(api: Api) -> None:
    alice = await api.key("alice")
    await create(api, alice)
    health = await api.client.get("/api/sessions/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["activeSessions"] == 1
    assert (await api.client.get("/api/health")).json()["activeSessions"] == 1
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "problems": []}
    api.status.running["telegram"] = False
    unready = await api.client.get("/readyz")
    assert unready.status_code == 503
    assert unready.json()["problems"] == ["adapter telegram: not running"]
    assert isinstance(api.store, SqlStore)
    await api.store.run(set_revision, "0001")  # as if older code were reading a newer schema
    behind = (await api.client.get("/readyz")).json()["problems"]
    assert behind[0] == "database: the schema is not the one this version knows"
    await api.store.run(set_revision, SCHEMA_REVISION)
    docs = await api.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = (await api.client.get("/openapi.json")).json()
    for path in (
        "/api/sessions",
        "/api/sessions/{session_id}",
        "/api/sessions/{session_id}/messages",
        "/api/sessions/{session_id}/checkpoints/{checkpoint_id}/restore",
        "/api/sessions/{session_id}/export",
        "/api/sessions/import",
        "/api/sessions/health",
    ):
        assert path in schema["paths"]
    assert "SimplifiedMessage" in schema["components"]["schemas"]
    assert "isAgent" in schema["components"]["schemas"]["SimplifiedMessage"]["properties"]
