"""The registry as a command menu: groups, their own command as ``show``, typed options."""

from __future__ import annotations

import pytest

from commands import CommandContext, Registry, default_registry
from commands.menu import FREE_FORM, SHOW, menu_of
from commands.parser import parse_command
from core.menu import MenuCommand, MenuOption, OptionKind, Suggest
from core.models import Reply


def entries() -> dict[str, MenuCommand]:
    return {entry.name: entry for entry in menu_of(default_registry(load_plugins=False))}


def test_every_top_level_command_is_in_the_menu_in_order() -> None:
    registry = default_registry(load_plugins=False)
    assert [entry.name for entry in menu_of(registry)] == [c.name for c in registry.commands()]


def test_aliases_are_kept() -> None:
    assert entries()["help"].aliases == ("start",)


def test_a_group_that_runs_by_itself_gets_show() -> None:
    session = entries()["session"]
    names = [sub.name for sub in session.subcommands]
    assert names[0] == SHOW
    assert session.subcommands[0].invokes == "/session"
    assert names[1:] == [
        "list",
        "resume",
        "scope",
        "context",
        "title",
        "reset-time",
        "idle-reset",
        "tag",
        "untag",
        "meta",
    ]
    assert [s.name for s in entries()["checkpoint"].subcommands] == [
        "save",
        "list",
        "restore",
        "delete",
        "branch",
    ]


def test_options_carry_types_choices_bounds_and_suggestions() -> None:
    by_path = {
        sub.invokes: sub for entry in entries().values() for sub in (entry.subcommands or (entry,))
    }
    (count,) = by_path["/history"].options
    assert (count.kind, count.minimum, count.maximum) == (OptionKind.INTEGER, 1, 200)
    (fmt,) = by_path["/history export"].options
    assert fmt.choices == ("markdown", "json", "text")
    (scope,) = by_path["/session scope"].options
    assert scope.choices == ("main", "channel", "peer", "channel-peer")
    assert by_path["/checkpoint restore"].options[0].suggest is Suggest.CHECKPOINT
    assert by_path["/session resume"].options[0].suggest is Suggest.SESSION
    assert by_path["/session scope"].admin_only


def test_every_written_command_is_accepted_by_the_registry() -> None:
    registry = default_registry(load_plugins=False)
    samples: dict[OptionKind, object] = {
        OptionKind.TEXT: "abc def",
        OptionKind.INTEGER: 2,
        OptionKind.FLAG: True,
    }
    for entry in menu_of(registry):
        for leaf in entry.subcommands or (entry,):
            values = {
                o.name: (o.choices[0] if o.choices else samples[o.kind]) for o in leaf.options
            }
            parsed = parse_command(leaf.text(values))  # type: ignore[arg-type]
            assert parsed is not None
            invocation = registry.bind(parsed)
            assert invocation.command.path == leaf.invokes


def test_a_plugin_command_without_options_gets_a_free_form_one() -> None:
    registry = Registry()

    @registry.command("weather", usage="/weather <city>", min_args=1, max_args=None)
    async def weather(ctx: CommandContext) -> Reply:
        """Tell the weather."""
        return Reply("sunny")

    @registry.command("ping")
    async def ping(ctx: CommandContext) -> Reply:
        """Pong."""
        return Reply("pong")

    weather_entry, ping_entry = menu_of(registry)
    (option,) = weather_entry.options
    assert (option.name, option.required, option.raw) == (FREE_FORM, True, True)
    assert ping_entry.options == ()


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ([MenuOption("a", "A"), MenuOption("b", "B", required=True)], "required option follows"),
        ([MenuOption("a", "A"), MenuOption("a", "B")], "share a name"),
        ([MenuOption("a", "A", raw=True), MenuOption("b", "B")], "only the last option"),
    ],
)
def test_bad_options_fail_at_registration(options: list[MenuOption], why: str) -> None:
    registry = Registry()
    with pytest.raises(ValueError, match=why):

        @registry.command("cmd", max_args=None, options=options)
        async def cmd(ctx: CommandContext) -> Reply:
            """A command."""
            return Reply("")
