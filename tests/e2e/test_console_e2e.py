"""``sessionbot run`` as a subprocess, fed through a pipe, on a real SQLite file.

Each run sends its lines, each followed by an unknown marker command (``/zzend<n>``,
spoken by the same user). Markers change nothing, so the output splits cleanly into
one reply block per line. Ids are read out of the replies with regexes, and the
later runs of a test reuse the same database file to show everything survives a
restart.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.crypto.envelope import generate_master_key

pytestmark = pytest.mark.e2e

ID = r"\b([23456789a-z]{10})\b"
MARKER = re.compile(r"^Unknown command /zzend(\d+)\..*$", re.MULTILINE)


class Bot:
    """One bot's config and database in a temporary directory."""

    def __init__(
        self, tmp_path: Path, *, scope: str = "per-channel-peer", encrypted: bool = False
    ) -> None:
        self.dir = tmp_path
        self.encrypted = encrypted
        self.master_key = generate_master_key()
        self.db = tmp_path / "bot.db"
        self.exports = tmp_path / "exports"
        self.config = tmp_path / "config.toml"
        self.config.write_text(
            f"""
            [bot]
            admins = ["console:alice"]
            max_message_chars = 200
            rate_limit_per_minute = 0

            [storage]
            url = "sqlite:///{self.db}"

            [sessions]
            scope = "{scope}"

            [encryption]
            enabled = {"true" if encrypted else "false"}
            key_env = "E2E_MASTER_KEY"

            [adapters.console]
            user = "alice"
            export_dir = "{self.exports}"
            """.replace("\n            ", "\n")
        )

    def run(self, *lines: str) -> list[str]:
        """Run the bot on ``lines``; return the reply block of each line."""
        piped = []
        for number, line in enumerate(lines):
            speaker = re.match(r"@[\w.-]+:", line)
            piped += [line, f"{speaker[0] if speaker else ''} /zzend{number}"]
        result = self.process("run", stdin="\n".join(piped) + "\n")
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return self._blocks(result.stdout, len(lines))

    def _blocks(self, stdout: str, count: int) -> list[str]:
        blocks, start = [], 0
        for number, marker in enumerate(MARKER.finditer(stdout)):
            assert int(marker[1]) == number
            blocks.append(stdout[start : marker.start()].strip("\n"))
            start = marker.end() + 1
        assert len(blocks) == count, stdout
        return blocks

    def process(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONBOT_")}
        env["E2E_MASTER_KEY"] = self.master_key
        return subprocess.run(
            [sys.executable, "-m", "bot", *args, "--config", str(self.config)],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            cwd=self.dir,
            env=env,
        )


def find(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in {text!r}"
    return match[1]


def one_line(reply: str) -> str:
    assert reply and "\n" not in reply, reply
    return reply


@pytest.fixture(params=[False, True], ids=["plain", "encrypted"])
def encrypted(request: pytest.FixtureRequest) -> bool:
    """Every scenario runs twice: the second time with encryption at rest on."""
    return bool(request.param)


@pytest.fixture
def bot(tmp_path: Path, encrypted: bool) -> Bot:
    return Bot(tmp_path, encrypted=encrypted)


def test_sessions_new_reset_list_resume_and_restart(bot: Bot) -> None:
    hello, info, new, second, reset, listing = bot.run(
        "hello", "/session", "/new Trip plans", "second conversation", "/reset", "/session list"
    )
    assert hello == "echo: hello"
    first = find(rf"^Session {ID}\n", info)
    assert "Scope: channel-peer" in info
    assert "Messages: 2" in info
    assert ("Encryption: on" in info) == bot.encrypted
    trip = find(rf'^Started a new conversation, {ID} "Trip plans"\.', new)
    assert f"The previous one ({first}, 2 messages) is archived" in new
    assert f"/session resume {first}" in new
    assert second == "echo: second conversation"
    third = find(rf"^Starting over in {ID}\.", reset)
    assert f"The previous one ({trip}, 2 messages) is archived" in reset
    assert listing.startswith("Your conversations (page 1):")
    assert re.search(rf"▶ {third} .*\(active\)", listing)
    assert re.search(rf'• {trip} "Trip plans" · 2 messages', listing)
    assert re.search(rf"• {first} · 2 messages", listing)
    assert bot.db.exists()
    assert stat.S_IMODE(bot.db.stat().st_mode) == 0o600

    # A restart: the archived session is still there and can be resumed.
    resume, history, info, listing = bot.run(
        f"/session resume {first}", "/history", "/session", "/session list"
    )
    assert resume == f"Resumed {first} (2 messages). {third} is archived; " + (
        f"/session resume {third} goes back."
    )
    assert history.splitlines()[0] == "All 2 messages (times in UTC):"
    assert history.splitlines()[1].endswith("] alice: hello")
    assert history.splitlines()[2].endswith("] sessionbot: echo: hello")
    assert info.startswith(f"Session {first}\n")
    assert re.search(rf"▶ {first} .*\(active\)", listing)
    assert len(re.findall(ID, listing)) == 3


def test_checkpoints_history_and_help(bot: Bot) -> None:
    replies = bot.run(
        "one",
        '/checkpoint save "x" the first two',
        "three",
        "/checkpoint list",
        "/session",
    )
    saved, listing, info = replies[1], replies[3], replies[4]
    checkpoint = find(rf'^Saved checkpoint "x" \({ID}, 2 messages\)\.', saved)
    assert f"To come back here: /checkpoint restore {checkpoint}" in saved
    assert re.search(rf'• {checkpoint} "x" · 2 messages · .* · the first two', listing)
    original = find(rf"^Session {ID}\n", info)

    restore, after_restore = bot.run(f"/checkpoint restore {checkpoint}", "/history")
    assert restore.startswith('Restored "x": back to 2 messages. To undo: /checkpoint restore ')
    undo_id = find(rf"To undo: /checkpoint restore {ID}$", restore)
    assert after_restore.splitlines()[0] == "All 2 messages (times in UTC):"
    assert "three" not in after_restore

    undo, after_undo, listing = bot.run(
        f"/checkpoint restore {undo_id}", "/history", "/checkpoint list"
    )
    assert undo.startswith('Restored "before restore (4 messages)": back to 4 messages.')
    assert "alice: three" in after_undo
    assert re.search(
        rf'• {undo_id} "before restore \(4 messages\)" · 4 messages · .* · automatic · '
        'saved before restoring "x"',
        listing,
    )

    branch, in_branch, back, deleted, listing = bot.run(
        f"/checkpoint branch {checkpoint} Side quest",
        "/history",
        f"/session resume {original}",
        f"/checkpoint delete {checkpoint}",
        "/checkpoint list",
    )
    branched = find(rf'^Started {ID} "Side quest" from checkpoint "x" \(2 messages\)\.', branch)
    assert f"/session resume {original} brings it back" in branch
    assert in_branch.splitlines()[0] == "All 2 messages (times in UTC):"
    assert back.startswith(f"Resumed {original} (")
    assert f"{branched} is archived" in back
    assert deleted == f'Deleted checkpoint "x" ({checkpoint}).'
    assert checkpoint not in listing
    assert undo_id in listing

    _, last5, export, clear, empty, help_all, help_checkpoint = bot.run(
        "four",
        "/history 5",
        "/history export json",
        "/history clear",
        "/history",
        "/help",
        "/help checkpoint",
    )
    assert last5.splitlines()[0] == "Last 5 of 6 (times in UTC):"
    assert len(last5.splitlines()) == 6
    count = int(find(r"^Here is this conversation as json \((\d+) messages\)\.", export))
    path = Path(find(r"^saved file to (.+)$", export.splitlines()[1]))
    assert path == bot.exports / f"session-{original}.json"
    document = json.loads(path.read_text())
    assert len(document["messages"]) == count
    assert clear.startswith(f"Cleared {count} messages; settings and checkpoints are kept.")
    clear_undo = find(rf"To undo: /checkpoint restore {ID}$", clear)
    assert empty == "No messages yet."
    assert help_all.startswith("Commands:\n")
    for name in ("/new", "/reset", "/session", "/checkpoint", "/history", "/help"):
        assert f"\n{name} — " in help_all
    assert '/checkpoint save "name" [description]' in help_checkpoint
    assert "/checkpoint restore <id>" in help_checkpoint

    # After a restart the cleared history can still be brought back.
    (restored, history) = bot.run(f"/checkpoint restore {clear_undo}", "/history")
    assert restored.startswith(
        f'Restored "before clear ({count} messages)": back to {count} messages.'
    )
    assert history.splitlines()[0] == f"All {count} messages (times in UTC):"


def test_two_users_in_one_channel_are_isolated_per_channel_peer(bot: Bot) -> None:
    replies = bot.run(
        "@alice: alice secret",
        '@alice: /checkpoint save "a-cp"',
        "@alice: /session",
        "@bob: bob secret",
        '@bob: /checkpoint save "b-cp"',
        "@bob: /session",
        "@bob: /history",
        "@alice: /history",
    )
    alice_cp = find(rf"\({ID}, 2 messages\)", replies[1])
    alice_session = find(rf"^Session {ID}\n", replies[2])
    bob_cp = find(rf"\({ID}, 2 messages\)", replies[4])
    bob_session = find(rf"^Session {ID}\n", replies[5])
    assert alice_session != bob_session
    assert "bob secret" in replies[6]
    assert "alice secret" not in replies[6]
    assert "alice secret" in replies[7]
    assert "bob secret" not in replies[7]

    # A second run with the ids from the first: nobody reaches the other's data.
    replies = bot.run(
        f"@bob: /checkpoint restore {alice_cp}",
        f"@bob: /checkpoint delete {alice_cp}",
        f"@bob: /checkpoint branch {alice_cp}",
        f"@bob: /session resume {alice_session}",
        f"@alice: /checkpoint restore {bob_cp}",
        "@alice: /checkpoint list",
        "@bob: /history",
        "@bob: /session",
    )
    for reply in replies[:3]:
        assert one_line(reply).startswith(f"No checkpoint '{alice_cp}' in this session.")
    assert one_line(replies[3]).startswith(f"No session '{alice_session}' in this conversation.")
    assert one_line(replies[4]).startswith(f"No checkpoint '{bob_cp}' in this session.")
    assert alice_cp in replies[5]
    assert "alice secret" not in replies[6]
    assert replies[7].startswith(f"Session {bob_session}\n")


def test_two_users_share_one_session_per_channel(tmp_path: Path, encrypted: bool) -> None:
    bot = Bot(tmp_path, scope="per-channel", encrypted=encrypted)
    replies = bot.run(
        "@alice: from alice",
        "@bob: from bob",
        '@alice: /checkpoint save "shared"',
        "@bob: /history",
        "@alice: /session",
        "@bob: /session",
    )
    checkpoint = find(rf"\({ID}, 4 messages\)", replies[2])
    assert "alice: from alice" in replies[3]
    assert "bob: from bob" in replies[3]
    assert "Scope: channel (everyone in this channel" in replies[4]
    assert find(rf"^Session {ID}\n", replies[4]) == find(rf"^Session {ID}\n", replies[5])

    listing, restore = bot.run("@bob: /checkpoint list", f"@bob: /checkpoint restore {checkpoint}")
    assert checkpoint in listing
    assert restore.startswith('Restored "shared": back to 4 messages.')


def test_scope_change_is_for_admins_and_persists(bot: Bot) -> None:
    refused, bob_before, changed, alice_after, bob_after = bot.run(
        "@bob: /session scope channel",
        "@bob: /session",
        "@alice: /session scope channel",
        "@alice: /session",
        "@bob: /session",
    )
    assert one_line(refused) == "Only admins can use /session scope."
    assert "Scope: channel-peer" in bob_before
    assert changed.startswith("This channel now uses the channel scope")
    assert "Scope: channel (" in alice_after
    shared = find(rf"^Session {ID}\n", alice_after)
    assert find(rf"^Session {ID}\n", bob_after) == shared

    (after_restart,) = bot.run("@bob: /session")
    assert after_restart.startswith(f"Session {shared}\n")
    assert "Scope: channel (" in after_restart


def test_an_export_imported_with_the_cli_can_be_resumed(bot: Bot) -> None:
    _, export, info = bot.run("remember me", "/history export json", "/session")
    original = find(rf"^Session {ID}\n", info)
    path = Path(find(r"saved file to (.+)$", export))

    imported = bot.process(
        "sessions", "import", str(path), "--scope-key", "console:c:console:u:bob"
    )
    assert imported.returncode == 0, imported.stderr
    new_id = imported.stdout.strip()
    assert re.fullmatch(ID, new_id)
    assert new_id != original

    resume, history, info = bot.run(
        f"@bob: /session resume {new_id}", "@bob: /history", "@bob: /session"
    )
    assert resume.startswith(f"Resumed {new_id} (2 messages).")
    assert "alice: remember me" in history
    assert info.startswith(f"Session {new_id}\n")

    listed = bot.process("sessions", "list", "--scope-key", "console:c:console:u:bob")
    assert new_id in listed.stdout
    shown = bot.process("sessions", "show", new_id)
    assert "remember me" in shown.stdout


def test_bad_input_gets_one_clear_line_and_changes_nothing(bot: Bot) -> None:
    replies = bot.run(
        "@bob: hi",
        '@bob: /checkpoint save "b"',
        "@bob: /session",
        "hello",
        '/checkpoint save "mine"',
    )
    bob_cp = find(rf"\({ID}, 2 messages\)", replies[1])
    bob_session = find(rf"^Session {ID}\n", replies[2])
    state = ("/session", "/history", "/checkpoint list", "/session list", "@bob: /history")
    before = bot.run(*state)

    bad = {
        "/nwe": "Unknown command /nwe. Did you mean /new?",
        "/checkpoint": "/checkpoint needs a subcommand: save, list, restore, delete, branch.",
        "/checkpoint restore": "/checkpoint restore needs more arguments.",
        "/checkpoint list extra": "/checkpoint list takes no arguments.",
        "/reset now please": "/reset takes no arguments.",
        '/checkpoint save "unbalanced': 'A " quote is never closed.',
        "/checkpoint restore zzzzzzzz": "No checkpoint 'zzzzzzzz' in this session.",
        f"/checkpoint restore {bob_cp}": f"No checkpoint '{bob_cp}' in this session.",
        f"/session resume {bob_session}": f"No session '{bob_session}' in this conversation.",
        "/history 0": "The count must be a whole number from 1 to 200, not '0'.",
        "/history export pdf": "Unknown format 'pdf'; choose markdown, json or text.",
        "@bob: /session scope main": "Only admins can use /session scope.",
        "x"
        * 201: "That message is too long (201 characters); the limit is 200. Nothing was saved.",
    }
    replies = bot.run(*bad)
    for (line, expected), reply in zip(bad.items(), replies, strict=True):
        assert one_line(reply).startswith(expected), (line, reply)
    assert "Usage: /checkpoint restore <id>" in replies[2]

    assert bot.run(*state) == before
