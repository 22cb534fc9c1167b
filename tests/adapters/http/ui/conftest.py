"""What the console's browser tests share: a console served by real uvicorn, and Chromium.

Playwright drives Debian's ``chromium`` (``/usr/bin/chromium``; ``.ci/run``
installs it), never a downloaded browser. Screenshots of each page go to
``SCREENSHOTS`` for a reviewer to look at; they are not committed.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from core import NewMessage, Role, new_api_key
from tests.adapters.http.conftest import Api, running_api
from tests.core.conftest import opened

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(tempfile.gettempdir()) / "sessionbot-ui-screenshots"
"""Where the browser tests write a screenshot of each page they visit."""


@dataclass
class Console:
    """A running console, a signed-out browser page, and an admin key's text."""

    api: Api
    page: Page
    admin_key: str
    base: str

    async def sign_in(self, key: str | None = None) -> None:
        """Sign in through the form with ``key`` (the admin key by default)."""
        await self.page.goto(f"{self.base}/ui/login")
        await self.page.get_by_label("Admin API key").fill(key or self.admin_key)
        await self.page.get_by_role("button", name="Sign in").click()

    async def shot(self, name: str) -> None:
        """Write a full-page screenshot named ``name``."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

    async def user_session(self, user: str, *, title: str | None = None) -> str:
        """Start an API session of ``user``; return its id."""
        key = await self.api.key(user)
        body: dict[str, object] = {"userId": user}
        created = await self.api.client.post("/api/sessions", json=body, headers=key)
        assert created.status_code in (200, 201), created.text
        session_id: str = created.json()["sessionId"]
        if title is not None:
            await self.api.client.patch(
                f"/api/sessions/{session_id}", json={"title": title}, headers=key
            )
        return session_id

    async def say(self, user: str, session_id: str, text: str) -> None:
        """Send ``text`` into the session through the API (the echo bot answers)."""
        sent = await self.api.client.post(
            f"/api/sessions/{session_id}/messages",
            json={"content": text},
            headers=await self.api.key(user),
        )
        assert sent.status_code == 200, sent.text

    async def fill(self, session_id: str, count: int) -> list[str]:
        """Append ``count`` messages ``m0``… in order; return their texts."""
        texts = [f"m{n}" for n in range(count)]
        at = datetime.now(UTC)
        messages = [
            NewMessage(Role.USER if n % 2 == 0 else Role.ASSISTANT, "alice", text)
            for n, text in enumerate(texts)
        ]
        ids = [f"{n:05d}x{session_id}" for n in range(count)]
        await self.api.store.append_messages(session_id, messages, ids, at)
        return texts


def _chromium() -> str:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    return str(CHROMIUM)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=_chromium())
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def console(tmp_path: Path, browser: Browser) -> AsyncIterator[Console]:
    """A console over SQLite with ``[api] ui = true``, and a fresh browser context."""
    async with opened("sqlite", tmp_path) as store, running_api(store, ui=True) as api:
        stored, text = new_api_key("root", admin=True, name="console", at=datetime.now(UTC))
        await store.add_api_key(stored)
        context = await browser.new_context(accept_downloads=True)
        try:
            page = await context.new_page()
            yield Console(api, page, text, str(api.client.base_url).rstrip("/"))
        finally:
            await context.close()
