"""Files that hold conversation data or keys: readable by their owner alone.

Exports, the SQLite database and key files hold what users wrote. Whatever the umask,
sessionbot creates such files with mode 0600 and their directories with 0700, and
tightens a file it rewrites.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (created or replaced) with mode 0600.

    Raises:
        OSError: the file cannot be written.
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(descriptor, "wb") as file:
        # An existing file keeps its mode through O_CREAT: tighten it.
        os.fchmod(file.fileno(), PRIVATE_FILE)
        file.write(data)


def make_private_dir(path: Path) -> None:
    """Create ``path`` and any missing parent with mode 0700; leave existing ones alone."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    # Parents made by mkdir(parents=True) would get the umask's mode, not ours.
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)


def readable_by_others(path: Path) -> bool:
    """Tell whether the group or other users may read or write ``path``."""
    mode = path.stat().st_mode
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))
