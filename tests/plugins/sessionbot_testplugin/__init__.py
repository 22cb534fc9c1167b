"""A plugin package written only against ``sessionbot``'s public names.

* ``/ping [words]`` answers ``pong`` and the words;
* the ``script`` adapter reads messages, one a line, from the file ``input`` and
  appends every reply to the file ``output``, then finishes;
* the ``shout`` responder answers in capitals, followed by ``suffix``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sessionbot import (
    AdapterContext,
    AdapterPlugin,
    AdapterSettings,
    Answer,
    BaseAdapter,
    CommandContext,
    CommandRegistry,
    Inbound,
    InboundHandler,
    Message,
    Reply,
    ReplyFile,
    ResponderPlugin,
    ResponderSettings,
    Role,
    Session,
)


def register(registry: CommandRegistry) -> None:
    @registry.command("ping", usage="/ping [words]", max_args=None)
    async def ping(ctx: CommandContext) -> Reply:
        """Answer pong, with the words you give."""
        return Reply(" ".join(("pong", *ctx.args)))


class ScriptSettings(AdapterSettings):
    """``[adapters.script]``."""

    input: Path
    output: Path
    user: str = "tester"


class ScriptAdapter(BaseAdapter[str]):
    """Messages from a file, replies to another."""

    name = "script"
    max_length = 60

    def __init__(self, handler: InboundHandler, settings: ScriptSettings) -> None:
        super().__init__(handler)
        self._settings = settings

    async def receive(self) -> None:
        lines = self._settings.input.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            if self.stopping.is_set():
                return
            inbound = Inbound("script", "script", self._settings.user, line, message_id=str(number))
            await self.handle(inbound, "script")

    def destination(self, channel_id: str, thread_id: str | None) -> str | None:
        return channel_id if channel_id == "script" else None

    async def post_text(self, destination: str, text: str, *, first: bool) -> None:
        with self._settings.output.open("a") as output:
            output.write(f"{text}\n")

    async def post_file(self, destination: str, file: ReplyFile, *, first: bool) -> None:
        await self.post_text(destination, f"[file {file.name}]", first=first)


def build_script(settings: ScriptSettings, context: AdapterContext) -> ScriptAdapter:
    return ScriptAdapter(context.handler, settings)


adapter = AdapterPlugin(name="script", settings_model=ScriptSettings, build=build_script)


class ShoutSettings(ResponderSettings):
    """``[responder]`` with ``kind = "shout"``."""

    suffix: str = "!"


class ShoutResponder:
    name = "shout"

    def __init__(self, suffix: str) -> None:
        self._suffix = suffix

    async def respond(self, session: Session, context: Sequence[Message]) -> Answer:
        last = next(m for m in reversed(context) if m.role is Role.USER)
        return Answer(last.content.upper() + self._suffix)


def build_shout(settings: ShoutSettings) -> ShoutResponder:
    return ShoutResponder(settings.suffix)


responder = ResponderPlugin(kind="shout", settings_model=ShoutSettings, build=build_shout)
