"""One ``sessionbot run`` child process, started as an operator would: what the e2e tests share.

A test writes the config, starts the child with its secrets in the environment,
waits on what the fakes saw or the child logged (failing at once if it exits, with
its log), and stops it with SIGTERM, killed if it hangs, whatever the outcome.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

DROPPED = (
    "SESSIONBOT_",
    "TELEGRAM_",
    "SLACK_",
    "DISCORD_",
    "PTB_",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)
"""Environment variables a child never inherits: the bot's and platforms' settings, proxies."""


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The test's environment without sessionbot, platform and proxy settings, plus ``extra``."""
    environ = {k: v for k, v in os.environ.items() if not k.upper().startswith(DROPPED)}
    # Deprecation warnings are hidden by default; show them, so a log check can tell
    # that the platform libraries are used without any.
    environ["PYTHONWARNINGS"] = "default::DeprecationWarning"
    return environ | dict(extra)


class BotChild:
    """One ``sessionbot run`` child with its config, log and database in ``directory``.

    Args:
        directory: where the config, the database and the log go.
        config: the config file's text.
        environ: the child's environment (see :func:`child_environment`).
    """

    def __init__(self, directory: Path, config: str, environ: dict[str, str]) -> None:
        self.config = directory / "config.toml"
        self.log_path = directory / "bot.log"
        self.config.write_text(config)
        self.environ = environ
        self.process: asyncio.subprocess.Process | None = None
        self._log: BinaryIO | None = None

    @property
    def log(self) -> str:
        """What the bot logged so far (its stderr), across its starts unless truncated."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def spawn(self, *, piped: bool = False, fresh_log: bool = False) -> None:
        """Start the child; ``piped`` gives it a console on stdin and stdout."""
        self._log = self.log_path.open("wb" if fresh_log else "ab")
        stream = asyncio.subprocess.PIPE if piped else asyncio.subprocess.DEVNULL
        self.process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot", "run", "--config", str(self.config)),
            stdin=stream,
            stdout=stream,
            stderr=self._log,
            cwd=self.config.parent,
            env=self.environ,
        )

    async def poll(self, condition: Callable[[], bool], within: float, what: str) -> None:
        """Return once ``condition()`` holds; fail at once if the bot exits."""
        try:
            async with asyncio.timeout(within):
                while not condition():
                    self.check_running()
                    await asyncio.sleep(0.05)
        except TimeoutError:
            log = self.log
            raise AssertionError(f"timed out waiting for {what}; the bot's log:\n{log}") from None

    def check_running(self) -> None:
        """Fail, with the log, if the child has exited."""
        assert self.process is not None
        if self.process.returncode is not None:
            raise AssertionError(f"the bot exited with {self.process.returncode}:\n{self.log}")

    async def stop(self) -> int | None:
        """Stop the child with SIGTERM (killed after 30 s); return its exit status."""
        process = self.process
        if process is None:
            return None
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return process.returncode
