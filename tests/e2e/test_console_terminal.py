"""``sessionbot run`` at a real terminal (a pseudo-terminal): greeted once, then a prompt."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.console import GREETING, PROMPT

pytestmark = pytest.mark.e2e
WAIT = 30.0


def read_until(fd: int, wanted: str, seen: list[str]) -> str:
    """Read the terminal until ``wanted`` has appeared; return everything read so far."""
    deadline = time.monotonic() + WAIT
    while wanted not in "".join(seen):
        left = deadline - time.monotonic()
        assert left > 0, f"{wanted!r} never appeared in {''.join(seen)!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            seen.append(os.read(fd, 4096).decode("utf-8", "replace"))
    return "".join(seen)


def test_a_person_at_the_terminal_is_greeted_once_and_quits_with_ctrl_d(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONBOT_")}
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    os.close(terminal)
    seen: list[str] = []
    try:
        read_until(controller, PROMPT, seen)
        os.write(controller, b"hello\n")
        read_until(controller, "echo: hello", seen)
        os.write(controller, b"\x04")  # Ctrl-D at the start of a line
        assert process.wait(timeout=WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
        assert process.stderr is not None
        process.stderr.close()
    screen = "".join(seen).replace("\r\n", "\n")
    assert screen.startswith(f"{GREETING}\n{PROMPT}")
    assert screen.count(GREETING) == 1
