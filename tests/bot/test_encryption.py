"""Encryption at rest as an operator meets it: config, the CLI, and the bytes on disk."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.config import load_config
from bot.master_key import read_key
from bot.wiring import build_router, opened_manager
from core.crypto.envelope import KeyEncryptionKey, decode_master_key, generate_master_key
from core.crypto.sealing import UNREADABLE_MESSAGE, SealedStore
from core.errors import ConfigError
from core.models import Inbound
from core.storage.backends import open_backend

MARKER = "quokka-marker-4821"
KEY_ENV = "TEST_MASTER_KEY"


@dataclass
class Deployment:
    dir: Path
    key: str

    @property
    def db(self) -> Path:
        return self.dir / "bot.db"

    def config(self, *, enabled: bool = True) -> Path:
        path = self.dir / ("config.toml" if enabled else "plain.toml")
        path.write_text(
            f'[bot]\nrate_limit_per_minute = 0\n[storage]\nurl = "sqlite:///{self.db}"\n'
            f'[encryption]\nenabled = {str(enabled).lower()}\nkey_env = "{KEY_ENV}"\n'
        )
        return path

    def invoke(self, *args: str, key: str | None = None, enabled: bool = True) -> Result:
        env = {"SESSIONBOT_CONFIG": None, KEY_ENV: self.key if key is None else key}
        runner = CliRunner(env=env)
        return runner.invoke(cli, [*args, "--config", str(self.config(enabled=enabled))])

    def say(self, *lines: str, enabled: bool = True, key: str | None = None) -> list[str]:
        return asyncio.run(self._say(lines, enabled, self.key if key is None else key))

    async def _say(self, lines: tuple[str, ...], enabled: bool, key: str) -> list[str]:
        settings = load_config(self.config(enabled=enabled), environ={KEY_ENV: key})
        texts = []
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(KEY_ENV, key)
            async with opened_manager(settings) as manager:
                router = build_router(manager, settings)
                for line in lines:
                    replies = await router.handle(Inbound("console", "console", "alice", line))
                    texts.extend(reply.text for reply in replies)
        return texts


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    return Deployment(tmp_path, generate_master_key())


CONVERSATION = (
    f'/new "title {MARKER}"',
    f"hello {MARKER}",
    f'/checkpoint save "name {MARKER}" about {MARKER}',
    "/history",
)


def raw_bytes(paths: list[Path]) -> bytes:
    return b"".join(path.read_bytes() for path in paths if path.exists())


def fingerprint(db: Path) -> str:
    return hashlib.sha256(raw_bytes([db, db.with_name(db.name + "-wal")])).hexdigest()


async def scan_while_open(deployment: Deployment, enabled: bool) -> tuple[bytes, str]:
    """Write the conversation, then read the file, its WAL and a backup copy."""
    settings = load_config(deployment.config(enabled=enabled), environ={})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, deployment.key)
        async with opened_manager(settings) as manager:
            router = build_router(manager, settings)
            replies = []
            for line in CONVERSATION:
                replies += await router.handle(Inbound("console", "console", "alice", line))
            wal = deployment.db.with_name(deployment.db.name + "-wal")
            backup = deployment.dir / "backup.db"
            with sqlite3.connect(deployment.db) as source, sqlite3.connect(backup) as target:
                source.backup(target)
            seen = raw_bytes([deployment.db, wal, backup])
            assert wal.exists() and len(seen) > 0
    return seen, "\n".join(r.text for r in replies)


@pytest.mark.parametrize("enabled", [True, False], ids=["encrypted", "plain control"])
async def test_no_user_text_reaches_the_file_its_wal_or_a_backup(
    deployment: Deployment, enabled: bool
) -> None:
    seen, replies = await scan_while_open(deployment, enabled)
    assert f"echo: hello {MARKER}" in replies  # the bot itself reads everything back
    for text in (f"hello {MARKER}", f"title {MARKER}", f"name {MARKER}", f"about {MARKER}"):
        assert (text.encode() in seen) is not enabled, text


def test_wrong_key_missing_key_and_disabled_are_refused_and_change_nothing(
    deployment: Deployment,
) -> None:
    deployment.say(*CONVERSATION)
    before = fingerprint(deployment.db)
    wrong = deployment.invoke("sessions", "list", key=generate_master_key())
    missing = deployment.invoke("sessions", "list", key="")
    disabled = deployment.invoke("sessions", "list", enabled=False)
    upgrade_wrong = deployment.invoke("db", "upgrade", key=generate_master_key())
    upgrade_disabled = deployment.invoke("db", "upgrade", enabled=False)
    for result, words in [
        (wrong, "master key does not match this database"),
        (missing, f"${KEY_ENV} is not set"),
        (disabled, "this database is encrypted"),
        (upgrade_wrong, "master key does not match this database"),
        (upgrade_disabled, "this database is encrypted"),
    ]:
        assert result.exit_code == 2, result.output
        assert words in result.output and result.output.count("\n") == 1
    assert fingerprint(deployment.db) == before


def test_generate_prints_a_usable_key(deployment: Deployment) -> None:
    result = CliRunner().invoke(cli, ["keys", "generate"])
    assert result.exit_code == 0, result.output
    key = result.output.strip()
    assert deployment.say("hi", key=key) == ["echo: hi"]


def test_rotation_then_restart_with_the_new_key(deployment: Deployment) -> None:
    deployment.say(*CONVERSATION)
    new_key = generate_master_key()
    runner = CliRunner(env={"SESSIONBOT_CONFIG": None, KEY_ENV: deployment.key, "NEW_KEY": new_key})
    result = runner.invoke(
        cli, ["keys", "rotate", "--new-key-env", "NEW_KEY", "--config", str(deployment.config())]
    )
    assert result.exit_code == 0, result.output
    # One session: `/new` as the first message names the empty one instead of archiving it.
    assert "re-wrapped 1 data keys" in result.output
    assert deployment.invoke("sessions", "list").exit_code == 2  # the old key is refused
    history = deployment.say("/history", key=new_key)
    assert f"hello {MARKER}" in history[0]


def test_encrypt_existing_on_a_plaintext_database(deployment: Deployment) -> None:
    deployment.say(*CONVERSATION, enabled=False)
    assert MARKER.encode() in raw_bytes([deployment.db, deployment.dir / "bot.db-wal"])
    result = deployment.invoke("keys", "encrypt-existing")
    assert result.exit_code == 0, result.output
    assert "encrypted 2 messages" in result.output
    with sqlite3.connect(deployment.db) as db:
        db.execute("VACUUM")  # drop freed pages that may still hold the old text
    assert MARKER.encode() not in raw_bytes([deployment.db, deployment.dir / "bot.db-wal"])
    assert f"hello {MARKER}" in deployment.say("/history")[0]


def test_a_deleted_sessions_messages_are_unreadable_even_from_a_backup(
    deployment: Deployment,
) -> None:
    deployment.say(*CONVERSATION)
    backup = deployment.dir / "before-delete.db"
    with sqlite3.connect(deployment.db) as source, sqlite3.connect(backup) as target:
        source.backup(target)
    [session_id] = [
        line.split()[0]
        for line in deployment.invoke("sessions", "list").output.splitlines()[1:]
        if line.strip()
    ][:1]
    assert deployment.invoke("sessions", "delete", session_id).exit_code == 0
    # Put the old backup's message rows back into the live database: its keyring no
    # longer holds the session's data key, so the master key cannot open them.
    with sqlite3.connect(deployment.db) as live:
        live.execute("ATTACH DATABASE ? AS old", (str(backup),))
        live.execute("INSERT OR IGNORE INTO branches SELECT * FROM old.branches")
        live.execute("INSERT OR IGNORE INTO sessions SELECT * FROM old.sessions")
        live.execute("INSERT OR IGNORE INTO messages SELECT * FROM old.messages")
    assert asyncio.run(read_back(deployment, session_id)) == [UNREADABLE_MESSAGE] * 2


async def read_back(deployment: Deployment, session_id: str) -> list[str]:
    store = SealedStore(
        await open_backend(f"sqlite:///{deployment.db}"),
        KeyEncryptionKey(decode_master_key(deployment.key, source="test")),
    )
    await store.check_key()
    try:
        restored = await store.get_session(session_id)
        assert restored is not None
        messages = await store.read_messages(restored.head_branch_id, limit=10, newest_first=False)
        return [m.content for m in messages]
    finally:
        await store.close()


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_text(generate_master_key())
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="other users may read the master key; make it private"):
        read_key("UNUSED_KEY_ENV", key_file)
    key_file.chmod(0o600)
    assert len(read_key("UNUSED_KEY_ENV", key_file)) == 32
