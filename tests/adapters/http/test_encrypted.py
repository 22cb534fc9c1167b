"""The API over an encrypted store: what users write is sealed at rest, and a delete shreds it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.crypto.data_keys import data_key_name
from core.crypto.envelope import decode_master_key, generate_master_key
from core.crypto.opening import open_store
from tests.adapters.http.conftest import running_api


def stored_bytes(path: Path) -> bytes:
    return path.read_bytes() + Path(f"{path}-wal").read_bytes()


async def test_sealed_at_rest_readable_through_the_api_and_shredded_on_delete(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sealed.db"
    store = await open_store(
        f"sqlite:///{path}", master_key=decode_master_key(generate_master_key(), source="test")
    )
    try:
        async with running_api(store) as api:
            alice = await api.key("alice")
            created = await api.client.post(
                "/api/sessions",
                json={"userId": "alice", "metadata": {"topic": "plans"}},
                headers=alice,
            )
            session_id = created.json()["sessionId"]
            url = f"/api/sessions/{session_id}"
            await api.client.patch(url, json={"title": "Surprise party"}, headers=alice)
            await api.client.post(
                f"{url}/messages", json={"content": "buy the cake"}, headers=alice
            )
            detail = (await api.client.get(url, headers=alice)).json()
            assert (detail["title"], detail["metadata"]) == ("Surprise party", {"topic": "plans"})
            page = (await api.client.get(f"{url}/messages", headers=alice)).json()
            assert page["messages"][-1]["content"] == "buy the cake"
            raw = stored_bytes(path)
            assert b"buy the cake" not in raw and b"Surprise party" not in raw
            assert await store.backend.keyring_get(data_key_name(session_id)) is not None
            assert (await api.client.delete(url, headers=alice)).status_code == 204
            assert await store.backend.keyring_get(data_key_name(session_id)) is None
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone() == (0,)
    db.close()
