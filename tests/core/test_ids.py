from __future__ import annotations

import time
from collections import Counter

from core.ids import TIME_LENGTH, looks_like_id, new_id, new_ids, new_ordered_ids


def test_ids_have_the_length_and_alphabet_asked_for() -> None:
    assert len(new_id()) == 8 and len(new_id(16)) == 16
    many = new_ids(500, 12)
    assert len(many) == 500 and all(len(i) == 12 and looks_like_id(i) for i in many)
    assert len(set(many)) == 500


def test_every_symbol_turns_up() -> None:
    counts = Counter("".join(new_ids(2000, 16)))
    assert len(counts) == 32


def test_ordered_ids_start_with_the_millisecond_and_sort_by_it() -> None:
    before = new_ordered_ids(3)
    time.sleep(0.002)
    after = new_ordered_ids(3)
    assert all(len(i) == TIME_LENGTH + 10 and looks_like_id(i) for i in before + after)
    assert len({i[:TIME_LENGTH] for i in before}) == 1  # one call, one millisecond
    assert max(before) < min(after)
    assert len(set(before + after)) == 6
    # The prefix is the time itself: the alphabet's order is its characters' order.
    alphabet = "23456789abcdefghijkmnpqrstuvwxyz"
    assert list(alphabet) == sorted(alphabet)
    millis = 0
    for ch in after[0][:TIME_LENGTH]:
        millis = millis * 32 + alphabet.index(ch)
    assert abs(millis - time.time() * 1000) < 60_000
