"""Ingest through the HTTP API with 1 and 2 workers on PostgreSQL, next to PostgreSQL's floors.

Two ``sessionbot run`` workers serve the API from one PostgreSQL database of the
benchmark's own (created, then dropped), as a deployment behind a load balancer runs
them: encryption on, echo responder, rate limits off, console off. Clients post
messages (each client a session of its own, on a keep-alive connection) either all
to the first worker ("1 worker") or to both in turn ("2 workers"); the two set-ups
alternate round by round, so load from elsewhere falls on both. Each message stores
two rows (the user's message and the echoed reply): rows/s = 2 x requests/s. Both
workers run all along; in the "1 worker" set-up the second only keeps its heartbeat.
Beside the rate, the CPU time the workers used per message (from ``/proc``): what a
message costs them, whatever else the machine is doing.

Measured in the same run, on the same database server, PostgreSQL's own floors for a
row of the same shape (asyncpg, the driver sessionbot uses):

* single commit: one connection, one ``INSERT`` and its ``COMMIT`` per row;
* single commit, concurrent: as many connections as clients, one row per commit each
  (PostgreSQL flushes concurrent commits together);
* batched: one connection, 1,000 rows per ``COMMIT``.

``python -m bench.bench_workers [--quick] [--rounds N]``; the server comes from
``SESSIONBOT_BENCH_POSTGRES_URL`` (or ``SESSIONBOT_TEST_POSTGRES_URL``), for example
``postgresql://postgres@127.0.0.1:5432/postgres``; the role must be allowed to create
databases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import httpx

from bench.bench_api import STARTUP, Connection, _environment, _free_port
from bench.common import Figure, Figures, machine, table

CLIENTS = 32
"""Concurrent API clients (and connections of the concurrent floor)."""

BATCH = 1000
"""Rows per commit of the batched floor."""


def server_url() -> str:
    """The PostgreSQL server to use, from the environment; exit 2 without one."""
    url = os.environ.get("SESSIONBOT_BENCH_POSTGRES_URL") or os.environ.get(
        "SESSIONBOT_TEST_POSTGRES_URL"
    )
    if not url:
        sys.exit("bench_workers: set SESSIONBOT_BENCH_POSTGRES_URL to a PostgreSQL server")
    return url


def with_database(url: str, name: str) -> str:
    """``url`` naming the database ``name``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class Worker:
    """A ``sessionbot run`` serving the API from the benchmark's database."""

    def __init__(self, directory: Path, url: str, number: int, environ: dict[str, str]) -> None:
        self.directory = directory
        self.port = _free_port()
        self.config = directory / f"worker{number}.toml"
        self.config.write_text(
            f"""
[bot]
rate_limit_per_minute = 0
log_level = "warning"

[storage]
url = "{url}"

[encryption]
enabled = true

[adapters.console]
enabled = false

[api]
enabled = true
port = {self.port}
rate_limit_per_minute = 0
"""
        )
        self.log = directory / f"worker{number}.log"
        self.environ = environ
        self.process: subprocess.Popen[bytes] | None = None

    def key(self) -> str:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "bot", "api-keys", "create"),
                *("--user", "bench", "--admin", "--config", str(self.config)),
            ],
            capture_output=True,
            text=True,
            env=self.environ,
            check=True,
        )
        return done.stdout.strip()

    def launch(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
            env=self.environ,
            cwd=self.directory,
        )

    async def until_serving(self) -> None:
        assert self.process is not None
        url = f"http://127.0.0.1:{self.port}"
        async with httpx.AsyncClient(base_url=url) as client, asyncio.timeout(STARTUP):
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(self.log.read_text())
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


async def _sessions(workers: list[Worker], key: str, tag: str) -> list[str]:
    """Start one session per client (before the clock starts)."""
    headers = {"Authorization": f"Bearer {key}"}
    url = f"http://127.0.0.1:{workers[0].port}"
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        ids = []
        for n in range(CLIENTS):
            body = {"userId": f"u{n}", "channelId": f"{tag}-{n}"}
            answer = await client.post("/api/sessions", json=body, headers=headers)
            ids.append(answer.json()["sessionId"])
    return ids


