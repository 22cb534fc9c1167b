from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.config import load_config
from bot.wiring import build_router, opened_manager
from core.crypto.envelope import generate_master_key
from core.models import Inbound
from core.storage.protocols import SessionFilter
from tests.encodings import cache_encoding


@dataclass
class Bot:
    config: Path
    db: Path

    def invoke(self, *args: str, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner(env={"SESSIONBOT_CONFIG": None, **(env or {})})
        return runner.invoke(cli, [*args, "--config", str(self.config)])

    def say(self, *lines: str, user: str = "alice") -> list[str]:
        """Send lines through the real router, as the console would."""
        return asyncio.run(self._say(lines, user))

    async def _say(self, lines: tuple[str, ...], user: str) -> list[str]:
        settings = load_config(self.config, environ={})
        async with opened_manager(settings) as manager:
            router = build_router(manager, settings)
            texts = []
            for line in lines:
                replies = await router.handle(Inbound("console", "console", user, line))
                texts.extend(reply.text for reply in replies)
        return texts

    def sessions(self) -> list[str]:
        async def ids() -> list[str]:
            settings = load_config(self.config, environ={})
            async with opened_manager(settings) as manager:
                found = await manager.sessions.list(SessionFilter(), limit=100)
            return [session.id for session in found]

        return asyncio.run(ids())


@pytest.fixture
def bot(tmp_path: Path) -> Bot:
    db = tmp_path / "bot.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[bot]\nrate_limit_per_minute = 0\n[storage]\nurl = "sqlite:///{db}"\n'
        "retention_days = 30\n"
    )
    return Bot(config, db)


def one_error_line(result: Result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# -- config check -------------------------------------------------------------


def test_config_check_ok(bot: Bot) -> None:
    result = bot.invoke("config", "check")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{bot.config}: OK (bot 'sessionbot'")
    assert "adapters: console" in result.stdout
    assert "tokens: estimate, the responder names no model)" in result.stdout


def test_config_check_says_how_tokens_are_counted(
    bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot.config.write_text(
        '[responder]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "gpt-4"\n'
    )
    cache = tmp_path / "tiktoken"
    cache.mkdir()
    missing = bot.invoke("config", "check", env={"TIKTOKEN_CACHE_DIR": str(cache)})
    assert f"tokens: estimate, cl100k_base is not in tiktoken's cache at {cache})" in missing.stdout
    cache_encoding(cache, monkeypatch)
    found = bot.invoke("config", "check", env={"TIKTOKEN_CACHE_DIR": str(cache)})
    assert f"tokens: tiktoken cl100k_base, cl100k_base found at {cache})" in found.stdout


def test_config_check_bad_exits_2_with_one_line(bot: Bot) -> None:
    bot.config.write_text('[sessions]\nscope = "everyone"\n')
    result = bot.invoke("config", "check")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith(f"Error: {bot.config}: sessions.scope: ")


def test_config_check_names_every_missing_secret_as_run_would(bot: Bot) -> None:
    bot.config.write_text(
        "[adapters.telegram]\nenabled = true\n[encryption]\nenabled = true\n"
        'key_env = "CHECK_MASTER_KEY"\n'
    )
    env = {"TELEGRAM_BOT_TOKEN": "", "CHECK_MASTER_KEY": ""}
    result = bot.invoke("config", "check", env=env)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "TELEGRAM_BOT_TOKEN" in line and "CHECK_MASTER_KEY" in line, line
    run = bot.invoke("run", env=env)
    assert run.exit_code == 2 and "TELEGRAM_BOT_TOKEN" in one_error_line(run)
    token = {"TELEGRAM_BOT_TOKEN": "123:abc", "CHECK_MASTER_KEY": generate_master_key()}
    assert bot.invoke("config", "check", env=token).exit_code == 0


def test_config_check_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(tmp_path / "no.toml")])
    assert result.exit_code == 2
    assert one_error_line(result) == f"Error: {tmp_path / 'no.toml'}: no such file"


def test_config_comes_from_the_environment_variable(bot: Bot) -> None:
    result = CliRunner(env={"SESSIONBOT_CONFIG": str(bot.config)}).invoke(cli, ["config", "check"])
    assert result.stdout.startswith(f"{bot.config}: OK")


def test_config_falls_back_to_local_file_then_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"SESSIONBOT_CONFIG": None})
    assert runner.invoke(cli, ["config", "check"]).stdout.startswith("built-in defaults: OK")
    Path("config.toml").write_text('[bot]\nname = "local"\n')
    assert runner.invoke(cli, ["config", "check"]).stdout.startswith("config.toml: OK (bot 'local'")


