from __future__ import annotations

import pytest

from commands import CommandContext, Registry, default_registry, parse_command
from commands.registry import Invocation
from core.errors import CommandError, UsageError
from core.models import Reply


async def ping(ctx: CommandContext) -> Reply:
    """Answer pong.

    A longer description.
    """
    return Reply("pong")


def bind(registry: Registry, text: str) -> Invocation:
    parsed = parse_command(text)
    assert parsed is not None
    return registry.bind(parsed)


def make_registry() -> Registry:
    registry = Registry()
    registry.command("ping", usage="/ping [n]", aliases=("p",), max_args=1)(ping)
    registry.group("cp", "Checkpoints.")
    registry.subcommand("cp", "save", usage='/cp save "name"', min_args=1, max_args=2)(ping)
    registry.subcommand("cp", "drop-all", admin_only=True)(ping)
    registry.command("hist", usage="/hist [N]", max_args=1)(ping)
    registry.subcommand("hist", "clear", aliases=("wipe",))(ping)
    return registry


def test_the_decorator_records_and_returns_the_function_unchanged() -> None:
    registry = Registry()
    assert registry.command("ping", usage="/ping [n]", max_args=1)(ping) is ping
    [command] = registry.commands()
    assert command.handler is ping
    assert command.usage == "/ping [n]"
    assert command.summary == "Answer pong."
    assert command.doc == "Answer pong.\n\nA longer description."
    assert (command.min_args, command.max_args, command.admin_only) == (0, 1, False)


def test_usage_defaults_to_the_command_path() -> None:
    registry = make_registry()
    assert registry.get_subcommand("cp", "drop-all").usage == "/cp drop-all"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "name", ["", "Ping", "1ping", "two words", "with-hyphen", "x" * 33, "/ping", "pïng"]
)
def test_invalid_command_names_fail_at_registration(name: str) -> None:
    with pytest.raises(ValueError, match="invalid command name"):
        Registry().command(name)(ping)


def test_subcommand_names_may_have_hyphens_but_not_spaces() -> None:
    registry = make_registry()
    registry.subcommand("cp", "reset-time")(ping)
    with pytest.raises(ValueError, match="invalid command name"):
        registry.subcommand("cp", "reset time")(ping)


@pytest.mark.parametrize(
    ("name", "aliases"), [("ping", ()), ("pong", ("p",)), ("p", ()), ("other", ("ping",))]
)
def test_a_taken_name_or_alias_fails_at_registration(name: str, aliases: tuple[str, ...]) -> None:
    registry = make_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.command(name, aliases=aliases)(ping)


def test_an_alias_repeating_the_name_fails() -> None:
    with pytest.raises(ValueError, match="repeats"):
        Registry().command("ping", aliases=("ping",))(ping)


def test_a_sync_handler_fails_at_registration() -> None:
    def sync(ctx: CommandContext) -> Reply:
        """Not async."""
        return Reply("no")

    with pytest.raises(ValueError, match="async"):
        Registry().command("sync")(sync)  # type: ignore[type-var]


def test_a_handler_without_docstring_fails_at_registration() -> None:
    async def silent(ctx: CommandContext) -> Reply:
        return Reply("")

    with pytest.raises(ValueError, match="docstring"):
        Registry().command("silent")(silent)


@pytest.mark.parametrize(("min_args", "max_args"), [(-1, None), (2, 1), (0, -1)])
def test_impossible_argument_counts_fail(min_args: int, max_args: int | None) -> None:
    with pytest.raises(ValueError, match=r"argument|max_args"):
        Registry().command("ping", min_args=min_args, max_args=max_args)(ping)


def test_a_subcommand_needs_its_parent_first() -> None:
    with pytest.raises(ValueError, match="no command /nothing"):
        Registry().subcommand("nothing", "save")(ping)


def test_a_duplicate_subcommand_fails() -> None:
    registry = make_registry()
    with pytest.raises(ValueError, match="/cp save is already registered"):
        registry.subcommand("cp", "save")(ping)


def test_include_merges_all_or_nothing() -> None:
    registry = make_registry()
    extra = Registry()
    extra.command("weather")(ping)
    extra.subcommand("weather", "today")(ping)
    registry.include(extra)
    assert registry.get("weather") is not None
    assert registry.get_subcommand("weather", "today") is not None

    clashing = Registry()
    clashing.command("fresh")(ping)
    clashing.command("ping")(ping)
    with pytest.raises(ValueError, match="already registered"):
        registry.include(clashing)
    assert registry.get("fresh") is None


