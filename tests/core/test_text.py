"""Text from outside is made storable where it comes in: lone surrogates replaced."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.models import Inbound
from core.sessions.imports import parse_export
from core.text import REPLACEMENT, clean_text, for_terminal


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("plain", "plain"),
        ("a\ud800b", f"a{REPLACEMENT}b"),
        ("\udfff", REPLACEMENT),
        ("\ud83d\ude00", "\U0001f600"),  # a pair written as two code points
        ("\ud83d\ud83d", REPLACEMENT * 2),
        ("nul \x00 stays", "nul \x00 stays"),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean
    clean_text(raw).encode("utf-8")  # storable


@given(st.text())
def test_valid_text_is_kept_as_it_is(text: str) -> None:
    assert clean_text(text) is text


def test_an_inbound_message_is_clean_from_the_start() -> None:
    inbound = Inbound("telegram", "c", "u", "hi \ud800", display_name="Bob \udc00")
    assert inbound.text == f"hi {REPLACEMENT}"
    assert inbound.display_name == f"Bob {REPLACEMENT}"


def test_an_import_with_lone_surrogates_and_bad_bytes_is_cleaned() -> None:
    document = {
        "format": "sessionbot-export",
        "version": 1,
        "session": {
            "title": "t\ud800",
            "metadata": {"note": "\udc01"},
            "created_at": "2026-01-01T00:00:00+00:00",
        },
        "messages": [],
        "checkpoints": [],
    }
    text = json.dumps(document)  # escapes the surrogates as \ud800
    assert "\\ud800" in text
    data = text.encode().replace(b'"t\\ud800"', b'"t\\ud800\xff"')
    imported = parse_export(data)
    assert imported.title == f"t{REPLACEMENT}{REPLACEMENT}"
    assert imported.metadata == {"note": REPLACEMENT}


def test_control_sequences_print_escaped_and_line_breaks_stay() -> None:
    assert for_terminal("a\x1b[2Jb\x1b]0;owned\x07c\x00d\x9be") == (
        "a\\x1b[2Jb\\x1b]0;owned\\x07c\\x00d\\x9be"
    )
    assert for_terminal("two\nlines\tand tab") == "two\nlines\tand tab"
