"""The console's overview in Chromium: the numbers the store and /metrics tell."""

from __future__ import annotations

from playwright.async_api import expect

from tests.adapters.http.ui.conftest import Console


async def bar_total(console: Console) -> int:
    counts = await console.page.locator("svg.chart rect.bar").evaluate_all(
        "bars => bars.map(bar => Number(bar.dataset.count))"
    )
    assert len(counts) == 60  # a bar a minute, the last hour
    return int(sum(counts))


async def test_overview_shows_sessions_messages_adapters_and_latency(console: Console) -> None:
    first = await console.user_session("alice")
    await console.user_session("bob")
    await console.say("alice", first, "one")
    await console.say("alice", first, "two")
    page = console.page
    await console.sign_in()
    await page.get_by_role("link", name="Overview").click()
    await expect(page.locator("#active-sessions")).to_have_text("2")
    await expect(page.locator("#messages-last-hour")).to_have_text("2")
    assert await bar_total(console) == 2  # the users' messages, not the bot's answers
    await expect(page.get_by_role("row", name="Messages received on api 2")).to_be_visible()
    await expect(page.get_by_role("row", name="api running 0")).to_be_visible()
    await expect(page.get_by_role("row", name="None yet today.")).to_be_visible()
    await expect(page.get_by_text("no answer yet")).to_have_count(0)
    await expect(page.get_by_role("img", name="User messages per minute")).to_be_visible()
    await console.shot("overview")

    console.api.status.running["api"] = False
    await page.reload()
    await expect(page.get_by_role("row", name="api down 0")).to_be_visible()


async def test_the_figures_are_refreshed_in_place(console: Console) -> None:
    session_id = await console.user_session("alice")
    await console.say("alice", session_id, "one")
    page = console.page
    await page.clock.install()  # the refresh timer runs on the test's word
    await console.sign_in()
    await page.goto(f"{console.base}/ui/overview")
    await expect(page.locator("#messages-last-hour")).to_have_text("1")
    await page.evaluate("window.stillTheSamePage = true")

    await console.say("alice", session_id, "two")
    await console.say("alice", session_id, "/new")  # ends the session: reason "new"
    await page.clock.run_for(16_000)
    await expect(page.locator("#messages-last-hour")).to_have_text("2")
    await expect(page.get_by_role("row", name="new 1", exact=True)).to_be_visible()
    await expect(page.locator("#active-sessions")).to_have_text("1")
    assert await page.evaluate("window.stillTheSamePage") is True  # not reloaded
    assert await page.locator("#figures").get_attribute("data-state") == "fresh"

    # Signed out elsewhere: the next refresh stops quietly instead of showing a form.
    await page.context.clear_cookies()
    await page.clock.run_for(16_000)
    await expect(page.locator("#figures")).to_have_attribute("data-state", "signed-out")
    await expect(page.locator("#messages-last-hour")).to_have_text("2")
