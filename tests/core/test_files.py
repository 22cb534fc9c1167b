"""Files that hold conversation data or keys are private whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.files import make_private_dir, readable_by_others, write_private_file


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_folders_and_files_are_private_under_umask_000(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        make_private_dir(tmp_path / "a" / "b" / "c")
        write_private_file(tmp_path / "a" / "b" / "c" / "export.md", b"text")
    finally:
        os.umask(previous)
    for folder in ("a", "a/b", "a/b/c"):
        assert mode(tmp_path / folder) == 0o700, folder
    assert mode(tmp_path / "a/b/c/export.md") == 0o600
    assert not readable_by_others(tmp_path / "a/b/c/export.md")


def test_an_existing_folder_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    make_private_dir(shared)
    assert mode(shared) == 0o755 and readable_by_others(shared)
