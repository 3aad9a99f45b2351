"""The console's embedded server, run in a child process of its own.

Started first thing by ``kms-tui`` (before Textual is even imported), the child opens the key
store and binds its socket on the second core while the console loads, so the first frame with
keys comes sooner; its memory and CPU are its own, not the console's.

The child lives exactly as long as the console: it reads its stdin until end-of-file, which
happens when the console closes the pipe or dies in any way (even SIGKILL). It reports one JSON
line on stdout, ``{"endpoint": URL}`` once it accepts connections or ``{"error": TEXT}``, and
logs only to the server's 0600 log file. Credentials go through the environment, never argv
(which other local users can read in ``ps``).

At the top this module imports only the standard library and :mod:`kms_tui.paths` (which
defers platformdirs): the console side must stay light.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from kms_tui import paths

__all__ = ["EmbeddedProcess", "EmbeddedProcessError", "main"]

_ACCESS_ENV = "KMS_TUI_EMBEDDED_ACCESS_KEY"
_SECRET_ENV = "KMS_TUI_EMBEDDED_SECRET_KEY"
_USERS_ENV = "KMS_TUI_EMBEDDED_USERS"  # a users file of restricted accounts (a path)
_START_TIMEOUT_SECONDS = 30.0
_STOP_TIMEOUT_SECONDS = 10.0


class EmbeddedProcessError(Exception):
    """The embedded server's process could not start (its message says why)."""


class EmbeddedProcess:
    """The console's handle on the child: spawn early, wait for it when needed, stop it."""

    def __init__(
        self,
        data_dir: Path,
        *,
        access_key: str,
        secret_key: str,
        log_file: Path | None = None,
        users_file: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.access_key = access_key
        self._secret_key = secret_key
        self.users_file = users_file
        self.log_file = log_file if log_file is not None else paths.server_log_file()
        self._process: subprocess.Popen[bytes] | None = None
        self._endpoint: str | None = None
        self._failure: str | None = None

    def __repr__(self) -> str:
        return (
            f"EmbeddedProcess(data_dir={str(self.data_dir)!r}, endpoint={self._endpoint!r}, "
            f"access_key={self.access_key!r})"
        )

    @property
    def secret_key(self) -> str:
        """The secret key clients sign with (kept out of repr)."""
        return self._secret_key

    @property
    def pid(self) -> int | None:
        """The child's process id, once spawned."""
        return self._process.pid if self._process is not None else None

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` once the child is ready."""
        if self._endpoint is None:
            raise EmbeddedProcessError("the embedded KMS server is not running")
        return self._endpoint

    @property
    def running(self) -> bool:
        """Whether the child reported ready and is still alive."""
        return (
            self._endpoint is not None
            and self._process is not None
            and self._process.poll() is None
        )

    def spawn(self) -> EmbeddedProcess:
        """Start the child without waiting for it; idempotent."""
        if self._process is not None:
            return self
        env = dict(os.environ)
        env[_ACCESS_ENV] = self.access_key
        env[_SECRET_ENV] = self._secret_key
        if self.users_file is not None:
            env[_USERS_ENV] = str(self.users_file)
        else:
            env.pop(_USERS_ENV, None)
        argv = [
            sys.executable,
            "-m",
            "kms_tui.embedded.child",
            str(self.data_dir),
            str(self.log_file),
        ]
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
            start_new_session=True,  # a Ctrl-C meant for the console is the console's to handle
        )
        return self

    def wait_ready(self, timeout: float = _START_TIMEOUT_SECONDS) -> str:
        """Block until the child accepts connections; its endpoint, or the reason it failed."""
        if self._endpoint is not None:
            return self._endpoint
        if self._failure is not None:
            raise EmbeddedProcessError(self._failure)
        self.spawn()
        assert self._process is not None and self._process.stdout is not None
        line = _read_line(self._process.stdout, timeout)
        try:
            report = json.loads(line) if line else {}
        except ValueError:
            report = {}
        endpoint = report.get("endpoint") if isinstance(report, dict) else None
        if isinstance(endpoint, str):
            self._endpoint = endpoint
            return endpoint
        error = report.get("error") if isinstance(report, dict) else None
        if not isinstance(error, str):
            code = self._process.poll()
            error = (
                f"its process exited (code {code}) before it was ready"
                if code is not None
                else f"it did not become ready within {timeout:.0f} s"
            )
        self._failure = error
        self.stop()
        raise EmbeddedProcessError(error)

    def start(self) -> EmbeddedProcess:
        """Spawn and wait until ready (the blocking form)."""
        self.wait_ready()
        return self

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the child to exit by itself; its exit code (None if not spawned)."""
        if self._process is None:
            return None
        return self._process.wait(timeout)

    def stop(self) -> None:
        """Close the lifeline and wait for a clean exit; terminate, then kill, if it lingers."""
        process = self._process
        if process is None:
            return
        self._endpoint = None
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _read_line(stream: IO[bytes], timeout: float) -> str:
    """One line from the child's stdout, or "" at end-of-file or after ``timeout``."""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return ""
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return ""
        chunk = os.read(fd, 4096)
        if not chunk:
            return buffer.decode("utf-8", "replace")
        buffer += chunk
    return buffer.split(b"\n", 1)[0].decode("utf-8", "replace")


def _report(payload: dict[str, str]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """The child: start the server, report, run until stdin closes (or SIGTERM), stop."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        _report({"error": "usage: python -m kms_tui.embedded.child DATA_DIR [LOG_FILE]"})
        return 2
    access = os.environ.pop(_ACCESS_ENV, None)
    secret = os.environ.pop(_SECRET_ENV, None)
    if not access or not secret:
        _report({"error": "the embedded server's credentials were not passed"})
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the console's terminal is not ours
    from kms_tui.embedded.accounts import Account, UsersFileError, load_users
    from kms_tui.embedded.locking import DataDirLockedError
    from kms_tui.embedded.server import EmbeddedServer, EmbeddedServerError

    users: tuple[Account, ...] = ()
    users_file = os.environ.pop(_USERS_ENV, None)
    if users_file:
        try:
            users = load_users(Path(users_file))
        except UsersFileError as err:
            _report({"error": f"users file: {err}"})
            return 2
    server = EmbeddedServer(
        Path(args[0]),
        access_key=access,
        secret_key=secret,
        log_file=Path(args[1]) if len(args) > 1 else None,
        users=users,
    )
    try:
        server.start()
    except (EmbeddedServerError, DataDirLockedError, OSError) as err:
        _report({"error": str(err)})
        return 1

    def on_term(_signum: int, _frame: object) -> None:
        os.close(0)  # ends the read below

    signal.signal(signal.SIGTERM, on_term)
    try:
        _report({"endpoint": server.endpoint})
        with contextlib.suppress(OSError):
            while os.read(0, 4096):
                pass  # the console never writes; end-of-file means it is gone
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
