"""The console's overview in Chromium: the numbers /metrics and the store tell."""

from __future__ import annotations

from playwright.async_api import expect

from tests.adapters.http.ui.conftest import Console


async def test_overview_shows_sessions_messages_adapters_and_latency(console: Console) -> None:
    first = await console.user_session("alice")
    await console.user_session("bob")
    await console.say("alice", first, "one")
    await console.say("alice", first, "two")
    page = console.page
    await console.sign_in()
    await page.get_by_role("link", name="Overview").click()
    await expect(page.locator("#active-sessions")).to_have_text("2")
    await expect(page.get_by_role("row", name="Messages received on api 2")).to_be_visible()
    await expect(page.get_by_role("row", name="api running 0")).to_be_visible()
    await expect(page.get_by_text("no answer yet")).to_have_count(0)
    assert await page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "30"
    await console.shot("overview")

    console.api.status.running["api"] = False
    await page.reload()
    await expect(page.get_by_role("row", name="api down 0")).to_be_visible()
