"""Three `sessionbot run` workers on one PostgreSQL database behind a load balancer.

The fake Bot API's webhook updates are spread over the workers in turn, as a proxy
would, and some are delivered twice to different workers, as Telegram does when an
answer is late. At the same time HTTP API clients talk through the workers' API, and
send some requests again, with the same ``Idempotency-Key``, to another worker: the
retry gets the first answer and stores nothing. Conversations switch their head
mid-stream (`/new`, `/history clear`, `/checkpoint restore`), and one worker is killed with SIGKILL
half-way; the balancers then send its share to the others. Afterwards: every update
or request a worker acknowledged (a 200 means handled) is stored and answered
exactly once, nothing is stored twice, each conversation has one active session, and
every branch's sequence numbers run without a gap. The updates the killed worker was
handling at that moment are answered 503 by the others until its heartbeat is 5 s
old, then taken over: handled without storing twice what it had stored, its stored
answer sent again (it may have died before sending it, or just after). So every
update is acknowledged in the end. So are its API requests: a client's retry with
the same ``Idempotency-Key`` waits, then takes the request over the same way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from core import new_api_key
from core.crypto.opening import open_store
from core.storage.backends import database_url
from tests.commands.test_router_processes import postgres_database
from tests.e2e.child import child_environment
from tests.e2e.test_telegram_e2e import free_port
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI, private_chat, user

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
SECRET = "multi-Worker_secret"
CONVERSATIONS = 160  # and 40 through the API: 200 conversations
API_CONVERSATIONS = 40
MESSAGES = 6
STARTUP = 90.0
GIVE_UP = 20.0


class Worker:
    """One `sessionbot run` in webhook mode on a port of its own."""

    def __init__(
        self,
        directory: Path,
        url: str,
        api: FakeTelegramAPI,
        number: int,
        extra: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/telegram"
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}/api"
        self.config = directory / f"worker{number}.toml"
        self.config.write_text(
            "\n".join(
                [
                    "[bot]",
                    "rate_limit_per_minute = 0",
                    "heartbeat_seconds = 1",
                    "[storage]",
                    f'url = "{url}"',
                    "[adapters.console]",
                    "enabled = false",
                    "[adapters.telegram]",
                    "enabled = true",
                    'mode = "webhook"',
                    f'base_url = "{api.url}"',
                    'listen = "127.0.0.1"',
                    f"port = {self.port}",
                    'url_path = "telegram"',
                    "[api]",
                    "enabled = true",
                    "rate_limit_per_minute = 0",
                    f"port = {self.api_port}",
                    *extra,
                ]
            )
            + "\n"
        )
        self.log = directory / f"worker{number}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        environ = child_environment(
            {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET}
        )
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "bot", "run", "--config", str(self.config)),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=ROOT,
                env=environ,
            )

    async def ready(self, session: aiohttp.ClientSession) -> None:
        deadline = asyncio.get_running_loop().time() + STARTUP
        while True:
            assert self.process is not None and self.process.returncode is None, self.log_text()
            try:
                async with session.post(self.url, data=b"{}") as response:
                    if response.status == 403:  # listening, and checking the secret
                        return
            except aiohttp.ClientError:
                pass
            assert asyncio.get_running_loop().time() < deadline, self.log_text()
            await asyncio.sleep(0.2)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


class Balancer:
    """Posts each update to the next live worker, and again later until one says 200.

    As Telegram does: a refused connection or a 503 (the update is being handled
    elsewhere) is tried again; after ``GIVE_UP`` seconds the update counts as never
    acknowledged.
    """

    def __init__(self, workers: list[Worker], session: aiohttp.ClientSession) -> None:
        self._workers = workers
        self._session = session
        self._turn = itertools.count()

    async def post(self, update: dict[str, object]) -> bool:
        body = json.dumps(update).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": SECRET,
        }
        deadline = asyncio.get_running_loop().time() + GIVE_UP
        while asyncio.get_running_loop().time() < deadline:
            worker = self._workers[next(self._turn) % len(self._workers)]
            try:
                async with self._session.post(worker.url, data=body, headers=headers) as answer:
                    if answer.status == 200:
                        return True
            except aiohttp.ClientError:
                pass  # that worker is gone
            await asyncio.sleep(0.1)
        return False


class ApiBalancer:
    """Sends each API request to the next live worker until one answers it.

    A refused connection, a timeout or a 409 ``in_progress`` (the same key is being
    handled elsewhere) is tried again on the next worker with the same
    ``Idempotency-Key``, as a client that got no answer does; after ``GIVE_UP``
    seconds the request counts as never answered.
    """

    def __init__(self, workers: list[Worker], session: aiohttp.ClientSession, key: str) -> None:
        self._workers = workers
        self._session = session
        self._headers = {"Authorization": f"Bearer {key}"}
        self._turn = itertools.count()

    async def post(self, path: str, body: dict[str, Any], key: str) -> tuple[Any, bool] | None:
        """Return the answer and whether it was replayed, or ``None``."""
        headers = {**self._headers, "Idempotency-Key": key}
        deadline = asyncio.get_running_loop().time() + GIVE_UP
        while asyncio.get_running_loop().time() < deadline:
            worker = self._workers[next(self._turn) % len(self._workers)]
            try:
                async with self._session.post(
                    worker.api_url + path,
                    json=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=GIVE_UP),
                ) as answer:
                    data = await answer.json()
                    if answer.status in (200, 201):
                        return data, answer.headers.get("Idempotent-Replayed") == "true"
                    assert answer.status == 409, data
                    assert data["error"]["code"] == "in_progress", data
            except (aiohttp.ClientError, TimeoutError):
                pass  # that worker is gone
            await asyncio.sleep(0.1)
        return None


async def admin_key(url: str) -> str:
    """Store an admin API key in the workers' database; return it."""
    stored, text = new_api_key("ops", admin=True, name="e2e", at=datetime.now(UTC))
    store = await open_store(url)
    try:
        await store.add_api_key(stored)
    finally:
        await store.close()
    return text