def test_atomic_undoes_registrations_when_the_block_fails() -> None:
    registry = make_registry()
    before = registry.commands()
    with pytest.raises(RuntimeError), registry.atomic():
        registry.command("fresh")(ping)
        registry.subcommand("cp", "fresh")(ping)
        raise RuntimeError
    assert registry.commands() == before
    assert registry.get_subcommand("cp", "fresh") is None


def test_lookup_is_by_name_or_alias_in_any_case() -> None:
    registry = make_registry()
    assert registry.get("PING") is registry.get("p") is registry.commands()[0]
    assert registry.get_subcommand("hist", "WIPE") is registry.get_subcommand("hist", "clear")
    assert registry.get("nope") is None


def test_usage_of_names_the_subcommands() -> None:
    registry = make_registry()
    assert registry.usage_of(registry.get("ping")) == "/ping [n]"  # type: ignore[arg-type]
    assert registry.usage_of(registry.get("cp")) == "/cp save|drop-all …"  # type: ignore[arg-type]
    assert registry.usage_of(registry.get("hist")) == "/hist [N] or /hist clear …"  # type: ignore[arg-type]


def test_bind_finds_the_command_and_its_arguments() -> None:
    registry = make_registry()
    invocation = bind(registry, "/P 3")
    assert (invocation.command.name, invocation.args, invocation.handler) == ("ping", ("3",), ping)
    invocation = bind(registry, '/cp SAVE "a b"')
    assert (invocation.command.path, invocation.args) == ("/cp save", ("a b",))
    assert bind(registry, "/hist 5").command.name == "hist"
    assert bind(registry, "/hist wipe").command.path == "/hist clear"


def test_a_group_flag_or_subcommand_flag_makes_the_invocation_admin_only() -> None:
    registry = make_registry()
    assert bind(registry, "/cp drop-all").admin_only
    assert not bind(registry, "/cp save x").admin_only


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/pnig", "Unknown command /pnig. Did you mean /ping?"),
        ("/zzzzzz", "Unknown command /zzzzzz. Try /help."),
    ],
)
def test_unknown_commands_suggest_the_nearest_name(text: str, message: str) -> None:
    with pytest.raises(CommandError) as caught:
        bind(make_registry(), text)
    assert not isinstance(caught.value, UsageError)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/ping 1 2", "Too many arguments for /ping. Usage: /ping [n]"),
        ("/cp", "/cp needs a subcommand: save, drop-all. Usage: /cp save|drop-all …"),
        ("/cp nope", "Unknown subcommand 'nope' for /cp; try save, drop-all."),
        ("/cp save", '/cp save needs more arguments. Usage: /cp save "name"'),
        ("/cp drop-all now", "/cp drop-all takes no arguments. Usage: /cp drop-all"),
        ("/hist 1 2", "Unknown subcommand '1' for /hist; try clear."),
        ('/cp save "open', 'A " quote is never closed. Usage: /cp save "name"'),
        ("/ping 'open", "A ' quote is never closed. Usage: /ping [n]"),
    ],
)
def test_bad_arguments_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        bind(make_registry(), text)
    assert str(caught.value).startswith(message)
    assert caught.value.usage


def test_the_default_registry_has_every_builtin_family() -> None:
    registry = default_registry(load_plugins=False)
    assert [command.name for command in registry.commands()] == [
        "new",
        "reset",
        "session",
        "checkpoint",
        "history",
        "retry",
        "help",
    ]
    assert [sub.name for sub in registry.subcommands("session")] == [
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
    assert [sub.name for sub in registry.subcommands("checkpoint")] == [
        "save",
        "list",
        "restore",
        "delete",
        "branch",
    ]
    assert [sub.name for sub in registry.subcommands("history")] == [
        "export",
        "clear",
        "pin",
        "unpin",
        "pins",
        "summary",
        "search",
    ]
    assert registry.get_subcommand("session", "scope").admin_only  # type: ignore[union-attr]


def test_each_default_registry_is_a_fresh_copy() -> None:
    first = default_registry(load_plugins=False)
    first.command("extra")(ping)
    assert default_registry(load_plugins=False).get("extra") is None