def test_config_check_hides_a_database_password(bot: Bot) -> None:
    env = {"SESSIONBOT_STORAGE__URL": "postgresql://bot:hunter2@db/bot"}
    result = bot.invoke("config", "check", env=env)
    assert "hunter2" not in result.stdout
    assert "postgresql://bot:***@db/bot" in result.stdout


# Each value passes pydantic's lax defaults but is one the running bot cannot honour
# (an overflow at start-up, a sweep that fails every minute) or is plainly a mistake.
CANNOT_HONOUR = [
    ("[storage]\nretention_days = 3000000\n", "storage.retention_days"),
    ("[storage]\nretention_days = 99999999999999999999\n", "storage.retention_days"),
    ("[storage]\nretention_days = 36501\n", "storage.retention_days"),
    ("[storage]\nretention_days = true\n", "storage.retention_days"),
    ('[storage]\nkeep_checkpointed = "yes"\n', "storage.keep_checkpointed"),
    ("[storage]\nkeep_checkpointed = 1\n", "storage.keep_checkpointed"),
    ('[encryption]\nenabled = "false"\n', "encryption.enabled"),
    ("[sessions]\nidle_reset_minutes = 5000000000\n", "sessions.idle_reset_minutes"),
    ("[sessions]\nidle_reset_minutes = 525601\n", "sessions.idle_reset_minutes"),
    ("[sessions]\nidle_reset_minutes = true\n", "sessions.idle_reset_minutes"),
    ('[sessions]\nidle_reset_minutes = "30"\n', "sessions.idle_reset_minutes"),
    ("[sessions]\nidle_reset_minutes = 30.0\n", "sessions.idle_reset_minutes"),
    (
        "[sessions]\ndaily_reset_grace_minutes = 99999999999999999999\n",
        "sessions.daily_reset_grace_minutes",
    ),
    ('[sessions]\nnotify_on_reset = "yes"\n', "sessions.notify_on_reset"),
    ("[sessions]\nthreads_are_channels = 0\n", "sessions.threads_are_channels"),
    (
        '[sessions]\ndaily_reset_time = "\u0660\u0664:\u0660\u0660"\n',
        "sessions.daily_reset_time",
    ),
    ('[sessions]\ndaily_reset_time = "\uff10\uff14:00"\n', "sessions.daily_reset_time"),
    ('[sessions]\ncarry_over = ["title", "title"]\n', "sessions.carry_over"),
    ('[sessions]\ncarry_over = ["title", "mood"]\n', "sessions.carry_over[1]"),
    (
        "[[sessions.overrides]]\nidle_reset_minutes = 5000000000\n",
        "sessions.overrides[0].idle_reset_minutes",
    ),
    (
        '[[sessions.overrides]]\nis_direct = "yes"\nidle_reset_minutes = 5\n',
        "sessions.overrides[0].is_direct",
    ),
    ('[bot]\nname = "my bot"\n', "bot.name"),
    ('[bot]\nname = "@sessionbot"\n', "bot.name"),
    ('[bot]\nname = ""\n', "bot.name"),
    (f'[bot]\nname = "{"b" * 65}"\n', "bot.name"),
    ('[bot]\nadmins = ["telegram:"]\n', "bot.admins"),
    ('[bot]\nadmins = ["Telegram:123"]\n', "bot.admins"),
    ('[bot]\nadmins = ["telegram:1\\u0007"]\n', "bot.admins"),
    (f'[bot]\nadmins = ["telegram:{"1" * 257}"]\n', "bot.admins"),
    ("[bot]\nmax_message_chars = 100001\n", "bot.max_message_chars"),
    ("[bot]\nmax_message_chars = true\n", "bot.max_message_chars"),
    ("[bot]\nrate_limit_per_minute = 6001\n", "bot.rate_limit_per_minute"),
    ("[context]\nmax_tokens = 1000001\n", "context.max_tokens"),
    ("[context]\nlive_conversations = 1000001\n", "context.live_conversations"),
    ('[identity]\nlinks = { a = ["console:a b"] }\n', "identity.links"),
]


