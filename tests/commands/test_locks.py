from __future__ import annotations

import pytest

from commands.locks import StripedLocks


def test_a_key_always_gets_the_same_lock() -> None:
    locks = StripedLocks(8)
    assert locks.lock_for("console:c:c1:u:alice") is locks.lock_for("console:c:c1:u:alice")


def test_the_pool_size_is_fixed_however_many_keys() -> None:
    locks = StripedLocks(16)
    distinct = {id(locks.lock_for(f"key{i}")) for i in range(10_000)}
    assert len(distinct) == len(locks) == 16


def test_at_least_one_stripe() -> None:
    with pytest.raises(ValueError, match="stripes"):
        StripedLocks(0)
