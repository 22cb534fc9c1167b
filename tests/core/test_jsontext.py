"""json_text writes stored mappings exactly as the general JSON encoder would."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.jsontext import json_text, parse_json_text


def reference(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"platform_message_id": "123"},
        {"_sealed": "sb:aes256gcm:AAAA/+=="},
        {"b": "2", "a": "1", "c": "3"},
        {"quote": 'say "hi"\\ \n\t\u0001', "ünï": "çødé 🙂"},
        {"n": 1},
        {"a": "x", "n": None},
        {"nested": {"b": "1", "a": ["x", 2]}},
        ["not", "a", "mapping"],
        "text",
    ],
)
def test_the_text_is_the_general_encoders(value: Any) -> None:
    assert json_text(value) == reference(value)
    assert json.loads(json_text(value)) == value


text = st.text(alphabet=st.characters(exclude_categories=("Cs",)))


@given(st.dictionaries(text, text) | st.dictionaries(text, st.integers() | text | st.none()))
def test_any_mapping_of_strings_is_written_as_the_general_encoder_does(
    value: dict[str, Any],
) -> None:
    assert json_text(value) == reference(value)


@given(st.dictionaries(text, text | st.integers() | st.none(), max_size=3))
def test_what_is_written_reads_back(value: dict[str, Any]) -> None:
    assert parse_json_text(json_text(value)) == value


@given(st.dictionaries(text, text, min_size=1, max_size=1), st.sampled_from([None, 0, 2]))
def test_any_json_text_reads_as_the_parser_reads_it(value: dict[str, str], indent: Any) -> None:
    """Texts not written by json_text (spaces, escapes, other writers) too."""
    for written in (json.dumps(value), json.dumps(value, indent=indent), json_text(value)):
        assert parse_json_text(written) == json.loads(written)
