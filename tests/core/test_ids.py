from __future__ import annotations

from collections import Counter

from core.ids import looks_like_id, new_id, new_ids


def test_ids_have_the_length_and_alphabet_asked_for() -> None:
    assert len(new_id()) == 8 and len(new_id(16)) == 16
    many = new_ids(500, 12)
    assert len(many) == 500 and all(len(i) == 12 and looks_like_id(i) for i in many)
    assert len(set(many)) == 500


def test_every_symbol_turns_up() -> None:
    counts = Counter("".join(new_ids(2000, 16)))
    assert len(counts) == 32
