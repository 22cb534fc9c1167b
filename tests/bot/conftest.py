from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def no_sessionbot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's SESSIONBOT_* overrides out of the tests' configs."""
    for name in list(os.environ):
        if name == "SESSIONBOT_CONFIG" or (name.startswith("SESSIONBOT_") and "__" in name):
            monkeypatch.delenv(name)
