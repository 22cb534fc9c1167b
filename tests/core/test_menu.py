"""The command menu's values: options checked when made, commands written back as text."""

from __future__ import annotations

import pytest

from core.menu import MenuCommand, MenuOption, OptionKind

SAVE = MenuCommand(
    "save",
    "Save a checkpoint",
    invokes="/checkpoint save",
    options=(
        MenuOption("name", "The name", required=True),
        MenuOption("description", "What it is"),
    ),
)


def test_options_are_written_in_order_quoted_and_unset_ones_left_out() -> None:
    assert SAVE.text({"name": "before the trip"}) == '/checkpoint save "before the trip"'
    assert SAVE.text({"name": "x", "description": None}) == "/checkpoint save x"
    assert SAVE.text({"description": "d", "name": "n"}) == "/checkpoint save n d"


def test_flags_integers_and_raw_text() -> None:
    listing = MenuCommand(
        "list",
        "List",
        invokes="/session list",
        options=(
            MenuOption("all", "Every one", OptionKind.FLAG),
            MenuOption("page", "Page", OptionKind.INTEGER, minimum=1),
        ),
    )
    assert listing.text({"all": True, "page": 3}) == "/session list all 3"
    assert listing.text({"all": False, "page": 3}) == "/session list 3"
    free = MenuCommand(
        "weather", "W", invokes="/weather", options=(MenuOption("arguments", "A", raw=True),)
    )
    assert free.text({"arguments": "Le Havre"}) == "/weather Le Havre"


@pytest.mark.parametrize(
    ("option", "why"),
    [
        (lambda: MenuOption("Bad-Name", "x"), "invalid option name"),
        (lambda: MenuOption("name", "  "), "needs a description"),
        (lambda: MenuOption("n", "x", OptionKind.INTEGER, choices=("a",)), "only text options"),
    ],
)
def test_a_bad_option_fails_when_made(option: object, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        option()  # type: ignore[operator]