@pytest.mark.parametrize(("text", "key"), CANNOT_HONOUR)
def test_config_check_refuses_what_run_cannot_honour(bot: Bot, text: str, key: str) -> None:
    bot.config.write_text(text)
    result = bot.invoke("config", "check")
    assert result.exit_code == 2
    assert one_error_line(result).startswith(f"Error: {bot.config}: {key}: ")


def test_the_largest_values_pass_the_check_and_the_bot_honours_them(bot: Bot) -> None:
    bot.config.write_text(
        f'[bot]\nname = "{"b" * 64}"\nadmins = ["telegram:{"1" * 256}"]\n'
        "max_message_chars = 100000\nrate_limit_per_minute = 6000\n"
        f'[storage]\nurl = "sqlite:///{bot.db}"\nretention_days = 36500\n'
        '[sessions]\ndaily_reset_time = "23:59"\nidle_reset_minutes = 525600\n'
        "daily_reset_grace_minutes = 525600\n"
        "[context]\nmax_tokens = 1000000\nlive_conversations = 1000000\n"
    )
    assert bot.invoke("config", "check").exit_code == 0
    bot.say("hello", "/new")
    status = bot.say("/session")[0]
    assert "Next resets: daily " in status
    cleanup = bot.invoke("sessions", "cleanup")
    assert cleanup.exit_code == 0, cleanup.output
    assert cleanup.stdout.startswith("deleted 0 sessions archived more than 36500 days ago")


def test_config_check_reads_the_environments_text_as_numbers_and_booleans(bot: Bot) -> None:
    env = {
        "SESSIONBOT_SESSIONS__IDLE_RESET_MINUTES": "30",
        "SESSIONBOT_STORAGE__KEEP_CHECKPOINTED": "false",
    }
    assert bot.invoke("config", "check", env=env).exit_code == 0
    env["SESSIONBOT_STORAGE__RETENTION_DAYS"] = "3000000"
    result = bot.invoke("config", "check", env=env)
    assert result.exit_code == 2
    assert one_error_line(result).startswith(
        "Error: $SESSIONBOT_STORAGE__RETENTION_DAYS: storage.retention_days: "
    )


def test_the_example_config_passes_the_check() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    result = CliRunner(env={"SESSIONBOT_CONFIG": None}).invoke(
        cli, ["config", "check", "--config", str(example)]
    )
    assert result.exit_code == 0, result.output


# -- db upgrade ---------------------------------------------------------------


