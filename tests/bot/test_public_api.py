"""``bot`` and ``adapters`` export a sorted ``__all__``; a missing export fails here."""

from __future__ import annotations

import importlib

import pytest

EXPECTED = {
    "bot": {"ADAPTERS", "Application", "Settings", "load_config", "secret_from_env"},
    "adapters": {"ConsoleAdapter"},
}


def isort_order(name: str) -> tuple[int, str]:
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


@pytest.mark.parametrize("package", sorted(EXPECTED))
def test_all_is_sorted_complete_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=isort_order)
    assert EXPECTED[package] <= set(exported)
    for name in exported:
        assert getattr(module, name) is not None
