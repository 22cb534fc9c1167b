from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.splitting import split_text, utf16_units


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_short_text_is_one_chunk() -> None:
    assert split_text("hello\nworld", 100) == ["hello\nworld"]


def test_lines_are_packed_and_breaks_fall_at_line_ends() -> None:
    text = "aaaa\nbbbb\ncccc\ndddd"
    assert split_text(text, 9) == ["aaaa\nbbbb", "cccc\ndddd"]
    assert split_text(text, 10) == ["aaaa\nbbbb", "cccc\ndddd"]
    assert split_text(text, 14) == ["aaaa\nbbbb\ncccc", "dddd"]


def test_a_long_line_is_cut_after_a_space_when_there_is_one() -> None:
    assert split_text("the quick brown fox", 10) == ["the quick ", "brown fox"]


def test_a_long_word_is_cut_at_the_limit() -> None:
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_a_cut_line_does_not_share_a_chunk_with_its_own_first_part() -> None:
    # "12345678" + "9" must not be joined with a newline that the text lacks.
    chunks = split_text("ab\n123456789\ncd", 8)
    assert chunks == ["ab", "12345678", "9\ncd"]


def test_whitespace_only_chunks_are_left_out() -> None:
    assert split_text("", 10) == []
    assert split_text("  \n \n", 10) == []
    assert split_text("a\n\n\n\nb", 1) == ["a", "b"]


def test_utf16_counting_keeps_surrogate_pairs_whole() -> None:
    text = "😀" * 5  # two UTF-16 code units each
    chunks = split_text(text, 4, char_size=utf16_units)
    assert chunks == ["😀😀", "😀😀", "😀"]


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        split_text("a", 0)


@given(
    st.lists(st.text(alphabet="ab 😀é", max_size=30), min_size=1, max_size=12),
    st.integers(min_value=2, max_value=20),
)
def test_nothing_but_break_whitespace_is_lost(lines: list[str], limit: int) -> None:
    text = "\n".join(lines)
    chunks = split_text(text, limit, char_size=utf16_units)
    assert all(utf16_length(chunk) <= limit for chunk in chunks)
    # Every non-whitespace character survives, in order.
    assert "".join("".join(chunks).split()) == "".join(text.split())
