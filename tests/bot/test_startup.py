"""A console run never imports a platform library: they are loaded only when enabled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.platforms import ADAPTERS
from bot.settings import AdaptersSettings

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
    assert report["adapters"] == ["adapters.console"]


def test_every_adapter_has_a_config_section_and_a_factory() -> None:
    assert set(ADAPTERS) == set(AdaptersSettings.model_fields)
