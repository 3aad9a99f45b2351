"""The benchmark harness's marker search sees a marker however large the read it came in."""

from __future__ import annotations

from pathlib import Path

from benchmarks.terminal import PtyProcess


class _ScriptedPty(PtyProcess):
    """A PtyProcess whose reads come from a list instead of a child (no process at all)."""

    def __init__(self, reads: list[bytes]) -> None:
        super().__init__(["scripted"], env={}, cwd=Path("."))
        self.master = 10_000  # "open": wait_for keeps pumping instead of reaping a child
        self._reads = reads

    def pump(self, timeout: float) -> bytes:
        data = self._reads.pop(0) if self._reads else b""
        self.output += data
        self.bytes_read += len(data)
        return data


def test_a_marker_early_in_one_very_large_read_is_found() -> None:
    # One pump can return many 64 KiB chunks; the marker sits near the start of such a read.
    pty = _ScriptedPty([b"frame " * 10, b"MARKER" + b"x" * 500_000, b"tail"])
    pty.wait_for(b"MARKER", timeout=5)
    assert pty.output.find(b"MARKER") == 60


def test_a_marker_split_across_two_reads_is_found() -> None:
    pty = _ScriptedPty([b"y" * 200_000 + b"MAR", b"KER" + b"z" * 10])
    pty.wait_for(b"MARKER", timeout=5)


def test_a_marker_before_since_does_not_count() -> None:
    pty = _ScriptedPty([b"MARKER old", b"new MARKER"])
    pty.pump(0)
    mark = len(pty.output)
    pty.wait_for(b"MARKER", timeout=5, since=mark)
    assert pty.output.rfind(b"MARKER") > mark
