"""The console as an operator feeds it: long scripts, bytes that are not UTF-8, hostile text.

Each test runs ``sessionbot run`` as a subprocess on a temporary SQLite file, with
the default rate limit of 30 messages a minute in force, and pipes raw bytes in.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CONTROLS = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")


def run_bot(directory: Path, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run the console bot on ``stdin``; return what it printed, as bytes."""
    config = directory / "config.toml"
    config.write_text(
        "[bot]\n"
        "rate_limit_per_minute = 30\n"
        "[storage]\n"
        f'url = "sqlite:///{directory / "bot.db"}"\n'
        "[adapters.console]\n"
        'user = "alice"\n'
        f'export_dir = "{directory / "exports"}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONBOT_")}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=300,
        cwd=directory,
        env=env,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr
    return result


def test_a_script_of_4000_lines_is_answered_whole_despite_the_rate_limit(
    tmp_path: Path,
) -> None:
    lines = [f"line {number}" for number in range(4000)]
    result = run_bot(tmp_path, "".join(f"{line}\n" for line in lines).encode())
    assert result.stdout.decode().splitlines() == [f"echo: {line}" for line in lines]
    assert b"refused" not in result.stderr


def test_bytes_that_are_not_utf8_are_answered_and_stored_as_replacement_characters(
    tmp_path: Path,
) -> None:
    result = run_bot(tmp_path, b"caf\xe9\n\xff\xfe\xfd\n\xed\xa0\x80 surrogate\n/history\n")
    replies = result.stdout.decode().splitlines()
    assert replies[:3] == [
        "echo: caf\ufffd",
        "echo: \ufffd\ufffd\ufffd",
        "echo: \ufffd\ufffd\ufffd surrogate",
    ]
    history = replies[3:]
    assert history[0] == "All 6 messages (times in UTC):"
    assert history[1].endswith("] alice: caf\ufffd")
    assert history[5].endswith("] alice: \ufffd\ufffd\ufffd surrogate")


def test_control_sequences_in_messages_and_titles_are_shown_escaped(tmp_path: Path) -> None:
    script = (
        b"clear \x1b[2J screen\n"
        b"/new Trip \x1b]0;owned\x07 title\n"
        b'/checkpoint save "red \x1b[31m" nul \x00 here\n'
        b"/checkpoint list\n"
        b"/session list\n"
        b"/zz\x1b[2J\n"
        b"/help \x1b[2J\n"
        b"/checkpoint restore \x1b]0;x\x07\n"
        b"/history\n"
    )
    out = run_bot(tmp_path, script).stdout
    assert CONTROLS.search(out.replace(b"\n", b"")) is None, out
    text = out.decode()
    assert "echo: clear \\x1b[2J screen" in text
    assert '"Trip \\x1b]0;owned\\x07 title"' in text
    assert 'Saved checkpoint "red \\x1b[31m"' in text
    assert "nul \\x00 here" in text
    assert "echo: /zz\\x1b[2J" in text
    assert "There is no command /\\x1b[2J." in text
    assert "'\\x1b]0;x\\x07' is not a checkpoint id." in text