async def converse_api(
    apis: ApiBalancer, number: int, acknowledged: list[str], started: set[int]
) -> None:
    """An API client's conversation; every other request is sent again, elsewhere."""
    ident = f"a{number}"
    created = await apis.post("/sessions", {"userId": ident}, f"{ident}-create")
    if created is None:
        return  # unanswered for GIVE_UP seconds (the assertions say it never is)
    started.add(number)
    session_id = created[0]["sessionId"]
    for index, text in enumerate(script(number, prefix="a")):
        path, key = f"/sessions/{session_id}/messages", f"{ident}-{index}"
        got = await apis.post(path, {"content": text}, key)
        if got is None:
            continue  # unanswered for GIVE_UP seconds (the assertions say it never is)
        answer, _ = got
        if not text.startswith("/"):
            assert answer["reply"]["content"] == f"echo: {text}"
            acknowledged.append(text)
        if index % 2 == 1:  # the client's retry, on another worker: the same answer
            again = await apis.post(path, {"content": text}, key)
            assert again == (answer, True)
        session_id = answer["sessionId"]  # where a /new moved it


def script(number: int, *, prefix: str = "c") -> list[str]:
    """What conversation ``number`` says; some switch their head half-way."""
    lines = [f"{prefix}{number} m{i}" for i in range(MESSAGES)]
    if number % 5 == 0:
        lines.insert(3, "/new")
    elif number % 7 == 0:
        lines.insert(2, "/history clear")
    return lines


