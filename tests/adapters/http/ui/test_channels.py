"""A channel's settings changed from the console, checked as the admin chat commands check them."""

from __future__ import annotations

from playwright.async_api import expect

from tests.adapters.http.ui.conftest import Console


async def test_change_a_channels_idle_reset(console: Console) -> None:
    session_id = await console.user_session("alice")
    page = console.page
    await console.sign_in()
    await page.goto(f"{console.base}/ui/sessions/{session_id}")
    await page.get_by_role("link", name="channel settings").click()
    idle = page.get_by_label("Idle reset (minutes")
    await expect(idle).to_have_value("")

    await idle.fill("45")
    await page.get_by_label("Daily reset (HH:MM or off)").fill("04:30")
    await page.get_by_label("Time zone").fill("Europe/Berlin")
    await page.get_by_role("button", name="Save channel settings").click()
    await expect(page.get_by_text("Channel settings saved.")).to_be_visible()
    await expect(idle).to_have_value("45")
    await console.shot("channel")

    session = await console.api.store.get_session(session_id)
    assert session is not None
    policy = await console.api.manager.reset_policy(session)
    assert policy.idle_minutes == 45
    assert str(policy.timezone) == "Europe/Berlin"
    assert policy.daily_time is not None and policy.daily_time.strftime("%H:%M") == "04:30"

    await idle.fill("off")
    await page.get_by_role("button", name="Save channel settings").click()
    await expect(idle).to_have_value("off")
    assert (await console.api.manager.reset_policy(session)).idle_minutes is None


async def test_values_the_chat_commands_refuse_are_refused(console: Console) -> None:
    session_id = await console.user_session("alice")
    page = console.page
    await console.sign_in()
    await page.goto(f"{console.base}/ui/sessions/{session_id}")
    await page.get_by_role("link", name="channel settings").click()
    refusals = {
        "Idle reset (minutes": ("0", "Idle reset: give minutes from 1 to"),
        "Daily reset (HH:MM or off)": ("25:00", "Daily reset: expected HH:MM"),
        "Time zone": ("Mars/Olympus", "Unknown timezone 'Mars/Olympus'"),
        "Scope (": ("everyone", "Unknown scope 'everyone'"),
        "Context strategy (": ("psychic", "Unknown strategy 'psychic'"),
    }
    for label, (value, line) in refusals.items():
        await page.goto(f"{console.base}/ui/sessions/{session_id}")
        await page.get_by_role("link", name="channel settings").click()
        await page.get_by_label(label).fill(value)
        await page.get_by_role("button", name="Save channel settings").click()
        await expect(page.get_by_role("alert")).to_contain_text(line)
        await expect(page.get_by_label(label)).to_have_value(value)  # what was typed stays
    session = await console.api.store.get_session(session_id)
    assert session is not None
    assert await console.api.manager.channels.stored(session.channel_key) is None
