"""A console run never imports a platform library: they are loaded only when enabled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.plugins import adapter_plugins

PLATFORM_LIBRARIES = {"telegram", "discord", "slack_bolt", "slack_sdk", "fastapi", "aiohttp"}

# Runs the real entry point, then reports which top-level modules were imported.
PROBE = """
import json, sys
from bot.cli import main
try:
    main()
except SystemExit as exit:
    status = exit.code
roots = sorted({name.split(".")[0] for name in sys.modules})
adapters = sorted(name for name in sys.modules if name.startswith("adapters."))
sys.stderr.write("PROBE " + json.dumps({"status": status, "roots": roots, "adapters": adapters}))
"""


def test_a_console_run_imports_no_platform_library(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n')
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "run", "--config", str(config)],
        input="hello\n/help\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    report = json.loads(result.stderr.rpartition("PROBE ")[2])
    assert result.stdout.startswith("echo: hello\n")
    assert report["status"] in (0, None)
    assert PLATFORM_LIBRARIES.isdisjoint(report["roots"])
    # Telegram's plugin module is read for its settings; its adapter is never imported.
    assert "adapters.console" in report["adapters"]
    assert not any(name.startswith("adapters.telegram_") for name in report["adapters"])


def test_every_installed_adapter_has_a_settings_model_named_like_its_table() -> None:
    for name, plugin in adapter_plugins().plugins.items():
        assert plugin.name == name
        assert "enabled" in plugin.settings_model.model_fields
