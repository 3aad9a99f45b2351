"""Where kms-tui keeps its files, and how every layer writes files that must stay private.

One atomic write (:func:`write_private_file`) and one private ``mkdir -p``
(:func:`ensure_private_dir`) serve the console, the settings and the embedded server alike.
``platformdirs`` is imported only when a path is first asked for, so importing this module
costs nothing at start-up.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "APP_NAME",
    "CONFIG_ENV_VAR",
    "TEMP_MARKER",
    "config_dir",
    "config_file",
    "data_dir",
    "ensure_private_dir",
    "fsync_dir",
    "is_private",
    "log_dir",
    "server_data_dir",
    "server_log_file",
    "state_dir",
    "write_private_file",
]

APP_NAME = "kms-tui"
CONFIG_ENV_VAR = "KMS_TUI_CONFIG"
CONFIG_FILE_NAME = "config.toml"

TEMP_MARKER = ".tmp-"  # in the name of every temp file write_private_file makes

_GROUP_OTHER_BITS = stat.S_IRWXG | stat.S_IRWXO
_TEMP_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_BINARY", 0)
)


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


def server_data_dir() -> Path:
    """The embedded server's data directory: ``kms-tui serve``'s default and the console's."""
    return data_dir() / "server"


def server_log_file() -> Path:
    """Where the embedded server logs (a 0600 file) unless told otherwise."""
    return log_dir() / "embedded-server.log"


def ensure_private_dir(path: Path, *, narrow: bool = True) -> Path:
    """Create ``path`` and each missing parent as 0700 whatever the umask; returns ``path``.

    ``mkdir -p`` would give missing parents the umask's mode (0777 under ``umask 0``). Levels
    that already exist, or that another process creates meanwhile, are left as they are; with
    ``narrow`` an existing ``path`` is made 0700 too (a non-directory there: FileExistsError).
    """
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
        _narrow_to_owner(directory)  # mkdir's mode is cut by the umask, never widened
    if narrow:
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


def exposure_of(file_stat: os.stat_result) -> str | None:
    """Why a file holding a secret is not private enough (group/other bits, another owner),
    in words for an error message, or None when it is (always None on Windows)."""
    if os.name == "nt":
        return None
    mode = stat.S_IMODE(file_stat.st_mode)
    if mode & _GROUP_OTHER_BITS:
        return f"is readable by others (mode {mode:04o})"
    if file_stat.st_uid != os.getuid():
        return "is owned by another user"
    return None


def write_private_file(
    path: Path,
    data: bytes,
    *,
    mode: int = 0o600,
    create_only: bool = False,
    durable: bool = True,
    temp_stem: str | None = None,
    make_parents: bool = True,
) -> None:
    """Atomically publish ``data`` at ``path`` with ``mode`` (0600: the owner only).

    The bytes go to a temp file beside ``path``, ``<temp_stem>.tmp-<uuid4>`` (stem ``.<name>``
    unless given), created with ``mode`` and ``fchmod``-ed before any byte so no umask can widen
    it, written in full (short writes on a nearly full disk are continued) and fsynced. Then it
    replaces ``path`` or, with ``create_only``, is hard-linked to it and unlinked, so an existing
    ``path`` is never overwritten (FileExistsError); last the directory is fsynced. A crash
    leaves the old file or the new one, and at most a stray temp file. ``durable=False`` skips
    both fsyncs (a bulk writer syncs once at the end). A missing parent is created 0700 unless
    ``make_parents`` is false; an existing one is left as it is.
    """
    path = Path(path)
    parent = path.parent
    if make_parents and not parent.exists():
        ensure_private_dir(parent, narrow=False)
    stem = temp_stem if temp_stem is not None else f".{path.name}"
    temp_path = parent / f"{stem}{TEMP_MARKER}{uuid.uuid4()}"
    published = False
    fd = os.open(temp_path, _TEMP_FLAGS, mode)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if create_only:
            os.link(temp_path, path)
        else:
            os.replace(temp_path, path)
        published = True
    finally:
        if create_only or not published:
            with contextlib.suppress(OSError):
                os.unlink(temp_path)
    if durable:
        fsync_dir(parent)


def fsync_dir(directory: Path) -> None:
    """Make renames and removals in ``directory`` durable; Windows cannot open it for fsync."""
    if os.name == "nt":
        return
    dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
