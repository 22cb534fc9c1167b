"""Flat costs: what one operation costs at 100 and at 1,000,000 messages or sessions.

Everything is timed through ``Router.handle`` or the session manager, encryption on,
SQLite WAL, on two sessions in one file: one of 100 messages and one of 1,000,000
(filled in bulk with sealed rows, through the standard library's ``sqlite3``), and on
two files of 100 and 1,000,000 sessions for resolve.

* ``/history 50`` (read from the file: through a router that remembers nothing),
  ``/checkpoint save``, ``/checkpoint restore`` (back to a checkpoint at the last
  message: an automatic checkpoint, a new head branch), each a whole
  ``Router.handle`` call (resolve with reset evaluation included);
* context for a reply: ``context_history(manager, session, 2000)``, what the responder
  is handed, from memory (a conversation in progress) and read from the file; and the
  same by the ``smart`` strategy (three pins: the first message, one in the middle,
  one at nine tenths) and the ``summarize`` strategy (a stored summary covering all
  but the newest 50 messages), through ``ContextBuilder.build``;
* resolve, with reset evaluation (daily 04:00, idle 30 minutes), of an existing
  session, in a file of 100 and of 1,000,000 sessions, remembered and read from the
  file.

Sizes take turns in every round, so that load from elsewhere falls on both alike.

Run from the repository root::

    python -m bench.bench_flat
    python -m bench.bench_flat --messages 100000 --sessions 100000   # quicker

Results are recorded in bench/README.md. Tests never assert on these timings.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Bot, Figure, Figures, fmt, machine, settle, sqlite_time
from core.models import Inbound
from core.sessions.context_window import context_history
from core.sessions.manager import SessionManager
from core.sessions.notes import Summary
from core.sessions.responders import EchoResponder
from core.sessions.strategies import ContextBuilder, Strategy

CHUNK = 20_000
TEXT = "message {seq}: could you summarise the last report for me, please?"


def file_of(bot: Bot) -> Path:
    return bot.path


async def fill_messages(bot: Bot, user: str, size: int) -> None:
    """Give ``user``'s session ``size`` sealed messages, in bulk, counters set."""
    session = (await bot.manager.resolve(Inbound("bench", "c", user, "hi"))).session
    await bot.fill([session], size, lambda seq: TEXT.format(seq=seq))


def fill_sessions(path: Path, count: int) -> None:
    """Insert ``count`` active sessions with their root branches, in bulk."""
    now = sqlite_time(datetime.now(UTC))
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for first in range(0, count, CHUNK):
            numbers = range(first, min(first + CHUNK, count))
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO sessions (id, scope_key, status, owner, platform, channel_id, "
                "head_branch_id, message_count, title, tags, metadata, tokens_in, tokens_out, "
                "created_at, updated_at, last_activity_at, channel_key, is_direct) "
                "VALUES (?, ?, 'active', ?, 'bench', ?, ?, 0, NULL, '[]', '{}', 0, 0, "
                "?, ?, ?, ?, 0)",
                [
                    (
                        f"s{n}",
                        f"bench:c:c{n % 100}:u:filler{n}",
                        f"bench:filler{n}",
                        f"c{n % 100}",
                        f"b{n}",
                        now,
                        now,
                        now,
                        f"bench:c:c{n % 100}",
                    )
                    for n in numbers
                ],
            )
            db.executemany(
                "INSERT INTO branches (id, session_id, parent_id, fork_seq, last_seq, created_at) "
                "VALUES (?, ?, NULL, 0, 0, ?)",
                [(f"b{n}", f"s{n}", now) for n in numbers],
            )
            db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


