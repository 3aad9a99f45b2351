"""An exclusive lock on a data directory, so two servers never write the same files."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from kms_tui.paths import ensure_private_dir

__all__ = ["LOCK_FILE_NAME", "DataDirLock", "DataDirLockedError"]

LOCK_FILE_NAME = "server.lock"


class DataDirLockedError(RuntimeError):
    """Another process (or another server in this one) holds the data directory."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(
            f"the data directory {data_dir} is in use by another kms-tui server "
            f"(lock {data_dir / LOCK_FILE_NAME} is held); stop that server or use another "
            "--data-dir"
        )
        self.data_dir = data_dir


class DataDirLock:
    """A non-blocking ``flock`` on ``<data_dir>/server.lock``, released on close or exit."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_FILE_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object currently holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, creating the directory (0700) and lock file (0600) if needed."""
        if self._fd is not None:
            return
        ensure_private_dir(self.data_dir, narrow=False)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirLockedError(self.data_dir) from None
        except BaseException:
            os.close(fd)
            raise
        # The pid is for people reading the file; the flock is what excludes.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (idempotent); the file stays, so no one races on its removal."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
