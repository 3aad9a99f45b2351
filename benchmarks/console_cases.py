"""The cases measured on whole processes in a pseudo-terminal: start-up, the 100,000-key
console (filter keystrokes and peak memory), and live watching.

Each round starts a fresh process; the case and its baseline alternate (case first in even
rounds, baseline first in odd ones), or run at once for live watching.
"""

from __future__ import annotations

import select
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.baseline_app import BARE_MARKER
from benchmarks.dataset import DataSet, key_id_for
from benchmarks.report import Row, Target
from benchmarks.terminal import PtyProcess

__all__ = ["ConsoleRunner", "LiveSettings"]

FIRST_ROW_MARKER = key_id_for(0).encode()  # painted only once the table has rows
BARE_FRAME_MARKER = BARE_MARKER.encode()  # the bare app's one column label
STATS_MARKER = b"Cache hits"  # the Live stats screen's first metric title
FILTER_BOX_MARKER = b"filter id, description"  # the filter Input's placeholder
ENTER = b"\r"
BACKSPACE = b"\x7f"
KIB_PER_MIB = 1024


def console_argv() -> list[str]:
    """``kms-tui`` with no arguments: the embedded server."""
    return [sys.executable, "-m", "kms_tui"]


def profiled_console_argv(report: Path) -> list[str]:
    """The console under pyinstrument (main thread), writing a text report on exit."""
    return [
        sys.executable,
        "-m",
        "pyinstrument",
        "--renderer",
        "text",
        "--no-color",
        "--unicode",
        "-o",
        str(report),
        "-m",
        "kms_tui",
    ]


def baseline_argv(rows: int) -> list[str]:
    """The minimal Textual app with ``rows`` rows."""
    return [sys.executable, "-m", "benchmarks.baseline_app", "rows", str(rows)]


def bare_argv() -> list[str]:
    """The bare Textual app: Header, a one-column DataTable with no rows, Footer."""
    return [sys.executable, "-m", "benchmarks.baseline_app", "bare"]


def echo_argv() -> list[str]:
    """The bare Textual app echoing an Input's keystrokes into a Static."""
    return [sys.executable, "-m", "benchmarks.baseline_app", "echo"]


def _alternate(round_number: int) -> tuple[str, str]:
    return ("case", "base") if round_number % 2 == 0 else ("base", "case")


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """How long live watching is measured: ``rounds`` windows of ``window_s`` seconds."""

    rounds: int
    window_s: float
    settle_s: float = 3.0