async def test_three_workers_lose_nothing_and_double_nothing(tmp_path: Path) -> None:
    async with (
        postgres_database() as url,
        FakeTelegramAPI() as api,
        aiohttp.ClientSession() as session,
    ):
        workers = [Worker(tmp_path, url, api, number) for number in range(3)]
        try:
            await workers[0].start()
            await workers[0].ready(session)  # it migrates the database first
            for worker in workers[1:]:
                await worker.start()
            await asyncio.gather(*(worker.ready(session) for worker in workers[1:]))
            balancer = Balancer(workers, session)
            apis = ApiBalancer(workers, session, await admin_key(url))
            acknowledged: list[str] = []
            api_acknowledged: list[str] = []
            started: set[int] = set()
            killed = asyncio.Event()
            text_of: dict[int, str] = {}  # update id to the text it carried

            async def say(person: dict[str, Any], text: str) -> bool:
                update = api.update(api.message(private_chat(person), person, text))
                text_of[int(str(update["update_id"]))] = text
                return await balancer.post(update)

            async def converse(number: int) -> None:
                person = user(10_000 + number, f"User{number}")
                saved = None
                for index, text in enumerate(script(number)):
                    update = api.update(api.message(private_chat(person), person, text))
                    text_of[int(str(update["update_id"]))] = text
                    if await balancer.post(update):
                        acknowledged.append(text)
                    if number % 11 == 0 and index == 1 and await say(person, "/checkpoint save x"):
                        # The 200 came after the answer was sent: the id is in it.
                        saved = re.search(r"restore (\w+)", api.texts(person["id"])[-1])
                    if saved and index == 3:  # back to the checkpoint, mid-stream
                        await say(person, f"/checkpoint restore {saved[1]}")
                    if index == 1 and number % 4 == 0:
                        await balancer.post(update)  # delivered again, to another worker
                    if number == CONVERSATIONS // 2 and index == 2 and not killed.is_set():
                        killed.set()
                        assert workers[1].process is not None
                        workers[1].process.kill()  # SIGKILL, mid-stream

            await asyncio.gather(
                *(converse(number) for number in range(CONVERSATIONS)),
                *(
                    converse_api(apis, n, api_acknowledged, started)
                    for n in range(API_CONVERSATIONS)
                ),
            )
            await asyncio.sleep(1.0)  # a second answer, were there one, would be in by now
        finally:
            for worker in workers:
                await worker.stop()
        sent = [text for number in range(CONVERSATIONS) for text in script(number)]
        plain = [text for text in acknowledged if not text.startswith("/")]
        answers = Counter(t.removeprefix("echo: ") for t in api.texts() if t.startswith("echo: "))
        assert sum(t.startswith('Restored "x"') for t in api.texts()) >= 10  # restores ran
        # An update the killed worker held is taken over by the worker Telegram posts it
        # to next, once the killed one's heartbeat is 5 s old; its stored answer, if the
        # killed worker had stored one, is sent again (it may have died before sending).
        survivors = workers[0].log_text() + workers[2].log_text()
        taken = {text_of[int(i)] for i in re.findall(r"took over update (\d+)", survivors)}
        assert 0 < len(taken) <= CONVERSATIONS // 3 + 10
        # A 200 means handled: each acknowledged message answered, and nothing else twice.
        assert set(answers) >= set(plain)
        assert max(n for text, n in answers.items() if text not in taken) == 1
        assert max(answers.values()) <= 2
        # Nothing goes unacknowledged: what the killed worker held was taken over.
        assert [t for t in sent if t not in acknowledged] == []
        for worker in (workers[0], workers[2]):
            assert "Traceback" not in worker.log_text()
        assert len(started) == API_CONVERSATIONS  # what the killed worker held: taken over
        api_sent = [t for n in sorted(started) for t in script(n, prefix="a")]
        api_unanswered = [
            t for t in api_sent if not t.startswith("/") and t not in api_acknowledged
        ]
        assert api_unanswered == []
        await check_database(url, plain + api_acknowledged)


async def check_database(url: str, plain: list[str]) -> None:
    engine = create_async_engine(database_url(url))
    try:
        async with engine.connect() as conn:
            stored = (
                (await conn.execute(sa.text("SELECT content FROM messages WHERE role = 'user'")))
                .scalars()
                .all()
            )
            active = (
                await conn.execute(
                    sa.text(
                        "SELECT scope_key, count(*) FROM sessions WHERE status = 'active' "
                        "GROUP BY scope_key HAVING count(*) > 1"
                    )
                )
            ).all()
            replies = (
                (
                    await conn.execute(
                        sa.text("SELECT content FROM messages WHERE role = 'assistant'")
                    )
                )
                .scalars()
                .all()
            )
            gaps = (
                await conn.execute(
                    sa.text(
                        "SELECT branch_id FROM messages GROUP BY branch_id "
                        "HAVING max(seq) - min(seq) + 1 <> count(*)"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert max(Counter(stored).values()) == 1  # nothing stored twice
    assert max(Counter(replies).values()) == 1  # nor answered twice
    assert set(stored) >= set(plain)  # every acknowledged message stored
    assert active == []
    assert gaps == []
