"""The console's embedded server in a child process: ready line, lifeline, lock, no argv secrets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.wire import ServiceState
from kms_tui.embedded.child import EmbeddedProcess, EmbeddedProcessError
from kms_tui.embedded.locking import DataDirLock

SECRET = "child-secret-key-value-0123456789"


def child_for(tmp_path: Path) -> EmbeddedProcess:
    return EmbeddedProcess(
        tmp_path / "server",
        access_key="childtest",
        secret_key=SECRET,
        log_file=tmp_path / "server.log",
    )


def wait_gone(pid: int, limit: float = 10.0) -> bool:
    """True once ``pid`` has exited (a zombie nobody reaped yet counts as exited)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        time.sleep(0.05)
    return False


async def test_ready_serves_and_stops_releasing_the_lock(tmp_path: Path) -> None:
    child = child_for(tmp_path)
    endpoint = child.spawn().wait_ready()
    try:
        assert endpoint.startswith("http://127.0.0.1:")
        assert child.running
        async with KmsAdminClient(endpoint, "childtest", SECRET, retries=0) as admin:
            status = await admin.service_status()
        assert status.state is ServiceState.NOT_CONFIGURED
        cmdline = Path(f"/proc/{child.pid}/cmdline").read_bytes()
        assert SECRET.encode() not in cmdline
        assert SECRET not in repr(child)
    finally:
        child.stop()
    assert not child.running
    lock = DataDirLock(tmp_path / "server")
    lock.acquire()  # free again
    lock.release()
    assert (tmp_path / "server.log").stat().st_mode & 0o077 == 0


def test_a_locked_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    lock = DataDirLock(tmp_path / "server")
    lock.acquire()
    try:
        child = child_for(tmp_path).spawn()
        with pytest.raises(EmbeddedProcessError, match="(?i)lock|in use|another"):
            child.wait_ready()
        assert not child.running
        with pytest.raises(EmbeddedProcessError):
            child.wait_ready()  # the failure is kept, not retried behind the caller's back
    finally:
        lock.release()


def test_the_child_exits_when_the_console_is_killed(tmp_path: Path) -> None:
    # A stand-in console: spawns the child, prints its pid, then waits to be SIGKILLed.
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from kms_tui.embedded.child import EmbeddedProcess
        child = EmbeddedProcess(Path({str(tmp_path / "server")!r}), access_key="childtest",
                                secret_key="x" * 40, log_file=Path({str(tmp_path / "l")!r}))
        child.spawn().wait_ready()
        print(child.pid, flush=True)
        time.sleep(600)
        """
    )
    console = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=Path.cwd()
    )
    try:
        assert console.stdout is not None
        child_pid = int(console.stdout.readline())
        os.kill(child_pid, 0)  # alive while the console is
        console.send_signal(signal.SIGKILL)
        console.wait(10)
        assert wait_gone(child_pid), "the embedded server outlived its console"
    finally:
        if console.poll() is None:
            console.kill()
    lock = DataDirLock(tmp_path / "server")
    lock.acquire()
    lock.release()


def test_sigterm_stops_the_child_cleanly(tmp_path: Path) -> None:
    child = child_for(tmp_path)
    child.spawn().wait_ready()
    pid = child.pid
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    assert child.wait(10) == 0
    assert not child.running
    child.stop()
