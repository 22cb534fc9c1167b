"""Encryption benchmark: message ingest and ``/history 50`` with encryption on and off.

Both variants run the whole path a message takes (``Router.handle`` with the echo
responder, so each message stores a user and an assistant message) on a SQLite file
of their own, in alternating rounds so that load from elsewhere on the machine falls
on both alike. Reports medians and the slowdown of encryption. ``/history 50`` is
timed twice: in the conversation just fed (its newest messages are in memory) and
through a second router that remembers nothing, so that 50 messages are read from the
file and opened.

Run from the repository root::

    python -m bench.bench_encryption
    python -m bench.bench_encryption --messages 300 --rounds 5

Results are recorded in bench/README.md. Tests never assert on these timings.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from commands import Router, RouterSettings, default_registry
from core.crypto.envelope import decode_master_key, generate_master_key
from core.crypto.opening import open_store
from core.models import Inbound
from core.sessions.manager import SessionManager
from core.sessions.responders import EchoResponder

VARIANTS = ("off", "on")


class Bot:
    """One router on its own SQLite file, with or without encryption."""

    def __init__(self, router: Router, forgetful: Router) -> None:
        self.router = router
        self.forgetful = forgetful

    @classmethod
    async def open(cls, path: Path, encrypted: bool) -> tuple[Bot, object]:
        key = decode_master_key(generate_master_key(), source="bench") if encrypted else None
        store = await open_store(f"sqlite:///{path}", master_key=key)

        def router(live_conversations: int) -> Router:
            return Router(
                SessionManager(store, encrypted=encrypted, live_conversations=live_conversations),
                EchoResponder(),
                default_registry(load_plugins=False),
                RouterSettings(rate_limit_per_minute=0),
            )

        # The second router remembers nothing: its /history always reads the file.
        return cls(router(1000), router(0)), store

    async def say(self, text: str, user: str = "alice", *, forgetful: bool = False) -> None:
        router = self.forgetful if forgetful else self.router
        replies = await router.handle(Inbound("bench", "c", user, text))
        assert replies, text


async def ingest(bot: Bot, count: int, round_number: int) -> float:
    """Return messages per second for ``count`` plain messages in one conversation."""
    user = f"u{round_number}"
    began = time.perf_counter()
    for number in range(count):
        await bot.say(f"message {number}: the quick brown fox jumps over the lazy dog", user)
    return count / (time.perf_counter() - began)


async def history(bot: Bot, repeat: int, round_number: int, *, forgetful: bool) -> list[float]:
    """``/history 50`` in the conversation just fed: from memory, or (forgetful) the file."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        await bot.say("/history 50", f"u{round_number}", forgetful=forgetful)
        times.append((time.perf_counter() - began) * 1000)
    return times


async def run(messages: int, rounds: int, repeat: int) -> list[str]:
    rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
    reads: dict[str, list[float]] = {v: [] for v in VARIANTS}
    file_reads: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as scratch:
        bots = {}
        stores = []
        for variant in VARIANTS:
            bot, store = await Bot.open(Path(scratch) / f"{variant}.db", variant == "on")
            bots[variant] = bot
            stores.append(store)
        try:
            for variant in VARIANTS:  # warm-up: connections, statement caches
                await ingest(bots[variant], 20, -1)
            for round_number in range(rounds):
                order = VARIANTS if round_number % 2 == 0 else tuple(reversed(VARIANTS))
                for variant in order:
                    bot = bots[variant]
                    rates[variant].append(await ingest(bot, messages, round_number))
                    reads[variant] += await history(bot, repeat, round_number, forgetful=False)
                    file_reads[variant] += await history(bot, repeat, round_number, forgetful=True)
        finally:
            for store in stores:
                await store.close()  # type: ignore[attr-defined]
    off_rate, on_rate = (statistics.median(rates[v]) for v in VARIANTS)
    off_read, on_read = (statistics.median(reads[v]) for v in VARIANTS)
    off_file, on_file = (statistics.median(file_reads[v]) for v in VARIANTS)
    return [
        "| measurement | encryption off | encryption on | slowdown |",
        "| --- | ---: | ---: | ---: |",
        f"| ingest, messages/s (2 rows each) | {off_rate:,.0f} | {on_rate:,.0f} "
        f"| {(off_rate / on_rate - 1) * 100:+.1f}% |",
        f"| /history 50 in a conversation in progress, median ms | {off_read:.2f} "
        f"| {on_read:.2f} | {(on_read / off_read - 1) * 100:+.1f}% |",
        f"| /history 50 read from the file (50 messages opened), median ms | {off_file:.2f} "
        f"| {on_file:.2f} | {(on_file / off_file - 1) * 100:+.1f}% |",
    ]


def main(argv: list[str] | None = None) -> list[str]:
    """Parse arguments, run, print and return the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=300, help="messages per ingest round")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=30, help="/history 50 runs per round")
    args = parser.parse_args(argv)
    lines = asyncio.run(run(args.messages, args.rounds, args.repeat))
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
