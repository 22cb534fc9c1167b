"""The console's defences: escaped text, CSRF tokens, admin keys only, CSP, no console when off."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
from playwright.async_api import Dialog, Request, expect

from adapters.http.ui.render import CSP
from core import new_api_key
from tests.adapters.http.conftest import running_api
from tests.adapters.http.ui.conftest import Console
from tests.core.conftest import opened

HOSTILE = '<script>alert("s")</script><img src="/x.png" onerror="alert(\'i\')">'


async def test_script_and_onerror_in_a_message_render_as_text_and_run_nothing(
    console: Console,
) -> None:
    session_id = await console.user_session("alice", title='<b onmouseover="alert(1)">T</b>')
    await console.say("alice", session_id, HOSTILE)
    page = console.page
    dialogs: list[Dialog] = []
    requests: list[Request] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog))
    await console.sign_in()
    page.on("request", lambda request: requests.append(request))
    await page.goto(f"{console.base}/ui/sessions/{session_id}")
    await expect(page.locator("article.message pre").first).to_have_text(f"echo: {HOSTILE}")
    await expect(page.locator("article.message pre").last).to_have_text(HOSTILE)
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        '<b onmouseover="alert(1)">T</b>'
    )
    assert await page.locator("main script, main img, main b").count() == 0
    await page.wait_for_load_state("networkidle")
    await console.shot("hostile-message")
    assert dialogs == []
    assert sorted({r.url.removeprefix(console.base) for r in requests}) == [
        f"/ui/sessions/{session_id}",
        "/ui/static/ui.css",
    ]


async def test_a_changing_post_without_the_csrf_token_is_refused(console: Console) -> None:
    session_id = await console.user_session("alice", title="Kept")
    await console.sign_in()
    request = console.page.request  # the signed-in browser's cookies, no form token
    url = f"{console.base}/ui/sessions/{session_id}"
    for form in ({}, {"csrf": "not-the-token"}):
        deleted = await request.post(f"{url}/delete", form=form, max_redirects=0)
        assert deleted.status == 403
        assert "security token" in await deleted.text()
        edited = await request.post(f"{url}/edit", form={**form, "title": "Hijacked"})
        assert edited.status == 403
    kept = await console.api.store.get_session(session_id)
    assert kept is not None and kept.title == "Kept"
    out = await request.post(f"{console.base}/ui/logout", form={}, max_redirects=0)
    assert out.status == 403  # still signed in
    listed = await request.get(f"{console.base}/ui/sessions", max_redirects=0)
    assert listed.status == 200


async def test_a_user_key_cannot_sign_in(console: Console) -> None:
    stored, user_key = new_api_key("alice", admin=False, name="user", at=datetime.now(UTC))
    await console.api.store.add_api_key(stored)
    page = console.page
    for key in (user_key, "sbk_nonsense", console.admin_key + "x"):
        await console.sign_in(key)
        await expect(page.get_by_role("alert")).to_have_text("That is not a valid admin API key.")
        await expect(page).to_have_url(f"{console.base}/ui/login")
    await console.shot("sign-in-refused")
    assert await page.context.cookies() == []
    answer = await page.request.get(f"{console.base}/ui/sessions", max_redirects=0)
    assert answer.status == 303
    assert answer.headers["location"] == "/ui/login"


async def test_a_revoked_key_signs_its_console_out(console: Console) -> None:
    await console.sign_in()
    await expect(console.page).to_have_url(f"{console.base}/ui/sessions")
    key_id = console.admin_key.split("_")[1]
    assert await console.api.store.revoke_api_key(key_id, datetime.now(UTC))
    await console.page.reload()
    await expect(console.page).to_have_url(f"{console.base}/ui/login")


async def test_every_console_answer_carries_the_csp(console: Console) -> None:
    anonymous = await console.page.goto(f"{console.base}/ui/login")
    assert anonymous is not None and anonymous.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    await console.shot("sign-in")
    await console.sign_in()
    session_id = await console.user_session("alice")
    for path in (f"/ui/sessions/{session_id}", "/ui/static/ui.css", "/ui/sessions?status=x"):
        answer = await console.page.request.get(f"{console.base}{path}")
        assert answer.headers["content-security-policy"] == CSP, path
        assert answer.headers["x-frame-options"] == "DENY"


async def test_not_signed_in_nothing_is_served(console: Console) -> None:
    session_id = await console.user_session("alice", title="Secret")
    async with httpx.AsyncClient(base_url=console.base) as client:
        pages = ("/ui", "/ui/overview", "/ui/overview/figures", "/ui/sessions", "/ui/channels")
        for path in (*pages, f"/ui/sessions/{session_id}", f"/ui/sessions/{session_id}/export"):
            answer = await client.get(path, follow_redirects=True)
            assert answer.url.path == "/ui/login", path
            assert "Secret" not in answer.text
        posted = await client.post(f"/ui/sessions/{session_id}/delete", data={"csrf": "x"})
        assert posted.status_code == 401
    assert await console.api.store.get_session(session_id) is not None


async def test_the_console_is_off_unless_configured(tmp_path: Path) -> None:
    async with opened("sqlite", tmp_path) as store, running_api(store) as api:
        assert (await api.client.get("/ui/login")).status_code == 404


async def test_a_sign_in_holds_on_every_worker_and_sign_out_ends_it_everywhere(
    console: Console,
) -> None:
    await console.user_session("alice", title="Shared")
    await console.sign_in()
    await expect(console.page).to_have_url(f"{console.base}/ui/sessions")
    cookie = next(c for c in await console.page.context.cookies() if c["name"] == "sessionbot_ui")
    jar = {"sessionbot_ui": cookie["value"]}
    # a second worker on the same database
    async with (
        running_api(console.api.store, ui=True) as other,
        httpx.AsyncClient(base_url=str(other.client.base_url), cookies=jar) as client,
    ):
        listed = await client.get("/ui/sessions")
        assert listed.status_code == 200 and "Shared" in listed.text
        await console.page.get_by_role("button", name="Sign out").click()
        await expect(console.page.get_by_text("Signed out.")).to_be_visible()
        replayed = await client.get("/ui/sessions")  # the old cookie, kept by someone
        assert replayed.status_code == 303
        assert replayed.headers["location"] == "/ui/login"


async def test_unknown_ids_answer_a_page_saying_so(console: Console) -> None:
    await console.sign_in()
    request = console.page.request
    for path in ("/ui/sessions/nosuchid", "/ui/sessions/nosuchid/export?format=json"):
        answer = await request.get(f"{console.base}{path}")
        assert answer.status == 404, path
        assert "There is no session &#39;nosuchid&#39;." in await answer.text()
    session_id = await console.user_session("alice")
    gone = await request.get(f"{console.base}/ui/sessions/{session_id}?before=nosuchmessage")
    assert gone.status == 404
    assert "That page of the history is gone." in await gone.text()
