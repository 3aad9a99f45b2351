"""Whole processes in a pseudo-terminal, measured from outside: output bytes, CPU, peak memory.

The child gets the pty slave as stdin, stdout and stderr, ``TERM=xterm-256color`` and a fixed
window size, so Textual draws exactly as it would for a person. Nothing is stripped from the
output: markers are searched in the raw bytes read from the master.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import resource
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["COLUMNS", "LINES", "CTRL_Q", "PtyProcess", "PtyTimeout"]

COLUMNS = 120
LINES = 36
CTRL_Q = b"\x11"
_READ_CHUNK = 65536
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    # Fields after the command name start at field 3 (state); utime is 14, stime is 15.
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("VmHWM missing from /proc status")


class PtyTimeout(RuntimeError):
    """A marker did not appear in time; carries the tail of the output for the report."""


def _set_window_size(fd: int, columns: int, lines: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))


def _take_controlling_terminal() -> None:
    """In the child, after setsid: make the pty its controlling terminal, as a login would."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyProcess:
    """One child process on a fresh pty; the owner drains its output while waiting."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        columns: int = COLUMNS,
        lines: int = LINES,
    ) -> None:
        self.argv = list(argv)
        self._env = dict(env)
        self._env["TERM"] = "xterm-256color"
        self._env["COLUMNS"] = str(columns)
        self._env["LINES"] = str(lines)
        self._cwd = cwd
        self._columns = columns
        self._lines = lines
        self.master = -1
        self.process: subprocess.Popen[bytes] | None = None
        self.output = bytearray()
        self.bytes_read = 0
        self.started_at = 0.0
        self.rusage: resource.struct_rusage | None = None
        self.returncode: int | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> float:
        """Fork and exec the child; returns the perf_counter time taken just before."""
        master, slave = os.openpty()
        _set_window_size(slave, self._columns, self._lines)
        self.master = master
        os.set_blocking(master, False)
        self.started_at = time.perf_counter()
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,
                preexec_fn=_take_controlling_terminal,
                close_fds=True,
            )
        finally:
            os.close(slave)
        return self.started_at

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        """Whether the child has not been reaped yet."""
        return self.returncode is None

    # --- output ----------------------------------------------------------------------------

    def pump(self, timeout: float) -> bytes:
        """Read whatever the child wrote within ``timeout`` seconds (b'' when nothing)."""
        if self.master < 0:
            return b""
        ready, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not ready:
            return b""
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(self.master, _READ_CHUNK)
            except BlockingIOError:
                break
            except OSError as err:
                if err.errno == errno.EIO:  # every slave closed: the child is gone
                    self._close_master()
                    break
                raise
            if not chunk:
                self._close_master()
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        self.output += data
        self.bytes_read += len(data)
        return data

    def wait_for(self, marker: bytes, *, timeout: float, since: int | None = None) -> float:
        """Drain output until ``marker`` appears after offset ``since``; returns perf_counter.

        The clock is read right after the read that completed the marker.
        """
        scan_from = len(self.output) if since is None else since
        deadline = time.perf_counter() + timeout
        while True:
            if self.output.find(marker, scan_from) >= 0:
                return time.perf_counter()
            # Next time search only what is new, plus the marker's length less one byte of what
            # was searched (a marker split across two reads), however much one pump read.
            scan_from = max(scan_from, len(self.output) - len(marker) + 1)
            remaining = deadline - time.perf_counter()
            if remaining <= 0 or (self.master < 0 and self._reap(block=False)):
                tail = bytes(self.output[-600:])
                raise PtyTimeout(
                    f"{self.argv[-1]!s}: {marker!r} not seen within {timeout:.0f} s "
                    f"(exit code {self.returncode}); output tail: {tail!r}"
                )
            before = len(self.output)
            self.pump(min(remaining, 0.5))
            if len(self.output) == before and self.master < 0:
                self._reap(block=True)

    def drain(self, seconds: float) -> int:
        """Keep reading for ``seconds``; returns the number of bytes read meanwhile."""
        before = self.bytes_read
        deadline = time.perf_counter() + seconds
        while (remaining := deadline - time.perf_counter()) > 0:
            self.pump(min(remaining, 0.5))
            if self.master < 0:
                time.sleep(min(remaining, 0.05))
        return self.bytes_read - before

    def send(self, data: bytes) -> None:
        """Type ``data`` into the terminal."""
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.master, view)
            except BlockingIOError:
                select.select([], [self.master], [], 1.0)
                continue
            view = view[written:]

    # --- measurements from /proc -----------------------------------------------------------

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the child so far (all its threads)."""
        return _cpu_seconds(self.pid)

    def peak_rss_kib(self) -> int:
        """VmHWM: the peak resident set of the child's own address space so far."""
        return _peak_rss_kib(self.pid)

    def descendants(self) -> list[int]:
        """Every live process below the child (the console's embedded-server process)."""
        found: list[int] = []
        pending = [self.pid]
        while pending:
            pid = pending.pop()
            for children in Path(f"/proc/{pid}/task").glob("*/children"):
                try:
                    kids = [int(kid) for kid in children.read_text().split()]
                except (FileNotFoundError, ProcessLookupError):
                    continue
                found.extend(kids)
                pending.extend(kids)
        return found

    def tree_peak_rss_kib(self) -> int:
        """The child's peak plus each descendant's peak (what the whole console costs)."""
        total = self.peak_rss_kib()
        for pid in self.descendants():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                total += _peak_rss_kib(pid)
        return total

    def tree_cpu_seconds(self) -> float:
        """CPU time of the child and every live descendant."""
        total = self.cpu_seconds()
        for pid in self.descendants():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                total += _cpu_seconds(pid)
        return total

    # --- ending ----------------------------------------------------------------------------

    def quit(self, keys: bytes = CTRL_Q, *, timeout: float = 20.0) -> int:
        """Press ``keys`` and wait for a clean exit; terminate, then kill, when it hangs."""
        if self.alive():
            with contextlib.suppress(OSError):
                self.send(keys)
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None and self.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, sig)
            deadline = time.perf_counter() + timeout
            while self.alive() and time.perf_counter() < deadline:
                self.pump(0.05)
                self._reap(block=False)
            if not self.alive():
                break
        self._close_master()
        assert self.returncode is not None
        return self.returncode

    def _reap(self, *, block: bool) -> bool:
        """Collect the child's exit status and rusage once; True when it has exited."""
        if self.returncode is not None:
            return True
        assert self.process is not None
        pid, status, usage = os.wait4(self.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        self.rusage = usage
        self.returncode = os.waitstatus_to_exitcode(status)
        self.process.returncode = self.returncode
        return True

    def _close_master(self) -> None:
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def __enter__(self) -> PtyProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.alive():
            self.quit(timeout=5.0)
        self._close_master()
