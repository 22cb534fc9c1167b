from __future__ import annotations

import base64

import pytest

from core.crypto.envelope import (
    PLAIN_PREFIX,
    DecryptionError,
    KeyEncryptionKey,
    Sealer,
    decode_master_key,
    generate_master_key,
    is_sealed,
    open_plain,
    store_plain,
)
from core.errors import ConfigError


def kek() -> KeyEncryptionKey:
    return KeyEncryptionKey(decode_master_key(generate_master_key(), source="test"))


def test_generated_keys_are_32_random_bytes() -> None:
    first, second = generate_master_key(), generate_master_key()
    assert first != second
    assert len(base64.b64decode(first)) == 32


@pytest.mark.parametrize(
    ("text", "why"),
    [("not base64!", "not valid base64"), (base64.b64encode(b"short").decode(), "32 bytes")],
)
def test_bad_master_keys_are_one_clear_line(text: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as error:
        decode_master_key(text, source="SESSIONBOT_KEY")
    assert str(error.value).startswith("SESSIONBOT_KEY: ")


def test_wrap_round_trip_is_bound_to_its_owner() -> None:
    key = kek()
    data_key = key.new_data_key()
    wrapped = key.wrap(data_key, "session-a")
    assert key.unwrap(wrapped, "session-a") == data_key
    with pytest.raises(DecryptionError):
        key.unwrap(wrapped, "session-b")
    with pytest.raises(DecryptionError):
        kek().unwrap(wrapped, "session-a")


def test_key_check_tells_keys_apart() -> None:
    master = decode_master_key(generate_master_key(), source="t")
    one, same, other = KeyEncryptionKey(master), KeyEncryptionKey(master), kek()
    assert same.matches(one.check_value)
    assert not other.matches(one.check_value)
    assert one.check_value != master


def test_seal_open_and_context_binding() -> None:
    sealer = Sealer(kek().new_data_key())
    sealed = sealer.seal("secret words", "message:s1:m1")
    assert is_sealed(sealed) and "secret" not in sealed
    assert sealer.open(sealed, "message:s1:m1") == "secret words"
    assert sealer.seal("x", "c") != sealer.seal("x", "c")  # a fresh nonce every time
    with pytest.raises(DecryptionError):
        sealer.open(sealed, "message:s1:m2")


def test_a_flipped_byte_fails_the_tag_check() -> None:
    sealer = Sealer(kek().new_data_key())
    sealed = sealer.seal("hello", "ctx")
    raw = bytearray(base64.b64decode(sealed.split(":", 2)[2]))
    raw[-1] ^= 1
    tampered = sealed[: sealed.index(":", 3) + 1] + base64.b64encode(bytes(raw)).decode()
    with pytest.raises(DecryptionError):
        sealer.open(tampered, "ctx")


def test_plain_values_that_look_like_tags_stay_plain() -> None:
    sealer = Sealer(kek().new_data_key())
    tricky = "sb:aes256gcm:not really"
    stored = store_plain(tricky)
    assert stored == PLAIN_PREFIX + tricky
    assert open_plain(stored) == tricky and sealer.open(stored, "ctx") == tricky
    assert store_plain("hello") == "hello" and sealer.open("hello", "ctx") == "hello"
    with pytest.raises(DecryptionError, match="encryption is not enabled"):
        open_plain(sealer.seal("x", "ctx"))
