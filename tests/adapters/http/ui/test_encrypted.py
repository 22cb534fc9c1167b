"""The console over an encrypted store: it reads what users wrote, sealed at rest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from playwright.async_api import Browser, expect

from core import new_api_key
from core.crypto.envelope import decode_master_key, generate_master_key
from core.crypto.opening import open_store
from tests.adapters.http.conftest import running_api
from tests.adapters.http.ui.conftest import Console


async def test_an_encrypted_session_is_found_by_title_and_read(
    tmp_path: Path, browser: Browser
) -> None:
    master = decode_master_key(generate_master_key(), source="test")
    store = await open_store(f"sqlite:///{tmp_path / 'sealed.db'}", master_key=master)
    try:
        async with running_api(store, manager_options={"encrypted": True}, ui=True) as api:
            stored, admin = new_api_key("root", admin=True, name="console", at=datetime.now(UTC))
            await store.add_api_key(stored)
            context = await browser.new_context()
            console = Console(api, await context.new_page(), admin, str(api.client.base_url))
            session_id = await console.user_session("alice", title="Surprise party")
            await console.say("alice", session_id, "buy the cake")
            await console.user_session("bob", title="Board meeting")
            tagged = await console.api.client.patch(
                f"/api/sessions/{session_id}",
                json={"tags": ["secret-plans"]},
                headers=await console.api.key("alice"),
            )
            assert tagged.status_code == 200, tagged.text
            await console.sign_in()
            page = console.page
            # Tags are sealed: the store opens them to filter, and finds the right one.
            await page.get_by_label("Tag contains").fill("secret")
            await page.get_by_role("button", name="Filter").click()
            titles = page.locator("tbody tr td:first-child a")
            await expect(titles).to_have_text(["Surprise party"])
            await page.get_by_label("Tag contains").fill("")
            await page.get_by_label("Title contains").fill("surprise")
            await page.get_by_role("button", name="Filter").click()
            await page.get_by_role("link", name="Surprise party").click()
            await expect(page.locator("#encryption")).to_contain_text("on (AES-256-GCM")
            await expect(page.get_by_text("buy the cake", exact=True)).to_be_visible()
            await context.close()
    finally:
        await store.close()
    stored_bytes = (tmp_path / "sealed.db").read_bytes()
    assert b"buy the cake" not in stored_bytes and b"secret-plans" not in stored_bytes
