"""The console's times in Chromium: the channel's time zone, else the bot's, named."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, expect

from core import new_api_key
from core.sessions.resets import ResetRules
from tests.adapters.http.conftest import running_api
from tests.adapters.http.ui.conftest import Console
from tests.core.conftest import opened


async def test_times_are_in_the_channels_zone_else_the_bots(
    tmp_path: Path, browser: Browser
) -> None:
    rules = ResetRules(idle_reset_minutes=90, timezone="Europe/Berlin")
    async with (
        opened("sqlite", tmp_path) as store,
        running_api(store, manager_options={"reset_rules": rules}, ui=True) as api,
    ):
        stored, admin = new_api_key("root", admin=True, name="console", at=datetime.now(UTC))
        await store.add_api_key(stored)
        context = await browser.new_context()
        console = Console(api, await context.new_page(), admin, str(api.client.base_url))
        berlin = await console.user_session("alice", title="In Berlin")
        await console.say("alice", berlin, "hello")
        tokyo = await console.user_session("bob", title="In Tokyo")
        session = await api.manager.sessions.get(tokyo)
        await api.manager.channels.update_key(session.channel_key, timezone="Asia/Tokyo")
        await console.sign_in()
        page = console.page

        stored_berlin = await api.manager.sessions.get(berlin)
        local = stored_berlin.last_activity_at.astimezone(ZoneInfo("Europe/Berlin"))
        shown = f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"
        await expect(page.get_by_role("row", name="In Berlin")).to_contain_text(shown)
        await expect(page.get_by_role("row", name="In Tokyo")).to_contain_text(" JST")

        await page.get_by_role("link", name="In Berlin").click()
        facts = page.locator("dl.facts")
        await expect(facts).to_contain_text(f"Last activity{shown}")
        await expect(facts).to_contain_text(f"Next idle reset{local.date():%Y-%m-%d}")
        await expect(page.locator(".message .meta").first).to_contain_text(local.tzname() or "")
        await expect(page.get_by_text(" UTC")).to_have_count(0)
        await context.close()