class HistorySubject:
    """One filled session and the operations timed on it."""

    def __init__(self, bot: Bot, user: str, size: int) -> None:
        self.bot = bot
        self.user = user
        self.size = size
        self.target = ""
        # Reads everything from the file: the cost after a restart, or for a
        # conversation the bounded memory of conversations in progress has dropped.
        self.forgetful = bot.forgetful()
        self.forgetful_router = bot.forgetful_router()

    def say(self, text: str) -> Inbound:
        return Inbound("bench", "c", self.user, text)

    async def handle(self, text: str) -> str:
        replies = await self.bot.router.handle(self.say(text))
        return replies[0].text

    async def prepare(self) -> None:
        await fill_messages(self.bot, self.user, self.size)
        saved = await self.handle('/checkpoint save "target"')
        self.target = saved.rsplit("/checkpoint restore ", 1)[1].strip()
        page = await self.handle("/history 50")
        assert f"{self.size}" in page or page, page
        session = (await self.bot.manager.resolve(self.say("x"))).session
        for seq in (1, self.size // 2, self.size * 9 // 10):
            [message] = await self.bot.manager.history.between(session, seq, seq, limit=1)
            await self.bot.manager.notes.pin(session, message)
        summary = Summary(session.head_branch_id, self.size - 50, "a summary " * 40)
        await self.bot.manager.notes.save_summary(session.id, summary)

    def operations(self) -> dict[str, Callable[[], Awaitable[object]]]:
        async def history() -> object:
            # From the file: in a conversation in progress the newest messages are in
            # memory (a few µs), which says nothing about the store's costs.
            replies = await self.forgetful_router.handle(self.say("/history 50"))
            return replies[0].text

        async def save() -> object:
            return await self.handle('/checkpoint save "bench"')

        async def restore() -> object:
            text = await self.handle(f"/checkpoint restore {self.target}")
            assert "restor" in text.lower(), text
            return text

        async def context() -> object:
            return await self.context(self.bot.manager, remembered=True)

        async def context_read() -> object:
            return await self.context(self.forgetful, remembered=False)

        async def smart() -> object:
            return await self.context(self.bot.manager, remembered=True, strategy=Strategy.SMART)

        async def smart_read() -> object:
            return await self.context(self.forgetful, remembered=False, strategy=Strategy.SMART)

        async def summarized() -> object:
            return await self.context(
                self.bot.manager, remembered=True, strategy=Strategy.SUMMARIZE
            )

        async def summarized_read() -> object:
            return await self.context(self.forgetful, remembered=False, strategy=Strategy.SUMMARIZE)

        return {
            "/history 50": history,
            "checkpoint save": save,
            "checkpoint restore": restore,
            "context for a reply": context,
            "context for a reply, read from the file": context_read,
            "smart context": smart,
            "smart context, read from the file": smart_read,
            "summarize context": summarized,
            "summarize context, read from the file": summarized_read,
        }

    async def context(
        self, manager: SessionManager, *, remembered: bool, strategy: Strategy | None = None
    ) -> object:
        """Resolve as a plain message does, then build the reply's context."""
        session = (await manager.resolve(self.say("x"), remembered=remembered)).session
        if strategy is None:
            found = await context_history(manager, session, 2000)
        else:
            builder = ContextBuilder(manager, EchoResponder())
            found = await builder.build(session, strategy, 2000)
            # Pins come first (the first message is one); a summary is a seq-0 message.
            first = 0 if strategy is Strategy.SUMMARIZE else 1
            assert found[0].seq == first, [m.seq for m in found[:3]]
        assert found and found[-1].seq == session.message_count, len(found)
        return found


async def timed(operation: Callable[[], Awaitable[object]], repeat: int) -> float:
    await operation()  # warm-up
    settle()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        await operation()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return times[len(times) // 2]


async def collect(
    messages: int = 1_000_000, sessions: int = 1_000_000, rounds: int = 5, repeat: int = 20
) -> Figures:
    small = 100
    figures: Figures = {}
    with tempfile.TemporaryDirectory(prefix="sessionbot-flat-") as scratch_dir:
        scratch = Path(scratch_dir)
        bot = await Bot.open(scratch / "history.db")
        few = await Bot.open(scratch / "few-sessions.db")
        many = await Bot.open(scratch / "many-sessions.db")
        try:
            subjects = {
                size: HistorySubject(bot, f"user{size}", size) for size in (small, messages)
            }
            for subject in subjects.values():
                await subject.prepare()
            fill_sessions(file_of(few), small)
            fill_sessions(file_of(many), sessions)
            resolvers = {small: few, sessions: many}
            forgetful = {size: resolver.forgetful() for size, resolver in resolvers.items()}
            for resolver in resolvers.values():
                await resolver.router.handle(Inbound("bench", "c", "probe", "hello"))
            for _ in range(rounds):
                for size, subject in subjects.items():
                    for name, operation in subject.operations().items():
                        key = f"{name} @{size}"
                        figure = figures.setdefault(key, Figure(f"{name}, {size:,} messages", "ms"))
                        figure.samples.append(await timed(operation, repeat))
                for size, resolver in resolvers.items():
                    probe = Inbound("bench", "c", "probe", "hello")

                    async def resolve(resolver: Bot = resolver, probe: Inbound = probe) -> object:
                        return await resolver.manager.resolve(probe, remembered=True)

                    async def resolve_read(
                        manager: SessionManager = forgetful[size], probe: Inbound = probe
                    ) -> object:
                        return await manager.resolve(probe)

                    for name, operation in (
                        ("resolve", resolve),
                        ("resolve, read from the file", resolve_read),
                    ):
                        figure = figures.setdefault(
                            f"{name} @{size}",
                            Figure(f"{name} with reset evaluation, {size:,} sessions", "ms"),
                        )
                        figure.samples.append(await timed(operation, repeat))
        finally:
            for each in (bot, few, many):
                await each.close()
    return figures


PAIRS = (
    ("/history 50", "messages"),
    ("checkpoint save", "messages"),
    ("checkpoint restore", "messages"),
    ("context for a reply", "messages"),
    ("context for a reply, read from the file", "messages"),
    ("smart context", "messages"),
    ("smart context, read from the file", "messages"),
    ("summarize context", "messages"),
    ("summarize context, read from the file", "messages"),
    ("resolve", "sessions"),
    ("resolve, read from the file", "sessions"),
)


def table(figures: Figures) -> list[str]:
    lines = [
        "| operation | at 100: median | at the large size: median | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, _ in PAIRS:
        found = {int(k.split("@")[1]): f for k, f in figures.items() if k.split(" @")[0] == name}
        if len(found) < 2:
            continue
        low, high = found[min(found)], found[max(found)]
        lines.append(
            f"| {name} ({min(found):,} vs {max(found):,}) | {fmt(low.median)} ms "
            f"| {fmt(high.median)} ms | {high.median / low.median:.2f}x |"
        )
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per round")
    args = parser.parse_args(argv)
    figures = asyncio.run(collect(args.messages, args.sessions, args.rounds, args.repeat))
    lines = [machine(), "", *table(figures)]
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
