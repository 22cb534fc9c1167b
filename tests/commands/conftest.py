from __future__ import annotations

import pytest

from tests.commands.helpers import Chat


@pytest.fixture
def chat() -> Chat:
    return Chat()