def cpu_seconds(workers: list[Worker]) -> float:
    """The CPU time (user and system) the workers' processes have used so far (Linux)."""
    total = 0
    for worker in workers:
        assert worker.process is not None
        fields = Path(f"/proc/{worker.process.pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


async def ingest(workers: list[Worker], key: str, sessions: list[str], each: int) -> float:
    """Post ``each`` messages per client, clients spread over ``workers``; rows/s."""
    connections = [
        Connection(workers[n % len(workers)].port, f"Bearer {key}") for n in range(CLIENTS)
    ]
    ready = asyncio.Barrier(CLIENTS + 1)

    async def client(connection: Connection, session_id: str) -> None:
        await connection.request("GET", "/healthz")  # connected before the clock starts
        await ready.wait()
        path = f"/api/sessions/{session_id}/messages"
        for n in range(each):
            body = json.dumps({"content": f"message {n}"}).encode()
            status, content = await connection.request("POST", path, body)
            if status != 200:
                raise RuntimeError(f"{status}: {content[:200]!r}")

    running = [
        asyncio.create_task(client(c, s)) for c, s in zip(connections, sessions, strict=True)
    ]
    await ready.wait()
    started = time.perf_counter()
    try:
        await asyncio.gather(*running)
    finally:
        for connection in connections:
            connection.close()
    return 2 * CLIENTS * each / (time.perf_counter() - started)


_FLOOR_TABLE = """
CREATE TABLE IF NOT EXISTS floor_rows (
    id text PRIMARY KEY, session_id text NOT NULL, seq integer NOT NULL,
    content text NOT NULL, created_at timestamptz NOT NULL
)
"""
_INSERT = "INSERT INTO floor_rows VALUES ($1, $2, $3, $4, $5)"


def _row(session: str, seq: int) -> tuple[str, str, int, str, datetime]:
    return (secrets.token_hex(8), session, seq, f"message {seq}", datetime.now(UTC))


async def floors(url: str, rows: int) -> dict[str, float]:
    """PostgreSQL's own rows/s: single commit, single commit concurrent, batched."""
    first = await asyncpg.connect(url)
    try:
        await first.execute(_FLOOR_TABLE)
        began = time.perf_counter()
        for seq in range(rows):
            await first.execute(_INSERT, *_row("single", seq))
        single = rows / (time.perf_counter() - began)
        began = time.perf_counter()
        for start in range(0, rows * 10, BATCH):
            async with first.transaction():
                await first.executemany(
                    _INSERT, [_row("batched", seq) for seq in range(start, start + BATCH)]
                )
        batched = rows * 10 / (time.perf_counter() - began)
    finally:
        await first.close()
    others = [await asyncpg.connect(url) for _ in range(CLIENTS)]
    try:
        each = max(1, rows // CLIENTS)

        async def one(connection: asyncpg.Connection, n: int) -> None:
            for seq in range(each):
                await connection.execute(_INSERT, *_row(f"concurrent-{n}", seq))

        began = time.perf_counter()
        await asyncio.gather(*(one(c, n) for n, c in enumerate(others)))
        concurrent = each * CLIENTS / (time.perf_counter() - began)
    finally:
        for connection in others:
            await connection.close()
    return {"single": single, "concurrent": concurrent, "batched": batched}


async def run(quick: bool, rounds: int) -> Figures:
    base = server_url()
    name = f"bench_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(base)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(base, name)
    each = 8 if quick else 40
    figures: Figures = {}

    def record(label: str, value: float) -> None:
        figures.setdefault(label, Figure(label, "rows/s")).samples.append(value)

    try:
        with tempfile.TemporaryDirectory(prefix="bench-workers-") as scratch:
            environ = _environment()  # one master key for both workers
            workers = [Worker(Path(scratch), url, n, environ) for n in range(2)]
            workers[0].launch()
            await workers[0].until_serving()  # it migrates the database first
            workers[1].launch()
            await workers[1].until_serving()
            key = workers[0].key()
            try:
                for round_number in range(rounds):
                    for serving in (1, 2):
                        sessions = await _sessions(workers, key, f"r{round_number}-{serving}")
                        used = cpu_seconds(workers)
                        rate = await ingest(workers[:serving], key, sessions, each)
                        used = cpu_seconds(workers) - used
                        record(f"API ingest, {serving} worker(s), {CLIENTS} clients", rate)
                        label = f"workers' CPU per message, {serving} worker(s)"
                        cpu = figures.setdefault(label, Figure(label, "ms"))
                        cpu.samples.append(1000 * used / (CLIENTS * each))
                    measured = await floors(url, 500 if quick else 2000)
                    record("PostgreSQL floor: 1 row per commit", measured["single"])
                    record(
                        f"PostgreSQL floor: 1 row per commit, {CLIENTS} connections",
                        measured["concurrent"],
                    )
                    record(f"PostgreSQL floor: {BATCH} rows per commit", measured["batched"])
            finally:
                for worker in workers:
                    worker.stop()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return figures


def scaling(figures: Figures) -> str:
    """The 2-worker over 1-worker ingest ratio, as a line."""
    one = figures[f"API ingest, 1 worker(s), {CLIENTS} clients"].median
    two = figures[f"API ingest, 2 worker(s), {CLIENTS} clients"].median
    return f"scaling, 2 workers over 1: {two / one:.2f}x"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="few requests: a smoke run")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions (median reported)")
    options = parser.parse_args(argv)
    figures = asyncio.run(run(options.quick, options.rounds))
    print(machine())
    print("\n".join(table(figures)))
    print(scaling(figures))


if __name__ == "__main__":
    main()
