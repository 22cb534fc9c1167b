"""Operator key work: rotating the master key and encrypting a plaintext database.

Both run on the backend store directly, are resumable, and never leave a database
that neither key can read:

* :func:`rotate_master_key` re-wraps every session's data key. New wraps are *staged*
  beside the old ones; one transaction then swaps them all in together with the new
  key check. Cut off before that commit, the database is still wholly the old key's,
  and running the rotation again resumes; after it, wholly the new key's. The blind
  index is re-keyed the same way: terms under the new key are added beside the old
  ones before the commit (which reads every message once), and the old ones are
  dropped after it, by this run or, if it was cut off, by the next.
* :func:`encrypt_existing` seals every plain value, session by session, and builds
  the blind index of every message. Values that are already sealed are skipped, and
  terms already stored are kept once, so a run that was cut off is simply run again.

Stop the bot while rotating: a running process keeps using the key it started with.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from core.crypto.blind_index import BlindIndex
from core.crypto.data_keys import CHECK_ENTRY, DATA_KEY_PREFIX
from core.crypto.envelope import DecryptionError, KeyEncryptionKey, is_sealed
from core.crypto.sealing import SealedStore
from core.errors import ConfigError, ConflictError
from core.models import Message
from core.storage.keyring import KeyringEntry
from core.storage.protocols import Backend, SessionFilter

_PAGE = 500
_COMMIT_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class RotationReport:
    """What a rotation did.

    Attributes:
        staged: data keys re-wrapped by this run.
        swapped: data keys swapped in by the final commit.
        version: the master key version now in force.
    """

    staged: int
    swapped: int
    version: int


async def rotate_master_key(store: Backend, old_master: bytes, new_master: bytes) -> RotationReport:
    """Re-wrap every data key under ``new_master``; see the module docstring.

    Args:
        store: the backend store (not a :class:`SealedStore`), opened.
        old_master: the master key the database uses now.
        new_master: the master key to move to.

    Raises:
        ConfigError: the database is not encrypted, or ``old_master`` is not its key.
    """
    check = await store.keyring_get(CHECK_ENTRY)
    if check is None:
        raise ConfigError("this database is not encrypted; nothing to rotate")
    new = KeyEncryptionKey(new_master, version=check.version + 1)
    if new.matches(check.value):
        await store.drop_blind_terms(keep_version=check.version)  # a run cut off after commit
        return RotationReport(staged=0, swapped=0, version=check.version)
    old = KeyEncryptionKey(old_master, version=check.version)
    if not old.matches(check.value):
        raise ConfigError("the current master key does not match this database")
    await _index_all(store, SealedStore(store, old), BlindIndex(new))
    staged = 0
    for _ in range(_COMMIT_ATTEMPTS):
        staged += await _stage_all(store, old, new)
        try:
            swapped = await store.keyring_commit(
                KeyringEntry(CHECK_ENTRY, new.check_value, new.version),
                require_prefix=DATA_KEY_PREFIX,
            )
        except ConflictError:
            continue  # a session was created meanwhile; stage it and commit again
        await store.drop_blind_terms(keep_version=new.version)
        return RotationReport(staged=staged, swapped=swapped, version=new.version)
    raise ConflictError("sessions keep being created during the rotation; stop the bot first")


async def _stage_all(store: Backend, old: KeyEncryptionKey, new: KeyEncryptionKey) -> int:
    staged = 0
    after = ""
    while page := await store.keyring_page(DATA_KEY_PREFIX, after, _PAGE):
        for entry in page:
            owner = entry.name.removeprefix(DATA_KEY_PREFIX)
            if _already_staged(entry, new, owner):
                continue
            try:
                data_key = old.unwrap(entry.value, owner)
            except DecryptionError as error:
                raise ConfigError(f"the data key of session {owner} is damaged") from error
            await store.keyring_stage(entry.name, new.wrap(data_key, owner), new.version)
            staged += 1
        after = page[-1].name
    return staged


def _already_staged(entry: KeyringEntry, new: KeyEncryptionKey, owner: str) -> bool:
    if entry.next_value is None or entry.next_version != new.version:
        return False
    try:
        new.unwrap(entry.next_value, owner)
    except DecryptionError:
        return False  # staged by a run with another new key: stage again
    return True


@dataclass(frozen=True, slots=True)
class EncryptionReport:
    """What :func:`encrypt_existing` sealed."""

    sessions: int
    messages: int
    checkpoints: int


async def encrypt_existing(store: Backend, master: bytes) -> EncryptionReport:
    """Seal every plain value of the database under ``master``; resumable.

    Args:
        store: the backend store (not a :class:`SealedStore`), opened.
        master: the master key; it becomes the database's key if it has none.

    Raises:
        ConfigError: the database already uses another master key.
    """
    kek = KeyEncryptionKey(master)
    sealed = SealedStore(store, kek)
    await sealed.check_key()
    index = BlindIndex(kek)
    sessions = messages = checkpoints = 0
    offset = 0
    while page := await store.list_sessions(SessionFilter(), limit=_PAGE, offset=offset):
        offset += len(page)
        for raw in page:
            sessions += await _seal_session_fields(store, sealed, raw.id)
            messages += await _seal_messages(store, sealed, raw.id)
            checkpoints += await _seal_checkpoints(store, sealed, raw.id)
    await _index_all(store, sealed, index)
    return EncryptionReport(sessions=sessions, messages=messages, checkpoints=checkpoints)


async def _index_all(store: Backend, sealed: SealedStore, index: BlindIndex) -> None:
    """Add the blind-index terms of every message under ``index``'s key."""
    await sealed.check_key()  # reads the key version in force
    offset = 0
    while page := await store.list_sessions(SessionFilter(), limit=_PAGE, offset=offset):
        offset += len(page)
        for session in page:
            for branch in await store.branches_of(session.id):
                low = 1
                while chunk := await sealed.read_messages(
                    branch.id, min_seq=low, limit=_PAGE, newest_first=False
                ):
                    await store.add_blind_terms(index.entries(chunk))
                    low = chunk[-1].seq + 1


