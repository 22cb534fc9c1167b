"""The console on a phone-sized screen and with the keyboard alone; branching a checkpoint."""

from __future__ import annotations

from playwright.async_api import expect

from tests.adapters.http.ui.conftest import Console


async def test_keyboard_alone_signs_in_and_opens_a_session(console: Console) -> None:
    await console.user_session("alice", title="By keys")
    page = console.page
    await page.goto(f"{console.base}/ui/login")
    await expect(page.get_by_label("Admin API key")).to_be_focused()  # autofocus
    await page.keyboard.type(console.admin_key)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{console.base}/ui/sessions")
    title = page.get_by_role("link", name="By keys")
    for _ in range(30):  # Tab through the header and the filters to the table
        await page.keyboard.press("Tab")
        if await title.evaluate("link => link === document.activeElement"):
            break
    await expect(title).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="By keys")).to_be_visible()


async def test_pages_fit_a_phone_screen(console: Console) -> None:
    session_id = await console.user_session("alice", title="Small screen")
    await console.say("alice", session_id, "word " * 200)
    page = console.page
    await page.set_viewport_size({"width": 390, "height": 844})
    await console.sign_in()
    for path, name in (
        ("/ui/sessions", "phone-sessions"),
        (f"/ui/sessions/{session_id}", "phone-session"),
    ):
        await page.goto(f"{console.base}{path}")
        overflow = await page.evaluate("document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, path
        await console.shot(name)


async def test_branch_from_a_checkpoint_opens_the_new_session(console: Console) -> None:
    session_id = await console.user_session("alice")
    await console.say("alice", session_id, "kept in the branch")
    key = await console.api.key("alice")
    saved = await console.api.client.post(
        f"/api/sessions/{session_id}/checkpoints", json={"name": "fork"}, headers=key
    )
    assert saved.status_code == 201, saved.text
    await console.say("alice", session_id, "left behind")
    page = console.page
    await console.sign_in()
    await page.goto(f"{console.base}/ui/sessions/{session_id}")
    await page.get_by_role("button", name="Branch from fork").click()
    await expect(page.get_by_text("Branched: this is the new session.")).to_be_visible()
    assert f"/ui/sessions/{session_id}" not in page.url
    history = page.locator("article.message pre")
    await expect(history.filter(has_text="kept in the branch")).not_to_have_count(0)
    await expect(history.filter(has_text="left behind")).to_have_count(0)
    old = await console.api.store.get_session(session_id)
    assert old is not None and not old.is_active