@dataclass
class ConsoleRunner:
    """Runs the pty cases against prepared data sets; collects rows and raw details."""

    cwd: Path
    small: DataSet
    large: DataSet
    rounds: int
    heavy_rounds: int
    log: Any = print
    profile_dir: Path | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def _spawn(self, argv: Sequence[str], dataset: DataSet) -> PtyProcess:
        process = PtyProcess(argv, env=dataset.env(), cwd=self.cwd)
        process.start()
        return process

    def _first_frame_ms(
        self, argv: Sequence[str], dataset: DataSet, marker: bytes = FIRST_ROW_MARKER
    ) -> tuple[float, int]:
        """Process start to the first frame showing ``marker``; (ms, peak RSS KiB)."""
        process = PtyProcess(argv, env=dataset.env(), cwd=self.cwd)
        started = process.start()
        try:
            painted = process.wait_for(marker, timeout=60)
            peak = process.peak_rss_kib()
        finally:
            process.quit()
        return (painted - started) * 1000, peak

    # --- start-up --------------------------------------------------------------------------

    def startup(self) -> list[Row]:
        """The console (embedded server, 1,000 keys) to its first frame with a key row, versus
        the bare app's first frame and the 1,000-row app's first frame with rows, interleaved."""
        runs: dict[str, tuple[list[str], bytes]] = {
            "case": (console_argv(), FIRST_ROW_MARKER),
            "bare": (bare_argv(), BARE_FRAME_MARKER),
            "rows": (baseline_argv(self.small.key_count), FIRST_ROW_MARKER),
        }
        for argv, marker in runs.values():  # warm the page cache and bytecode
            self._first_frame_ms(argv, self.small, marker)
        times: dict[str, list[float]] = {name: [] for name in runs}
        peaks: dict[str, list[float]] = {name: [] for name in runs}
        order = list(runs)
        for round_number in range(self.rounds):
            # Rotate who goes first, so no one always runs right after the same neighbour.
            turns = order[round_number % 3 :] + order[: round_number % 3]
            for name in turns:
                argv, marker = runs[name]
                elapsed, peak = self._first_frame_ms(argv, self.small, marker)
                times[name].append(elapsed)
                peaks[name].append(peak / KIB_PER_MIB)
            self.log(
                f"  start-up round {round_number + 1}: {times['case'][-1]:.0f} ms (console) / "
                f"{times['bare'][-1]:.0f} ms (bare app) / {times['rows'][-1]:.0f} ms (1,000 rows)"
            )
        self.details["startup_ms"] = times
        self.details["startup_peak_rss_at_first_frame_mib"] = peaks
        if self.profile_dir is not None:
            self._first_frame_ms(
                profiled_console_argv(self.profile_dir / "startup.txt"), self.small
            )
        return [
            Row(
                "start-up",
                f"first frame with a key row ({self.small.key_count:,} keys, embedded) vs a bare "
                "Textual app's first frame (Header, empty one-column DataTable, Footer)",
                "ms",
                times["case"],
                times["bare"],
                Target.ratio_at_most(1.5),
            ),
            Row(
                "start-up",
                f"the same vs a Textual app's first frame with {self.small.key_count:,} rows "
                "in a stock DataTable (the earlier baseline)",
                "ms",
                times["case"],
                times["rows"],
                Target.report_only("report the ratio"),
            ),
        ]

    # --- the console holding the large data set --------------------------------------------

    def _filter_words(self, round_number: int) -> str:
        return ("violet", "amber", "coral")[round_number % 3]

    def _type_filter(self, process: PtyProcess, word: str, *, open_box: bool = True) -> list[float]:
        """Type ``word`` then erase it back to one letter; ms from key to the filtered frame.

        The frame is recognised by the status line ``… of N keys match '<text>'``, which the
        screen writes in the same handler that filters the table, so both are in that frame
        (the echo baseline writes the same words). ``open_box``: press ``/`` first (the
        console); the echo app's Input has the focus from the start.
        """
        mark = len(process.output)
        if open_box:
            process.send(b"/")
        else:
            mark = 0
        process.wait_for(FILTER_BOX_MARKER, timeout=30, since=mark)
        process.drain(0.3)
        steps = [(ch.encode(), word[: i + 1]) for i, ch in enumerate(word)]
        steps += [(BACKSPACE, word[:length]) for length in range(len(word) - 1, 0, -1)]
        latencies: list[float] = []
        for key, text in steps:
            mark = len(process.output)
            sent = time.perf_counter()
            process.send(key)
            shown = process.wait_for(f"match {text!r}".encode(), timeout=20, since=mark)
            latencies.append((shown - sent) * 1000)
            process.drain(0.05)  # a person types a few letters a second at most
        process.send(ENTER)  # keep the filter, give the table the focus back
        process.drain(0.3)
        return latencies

    def large_console(self, *, table: bool, memory: bool) -> list[Row]:
        """The console holding every key of the large set: filter keystrokes and peak RSS."""
        total = self.large.key_count
        loaded_marker = f"{total:,} keys".encode()
        keystroke_ms: list[float] = []
        round_medians: list[float] = []
        echo_ms: list[float] = []
        peak_loaded_mib: list[float] = []
        tree_loaded_mib: list[float] = []
        peak_end_mib: list[float] = []
        load_s: list[float] = []
        base_mib: list[float] = []
        for round_number in range(self.heavy_rounds):
            for turn in _alternate(round_number):
                if turn == "base":
                    if table:
                        process = self._spawn(echo_argv(), self.small)
                        try:
                            echo_ms.extend(
                                self._type_filter(
                                    process, self._filter_words(round_number), open_box=False
                                )
                            )
                        finally:
                            process.quit()
                    if memory:
                        process = self._spawn(baseline_argv(self.small.key_count), self.small)
                        try:
                            process.wait_for(FIRST_ROW_MARKER, timeout=60)
                            process.drain(1.0)
                            base_mib.append(process.peak_rss_kib() / KIB_PER_MIB)
                        finally:
                            process.quit()
                    continue
                process = self._spawn(console_argv(), self.large)
                try:
                    loaded = process.wait_for(loaded_marker, timeout=300, since=0)
                    load_s.append(loaded - process.started_at)
                    process.drain(1.0)  # pending keys' deletion dates are fetched after the list
                    peak_loaded_mib.append(process.peak_rss_kib() / KIB_PER_MIB)
                    tree_loaded_mib.append(process.tree_peak_rss_kib() / KIB_PER_MIB)
                    if table:
                        latencies = self._type_filter(process, self._filter_words(round_number))
                        keystroke_ms.extend(latencies)
                        round_medians.append(sorted(latencies)[len(latencies) // 2])
                    peak_end_mib.append(process.peak_rss_kib() / KIB_PER_MIB)
                finally:
                    process.quit()
            self.log(
                f"  {total:,}-key console round {round_number + 1}: loaded in {load_s[-1]:.1f} s, "
                f"peak {peak_loaded_mib[-1]:.0f} MiB"
                + (f", keystroke median {round_medians[-1]:.1f} ms" if table else "")
            )
        if self.profile_dir is not None:
            report = self.profile_dir / "large-console.txt"
            process = self._spawn(profiled_console_argv(report), self.large)
            try:
                process.wait_for(loaded_marker, timeout=600, since=0)
                process.drain(1.0)
                if table:
                    self._type_filter(process, self._filter_words(0))
            finally:
                process.quit(timeout=60)
        self.details["large_console"] = {
            "keys": total,
            "load_to_status_s": load_s,
            "peak_after_load_mib": peak_loaded_mib,
            "peak_after_load_with_server_mib": tree_loaded_mib,
            "peak_at_end_mib": peak_end_mib,
            "keystroke_ms": keystroke_ms,
            "keystroke_round_medians_ms": round_medians,
            "echo_keystroke_ms": echo_ms,
        }
        rows: list[Row] = []
        if table:
            rows.append(
                Row(
                    "scale: table",
                    f"filter keystroke to the filtered frame ({total:,} keys, all keystrokes) "
                    "vs a bare Textual app echoing an Input's keystroke into a Static",
                    "ms",
                    keystroke_ms,
                    echo_ms,
                    Target.ratio_at_most(1.5),
                )
            )
        if memory:
            rows.append(
                Row(
                    "scale: memory",
                    f"peak RSS of the console holding {total:,} keys (baseline: minimal app)",
                    "MiB",
                    peak_loaded_mib,
                    base_mib,
                    Target.case_at_most(300, "MiB"),
                )
            )
            rows.append(
                Row(
                    "scale: memory",
                    "the same plus its embedded-server process (sum of peaks)",
                    "MiB",
                    tree_loaded_mib,
                    base_mib,
                    Target.case_at_most(300, "MiB"),
                )
            )
        return rows

    # --- live watching ---------------------------------------------------------------------

    def live(self, settings: LiveSettings) -> list[Row]:
        """Live stats polling every 2 s versus the minimal app idle, measured at the same time."""
        console = self._spawn(console_argv(), self.small)
        baseline = self._spawn(baseline_argv(self.small.key_count), self.small)
        both = (console, baseline)
        cpu_pct: dict[str, list[float]] = {"case": [], "base": []}
        bytes_per_min: dict[str, list[float]] = {"case": [], "base": []}
        try:
            console.wait_for(FIRST_ROW_MARKER, timeout=60, since=0)
            baseline.wait_for(FIRST_ROW_MARKER, timeout=60, since=0)
            mark = len(console.output)
            console.send(b"5")
            console.wait_for(STATS_MARKER, timeout=20, since=mark)
            _drain_all(both, settings.settle_s)
            for round_number in range(settings.rounds):
                cpu_before = [process.tree_cpu_seconds() for process in both]
                bytes_before = [process.bytes_read for process in both]
                started = time.perf_counter()
                _drain_all(both, settings.window_s)
                wall = time.perf_counter() - started
                for name, process, cpu0, bytes0 in zip(
                    ("case", "base"), both, cpu_before, bytes_before, strict=True
                ):
                    cpu_pct[name].append((process.tree_cpu_seconds() - cpu0) / wall * 100)
                    bytes_per_min[name].append((process.bytes_read - bytes0) * 60 / wall / 1000)
                self.log(
                    f"  live window {round_number + 1}: cpu {cpu_pct['case'][-1]:.2f}% / "
                    f"{cpu_pct['base'][-1]:.2f}%, {bytes_per_min['case'][-1]:.1f} / "
                    f"{bytes_per_min['base'][-1]:.1f} KB/min"
                )
        finally:
            for process in both:
                process.quit()
        self.details["live"] = {"window_s": settings.window_s, "rounds": settings.rounds}
        return [
            Row(
                "live watching",
                "CPU while Live stats polls every 2 s, console and its server (% of one core)",
                "%",
                cpu_pct["case"],
                cpu_pct["base"],
                Target.case_at_most(1.5, "%"),
            ),
            Row(
                "live watching",
                "bytes written to the terminal per minute",
                "KB/min",
                bytes_per_min["case"],
                bytes_per_min["base"],
                Target.case_at_most(30, "KB/min"),
            ),
        ]


def _drain_all(processes: Sequence[PtyProcess], seconds: float) -> None:
    """Read every process's output for ``seconds`` so none of them blocks on a full pty."""
    deadline = time.perf_counter() + seconds
    while (remaining := deadline - time.perf_counter()) > 0:
        open_masters = [process.master for process in processes if process.master >= 0]
        if not open_masters:
            time.sleep(remaining)
            return
        ready, _, _ = select.select(open_masters, [], [], min(remaining, 0.5))
        for process in processes:
            if process.master in ready:
                process.pump(0)
