from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from adapters.console import ConsoleAdapter
from bot.app import reset_notifier
from core.models import ArchiveReason, Reply, Session, SessionStatus

START = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


class Recorder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[tuple[str, str, str | None]] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def wait(self) -> None: ...

    async def send(self, channel_id: str, text: str, thread_id: str | None = None) -> None:
        self.sent.append((channel_id, text, thread_id))


def archived(platform: str, channel_key: str, session_id: str) -> Session:
    return Session(
        id=session_id,
        scope_key=f"{channel_key}:u:1",
        status=SessionStatus.ARCHIVED,
        owner=f"{platform}:1",
        platform=platform,
        channel_id=channel_key.split(":c:")[1].split("/")[0],
        head_branch_id="b",
        created_at=START,
        updated_at=START,
        last_activity_at=START,
        archived_at=START + timedelta(minutes=47),
        archive_reason=ArchiveReason.IDLE,
        channel_key=channel_key,
    )


async def test_notices_go_to_the_channel_and_thread_of_each_session() -> None:
    telegram, console = Recorder("telegram"), Recorder("console")
    notify = reset_notifier([telegram, console])
    await notify(
        [
            archived("telegram", "telegram:c:-100/7", "s1"),
            archived("console", "console:c:lobby", "s2"),
            archived("slack", "slack:c:C1", "s3"),  # no such adapter running: skipped
        ]
    )
    assert telegram.sent == [
        (
            "-100",
            "This session ended: it was idle for 47 min. Your next message starts "
            "a new one; /session resume s1 goes back.",
            "7",
        )
    ]
    assert [(channel, thread) for channel, _, thread in console.sent] == [("lobby", None)]


async def test_the_console_prints_notices_for_its_own_channel_only() -> None:
    output = io.StringIO()

    async def handler(_: object) -> list[Reply]:
        return []

    console = ConsoleAdapter(handler, channel="lobby", input=io.StringIO(""), output=output)
    await console.send("elsewhere", "not for us")
    await console.send("lobby", "Session ended.")
    assert output.getvalue() == "Session ended.\n"
