"""Reply latency under load, and what one user's export of a long history does to it.

1,000 conversations (each with a history that fills its context window) send plain
messages at a steady pace, together about ``--rate`` messages a second: an open
load, each message sent at its scheduled time whether or not the previous reply was
late, and its latency counted from that time (so a stall delays every message behind
it, and shows). Measured, in alternating rounds:

* **steady load**: the reply latency's median, 99th percentile and maximum, and the
  event loop's longest stall (a task asks to wake every millisecond; the stall is how
  late it woke);
* **with an export**: the same, while one more user runs ``/history export`` of a
  session of ``--export`` messages (100,000 by default), and how long the export took;
* **during a sweep**: the same, while the scheduler's idle sweep archives ``--sweep``
  stale sessions (30,000 by default; a daily reset at 04:00 archives as many at once),
  and how long the sweep took.

Everything is as in the ingest benchmark: encrypted SQLite file (WAL,
``synchronous=NORMAL``), the echo responder, ``sessionbot run``'s conversation memory.

Run from the repository root::

    python -m bench.bench_latency
    python -m bench.bench_latency --rounds 1 --seconds 3 --export 20000

Results are recorded in bench/README.md. Tests never assert on these timings.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_ingest import CONVERSATIONS, TEXT, inbound, prefill
from bench.bench_resets import build, reactivate
from bench.common import Bot, Figure, Figures, machine, settle, table
from core.models import Inbound

RATE = 1_000
"""Messages a second from all conversations together: about a third of what one
process handles at 1,000 conversations (see the ingest benchmark)."""
EXPORTER = "exporter"
T = TypeVar("T")
TICK = 0.001


@dataclass
class Run:
    """What one timed run saw."""

    latencies: list[float] = field(default_factory=list)
    stall: float = 0.0
    export: float | None = None
    sweep: float | None = None


async def _watch_loop(run: Run, stop: asyncio.Event) -> None:
    """Note the event loop's longest stall: how late a one-millisecond sleep wakes."""
    while not stop.is_set():
        asked = time.perf_counter()
        await asyncio.sleep(TICK)
        run.stall = max(run.stall, time.perf_counter() - asked - TICK)


async def _converse(
    bot: Bot, user: int, began: float, period: float, until: float, run: Run
) -> None:
    """Send a message every ``period`` seconds from a random offset; note each latency."""
    due = began + random.uniform(0, period)
    number = 1
    while due < until:
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        replies = await bot.router.handle(inbound(user, number))
        assert replies and replies[0].text.startswith("echo:"), replies
        run.latencies.append(time.perf_counter() - due)
        number += 1
        due += period


async def _at(when: float, operation: Awaitable[T]) -> tuple[T, float]:
    """Await ``operation`` at ``when`` (a ``perf_counter`` time); return it and its seconds."""
    await asyncio.sleep(max(0.0, when - time.perf_counter()))
    began = time.perf_counter()
    result = await operation
    return result, time.perf_counter() - began


async def _export(bot: Bot, at: float, run: Run) -> None:
    asked = bot.router.handle(Inbound("bench", "export", EXPORTER, "/history export"))
    replies, run.export = await _at(at, asked)
    assert replies and replies[0].file is not None, replies


async def _sweep(bot: Bot, at: float, run: Run) -> None:
    archived, run.sweep = await _at(at, bot.manager.maintenance.archive_idle_sessions())
    assert archived, "nothing was stale"


async def timed_run(
    bot: Bot, seconds: float, rate: float, *, export: bool = False, sweep: bool = False
) -> Run:
    """Run the load for ``seconds``; an export or a sweep starts a second in."""
    run = Run()
    stop = asyncio.Event()
    settle()
    began = time.perf_counter()
    until = began + seconds
    period = CONVERSATIONS / rate
    watcher = asyncio.create_task(_watch_loop(run, stop))
    work = [_converse(bot, user, began, period, until, run) for user in range(CONVERSATIONS)]
    if export:
        work.append(_export(bot, began + 1.0, run))
    if sweep:
        work.append(_sweep(bot, began + 1.0, run))
    await asyncio.gather(*work)
    stop.set()
    await watcher
    return run


async def collect(
    rounds: int = 2,
    seconds: float = 5.0,
    rate: float = RATE,
    export_size: int = 100_000,
    sweep_size: int = 30_000,
) -> Figures:
    """Alternate steady-load runs, runs with an export and runs with a sweep."""
    figures: Figures = {}
    variants = (
        ("steady", "steady load"),
        ("export", "with an export"),
        ("sweep", "during a sweep"),
    )
    for name, label in variants:
        figures[f"latency_p50_{name}"] = Figure(f"reply latency, median, {label}", "ms")
        figures[f"latency_p99_{name}"] = Figure(f"reply latency, 99th percentile, {label}", "ms")
        figures[f"latency_max_{name}"] = Figure(f"reply latency, longest, {label}", "ms")
        figures[f"stall_{name}"] = Figure(f"event loop's longest stall, {label}", "ms")
    figures["export"] = Figure(f"/history export of {export_size:,} messages", "s")
    figures["sweep"] = Figure(f"idle sweep of {sweep_size:,} stale sessions", "s")
    with tempfile.TemporaryDirectory(prefix="sessionbot-bench-") as scratch_dir:
        bot = await Bot.open(Path(scratch_dir) / "latency.db")
        try:
            await prefill(bot, range(CONVERSATIONS), 150)
            exporter = await bot.manager.resolve(Inbound("bench", "export", EXPORTER, "hi"))
            await bot.fill([exporter.session], export_size, lambda seq: TEXT.format(i=seq, user=1))
            await build(bot.store.inner, sweep_size)  # idle since long ago
            # Warm-up: every session exists, its key is cached, its window remembered.
            await asyncio.gather(*(bot.router.handle(inbound(u, 0)) for u in range(CONVERSATIONS)))
            for _ in range(rounds):
                for name, _ in variants:
                    if name == "sweep":
                        await reactivate(bot.store.inner)
                    run = await timed_run(
                        bot, seconds, rate, export=name == "export", sweep=name == "sweep"
                    )
                    ms = [value * 1000 for value in run.latencies]
                    figures[f"latency_p50_{name}"].samples.append(statistics.median(ms))
                    figures[f"latency_p99_{name}"].samples.append(
                        statistics.quantiles(ms, n=100)[98]
                    )
                    figures[f"latency_max_{name}"].samples.append(max(ms))
                    figures[f"stall_{name}"].samples.append(run.stall * 1000)
                    if run.export is not None:
                        figures["export"].samples.append(run.export)
                    if run.sweep is not None:
                        figures["sweep"].samples.append(run.sweep)
        finally:
            await bot.close()
    note = f"{CONVERSATIONS:,} conversations, {rate:,.0f} messages/s in all, {seconds:g} s runs"
    for figure in figures.values():
        figure.note = note
    return figures


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each variant")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each run")
    parser.add_argument("--rate", type=float, default=RATE, help="messages a second in all")
    parser.add_argument("--export", type=int, default=100_000, help="messages to export")
    parser.add_argument("--sweep", type=int, default=30_000, help="stale sessions to sweep")
    args = parser.parse_args(argv)
    figures = asyncio.run(collect(args.rounds, args.seconds, args.rate, args.export, args.sweep))
    lines = [machine(), next(iter(figures.values())).note, "", *table(figures)]
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