def test_db_upgrade_creates_the_database(bot: Bot) -> None:
    result = bot.invoke("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "is up to date" in result.stdout
    assert bot.db.exists()
    assert bot.invoke("db", "upgrade").exit_code == 0


# -- sessions -----------------------------------------------------------------


def test_sessions_list_show_and_filters(bot: Bot) -> None:
    bot.say("hello", "/new second")
    bot.say("hi from bob", user="bob")
    result = bot.invoke("sessions", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "STATUS", "MSGS", "LAST"]
    assert len(lines) == 4
    assert "archived (new)" in result.stdout
    assert "second" in result.stdout

    active = bot.invoke("sessions", "list", "--status", "active").stdout.splitlines()
    assert len(active) == 3
    alice = bot.invoke("sessions", "list", "--scope-key", "console:c:console:u:alice")
    assert len(alice.stdout.splitlines()) == 3
    assert len(bot.invoke("sessions", "list", "--limit", "1").stdout.splitlines()) == 2


def test_sessions_list_lines_up_its_columns_and_says_when_there_are_more(bot: Bot) -> None:
    bot.say("hello", "/new a title")
    bot.say("hi from bob", user="someone-with-a-long-name")
    listed = bot.invoke("sessions", "list").stdout.splitlines()
    header = listed[0]
    for column in ("STATUS", "LAST ACTIVITY", "SCOPE KEY"):  # left-aligned: cells start there
        start = header.index(column)
        assert all(row[start - 2 : start] == "  " and row[start] != " " for row in listed[1:])
    end = header.index("MSGS") + len("MSGS")  # numbers end under the header's end
    assert all(row[end - 1].isdigit() and row[end] == " " for row in listed[1:])
    titled = next(row for row in listed if row.endswith("a title"))
    assert titled.index("a title") == header.index("TITLE")
    capped = bot.invoke("sessions", "list", "--limit", "2")
    assert len(capped.stdout.splitlines()) == 3
    assert capped.stderr == "more sessions than 2: add --limit 4\n"
    assert bot.invoke("sessions", "list", "--limit", "3").stderr == ""


def test_sessions_list_refuses_a_malformed_scope_key(bot: Bot) -> None:
    bot.say("hello")
    result = bot.invoke("sessions", "list", "--scope-key", "bogus")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "'bogus' is not a scope key; expected main, PLATFORM:c:CHANNEL" in line
    assert "SCOPE KEY column of sessions list" in line
    good = bot.invoke("sessions", "list", "--scope-key", "console:c:console:u:nobody")
    assert good.stdout == "no sessions\n"


def test_sessions_list_and_show_use_the_channels_zone_else_the_bots(bot: Bot) -> None:
    bot.config.write_text(
        bot.config.read_text().replace(
            "[bot]\n", '[bot]\ntimezone = "Europe/Berlin"\nadmins = ["console:root"]\n'
        )
    )
    bot.say("hello")  # in the console channel: the bot's zone
    bot.say("/session reset-time 04:00 Asia/Tokyo", user="root")
    bot.say("hi", user="tokyo")  # the same channel, which now has a zone of its own
    listed = bot.invoke("sessions", "list").stdout
    assert "JST" in listed and "CET" not in listed and "UTC" not in listed
    shown = bot.invoke("sessions", "show", bot.sessions()[0]).stdout
    assert re.search(r"created +\d{4}-\d\d-\d\d \d\d:\d\d JST", shown), shown


def test_sessions_list_empty(bot: Bot) -> None:
    assert bot.invoke("sessions", "list").stdout == "no sessions\n"


def test_sessions_show(bot: Bot) -> None:
    bot.say("hello there", '/checkpoint save "first"')
    (session_id,) = bot.sessions()
    result = bot.invoke("sessions", "show", session_id)
    assert result.exit_code == 0, result.output
    assert f"session        {session_id}" in result.stdout
    assert "scope key      console:c:console:u:alice" in result.stdout
    assert "owner          console:alice" in result.stdout
    assert "'first'" in result.stdout
    assert "alice (user): hello there" in result.stdout
    assert "sessionbot (assistant): echo: hello there" in result.stdout


def test_sessions_show_and_list_print_control_sequences_escaped(bot: Bot) -> None:
    bot.say('/new "\x1b]0;owned\x07title"', "\x1b[2Jhello\x00")
    session_id = bot.sessions()[0]  # newest first: the one /new started
    shown = bot.invoke("sessions", "show", session_id).stdout
    listed = bot.invoke("sessions", "list").stdout
    for output in (shown, listed):
        assert "\x1b" not in output and "\x07" not in output and "\x00" not in output
    assert "\\x1b]0;owned\\x07title" in listed
    assert "alice (user): \\x1b[2Jhello\\x00" in shown


def test_sessions_show_unknown_id_exits_1(bot: Bot) -> None:
    bot.invoke("db", "upgrade")
    result = bot.invoke("sessions", "show", "nosuchid")
    assert result.exit_code == 1
    assert one_error_line(result) == "Error: No session 'nosuchid'."


def test_sessions_export_to_stdout_and_to_a_file(bot: Bot, tmp_path: Path) -> None:
    bot.say("hello")
    (session_id,) = bot.sessions()
    markdown = bot.invoke("sessions", "export", session_id)
    assert markdown.exit_code == 0
    assert markdown.stdout.startswith(f"# Session {session_id}")

    out = tmp_path / "out.json"
    result = bot.invoke("sessions", "export", session_id, "--format", "json", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert f"to {out}" in result.stdout
    document = json.loads(out.read_text())
    assert [m["content"] for m in document["messages"]] == ["hello", "echo: hello"]


def test_an_exported_file_is_private_whatever_the_umask(bot: Bot, tmp_path: Path) -> None:
    bot.say("hello")
    (session_id,) = bot.sessions()
    fresh, existing = tmp_path / "fresh.md", tmp_path / "existing.md"
    existing.write_text("old")
    existing.chmod(0o644)
    previous = os.umask(0)
    try:
        for out in (fresh, existing):
            result = bot.invoke("sessions", "export", session_id, "--output", str(out))
            assert result.exit_code == 0, result.output
    finally:
        os.umask(previous)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    assert existing.read_text().startswith(f"# Session {session_id}")


def test_sessions_export_rejects_an_unknown_format(bot: Bot) -> None:
    result = bot.invoke("sessions", "export", "x", "--format", "pdf")
    assert result.exit_code == 2


def test_sessions_import_then_resume_in_chat(bot: Bot, tmp_path: Path) -> None:
    bot.say("remember this", '/checkpoint save "kept"')
    (original,) = bot.sessions()
    out = tmp_path / "export.json"
    bot.invoke("sessions", "export", original, "--format", "json", "-o", str(out))

    result = bot.invoke("sessions", "import", str(out), "--scope-key", "console:c:console:u:bob")
    assert result.exit_code == 0, result.output
    new_id = result.stdout.strip()
    assert new_id != original
    assert f"/session resume {new_id}" in result.stderr

    shown = bot.invoke("sessions", "show", new_id).stdout
    assert "owner          console:bob" in shown
    assert "archived (imported)" in shown
    replies = bot.say(f"/session resume {new_id}", "/history", "/checkpoint list", user="bob")
    assert replies[0].startswith(f"Resumed {new_id} (2 messages)")
    assert "alice: remember this" in replies[1]
    assert '"kept"' in replies[2]


@pytest.mark.parametrize(
    ("key", "owner", "problem"),
    [
        ("nonsense", None, "is not a scope key"),
        ("console:c:console", None, "names no user"),
        ("main", None, "pass --owner"),
        ("console:u:bob", "bob", "not of the form platform:user"),
    ],
)
def test_sessions_import_checks_key_and_owner(
    bot: Bot, tmp_path: Path, key: str, owner: str | None, problem: str
) -> None:
    export = tmp_path / "e.json"
    export.write_text("{}")
    args = ["sessions", "import", str(export), "--scope-key", key]
    result = bot.invoke(*args, *(["--owner", owner] if owner else []))
    assert result.exit_code == 1
    assert problem in one_error_line(result)


def test_sessions_import_with_an_owner_into_a_shared_scope(bot: Bot, tmp_path: Path) -> None:
    bot.say("hello")
    (original,) = bot.sessions()
    out = tmp_path / "export.json"
    bot.invoke("sessions", "export", original, "--format", "json", "-o", str(out))
    result = bot.invoke(
        "sessions", "import", str(out), "--scope-key", "main", "--owner", "telegram:42"
    )
    assert result.exit_code == 0, result.output
    shown = bot.invoke("sessions", "show", result.stdout.strip()).stdout
    assert "owner          telegram:42" in shown


def test_sessions_import_rejects_a_file_that_is_no_export(bot: Bot, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "other"}')
    result = bot.invoke("sessions", "import", str(bad), "--scope-key", "console:u:bob")
    assert result.exit_code == 1
    assert 'JSON but not a sessionbot export (no "format"' in one_error_line(result)


def test_sessions_import_checks_the_whole_file_before_writing(bot: Bot, tmp_path: Path) -> None:
    bot.say(*(f"message {n}" for n in range(30)))
    (original,) = bot.sessions()
    out = tmp_path / "export.json"
    bot.invoke("sessions", "export", original, "--format", "json", "-o", str(out))
    document = json.loads(out.read_text())
    document["messages"][-1]["created_at"] = "yesterday"  # the last of 60 is broken
    out.write_text(json.dumps(document))
    markdown = tmp_path / "export.md"
    bot.invoke("sessions", "export", original, "--format", "markdown", "-o", str(markdown))
    for bad, why in [
        (out, "messages[59].created_at: Input should be a valid datetime"),
        (markdown, "looks like a markdown or text export"),
    ]:
        result = bot.invoke("sessions", "import", str(bad), "--scope-key", "console:u:bob")
        assert result.exit_code == 1
        assert why in one_error_line(result) and "--format json" in one_error_line(result)
    assert bot.sessions() == [original]  # nothing half imported


def test_sessions_delete(bot: Bot) -> None:
    bot.say("hello")
    (session_id,) = bot.sessions()
    result = bot.invoke("sessions", "delete", session_id)
    assert result.exit_code == 0
    assert result.stdout == f"deleted session {session_id}\n"
    assert bot.sessions() == []
    again = bot.invoke("sessions", "delete", session_id)
    assert again.exit_code == 1


def test_sessions_cleanup(bot: Bot) -> None:
    bot.say("one", "/new", "two", '/checkpoint save "keep me"', "/new")
    assert len(bot.sessions()) == 3
    nothing = bot.invoke("sessions", "cleanup")
    assert nothing.stdout.startswith("deleted 0 sessions archived more than 30 days ago")

    kept = bot.invoke("sessions", "cleanup", "--older-than-days", "0")
    assert kept.stdout.startswith("deleted 1 sessions")
    assert len(bot.sessions()) == 2

    bot.invoke("sessions", "cleanup", "--older-than-days", "0", "--no-keep-checkpointed")
    assert len(bot.sessions()) == 1


def test_sessions_cleanup_with_retention_off(bot: Bot) -> None:
    bot.config.write_text(f'[storage]\nurl = "sqlite:///{bot.db}"\n')
    result = bot.invoke("sessions", "cleanup")
    assert result.exit_code == 0
    assert "nothing deleted" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("cleanup", "--older-than-days", "3000000"),
            "--older-than-days: expected a whole number from 0 to 36500, got '3000000'",
        ),
        (
            ("cleanup", "--older-than-days", "36501"),
            "--older-than-days: expected a whole number from 0 to 36500, got '36501'",
        ),
        (
            ("cleanup", "--older-than-days", "\u0663"),
            "--older-than-days: expected a whole number from 0 to 36500, got '\u0663'",
        ),
        (
            ("cleanup", "--older-than-days", "1_0"),
            "--older-than-days: expected a whole number from 0 to 36500, got '1_0'",
        ),
        (
            ("cleanup", "--older-than-days", "-1"),
            "--older-than-days: expected a whole number from 0 to 36500, got '-1'",
        ),
        (("list", "--limit", "0"), "--limit: expected a whole number from 1 to 1000, got '0'"),
        (
            ("list", "--limit", "99999999999999999999"),
            "--limit: expected a whole number from 1 to 1000, got '99999999999999999999'",
        ),
    ],
)
def test_sessions_options_out_of_bounds_exit_2_with_one_line(
    bot: Bot, args: tuple[str, ...], expected: str
) -> None:
    bot.say("one", "/new")
    result = bot.invoke("sessions", *args)
    assert result.exit_code == 2
    assert one_error_line(result) == f"Error: {expected}"
    assert len(bot.sessions()) == 2