async def _seal_session_fields(store: Backend, sealed: SealedStore, session_id: str) -> int:
    raw = await store.get_session(session_id)
    if raw is None:
        return 0
    plain_title = raw.title is not None and not is_sealed(raw.title)
    plain_tags = any(not is_sealed(tag) for tag in raw.tags)
    plain_metadata = bool(raw.metadata) and "sb:sealed" not in raw.metadata
    if not (plain_title or plain_tags or plain_metadata):
        return 0
    opened = await sealed.get_session(session_id)
    assert opened is not None
    await sealed.update_session(
        session_id,
        raw.updated_at,
        title=opened.title,
        tags=list(opened.tags),
        metadata=opened.metadata,
    )
    return 1


async def _seal_messages(store: Backend, sealed: SealedStore, session_id: str) -> int:
    count = 0
    for branch in await store.branches_of(session_id):
        low = 1
        while chunk := await store.read_messages(
            branch.id, min_seq=low, limit=_PAGE, newest_first=False
        ):
            plain = [m for m in chunk if not _message_sealed(m)]
            if plain:
                opened = [await sealed.get_message(m.id) for m in plain]
                await sealed.rewrite_messages([m for m in opened if m is not None])
                count += len(plain)
            low = chunk[-1].seq + 1
    return count


def _message_sealed(message: Message) -> bool:
    metadata_sealed = not message.metadata or "sb:sealed" in message.metadata
    return is_sealed(message.content) and metadata_sealed


async def _seal_checkpoints(store: Backend, sealed: SealedStore, session_id: str) -> int:
    count = 0
    for raw in await store.list_checkpoints(session_id):
        if is_sealed(raw.name) and (not raw.description or is_sealed(raw.description)):
            continue
        opened = await sealed.get_checkpoint(raw.id)
        if opened is not None:
            await sealed.rewrite_checkpoint(
                dataclasses.replace(raw, name=opened.name, description=opened.description)
            )
            count += 1
    return count
