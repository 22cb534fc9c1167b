"""``GET /api/sessions/search``: words and tags, within what the key may see."""

from __future__ import annotations

from tests.adapters.http.conftest import Api


async def talk(api: Api, user: str, *lines: str) -> tuple[str, dict[str, str]]:
    key = await api.key(user)
    created = await api.client.post("/api/sessions", json={"userId": user}, headers=key)
    session_id = created.json()["sessionId"]
    for line in lines:
        sent = await api.client.post(
            f"/api/sessions/{session_id}/messages", json={"content": line}, headers=key
        )
        assert sent.status_code == 200, sent.text
    return session_id, key


async def test_words_find_the_callers_messages_only(api: Api) -> None:
    mine, alice = await talk(api, "alice", "the blue whale sings", "nothing here", "a blue sky")
    theirs, bob = await talk(api, "bob", "my own blue whale story")
    found = await api.client.get(
        "/api/sessions/search", params={"q": 'blue "whale sings"'}, headers=alice
    )
    assert found.status_code == 200, found.text
    body = found.json()
    contents = [hit["message"]["content"] for hit in body["hits"]]
    # Alice's message and its echo; never Bob's, which holds the same words.
    assert contents == ["echo: the blue whale sings", "the blue whale sings"]
    assert {hit["sessionId"] for hit in body["hits"]} == {mine}
    assert "**blue**" in body["hits"][0]["snippet"] and body["hasMore"] is False
    admin = await api.key("root", admin=True)
    everyone = await api.client.get("/api/sessions/search", params={"q": "whale"}, headers=admin)
    assert {hit["sessionId"] for hit in everyone.json()["hits"]} == {mine, theirs}
    bobs = await api.client.get("/api/sessions/search", params={"q": "sky"}, headers=bob)
    assert bobs.json()["hits"] == []


async def test_hits_are_paged_with_a_truthful_more(api: Api) -> None:
    _, alice = await talk(api, "alice", *(f"tea number {n}" for n in range(5)))
    seen: list[str] = []
    params: dict[str, str | int] = {"q": "tea", "limit": 4}
    while True:
        page = (await api.client.get("/api/sessions/search", params=params, headers=alice)).json()
        seen += [hit["message"]["id"] for hit in page["hits"]]
        if not page["hasMore"]:
            assert page["nextCursor"] is None
            break
        params["cursor"] = page["nextCursor"]
    assert len(seen) == len(set(seen)) == 10  # five messages and five echoes


async def test_a_tag_lists_the_callers_tagged_sessions(api: Api) -> None:
    mine, alice = await talk(api, "alice", "hello")
    await api.client.patch(f"/api/sessions/{mine}", json={"tags": ["trip"]}, headers=alice)
    theirs, bob = await talk(api, "bob", "hello")
    await api.client.patch(f"/api/sessions/{theirs}", json={"tags": ["trip"]}, headers=bob)
    tagged = await api.client.get("/api/sessions/search", params={"tag": "trip"}, headers=alice)
    assert [s["sessionId"] for s in tagged.json()["sessions"]] == [mine]


async def test_bad_searches_get_one_clear_error(api: Api) -> None:
    _, alice = await talk(api, "alice", "hello")
    for params, status in (
        ({}, 422),
        ({"q": "   "}, 422),
        ({"q": "tea", "cursor": "nope"}, 400),
        ({"q": "tea", "limit": 0}, 422),
    ):
        answer = await api.client.get("/api/sessions/search", params=params, headers=alice)
        assert answer.status_code == status, (params, answer.text)
        assert set(answer.json()) == {"error"}
    assert (await api.client.get("/api/sessions/search", params={"q": "x"})).status_code == 401
