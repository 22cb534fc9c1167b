from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.parser import ParsedCommand, parse_command, split_args
from core.menu import quote_arg


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "",
        " /help",
        "/",
        "/ help",
        "//help",
        "/help!",
        "/hé",
        "/help@",
        '/help"x"',
        "x /help",
    ],
)
def test_text_that_is_not_a_command_is_a_plain_message(text: str) -> None:
    assert parse_command(text) is None


def test_a_bare_command() -> None:
    assert parse_command("/help") == ParsedCommand("help", (), None, "")


def test_the_name_is_case_insensitive_and_the_arguments_keep_their_case() -> None:
    parsed = parse_command("/HeLp Session")
    assert parsed is not None
    assert (parsed.name, parsed.args) == ("help", ("Session",))


def test_botname_suffix_is_kept_as_typed() -> None:
    parsed = parse_command("/new@My_Bot  Trip plans ")
    assert parsed == ParsedCommand("new", ("Trip", "plans"), "My_Bot", "Trip plans")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ('save "my point" a description', ("save", "my point", "a", "description")),
        ("save 'my point'", ("save", "my point")),
        (r'"say \"hi\" \\ now"', ('say "hi" \\ now',)),
        (r'"keep \n as typed"', (r"keep \n as typed",)),
        ("it's late", ("it's", "late")),
        ('say "hi" there', ("say", "hi", "there")),
        (r"C:\path\to", (r"C:\path\to",)),
        ("\"\" ''", ("", "")),
        ('"a b"c', ("a bc",)),
        ('"it\'s" fine', ("it's", "fine")),
        ("a\tb\nc\u00a0d", ("a", "b", "c", "d")),
        ("  ", ()),
    ],
)
def test_arguments_split_like_a_shell_made_for_chat(args: str, expected: tuple[str, ...]) -> None:
    assert split_args(args) == expected
    parsed = parse_command(f"/x {args}")
    assert parsed is not None
    assert parsed.args == expected
    assert parsed.error is None


@pytest.mark.parametrize("args", ['"open', "'open", 'fine "open', '"ends in backslash\\'])
def test_an_unbalanced_quote_is_reported_not_raised(args: str) -> None:
    with pytest.raises(ValueError, match="never closed"):
        split_args(args)
    parsed = parse_command(f"/checkpoint {args}")
    assert parsed is not None
    assert parsed.name == "checkpoint"
    assert parsed.args == ()
    assert parsed.raw_args == args.strip()
    assert parsed.error is not None
    assert "never closed" in parsed.error


def test_any_whitespace_ends_the_name() -> None:
    parsed = parse_command("/history\n5")
    assert parsed is not None
    assert (parsed.name, parsed.args) == ("history", ("5",))
    assert parse_command("/history\u00a05") == ParsedCommand("history", ("5",), None, "5")


def test_the_result_is_frozen() -> None:
    parsed = parse_command("/help")
    assert parsed is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [("plain", "plain"), ("two words", '"two words"'), ("", '""'), ('"q', '"\\"q"')],
)
def test_quote_arg_quotes_only_when_needed(arg: str, quoted: str) -> None:
    assert quote_arg(arg) == quoted


@given(st.text())
def test_parsing_never_raises_and_keeps_to_its_shape(text: str) -> None:
    assert parse_command(text) is None or text.startswith("/")
    for typed in ("/" + text, "/x " + text):
        parsed = parse_command(typed)
        if parsed is None:
            continue
        assert parsed.name and parsed.name == parsed.name.lower()
        assert typed.lower().startswith("/" + parsed.name)
        assert parsed.raw_args == parsed.raw_args.strip()
        # Either the arguments were split, or why not is said and none are given.
        assert parsed.error is None or parsed.args == ()
    x = parse_command("/x " + text)
    assert x is not None and x.name == "x" and x.addressed_to is None


@given(st.lists(st.text()))
def test_quoted_arguments_round_trip(args: list[str]) -> None:
    parsed = parse_command("/cmd " + " ".join(quote_arg(arg) for arg in args))
    assert parsed is not None
    assert parsed.args == tuple(args)


@given(st.from_regex(r"[A-Za-z0-9_]{1,32}", fullmatch=True), st.lists(st.text()))
def test_any_case_of_a_name_parses_to_the_same_command(name: str, args: list[str]) -> None:
    quoted = " ".join(quote_arg(arg) for arg in args)
    parsed = parse_command(f"/{name} {quoted}")
    assert parsed is not None
    assert parsed.name == name.lower()
    assert parsed.args == tuple(args)
