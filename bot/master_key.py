"""Reading the master key named by ``[encryption]``: from the environment or a file."""

from __future__ import annotations

import os
from pathlib import Path

from bot.settings import EncryptionSettings
from core.crypto.envelope import decode_master_key
from core.errors import ConfigError
from core.files import readable_by_others


def load_master_key(settings: EncryptionSettings) -> bytes | None:
    """Return the master key when encryption is enabled, else ``None``.

    Raises:
        ConfigError: enabled, but the key is missing, unreadable or malformed; one
            line naming where it was looked for. The key itself is never printed.
    """
    if not settings.enabled:
        return None
    return read_key(settings.key_env, settings.key_file)


def read_key(key_env: str, key_file: os.PathLike[str] | None) -> bytes:
    """Read and decode a master key from ``key_file`` if given, else ``$key_env``.

    Raises:
        ConfigError: the key is missing, unreadable or malformed.
    """
    if key_file is not None:
        source = f"encryption.key_file {os.fspath(key_file)!r}"
        try:
            if readable_by_others(Path(key_file)):
                raise ConfigError(
                    f"{source}: other users may read the master key; "
                    f"make it private with chmod 600 {os.fspath(key_file)}"
                )
            with open(key_file, encoding="ascii") as handle:
                text = handle.read()
        except OSError as error:
            why = error.strerror or str(error)
            raise ConfigError(f"{source}: cannot read the master key ({why})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{source}: the master key is not base64 text") from None
        return decode_master_key(text, source=source)
    text = os.environ.get(key_env, "")
    if not text.strip():
        raise ConfigError(
            f"encryption is enabled but ${key_env} is not set; "
            "make a key with `sessionbot keys generate`"
        )
    return decode_master_key(text, source=f"${key_env}")