def test_sessions_cleanup_takes_the_largest_age(bot: Bot) -> None:
    bot.say("one", "/new")
    result = bot.invoke("sessions", "cleanup", "--older-than-days", "36500")
    assert result.exit_code == 0, result.output
    assert len(bot.sessions()) == 2


# -- errors and the entry points ----------------------------------------------


def test_a_storage_url_the_store_rejects_exits_2(bot: Bot) -> None:
    result = bot.invoke("sessions", "list", env={"SESSIONBOT_STORAGE__URL": "sqlite:///"})
    assert result.exit_code == 2
    assert "names no SQLite file" in one_error_line(result)


def test_run_with_no_adapter_enabled_exits_2(bot: Bot) -> None:
    result = bot.invoke("run", env={"SESSIONBOT_ADAPTERS__CONSOLE__ENABLED": "false"})
    assert result.exit_code == 2
    assert "no adapter is enabled" in one_error_line(result)


def test_run_with_a_bad_user_exits_2(bot: Bot) -> None:
    result = bot.invoke("run", "--as", "not valid")
    assert result.exit_code == 2
    assert one_error_line(result).startswith("Error: --as: adapters.console.user:")


def test_python_dash_m_bot_is_the_cli(bot: Bot) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "config", "check", "--config", str(bot.config)],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("SESSIONBOT_")},
    )
    assert result.returncode == 0, result.stderr
    assert ": OK (" in result.stdout


