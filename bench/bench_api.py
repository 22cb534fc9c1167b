"""The HTTP API under load: requests per second and latency, at 1 and 100 clients.

``sessionbot run`` serves the API from a child process (console off, SQLite file in
WAL mode, encryption on, echo responder, rate limits off), as an operator runs it;
this process is only the clients: httpx, one connection per client. Each client
owns a session of its own. Measured, at 1 and at 100 concurrent clients:

* ``POST /api/sessions/{id}/messages``: a message through the router, stored, echoed,
  the answer stored, both returned: the reply latency a web chat sees;
* ``GET /api/sessions/{id}/messages?limit=50``: the newest page of a history.

The clients write HTTP/1.1 by hand on keep-alive connections opened before the clock
starts (:class:`Connection`): httpx costs a millisecond of CPU per request, which on
two cores would measure the client rather than the server.

Figures: requests per second over the whole run (all clients together), and the
latency of single requests (median, 90th and 99th percentile, longest).

``python -m bench.bench_api [--quick] [--rounds N]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.common import Figure, Figures, machine, table

STARTUP = 120.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _environment() -> dict[str, str]:
    from core.crypto.envelope import generate_master_key

    dropped = ("SESSIONBOT_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    environ = {k: v for k, v in os.environ.items() if not k.upper().startswith(dropped)}
    environ["SESSIONBOT_MASTER_KEY"] = generate_master_key()
    return environ


class Server:
    """``sessionbot run`` serving the API from a scratch directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.config = directory / "config.toml"
        self.config.write_text(
            f"""
[bot]
rate_limit_per_minute = 0
log_level = "warning"

[storage]
url = "sqlite:///{directory / "bench.db"}"

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
        self.environ = _environment()
        self.process: subprocess.Popen[bytes] | None = None

    def key(self, *args: str) -> str:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot",
                "api-keys",
                "create",
                *args,
                "--config",
                str(self.config),
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
            stderr=(self.directory / "bot.log").open("wb"),
            env=self.environ,
            cwd=self.directory,
        )

    async def until_serving(self) -> None:
        assert self.process is not None
        async with httpx.AsyncClient(base_url=self.url) as client, asyncio.timeout(STARTUP):
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError((self.directory / "bot.log").read_text())
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    await asyncio.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


async def _client_sessions(
    client: httpx.AsyncClient, headers: dict[str, str], count: int
) -> list[str]:
    ids = []
    for n in range(count):
        body = {"userId": "bench", "channelId": f"c{n}"}
        ids.append(
            (await client.post("/api/sessions", json=body, headers=headers)).json()["sessionId"]
        )
    return ids


class Connection:
    """One keep-alive HTTP/1.1 connection, written by hand to cost the client little.

    httpx spends a millisecond or more of CPU on each request: with 100 clients on a
    two-core machine it, not the server, would set the pace. This sends a request and
    reads a ``Content-Length`` answer, no more.
    """

    def __init__(self, port: int, authorization: str) -> None:
        self._port = port
        self._authorization = authorization
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
        assert self._reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {self._authorization}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        status_line = await self._reader.readline()
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        content = await self._reader.readexactly(length)
        return int(status_line.split()[1]), content

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def _load(
    server: Server,
    headers: dict[str, str],
    sessions: list[str],
    requests_each: int,
    post: bool,
) -> tuple[float, list[float]]:
    """Run every client to the end; return requests per second and each latency (ms)."""
    latencies: list[float] = []
    connections = [Connection(server.port, headers["Authorization"]) for _ in sessions]

    async def one_client(connection: Connection, session_id: str) -> None:
        path = f"/api/sessions/{session_id}/messages"
        await connection.request("GET", "/healthz")  # connected before the clock starts
        await ready.wait()
        for n in range(requests_each):
            started = time.perf_counter()
            if post:
                body = json.dumps({"content": f"message {n}"}).encode()
                status, content = await connection.request("POST", path, body)
            else:
                status, content = await connection.request("GET", f"{path}?limit=50")
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise RuntimeError(f"{status}: {content[:200]!r}")

    ready = asyncio.Barrier(len(sessions) + 1)
    running = [
        asyncio.create_task(one_client(c, s)) for c, s in zip(connections, sessions, strict=True)
    ]
    await ready.wait()  # every client connected
    started = time.perf_counter()
    try:
        await asyncio.gather(*running)
    finally:
        for connection in connections:
            connection.close()
    return len(latencies) / (time.perf_counter() - started), latencies


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(quick: bool, rounds: int) -> Figures:
    figures: Figures = {}
    plan = {1: 60 if quick else 400, 100: 3 if quick else 20}
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        server = Server(Path(scratch))
        headers = {"Authorization": f"Bearer {server.key('--user', 'bench')}"}
        server.launch()
        await server.until_serving()
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                sessions = await _client_sessions(client, headers, max(plan))
            for _ in range(rounds):
                for clients, each in plan.items():
                    for post in (True, False):
                        what = "POST messages" if post else "GET messages (50)"
                        rate, latencies = await _load(
                            server, headers, sessions[:clients], each, post
                        )
                        _record(figures, f"{what}, {clients} client(s)", rate, latencies)
        finally:
            server.stop()
    return figures


def _record(figures: Figures, label: str, rate: float, latencies: list[float]) -> None:
    rows = {
        f"{label}: requests/s": ("req/s", rate),
        f"{label}: latency median": ("ms", statistics.median(latencies)),
        f"{label}: latency p90": ("ms", _percentile(latencies, 0.90)),
        f"{label}: latency p99": ("ms", _percentile(latencies, 0.99)),
        f"{label}: latency longest": ("ms", max(latencies)),
    }
    for key, (unit, value) in rows.items():
        figures.setdefault(key, Figure(key, unit)).samples.append(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="few requests: a smoke run")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions (median reported)")
    options = parser.parse_args()
    figures = asyncio.run(run(options.quick, options.rounds))
    print(machine())
    print("\n".join(table(figures)))


if __name__ == "__main__":
    main()
