"""The console adapter: a terminal, or a pipe, as a chat with the bot.

Each line of input is one message. ``@bob: text`` speaks as user ``bob`` for that
line only; empty lines are skipped. Replies are printed as they come; a reply's file
(an export) is saved into a directory and its path printed. With piped input every
line is handled in order and the adapter finishes at end of input.

Standard input is read as UTF-8 whatever the locale, each invalid byte read as
U+FFFD, so a stray Latin-1 line is answered like any other. What is printed passes
through :func:`core.text.for_terminal`: a user's text (an echo, a title, a
checkpoint name) can hold escape sequences that would clear the operator's screen
or retitle the window; they are shown escaped instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from pydantic import field_validator

from adapters.base import AdapterContext, AdapterPlugin, AdapterSettings, BaseAdapter
from core import Inbound, InboundHandler, ReplyFile
from core.files import make_private_dir
from core.text import for_terminal

logger = logging.getLogger(__name__)

PLATFORM = "console"
PROMPT = "you> "
GREETING = (
    "sessionbot is listening: type a message and press Enter; /help lists the commands; "
    "Ctrl-D or Ctrl-C quits."
)
"""The one line a person at a terminal sees first (not piped input)."""
FAILURE_REPLY = "error: the message could not be handled (see the log)"
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_SPEAKER = re.compile(r"@(?P<user>[\w.-]+):\s*(?P<text>.*)", re.DOTALL)


class ConsoleAdapter(BaseAdapter[str]):
    """Reads messages from a text stream and writes the replies to another.

    Args:
        handler: where each message goes (the router's ``handle``).
        user: the user id lines are written as.
        channel: the channel id of the console.
        input: the stream to read; standard input, read by
            :func:`decoding_reader`, by default.
        output: the stream to write; standard output by default.
        export_dir: where files attached to replies are saved.
    """

    name = PLATFORM
    failure_reply = FAILURE_REPLY

    def __init__(
        self,
        handler: InboundHandler,
        *,
        user: str = "local",
        channel: str = "console",
        input: TextIO | None = None,
        output: TextIO | None = None,
        export_dir: Path = Path("."),
    ) -> None:
        super().__init__(handler)
        self._user = user
        self._channel = channel
        self._input = input
        self._output = output if output is not None else sys.stdout
        self._export_dir = export_dir
        self._reader: _LineReader | None = None
        self._count = 0
        self._greeted = False

    async def receive(self) -> None:
        """Handle each line of input in turn until input ends or the console is stopped."""
        try:
            await self._converse()
        except BrokenPipeError:
            # Whoever read our output has gone (``sessionbot run | head``): a normal
            # end, not a failure to restart from.
            logger.info("console output closed; stopping the console")

    async def _converse(self) -> None:
        reader = self._line_reader()
        interactive = _is_terminal(reader.stream)
        if interactive and not self._greeted:  # once, not again after a restart
            self._greeted = True
            self._write(GREETING)
        while not self.stopping.is_set():
            if interactive:
                self._write(PROMPT, end="")
            # Nothing is in flight during a read, which may never return (a terminal).
            with self.interruptible():
                line = await reader.readline()
            if line is None:
                if interactive:
                    self._write("")  # end the prompt line left by ^D
                return
            inbound = self._inbound(line)
            if inbound is not None:
                await self.handle(inbound, self._channel)

    def _line_reader(self) -> _LineReader:
        # Standard input is opened at the first read, not when the adapter is built:
        # building one must not touch the process's descriptors. The reader outlives
        # a restart, keeping the lines it read ahead.
        if self._reader is None:
            stream = self._input
            if stream is None:
                stream = decoding_reader(sys.stdin.fileno())
            self._reader = _LineReader(stream)
        return self._reader

    def _inbound(self, line: str) -> Inbound | None:
        text, user = line.strip(), self._user
        speaker = _SPEAKER.fullmatch(text)
        if speaker:
            text, user = speaker["text"].strip(), speaker["user"]
        if not text:
            return None
        self._count += 1
        return Inbound(
            platform=PLATFORM,
            channel_id=self._channel,
            user_id=user,
            text=text,
            is_direct=True,
            message_id=str(self._count),
            timestamp=datetime.now(UTC),
            display_name=user,
        )

    def destination(self, channel_id: str, thread_id: str | None) -> str | None:
        """Return the console's channel if ``channel_id`` is it; notices elsewhere are not shown."""
        return channel_id if channel_id == self._channel else None

    async def post_text(self, destination: str, text: str, *, first: bool) -> None:
        """Print ``text``."""
        self._write(text)

    def open_stream(self, destination: str) -> PrintedReply:
        """Print answers as they are written."""
        return PrintedReply(self._write)

    async def post_file(self, destination: str, file: ReplyFile, *, first: bool) -> None:
        """Save ``file`` into the export directory and print its path."""
        self._write(f"saved file to {_display(save_file(file, self._export_dir))}")

    def _write(self, text: str, *, end: str = "\n") -> None:
        self._output.write(for_terminal(text) + end)
        self._output.flush()


class PrintedReply:
    """An answer printed as it is written: each new piece as it comes, then the line's end.

    Args:
        write: prints text (escaped for the terminal) followed by ``end``.
    """

    def __init__(self, write: Callable[..., None]) -> None:
        self._write = write
        self._printed = ""

    async def update(self, text: str) -> None:
        """Print what ``text`` adds to what is printed."""
        if text.startswith(self._printed) and len(text) > len(self._printed):
            self._write(text[len(self._printed) :], end="")
            self._printed = text

    async def close(self) -> None:
        """Nothing is pending on a terminal."""

    async def finish(self, first_part: str) -> bool:
        """End the printed answer with the rest of the final text (all of it, if it differs)."""
        if not self._printed:
            return False
        if first_part.startswith(self._printed):
            self._write(first_part[len(self._printed) :])
        else:
            # The final text is another (a failure line, a reset notice first).
            self._write("")
            self._write(first_part)
        return True


def decoding_reader(descriptor: int) -> TextIO:
    """Return a text stream on ``descriptor`` that decodes UTF-8, invalid bytes as U+FFFD.

    Strict decoding, Python's default for standard input, would end the console
    at the first byte that is not UTF-8. Closing the stream leaves the descriptor
    open: standard input belongs to the process.
    """
    return open(descriptor, encoding="utf-8", errors="replace", closefd=False)


def save_file(file: ReplyFile, directory: Path) -> Path:
    """Save an attached file into ``directory`` without overwriting anything.

    Only the last component of the file's name is used, so a name cannot point
    outside ``directory``. Exports hold conversations, so the file is readable by
    its owner only, and a directory created for it (0700) is open to its owner only.

    Returns:
        The path written.
    """
    make_private_dir(directory)
    name = Path(file.name).name or "file"
    stem, suffix = Path(name).stem, Path(name).suffix
    for attempt in range(1000):
        path = directory / (name if attempt == 0 else f"{stem}-{attempt}{suffix}")
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(file.content)
        return path
    raise FileExistsError(f"too many files named like {name} in {directory}")


def _display(path: Path) -> str:
    text = str(path)
    if path.is_absolute() or text.startswith("."):
        return text
    return f".{os.sep}{text}"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


_Item = str | None | BaseException

READ_AHEAD = 64
"""Lines the console reads ahead of the one being handled, at most."""


class _LineReader:
    """Reads lines of a blocking stream on a daemon thread, a few lines ahead.

    A daemon thread, rather than the loop's executor, because a read from a
    terminal may never return: the executor would hold up interpreter exit after
    Ctrl-C, while a daemon thread does not. The thread keeps up to ``ahead`` lines
    ahead of the handler, and refills once half of them are taken, so a file or a
    pipe full of lines costs one wake-up of each side per ``ahead / 2`` lines (a
    terminal gives a line at a time anyway). Works the same for terminals, pipes,
    redirected files and in-memory streams.
    """

    def __init__(self, stream: TextIO, ahead: int = READ_AHEAD) -> None:
        self.stream = stream
        self._ahead = ahead
        self._lines: deque[_Item] = deque()
        self._wanted = threading.Event()
        """Set by the loop when the lines read ahead are down to half."""
        self._arrived: asyncio.Event | None = None
        self._ended = False

    async def readline(self) -> str | None:
        """Return the next line, or ``None`` at end of input."""
        if self._ended:
            return None
        if self._arrived is None:
            arrived = self._arrived = asyncio.Event()
            post = _poster(asyncio.get_running_loop(), arrived)
            threading.Thread(target=self._read, args=(post,), daemon=True).start()
        while not self._lines:
            self._arrived.clear()
            await self._arrived.wait()
        item = self._lines.popleft()
        if len(self._lines) <= self._ahead // 2 and not self._wanted.is_set():
            self._wanted.set()
        if isinstance(item, BaseException):
            raise item
        self._ended = item is None
        return item

    def _read(self, post: Callable[[], bool]) -> None:
        while True:
            if len(self._lines) >= self._ahead:
                self._wanted.clear()
                if len(self._lines) >= self._ahead:  # not taken meanwhile: wait until it is
                    self._wanted.wait()
                continue
            item: _Item
            try:
                item = self.stream.readline() or None
            except Exception as error:  # handed to the loop, where it fails the adapter
                item = error
            self._lines.append(item)
            # Only a reader that found nothing waits to be told; the others find it.
            if len(self._lines) == 1 and not post():
                return
            if item is None:
                return


def _poster(loop: asyncio.AbstractEventLoop, arrived: asyncio.Event) -> Callable[[], bool]:
    def post() -> bool:
        try:
            loop.call_soon_threadsafe(arrived.set)
        except RuntimeError:  # the loop has closed: nobody is reading any more
            return False
        return True

    return post


class ConsoleSettings(AdapterSettings):
    """``[adapters.console]``: the terminal (or a pipe) as a chat.

    Attributes:
        enabled: on by default, so ``sessionbot run`` works with no config at all.
        user: the user id lines are written as (``@bob: text`` speaks as bob).
        channel: the channel id of the console.
        export_dir: where files sent to the console (exports) are saved.
    """

    enabled: bool = True
    user: str = "local"
    channel: str = "console"
    export_dir: Path = Path(".")

    @field_validator("user", "channel")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        # These become parts of scope keys and of ``platform:user_id`` refs.
        if not _NAME.fullmatch(name):
            raise ValueError(f"{name!r} may hold only letters, digits, _ . -")
        return name


def build(settings: ConsoleSettings, context: AdapterContext) -> ConsoleAdapter:
    """Return the console adapter on standard input and output."""
    return ConsoleAdapter(
        context.handler,
        user=settings.user,
        channel=settings.channel,
        export_dir=settings.export_dir,
    )


plugin = AdapterPlugin(
    name=PLATFORM, settings_model=ConsoleSettings, build=build, operator_only=True
)
"""The console's entry point in the ``sessionbot.adapters`` group.

The console is the operator's own terminal: a file piped into it is a script to
run line by line, so the per-user rate limit does not apply to it.
"""
