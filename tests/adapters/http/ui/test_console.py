"""The console in a real Chromium: an operator finds, reads, restores, exports and deletes.

Each test signs in through the form with an admin key, as an operator would, and
clicks its way through; what it checks is what the page shows and what the store
holds afterwards.
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.adapters.http.ui.conftest import Console


async def test_sign_in_find_by_filter_and_sign_out(console: Console) -> None:
    await console.user_session("alice", title="Alpha plans")
    bravo = await console.user_session("bob", title="Bravo report")
    page = console.page
    await console.sign_in()
    await expect(page).to_have_url(f"{console.base}/ui/sessions")
    await expect(page.get_by_role("link", name="Alpha plans")).to_be_visible()
    await console.shot("sessions")

    cookie = next(c for c in await page.context.cookies() if c["name"] == "sessionbot_ui")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    assert console.admin_key not in cookie["value"]

    await page.get_by_label("Title contains").fill("BRAV")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("1 session, most recently active first.")).to_be_visible()
    await expect(page.get_by_role("link", name="Alpha plans")).to_have_count(0)
    await page.get_by_label("User (platform:id)").fill("api:bob")
    await page.get_by_role("button", name="Filter").click()
    await page.get_by_role("link", name="Bravo report").click()
    await expect(page).to_have_url(f"{console.base}/ui/sessions/{bravo}")
    await expect(page.get_by_role("heading", name="Bravo report")).to_be_visible()
    await expect(page.locator("#encryption")).to_have_text("off")
    await console.shot("session")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("Signed out.")).to_be_visible()
    await page.goto(f"{console.base}/ui/sessions/{bravo}")
    await expect(page).to_have_url(f"{console.base}/ui/login")
    await expect(page.get_by_text("Bravo report")).to_have_count(0)


async def test_pages_through_a_500_message_history(console: Console) -> None:
    session_id = await console.user_session("alice")
    texts = await console.fill(session_id, 500)
    page = console.page
    await console.sign_in()
    await page.goto(f"{console.base}/ui/sessions/{session_id}")
    await expect(page.get_by_text("500", exact=True)).to_be_visible()  # the count in the facts
    seen: list[str] = []
    while True:
        seen += await page.locator("article.message pre").all_inner_texts()
        older = page.get_by_role("link", name="Load older")
        if not await older.count():
            break
        await older.click()
    assert seen == list(reversed(texts))  # newest first, each exactly once
    await console.shot("history-oldest-page")


async def test_restore_a_checkpoint_and_see_the_history_change(console: Console) -> None:
    session_id = await console.user_session("alice")
    await console.say("alice", session_id, "before the checkpoint")
    key = await console.api.key("alice")
    saved = await console.api.client.post(
        f"/api/sessions/{session_id}/checkpoints", json={"name": "calm"}, headers=key
    )
    assert saved.status_code == 201, saved.text
    await console.say("alice", session_id, "after the checkpoint")
    page = console.page
    await console.sign_in()
    await page.goto(f"{console.base}/ui/sessions/{session_id}")
    history = page.locator("article.message pre")
    await expect(history.filter(has_text="after the checkpoint")).not_to_have_count(0)

    await page.get_by_role("button", name="Restore calm").click()
    await expect(page.get_by_text("Checkpoint restored")).to_be_visible()
    await expect(history.filter(has_text="after the checkpoint")).to_have_count(0)
    await expect(history.filter(has_text="before the checkpoint")).not_to_have_count(0)
    # the state left behind is saved, so the restore can be undone
    saved_now = await console.api.store.list_checkpoints(session_id)
    undo = [c for c in saved_now if c.auto]
    assert undo
    await expect(page.get_by_role("button", name=f"Restore {undo[-1].name}")).to_have_count(1)
    await console.shot("restored")


async def test_export_markdown_downloads_the_history(console: Console, tmp_path: Path) -> None:
    session_id = await console.user_session("alice", title="Export me")
    await console.say("alice", session_id, "a line worth keeping")
    page = console.page
    await console.sign_in()
    await page.goto(f"{console.base}/ui/sessions/{session_id}")
    async with page.expect_download() as waiting:
        await page.get_by_role("link", name="Markdown").click()
    download = await waiting.value
    assert download.suggested_filename == f"session-{session_id}.md"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert "Export me" in text
    assert "a line worth keeping" in text


async def test_title_and_tags_are_changed_with_the_chat_commands_rules(console: Console) -> None:
    session_id = await console.user_session("alice")
    page = console.page
    await console.sign_in()
    await page.goto(f"{console.base}/ui/sessions/{session_id}")
    await page.get_by_label("Title", exact=True).fill("Renamed")
    await page.get_by_label("Tags (comma-separated)").fill("Billing, #urgent, billing")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Title and tags saved.")).to_be_visible()
    stored = await console.api.store.get_session(session_id)
    assert stored is not None and stored.title == "Renamed"
    assert stored.tags == ("billing", "urgent")

    await page.get_by_label("Tags (comma-separated)").fill("no spaces allowed")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_contain_text("is not a tag")
    stored = await console.api.store.get_session(session_id)
    assert stored is not None and stored.tags == ("billing", "urgent")


async def test_delete_after_confirming_what_is_lost(console: Console) -> None:
    session_id = await console.user_session("alice", title="Doomed")
    await console.say("alice", session_id, "hello")
    page = console.page
    await console.sign_in()
    await page.goto(f"{console.base}/ui/sessions/{session_id}")
    await page.get_by_role("link", name="Delete this session…").click()
    await expect(page.get_by_role("alert")).to_contain_text("2 messages and\n0 checkpoints")
    await console.shot("delete-confirmation")
    assert await console.api.store.get_session(session_id) is not None  # asking deleted nothing

    await page.get_by_role("button", name="Delete for good").click()
    await expect(page.get_by_text("Session deleted.")).to_be_visible()
    assert await console.api.store.get_session(session_id) is None
    await expect(page.get_by_role("link", name="Doomed")).to_have_count(0)


async def test_sessions_page_by_keyset_keeping_the_filter(console: Console) -> None:
    bulk = {await console.user_session(f"user{n}", title=f"bulk {n}") for n in range(60)}
    await console.user_session("other", title="not in it")
    page = console.page
    await console.sign_in()
    await page.get_by_label("Title contains").fill("bulk")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("60 sessions, most recently active first.")).to_be_visible()
    rows = page.locator("tbody tr td:first-child a")
    first = await rows.evaluate_all("links => links.map(a => a.href.split('/').pop())")
    assert len(first) == 50
    await page.get_by_role("link", name="Next page").click()
    await expect(page.get_by_label("Title contains")).to_have_value("bulk")
    second = await rows.evaluate_all("links => links.map(a => a.href.split('/').pop())")
    assert len(second) == 10
    assert set(first) | set(second) == bulk
    await expect(page.get_by_role("link", name="Next page")).to_have_count(0)

    forged = await page.request.get(f"{console.base}/ui/sessions?cursor=bm9wZQ")
    assert forged.status == 400
    assert "not one this console gave out" in await forged.text()


async def test_sessions_are_listed_by_last_activity_and_found_by_tag(console: Console) -> None:
    quiet = await console.user_session("alice", title="Quiet one")
    await console.user_session("bob", title="Middle one")
    await console.user_session("carol", title="Newest one")
    await console.say("alice", quiet, "I am back")  # the oldest session, active last
    alice = await console.api.key("alice")
    tagged = await console.api.client.patch(
        f"/api/sessions/{quiet}", json={"tags": ["berlin-trip", "plans"]}, headers=alice
    )
    assert tagged.status_code == 200, tagged.text
    page = console.page
    await console.sign_in()
    titles = page.locator("tbody tr td:first-child a")
    await expect(titles).to_have_text(["Quiet one", "Newest one", "Middle one"])

    await page.get_by_label("Tag contains").fill("#BERLIN")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("1 session, most recently active first.")).to_be_visible()
    await expect(titles).to_have_text(["Quiet one"])
    await expect(page.get_by_role("row", name="Quiet one berlin-trip, plans")).to_be_visible()
    await page.get_by_label("Tag contains").fill("rome")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("No session matches.")).to_be_visible()
