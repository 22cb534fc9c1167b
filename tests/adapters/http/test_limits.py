"""Rate limits (the key's, and the router's per user), message size, CORS and a base path."""

from __future__ import annotations

from pathlib import Path

from commands import RouterSettings
from tests.adapters.http.conftest import running_api
from tests.core.conftest import opened


async def test_a_key_over_its_rate_limit_gets_429_with_retry_after(tmp_path: Path) -> None:
    async with (
        opened("sqlite", tmp_path) as store,
        running_api(store, rate_limit_per_minute=3) as api,
    ):
        alice = await api.key("alice")
        bob = await api.key("bob")
        statuses = [
            (await api.client.get("/api/sessions", headers=alice)).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        limited = await api.client.get("/api/sessions", headers=alice)
        assert limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await api.client.get("/api/sessions", headers=bob)).status_code == 200


async def test_the_routers_own_guards_answer_422_and_429(tmp_path: Path) -> None:
    guards = RouterSettings(max_message_chars=20, rate_limit_per_minute=2)
    async with opened("sqlite", tmp_path) as store, running_api(store, guards) as api:
        alice = await api.key("alice")
        created = await api.client.post("/api/sessions", json={"userId": "alice"}, headers=alice)
        url = f"/api/sessions/{created.json()['sessionId']}/messages"
        long = await api.client.post(url, json={"content": "x" * 21}, headers=alice)
        assert long.status_code == 422 and long.json()["error"]["code"] == "not_stored"
        assert "too long" in long.json()["error"]["message"]
        codes = [
            (await api.client.post(url, json={"content": f"m{n}"}, headers=alice)).status_code
            for n in range(4)
        ]
        assert codes[:2] == [200, 200] and set(codes[2:]) <= {422, 429} and 429 in codes[2:]
        stored = await api.manager.sessions.get(created.json()["sessionId"])
        assert stored.message_count == 4  # two questions, two answers; nothing of the rest


async def test_cors_and_a_base_path(tmp_path: Path) -> None:
    options = {"cors_origins": ["https://chat.example.org"], "base_path": "/bot"}
    async with opened("sqlite", tmp_path) as store, running_api(store, **options) as api:
        alice = await api.key("alice")
        assert (await api.client.get("/bot/api/sessions", headers=alice)).status_code == 200
        assert (await api.client.get("/api/sessions", headers=alice)).status_code == 404
        assert (await api.client.get("/bot/docs")).status_code == 200
        preflight = await api.client.options(
            "/bot/api/sessions",
            headers={
                "Origin": "https://chat.example.org",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://chat.example.org"
        other = await api.client.get(
            "/bot/api/sessions", headers={**alice, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
