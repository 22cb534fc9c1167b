"""Who sees what: each route with no key, a bad or revoked key, another user's key, an admin key.

Another user's session answers exactly as an unknown id does, byte for byte apart
from the id, so a key never learns that it exists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core import Inbound, new_api_key
from tests.adapters.http.conftest import Api, running_api
from tests.core.conftest import opened

ROUTES = [
    ("GET", "/api/sessions/{id}", None),
    ("PATCH", "/api/sessions/{id}", {"title": "x"}),
    ("POST", "/api/sessions/{id}/messages", {"content": "hi"}),
    ("GET", "/api/sessions/{id}/messages", None),
    ("GET", "/api/sessions/{id}/checkpoints", None),
    ("POST", "/api/sessions/{id}/checkpoints", {"name": "cp"}),
    ("POST", "/api/sessions/{id}/checkpoints/{cid}/restore", None),
    ("POST", "/api/sessions/{id}/checkpoints/{cid}/branch", {}),
    ("DELETE", "/api/sessions/{id}/checkpoints/{cid}", None),
    ("GET", "/api/sessions/{id}/export", None),
    ("DELETE", "/api/sessions/{id}", None),
]
COLLECTION = [
    ("GET", "/api/sessions", None),
    ("POST", "/api/sessions", {"userId": "alice"}),
    ("POST", "/api/sessions/import?userId=alice", {"format": "sessionbot-export"}),
    ("GET", "/metrics", None),
]


async def alices_session(api: Api) -> tuple[str, str]:
    alice = await api.key("alice")
    session = await api.client.post("/api/sessions", json={"userId": "alice"}, headers=alice)
    session_id = session.json()["sessionId"]
    await api.client.post(
        f"/api/sessions/{session_id}/messages", json={"content": "secret"}, headers=alice
    )
    saved = await api.client.post(
        f"/api/sessions/{session_id}/checkpoints", json={"name": "cp"}, headers=alice
    )
    return session_id, saved.json()["checkpointId"]


async def bad_headers(api: Api) -> dict[str, dict[str, str]]:
    stored, text = new_api_key("alice", admin=True, name="gone", at=datetime.now(UTC))
    await api.store.add_api_key(stored)
    await api.store.revoke_api_key(stored.id, datetime.now(UTC))
    valid = (await api.key("alice"))["Authorization"]
    return {
        "none": {},
        "revoked": {"Authorization": f"Bearer {text}"},
        "wrong secret": {
            "Authorization": valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB")
        },
        "unknown id": {"Authorization": "Bearer sbk_222222222222_" + "A" * 43},
        "not a key": {"Authorization": "Bearer hunter2"},
        "basic": {"Authorization": "Basic YWxpY2U6cHc="},
    }


async def test_every_route_answers_401_without_a_valid_key(api: Api) -> None:
    session_id, checkpoint_id = await alices_session(api)
    for name, headers in (await bad_headers(api)).items():
        for method, path, body in ROUTES + COLLECTION:
            url = path.format(id=session_id, cid=checkpoint_id)
            response = await api.client.request(method, url, json=body, headers=headers)
            assert response.status_code == 401, (name, method, path)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
    # Nothing changed on the way.
    detail = await api.manager.sessions.get(session_id)
    assert detail.message_count == 2 and detail.title is None


async def test_another_users_key_gets_the_answer_of_an_unknown_id(api: Api) -> None:
    session_id, checkpoint_id = await alices_session(api)
    bob = await api.key("bob")
    for method, path, body in ROUTES:
        theirs = await api.client.request(
            method, path.format(id=session_id, cid=checkpoint_id), json=body, headers=bob
        )
        unknown = await api.client.request(
            method, path.format(id="zzzzzzzzzz", cid=checkpoint_id), json=body, headers=bob
        )
        assert theirs.status_code == unknown.status_code == 404, (method, path)
        assert theirs.json()["error"]["message"].replace(session_id, "?") == unknown.json()[
            "error"
        ]["message"].replace("zzzzzzzzzz", "?")
    listed = (await api.client.get("/api/sessions", headers=bob)).json()
    assert listed["sessions"] == [] and listed["total"] == 0
    listed = (await api.client.get("/api/sessions?userId=alice", headers=bob)).json()
    assert listed["total"] == 0
    # Bob cannot act as Alice either.
    posed = await api.client.post("/api/sessions", json={"userId": "alice"}, headers=bob)
    assert posed.status_code == 403
    assert (await api.client.get("/metrics", headers=bob)).status_code == 403
    untouched = await api.manager.sessions.get(session_id)
    assert untouched.message_count == 2 and untouched.is_active


@pytest.mark.parametrize("method,path,body", ROUTES[:-1])
async def test_an_admin_key_reaches_every_session(
    api: Api, method: str, path: str, body: dict[str, str] | None
) -> None:
    session_id, checkpoint_id = await alices_session(api)
    admin = await api.key("ops", admin=True)
    response = await api.client.request(
        method, path.format(id=session_id, cid=checkpoint_id), json=body, headers=admin
    )
    assert response.status_code in (200, 201, 204), response.text


async def test_an_admin_key_writes_as_the_owner_and_deletes(api: Api) -> None:
    session_id, _ = await alices_session(api)
    admin = await api.key("ops", admin=True)
    sent = await api.client.post(
        f"/api/sessions/{session_id}/messages", json={"content": "from ops"}, headers=admin
    )
    assert sent.json()["message"]["authorId"] == "alice"
    assert (
        await api.client.delete(f"/api/sessions/{session_id}", headers=admin)
    ).status_code == 204
    alice = await api.key("alice")
    assert (await api.client.get(f"/api/sessions/{session_id}", headers=alice)).status_code == 404


async def test_a_revoked_key_stops_working_at_once(api: Api) -> None:
    stored, text = new_api_key("alice", admin=False, name="", at=datetime.now(UTC))
    await api.store.add_api_key(stored)
    headers = {"Authorization": f"Bearer {text}"}
    assert (await api.client.get("/api/sessions", headers=headers)).status_code == 200
    await api.store.revoke_api_key(stored.id, datetime.now(UTC))
    assert (await api.client.get("/api/sessions", headers=headers)).status_code == 401


async def test_a_linked_identity_sees_its_other_platforms_sessions_read_only(
    tmp_path: Path,
) -> None:
    links = {"identities": {"api:alice": "alice", "telegram:9": "alice"}}
    async with (
        opened("sqlite", tmp_path) as store,
        running_api(store, manager_options=links) as api,
    ):
        telegram = await api.manager.resolve(Inbound("telegram", "9", "9", "", is_direct=True))
        alice = await api.key("alice")
        listed = (await api.client.get("/api/sessions", headers=alice)).json()
        assert [s["sessionId"] for s in listed["sessions"]] == [telegram.session.id]
        assert listed["sessions"][0]["userId"] == "telegram:9"
        sent = await api.client.post(
            f"/api/sessions/{telegram.session.id}/messages",
            json={"content": "hi"},
            headers=alice,
        )
        assert sent.status_code == 409
