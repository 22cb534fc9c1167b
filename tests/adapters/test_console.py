from __future__ import annotations

import asyncio
import io
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.base import BaseAdapter
from adapters.console import (
    FAILURE_REPLY,
    GREETING,
    PROMPT,
    READ_AHEAD,
    ConsoleAdapter,
    decoding_reader,
    save_file,
)
from core import InboundHandler
from core.models import Inbound, Reply, ReplyFile
from tests.adapters.contract import WAIT, AdapterContract


class FakeHandler:
    """Answers each message with its author and text; records what it saw.

    A message whose text is in ``gates`` is answered once its event is set.
    """

    def __init__(self) -> None:
        self.seen: list[Inbound] = []
        self.received = asyncio.Event()
        self.gates: dict[str, asyncio.Event] = {}

    async def __call__(self, inbound: Inbound) -> list[Reply]:
        self.seen.append(inbound)
        self.received.set()
        if gate := self.gates.get(inbound.text):
            await gate.wait()
        return [Reply(f"{inbound.user_id} said {inbound.text}")]


class Transcript(io.StringIO):
    """An output stream that remembers each write and says when one happened."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []
        self.changed = asyncio.Event()

    def write(self, text: str) -> int:
        self.writes.append(text)
        self.changed.set()
        return super().write(text)

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


class ConsoleHarness:
    """The console for the contract: a pipe in, a transcript out, files in a directory."""

    failure_reply = FAILURE_REPLY
    channel = ("console", None)

    def __init__(self, exports: Path, reader: io.TextIOWrapper, writer: io.TextIOWrapper) -> None:
        self.exports = exports
        self.reader = reader
        self.writer = writer
        self.output = Transcript()

    def adapter(self, handler: InboundHandler) -> BaseAdapter[Any]:
        return ConsoleAdapter(
            handler, input=self.reader, output=self.output, export_dir=self.exports
        )

    async def ready(self, adapter: BaseAdapter[Any]) -> None:
        """A pipe holds what is written until the console reads it."""

    def say(self, text: str) -> None:
        self.writer.write(f"{text}\n")
        self.writer.flush()

    def messages(self) -> list[str]:
        saved = [w for w in self.output.writes if w.startswith("saved file to ")]
        return [w.removesuffix("\n") for w in self.output.writes if w not in saved]

    def files(self) -> list[tuple[str, bytes]]:
        return [(path.name, path.read_bytes()) for path in sorted(self.exports.iterdir())]

    async def until(self, condition: Callable[[], bool]) -> None:
        await self.output.until(condition)


class TestConsoleContract(AdapterContract):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> Iterator[ConsoleHarness]:
        read_end, write_end = os.pipe()
        with os.fdopen(read_end) as reader, os.fdopen(write_end, "w") as writer:
            yield ConsoleHarness(tmp_path, reader, writer)


async def run_console(
    text: str, handler: object, tmp_path: Path | None = None, **options: object
) -> str:
    output = io.StringIO()
    adapter = ConsoleAdapter(
        handler,  # type: ignore[arg-type]
        input=io.StringIO(text),
        output=output,
        export_dir=tmp_path or Path("."),
        **options,  # type: ignore[arg-type]
    )
    await adapter.start()
    await asyncio.wait_for(adapter.wait(), WAIT)
    return output.getvalue()


async def test_lines_are_handled_in_order_and_it_ends_at_eof() -> None:
    handler = FakeHandler()
    out = await run_console("one\ntwo\nthree\n", handler)
    assert out == "local said one\nlocal said two\nlocal said three\n"
    assert [m.text for m in handler.seen] == ["one", "two", "three"]


async def test_a_last_line_without_newline_is_handled() -> None:
    out = await run_console("one\ntwo", FakeHandler())
    assert out.splitlines() == ["local said one", "local said two"]


async def test_empty_and_blank_lines_are_skipped() -> None:
    handler = FakeHandler()
    await run_console("\n   \none\n\n@bob:   \n", handler)
    assert [m.text for m in handler.seen] == ["one"]


async def test_at_user_speaks_as_that_user_for_one_line() -> None:
    handler = FakeHandler()
    out = await run_console("@bob: hi there\nme again\n@alice:/new x\n", handler, user="carol")
    assert out.splitlines() == ["bob said hi there", "carol said me again", "alice said /new x"]
    assert [m.user_ref for m in handler.seen] == ["console:bob", "console:carol", "console:alice"]


async def test_the_inbound_message_is_a_direct_console_message() -> None:
    handler = FakeHandler()
    await run_console("hello\n", handler, channel="desk")
    (inbound,) = handler.seen
    assert inbound.platform == "console"
    assert inbound.channel_id == "desk"
    assert inbound.is_direct is True
    assert inbound.display_name == "local"
    assert inbound.message_id == "1"
    assert inbound.timestamp is not None


async def test_a_file_reply_is_saved_and_its_path_printed(tmp_path: Path) -> None:
    async def exporter(inbound: Inbound) -> list[Reply]:
        file = ReplyFile("session-abc.json", b'{"a": 1}', "application/json")
        return [Reply("Here is the export.", file=file)]

    out = await run_console("/history export json\n/history export json\n", exporter, tmp_path)
    first, second = tmp_path / "session-abc.json", tmp_path / "session-abc-1.json"
    assert out.splitlines() == [
        "Here is the export.",
        f"saved file to {first}",
        "Here is the export.",
        f"saved file to {second}",
    ]
    assert first.read_bytes() == b'{"a": 1}'
    assert stat.S_IMODE(first.stat().st_mode) == 0o600


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Run with umask 000, so only the modes sessionbot asks for protect its files."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
async def test_exports_are_private_whatever_the_umask(tmp_path: Path) -> None:
    async def exporter(inbound: Inbound) -> list[Reply]:
        return [Reply("Here.", file=ReplyFile("session-abc.md", b"# secret", "text/markdown"))]

    exports = tmp_path / "exports"
    out = await run_console("/history export\n", exporter, exports)
    assert out.splitlines()[1] == f"saved file to {exports / 'session-abc.md'}"
    assert stat.S_IMODE(exports.stat().st_mode) == 0o700
    assert stat.S_IMODE((exports / "session-abc.md").stat().st_mode) == 0o600


def test_save_file_keeps_names_inside_the_directory(tmp_path: Path) -> None:
    path = save_file(ReplyFile("../../etc/evil.txt", b"x"), tmp_path)
    assert path == tmp_path / "evil.txt"


def test_save_file_into_the_working_directory_prints_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = save_file(ReplyFile("a.txt", b"x"), Path("."))
    assert path == Path("a.txt")
    assert (tmp_path / "a.txt").read_bytes() == b"x"


async def test_a_failing_handler_gets_one_line_and_the_console_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def flaky(inbound: Inbound) -> list[Reply]:
        if inbound.text == "boom":
            raise RuntimeError("bug")
        return [Reply(f"ok {inbound.text}")]

    out = await run_console("boom\nfine\n", flaky)
    assert out.splitlines() == ["error: the message could not be handled (see the log)", "ok fine"]
    assert "bug" in caplog.text


class PipeTerminal(io.TextIOWrapper):
    """A pipe that says it is a terminal, so the console prompts before each read."""

    def isatty(self) -> bool:
        return True


async def test_stop_interrupts_a_read_that_never_returns() -> None:
    read_end, write_end = os.pipe()
    output = Transcript()
    # Buffered, as os.fdopen's: closing waits for the reader thread's read in flight,
    # so the thread never reads a descriptor number the next test's pipe reuses.
    with (
        PipeTerminal(io.BufferedReader(io.FileIO(read_end))) as reader,
        os.fdopen(write_end, "w") as writer,
    ):
        handler = FakeHandler()
        adapter = ConsoleAdapter(handler, input=reader, output=output)
        await adapter.start()
        # The prompt is written just before the read begins, with no await between.
        await output.until(lambda: output.getvalue() == f"{GREETING}\n{PROMPT}")
        await asyncio.wait_for(adapter.stop(), WAIT)
        await asyncio.wait_for(adapter.wait(), WAIT)
        writer.write("unblock the reader thread\n")
    # Stopped while reading: the line written afterwards is never handled or answered.
    assert handler.seen == [] and output.getvalue() == f"{GREETING}\n{PROMPT}"


async def test_stop_lets_the_message_in_progress_finish() -> None:
    handler = FakeHandler()
    release = handler.gates["slow"] = asyncio.Event()
    output = io.StringIO()
    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as reader, os.fdopen(write_end, "w") as writer:
        adapter = ConsoleAdapter(handler, input=reader, output=output)
        await adapter.start()
        writer.write("slow\n")
        writer.flush()
        await asyncio.wait_for(handler.received.wait(), WAIT)
        stopping = asyncio.create_task(adapter.stop())
        release.set()
        await asyncio.wait_for(stopping, WAIT)
        writer.write("never read\n")
    assert output.getvalue() == "local said slow\n"


async def test_reading_a_pipe_line_by_line() -> None:
    handler = FakeHandler()
    output = io.StringIO()
    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as reader:
        adapter = ConsoleAdapter(handler, input=reader, output=output)
        await adapter.start()
        with os.fdopen(write_end, "w") as writer:
            writer.write("first\n")
            writer.flush()
            await asyncio.wait_for(handler.received.wait(), WAIT)
            writer.write("second\n")
        await asyncio.wait_for(adapter.wait(), WAIT)
    assert output.getvalue() == "local said first\nlocal said second\n"


async def test_input_that_is_not_utf8_is_answered_line_by_line() -> None:
    handler = FakeHandler()
    output = io.StringIO()
    read_end, write_end = os.pipe()
    os.write(write_end, b"caf\xe9 au lait\n\xff\xfe\n\xe2\x82 cut short\nfine \xe2\x82\xac\n")
    os.close(write_end)
    try:
        adapter = ConsoleAdapter(handler, input=decoding_reader(read_end), output=output)
        await adapter.start()
        await asyncio.wait_for(adapter.wait(), WAIT)
    finally:
        os.close(read_end)  # the reader leaves the descriptor open, as it does stdin's
    assert [m.text for m in handler.seen] == [
        "caf\ufffd au lait",
        "\ufffd\ufffd",
        "\ufffd cut short",
        "fine \u20ac",
    ]
    assert output.getvalue().splitlines()[0] == "local said caf\ufffd au lait"


async def test_control_sequences_in_replies_are_printed_escaped(tmp_path: Path) -> None:
    async def hostile(inbound: Inbound) -> list[Reply]:
        file = ReplyFile("x\x1b[2J.txt", b"x")
        return [Reply("a\x1b[2Jb\x1b]0;owned\x07c\x00d\re\tf\ng\x9bh", file=file)]

    out = await run_console("hi\n", hostile, tmp_path)
    assert out == (
        "a\\x1b[2Jb\\x1b]0;owned\\x07c\\x00d\\x0de\tf\ng\\x9bh\n"
        f"saved file to {tmp_path}/x\\x1b[2J.txt\n"
    )


async def test_a_terminal_gets_one_greeting_then_a_prompt() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    output = io.StringIO()
    adapter = ConsoleAdapter(FakeHandler(), input=Terminal("hi\n"), output=output)
    await adapter.start()
    await asyncio.wait_for(adapter.wait(), WAIT)
    assert output.getvalue() == f"{GREETING}\n{PROMPT}local said hi\n{PROMPT}\n"


async def test_an_unreadable_input_fails_the_adapter() -> None:
    stream = io.StringIO("x")
    stream.close()
    adapter = ConsoleAdapter(FakeHandler(), input=stream, output=io.StringIO())
    await adapter.start()
    with pytest.raises(ValueError, match="closed"):
        await asyncio.wait_for(adapter.wait(), WAIT)


async def test_wait_before_start_is_an_error() -> None:
    adapter = ConsoleAdapter(FakeHandler(), input=io.StringIO(), output=io.StringIO())
    with pytest.raises(RuntimeError, match="not started"):
        await adapter.wait()


async def test_it_can_be_started_again_after_stop() -> None:
    handler = FakeHandler()
    adapter = ConsoleAdapter(handler, input=io.StringIO("a\n"), output=io.StringIO())
    await adapter.start()
    await adapter.wait()
    await adapter.stop()
    await adapter.start()
    await asyncio.wait_for(adapter.wait(), WAIT)
    assert [m.text for m in handler.seen] == ["a"]


async def test_a_closed_output_ends_the_console() -> None:
    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    handler = FakeHandler()
    adapter = ConsoleAdapter(handler, input=io.StringIO("a\nb\n"), output=Gone())
    await adapter.start()
    await asyncio.wait_for(adapter.wait(), WAIT)  # ends without an error to restart for
    # Nobody can read the answers: the console stops before the second line.
    assert [inbound.text for inbound in handler.seen] in ([], ["a"])


class CountingSource(io.StringIO):
    """A stream that counts the lines read from it (on the reader's thread).

    ``reached`` is set, on the loop, once ``wanted`` lines were read;
    ``overread`` is set if more than ``limit`` lines were read while ``held``.
    """

    def __init__(self, text: str, wanted: int, limit: int) -> None:
        super().__init__(text)
        self.loop = asyncio.get_running_loop()
        self.lines_read = 0
        self.wanted = wanted
        self.limit = limit
        self.reached = asyncio.Event()
        self.held = threading.Event()
        self.held.set()
        self.overread = False

    def readline(self, size: int | None = -1) -> str:
        line = super().readline(size)
        self.lines_read += 1
        if self.held.is_set() and self.lines_read > self.limit:
            self.overread = True
        if self.lines_read == self.wanted:
            self.loop.call_soon_threadsafe(self.reached.set)
        return line


async def test_input_is_read_a_bounded_number_of_lines_ahead() -> None:
    """While a message is handled, up to READ_AHEAD more lines wait, read; no more."""
    lines = [f"line {n}" for n in range(READ_AHEAD * 3)]
    # The reader may read READ_AHEAD lines, or one more if the handler took the
    # first before the reader filled up; then it waits.
    source = CountingSource(
        "".join(f"{line}\n" for line in lines), wanted=READ_AHEAD, limit=READ_AHEAD + 1
    )
    release = asyncio.Event()
    handler = FakeHandler()

    async def held(inbound: Inbound) -> list[Reply]:
        if not handler.seen:
            await handler(inbound)
            await release.wait()  # the first message takes its time
            return [Reply("first")]
        return await handler(inbound)

    output = io.StringIO()
    adapter = ConsoleAdapter(held, input=source, output=output)
    await adapter.start()
    await asyncio.wait_for(source.reached.wait(), WAIT)
    source.held.clear()
    release.set()
    await asyncio.wait_for(adapter.wait(), WAIT)
    assert not source.overread
    assert [m.text for m in handler.seen] == lines
    assert output.getvalue().splitlines()[:2] == ["first", "local said line 1"]
