"""Where kms-tui keeps its files, and how it writes files that must stay private to the user.

``platformdirs`` is imported only when a path is first asked for, so importing this module
costs nothing at start-up.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "APP_NAME",
    "CONFIG_ENV_VAR",
    "config_dir",
    "config_file",
    "data_dir",
    "ensure_private_dir",
    "is_private",
    "log_dir",
    "state_dir",
    "write_private_file",
]

APP_NAME = "kms-tui"
CONFIG_ENV_VAR = "KMS_TUI_CONFIG"
CONFIG_FILE_NAME = "config.toml"

_GROUP_OTHER_BITS = stat.S_IRWXG | stat.S_IRWXO


def config_dir() -> Path:
    """The per-user configuration directory (``~/.config/kms-tui`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def config_file(environ: Mapping[str, str] | None = None) -> Path:
    """The config file: ``KMS_TUI_CONFIG`` when set, else ``config.toml`` in :func:`config_dir`."""
    env = os.environ if environ is None else environ
    override = env.get(CONFIG_ENV_VAR, "")
    if override:
        return Path(override).expanduser()
    return config_dir() / CONFIG_FILE_NAME


def data_dir() -> Path:
    """The per-user data directory (the embedded server's keys and buckets live here)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def state_dir() -> Path:
    """The per-user state directory (logs, history): kept apart from data users back up."""
    import platformdirs

    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    """Log files go under the state directory so nothing but Textual writes to the terminal."""
    return state_dir() / "log"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` as a 0700 directory, or narrow an existing wider one.

    Missing parents are created 0700 too (``mkdir -p`` would give them the umask's mode, 0777
    under ``umask 0``); parents that already exist are left as they are.
    """
    path = Path(path)
    missing: list[Path] = []
    ancestor = path
    while not ancestor.exists() and ancestor.parent != ancestor:
        missing.append(ancestor)
        ancestor = ancestor.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        _narrow_to_owner(directory)
    if not missing:
        path.mkdir(mode=0o700, exist_ok=True)
    _narrow_to_owner(path)
    return path


def _narrow_to_owner(directory: Path) -> None:
    """Make ``directory`` exactly rwx for the owner when its mode says anything else."""
    if os.name == "nt":
        return
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & _GROUP_OTHER_BITS or mode & stat.S_IRWXU != stat.S_IRWXU:
        os.chmod(directory, 0o700)


def is_private(path: Path) -> bool:
    """Whether only the owner may read ``path``: no group or other permission bits.

    On Windows the POSIX mode bits say nothing about ACLs, so every existing file counts as
    private there (files under the user profile are per-user by default).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    if os.name == "nt":
        return True
    return stat.S_IMODE(mode) & _GROUP_OTHER_BITS == 0


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, readable by the owner only (0600).

    The temporary file is created 0600 and then ``fchmod``-ed, so no umask can widen it, and it
    is fsynced before the rename (and the directory after it) so a crash leaves either the old
    file or the new one. A missing parent directory is created 0700; an existing one is left
    as it is.
    """
    path = Path(path)
    parent = path.parent
    if not parent.exists():
        ensure_private_dir(parent)
    temp_path = parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(temp_path, flags, 0o600)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        raise
    _fsync_dir(parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; directories cannot be opened for fsync on Windows."""
    if os.name == "nt":
        return
    dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
