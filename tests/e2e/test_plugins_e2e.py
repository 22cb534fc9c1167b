"""``sessionbot run`` with a third-party plugin package: its command, adapter and responder.

The package is ``tests/plugins/sessionbot_testplugin``, installed for the child
process by putting its directory on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


def sessionbot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONBOT_")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input="",
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=cwd,
        env=environ,
    )


def test_a_plugin_package_brings_a_command_an_adapter_and_a_responder(tmp_path: Path) -> None:
    script, replies = tmp_path / "script.txt", tmp_path / "replies.txt"
    long_line = " ".join(["a long line to shout"] * 4)
    script.write_text(f"hello there\n/ping a b\n/history\n{long_line}\n")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n'
        "[adapters.console]\nenabled = false\n"
        f'[adapters.script]\nenabled = true\ninput = "{script}"\noutput = "{replies}"\n'
        '[responder]\nkind = "shout"\nsuffix = "!!"\n'
    )

    checked = sessionbot("config", "check", "--config", str(config), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "responder shout, adapters: script, tokens: estimate" in checked.stdout

    result = sessionbot("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = replies.read_text().splitlines()
    assert lines[:2] == ["HELLO THERE!!", "pong a b"]  # the responder, the command
    assert lines[3].endswith("] tester: hello there")  # /history: the adapter's user
    # The adapter's 60-character limit split the long answer; nothing was lost.
    assert all(len(line) <= 60 for line in lines)
    assert "".join(lines[-2:]) == long_line.upper() + "!!"


def test_a_bad_option_of_the_plugins_table_is_one_line_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[responder]\nkind = "shout"\nsuffix = 5\n')
    result = sessionbot("config", "check", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: {config}: responder.suffix: input should be a valid string, got 5"
    ]
