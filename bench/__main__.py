"""Every benchmark in one run, and one table of figures, ratios and targets.

``python -m bench`` (what ``make bench`` runs) runs, in this order: ingest against the
raw sqlite3 floor and LangChain (``bench_ingest``), flat costs at 100 and 1,000,000
(``bench_flat``), memory for 100,000 sessions (``bench_memory``), start-up and the
console fed a file (``bench_startup``), reply latency under load, alone, during an
export and during a sweep (``bench_latency``), then ``bench_history``, ``bench_resets`` and
``bench_encryption`` when present. It prints the summary table first, then each
benchmark's own table. Aim: under ten minutes on a two-core machine.

Options: ``--quick`` (smaller sizes, a smoke run of a minute or two), ``--only NAME``
(repeatable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_flat, bench_ingest, bench_latency, bench_memory, bench_startup
from bench.common import Figures, fmt, machine, table


@dataclass(frozen=True)
class Target:
    """One line of the summary: a figure, what it is compared with, and the goal."""

    label: str
    figure: str
    versus: str | None = None
    at_least: float | None = None
    at_most: float | None = None
    ratio: bool = True
    """Whether the target applies to figure/versus (else to the figure itself)."""


TARGETS = (
    Target("ingest, 1,000 conversations vs the single-commit floor", "ingest_1000", "floor", 1.0),
    Target(
        "ingest, 1,000 conversations vs LangChain, 1,000 (async)",
        "ingest_1000",
        "langchain_1000",
        10.0,
    ),
    Target(
        "ingest, 1,000 conversations vs LangChain, 1 (its fastest)",
        "ingest_1000",
        "langchain_1",
        10.0,
    ),
    Target(
        "ingest, 1,000 conversations, nothing remembered, vs the floor",
        "ingest_1000_cold",
        "floor",
    ),
    Target(
        "ingest, 1,000 conversations, nothing remembered, vs LangChain, 1,000 (async)",
        "ingest_1000_cold",
        "langchain_1000",
    ),
    Target("ingest, 1,000 fresh conversations vs the floor", "ingest_1000_fresh", "floor"),
    Target(
        "ingest, 1,000 fresh conversations vs LangChain, 1,000 (async)",
        "ingest_1000_fresh",
        "langchain_1000",
    ),
    Target("ingest, 1 conversation (in process) vs the floor", "ingest_1", "floor"),
    Target("ingest, 1 conversation vs LangChain, 1", "ingest_1", "langchain_1"),
    Target("console fed a file (1 conversation) vs the floor", "console", "floor", 0.5),
    Target("batched floor vs single-commit floor", "floor_batched", "floor"),
    Target(
        "sessionbot's append transactions alone, 1 conversation, vs the floor", "sql_1", "floor"
    ),
    Target("console fed a file vs sessionbot's append transactions alone", "console", "sql_1"),
    Target(
        "sessionbot's append transactions alone, 1,000 conversations, vs the floor",
        "sql_1000",
        "floor",
    ),
    Target(
        "ingest, 1,000 conversations vs sessionbot's append transactions alone",
        "ingest_1000",
        "sql_1000",
    ),
    Target("appends per commit, 1,000 conversations", "commits_1000", ratio=False),
    Target(
        "/history 50: 1,000,000 vs 100 messages",
        "/history 50 @1000000",
        "/history 50 @100",
        at_most=1.5,
    ),
    Target(
        "checkpoint save: 1,000,000 vs 100 messages",
        "checkpoint save @1000000",
        "checkpoint save @100",
        at_most=1.5,
    ),
    Target(
        "checkpoint restore: 1,000,000 vs 100 messages",
        "checkpoint restore @1000000",
        "checkpoint restore @100",
        at_most=1.5,
    ),
    Target(
        "context for a reply: 1,000,000 vs 100 messages",
        "context for a reply @1000000",
        "context for a reply @100",
        at_most=1.5,
    ),
    Target(
        "context for a reply, read from the file: 1,000,000 vs 100 messages",
        "context for a reply, read from the file @1000000",
        "context for a reply, read from the file @100",
        at_most=1.5,
    ),
    Target("resolve: 1,000,000 vs 100 sessions", "resolve @1000000", "resolve @100", at_most=1.5),
    Target(
        "resolve, read from the file: 1,000,000 vs 100 sessions",
        "resolve, read from the file @1000000",
        "resolve, read from the file @100",
        at_most=1.5,
    ),
    Target(
        "sessionbot /history 50 vs LangChain whole session, 10,000 messages",
        "read sessionbot last 50 (/history 50) @10000",
        "read LangChain whole session (.messages, its only read) @10000",
    ),
    Target(
        "LangChain whole-session read: 10,000 vs 100 messages",
        "read LangChain whole session (.messages, its only read) @10000",
        "read LangChain whole session (.messages, its only read) @100",
    ),
    Target("reply latency, median, steady load", "latency_p50_steady", ratio=False),
    Target("reply latency, 99th percentile, steady load", "latency_p99_steady", ratio=False),
    Target("event loop's longest stall, steady load", "stall_steady", ratio=False),
    Target(
        "reply latency, median, during an export vs steady load",
        "latency_p50_export",
        "latency_p50_steady",
    ),
    Target(
        "reply latency, 99th percentile, during an export vs steady load",
        "latency_p99_export",
        "latency_p99_steady",
    ),
    Target("event loop's longest stall, during an export", "stall_export", ratio=False),
    Target(
        "reply latency, median, during a sweep vs steady load",
        "latency_p50_sweep",
        "latency_p50_steady",
    ),
    Target(
        "reply latency, 99th percentile, during a sweep vs steady load",
        "latency_p99_sweep",
        "latency_p99_steady",
    ),
    Target("event loop's longest stall, during a sweep", "stall_sweep", ratio=False),
    Target("memory growth for 100,000 sessions", "rss_growth", at_most=50.0, ratio=False),
    Target("start-up and stop, console, existing database", "startup", at_most=1.5, ratio=False),
    Target("start-up and stop, console, new database", "startup_new", at_most=1.5, ratio=False),
)


def summary(figures: Figures) -> list[str]:
    lines = [
        "| measurement | figure | compared with | ratio | target | met |",
        "| --- | ---: | ---: | ---: | ---: | :---: |",
    ]
    for target in TARGETS:
        figure = figures.get(target.figure)
        versus = figures.get(target.versus) if target.versus else None
        if figure is None or (target.versus and versus is None):
            continue
        value = figure.median
        shown = f"{fmt(value)} {figure.unit}"
        compared, ratio_text, judged = "", "", value
        if versus is not None:
            compared = f"{fmt(versus.median)} {versus.unit}"
            judged = value / versus.median
            ratio_text = f"{judged:.2f}x"
        goal, met = "", ""
        if target.at_least is not None:
            goal = f">= {target.at_least:g}" + ("x" if target.ratio else f" {figure.unit}")
            met = (
                "yes" if judged >= target.at_least else f"no ({judged / target.at_least:.2f} of it)"
            )
        if target.at_most is not None:
            goal = f"<= {target.at_most:g}" + ("x" if target.ratio else f" {figure.unit}")
            met = "yes" if judged <= target.at_most else f"no ({judged / target.at_most:.2f}x it)"
        lines.append(f"| {target.label} | {shown} | {compared} | {ratio_text} | {goal} | {met} |")
    return lines


def others(name: str, argv: list[str]) -> list[str]:
    """Run another benchmark module's ``main(argv)``; a missing one is skipped with a note."""
    try:
        module = importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"bench.{name}":
            raise
        return [f"(bench/{name}.py is not there: skipped)"]
    main: Callable[..., object] = module.main
    with contextlib.redirect_stdout(io.StringIO()) as printed:  # its table comes back below
        result = main(argv)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
    if not isinstance(result, list):
        return printed.getvalue().splitlines()
    return [str(line) for line in result]


