"""Directories the server creates are private at every level, whatever the umask."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["make_private_dirs"]


def make_private_dirs(path: Path) -> Path:
    """Create ``path`` and each missing parent as 0700 (``mkdir -p`` would make parents 0777
    under ``umask 0``); levels that already exist are left as they are."""
    path = Path(path)
    missing: list[Path] = []
    level = path
    while not level.exists() and level.parent != level:
        missing.append(level)
        level = level.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made by someone else meanwhile: theirs to keep
        if os.name != "nt":
            os.chmod(directory, 0o700)  # mkdir's mode is cut by the umask, never widened
    return path