def test_run_reads_piped_input_and_exits_0(bot: Bot) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(bot.config), "--as", "carol"],
        input="hello\n@dave: hi\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "echo: hello\necho: hi\n"
    assert "Traceback" not in result.stderr


def test_sessions_search_finds_words_by_scope_key_and_tag(bot: Bot) -> None:
    bot.say("the blue whale", "/session tag sea", "/new", "blue sky")
    bot.say("a blue whale of bob", user="bob")
    result = bot.invoke("sessions", "search", "blue whale")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["SESSION", "TIME", "AUTHOR", "MESSAGE"]
    assert len(lines) == 5  # two messages of alice's, two of bob's (with the echoes)
    assert "«blue» «whale»" in result.stdout
    alice = bot.invoke(
        "sessions", "search", '"blue whale"', "--scope-key", "console:c:console:u:alice"
    )
    assert len(alice.stdout.splitlines()) == 3 and "bob" not in alice.stdout
    tagged = bot.invoke("sessions", "search", "blue", "--tag", "#SEA")
    assert len(tagged.stdout.splitlines()) == 3 and "sky" not in tagged.stdout
    assert bot.invoke("sessions", "search", "nothing-like-it").stdout == "no messages match\n"
    few = bot.invoke("sessions", "search", "blue", "--limit", "1")
    assert "more messages match than 1: add --limit 2" in few.stderr


def test_sessions_search_refuses_bad_input_in_one_line(bot: Bot) -> None:
    assert "give at least one word" in one_error_line(bot.invoke("sessions", "search", "..."))
    assert "is not a tag" in one_error_line(bot.invoke("sessions", "search", "x", "--tag", "a/b"))
    bad_key = bot.invoke("sessions", "search", "x", "--scope-key", "nope")
    assert "is not a scope key" in one_error_line(bad_key)
