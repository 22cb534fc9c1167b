"""Memory benchmark: resident memory after creating 100,000 sessions, against an empty start.

A fresh process opens the bot (encrypted SQLite file, the built-in commands, the echo
responder), handles one message so that every lazy import and pool is in place, and
reads its resident set size. Then 100,000 users each send their first message
through ``Router.handle`` (1,000 at a time), which creates 100,000 sessions, their
data keys and 200,000 rows; after a garbage collection the resident set size is read
again. The growth shows any cache or object kept per session: everything that is
kept must be bounded (the data key cache, the rate limiter's windows, SQLite's page
cache per connection, SQLAlchemy's statement cache).

Run from the repository root::

    python -m bench.bench_memory                   # 100,000 sessions
    python -m bench.bench_memory --sessions 20000

Results are recorded in bench/README.md. Tests never assert on these figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Bot, Figure, Figures, fmt, machine
from core.models import Inbound

AT_ONCE = 1000
ROOT = Path(__file__).resolve().parent.parent


def resident_mb() -> float:
    """This process's resident set size, from /proc (Linux) or psutil."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20


async def child(sessions: int) -> dict[str, float]:
    """Run in a fresh process: create ``sessions`` sessions; report RSS before and after."""
    with tempfile.TemporaryDirectory(prefix="sessionbot-memory-") as scratch:
        bot = await Bot.open(Path(scratch) / "memory.db")
        try:
            await bot.router.handle(Inbound("bench", "c", "warm-up", "hello"))
            gc.collect()
            before = resident_mb()
            began = time.perf_counter()
            for first in range(0, sessions, AT_ONCE):
                batch = range(first, min(first + AT_ONCE, sessions))
                await asyncio.gather(
                    *(
                        bot.router.handle(Inbound("bench", f"c{n % 100}", f"user{n}", "hello"))
                        for n in batch
                    )
                )
            elapsed = time.perf_counter() - began
            gc.collect()
            after = resident_mb()
        finally:
            await bot.close()
    return {"before": before, "after": after, "seconds": elapsed}


def collect(sessions: int = 100_000) -> Figures:
    """Run the child in a fresh interpreter and return its figures."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_memory", "--child", "--sessions", str(sessions)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "rss_empty": Figure("resident memory, empty start (bot open)", "MB", [result["before"]]),
        "rss_full": Figure(f"resident memory after {sessions:,} sessions", "MB", [result["after"]]),
        "rss_growth": Figure(
            f"memory growth for {sessions:,} sessions", "MB", [result["after"] - result["before"]]
        ),
        "sessions_per_s": Figure(
            "new sessions per second (first messages, 1,000 at a time)",
            "sessions/s",
            [sessions / result["seconds"]],
        ),
    }


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(child(args.sessions))))
        return []
    figures = collect(args.sessions)
    lines = [machine(), "", "| measurement | figure |", "| --- | ---: |"]
    lines += [f"| {f.label} | {fmt(f.median)} {f.unit} |" for f in figures.values()]
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