def run(quick: bool, only: set[str]) -> list[str]:
    figures: Figures = {}
    tables: list[str] = []
    timings: list[str] = []

    def step(name: str, work: Callable[[], Figures | list[str]]) -> None:
        if only and name not in only:
            return
        print(f"running {name}...", file=sys.stderr, flush=True)
        began = time.perf_counter()
        result = work()
        took = time.perf_counter() - began
        timings.append(f"{name} {took:.0f} s")
        if isinstance(result, dict):
            figures.update(result)
            tables.extend(["", f"### {name}", "", *table(result)])
        else:
            tables.extend(["", f"### {name}", "", *result])

    if quick:
        step("bench_ingest", lambda: asyncio.run(bench_ingest.collect(1, 60, 60)))
        step("bench_flat", lambda: asyncio.run(bench_flat.collect(20_000, 20_000, 2, 5)))
        step("bench_memory", lambda: bench_memory.collect(5_000))
        step("bench_startup", lambda: bench_startup.collect(200, 2))
        step(
            "bench_latency",
            lambda: asyncio.run(
                bench_latency.collect(1, 2.0, export_size=20_000, sweep_size=5_000)
            ),
        )
        step("bench_history", lambda: others("bench_history", ["--repeat", "40", "--rounds", "4"]))
        step(
            "bench_resets", lambda: others("bench_resets", ["--sessions", "10000", "--repeat", "2"])
        )
        step("bench_encryption", lambda: others("bench_encryption", []))
    else:
        step("bench_ingest", lambda: asyncio.run(bench_ingest.collect()))
        step("bench_flat", lambda: asyncio.run(bench_flat.collect(rounds=3)))
        step("bench_memory", lambda: bench_memory.collect())
        step("bench_startup", lambda: bench_startup.collect(2000, 3))
        step("bench_latency", lambda: asyncio.run(bench_latency.collect()))
        step(
            "bench_history", lambda: others("bench_history", ["--repeat", "100", "--rounds", "10"])
        )
        step("bench_resets", lambda: others("bench_resets", ["--repeat", "2"]))
        step("bench_encryption", lambda: others("bench_encryption", []))
    note = next((f.note for f in figures.values() if f.note), "")
    return [
        f"{machine()}{'; ' + note if note else ''}",
        f"time per benchmark: {', '.join(timings)}",
        "",
        *summary(figures),
        *tables,
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", action="append", default=[], help="run only this benchmark")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    lines = run(args.quick, set(args.only))
    print("\n".join(lines))
    print(f"\nall benchmarks: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
