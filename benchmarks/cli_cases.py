"""``kms-tui keys list --ndjson`` over the large data set, against iterating the client directly.

One ``kms-tui serve`` process serves the seeded data set for the whole case. Each round runs,
in alternating order, two fresh processes whose stdout is a pipe read by this one:

- case: ``python -m kms_tui --endpoint URL keys list --ndjson`` (the command as a script runs it:
  imports, the session, every page, the describe of each pending key, one JSON line per key);
- baseline: ``python -m benchmarks.cli_cases --iterate URL``, a bare process that iterates
  ``KmsAdminClient.iter_keys`` and writes one key id per line.

For each: time from just before the process starts to the first complete line, to the end of
its output, and its peak RSS (``ru_maxrss`` from ``wait4``: that process alone). The lines are
counted, so a run that lost keys fails instead of looking fast.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.dataset import DataSet
from benchmarks.report import Row, Target

__all__ = ["cli_rows"]

ACCESS_KEY = "bench-cli-access"
SECRET_KEY = "bench-cli-secret-key-0123456789"
_LISTENING = re.compile(rb"^listening on (http://\S+)$")
KIB_PER_MIB = 1024


@dataclass(frozen=True, slots=True)
class Sample:
    """One process: ms to the first line, s to the end, peak RSS in MiB, lines read."""

    first_ms: float
    total_s: float
    peak_mib: float
    lines: int


def _env(dataset: DataSet) -> dict[str, str]:
    env = dataset.env()
    env.update(RUSTFS_ACCESS_KEY=ACCESS_KEY, RUSTFS_SECRET_KEY=SECRET_KEY)
    return env


def _start_server(dataset: DataSet, cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``kms-tui serve`` over the data set's server directory; returns it and its endpoint."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kms_tui",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(dataset.server_dir),
            "--access-key",
            ACCESS_KEY,
            "--secret-key",
            SECRET_KEY,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dataset.env(),
        cwd=cwd,
    )
    assert server.stdout is not None
    line = server.stdout.readline().strip()
    match = _LISTENING.match(line)
    if match is None:
        server.kill()
        server.wait()
        raise RuntimeError(f"kms-tui serve did not start: {line!r}")
    return server, match.group(1).decode()


def _measure(argv: list[str], env: dict[str, str], cwd: Path) -> Sample:
    """Run one process to its end, reading its stdout as it comes."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, bufsize=0
    )
    assert process.stdout is not None and process.stderr is not None
    first: float | None = None
    lines = 0
    while True:
        chunk = process.stdout.read(1 << 16)
        if not chunk:
            break
        if first is None and b"\n" in chunk:
            first = time.perf_counter()
        lines += chunk.count(b"\n")
    ended = time.perf_counter()
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 or first is None:
        raise RuntimeError(f"{argv[3:]} exited {process.returncode}: {errors[-2000:]!r}")
    return Sample((first - started) * 1000, ended - started, usage.ru_maxrss / KIB_PER_MIB, lines)


def cli_rows(
    dataset: DataSet, rounds: int, cwd: Path, log: Callable[[str], None] = print
) -> tuple[list[Row], dict[str, Any]]:
    """The case's rows (and the raw samples for the JSON copy)."""
    server, endpoint = _start_server(dataset, cwd)
    env = _env(dataset)
    case_argv = [sys.executable, "-m", "kms_tui", "--endpoint", endpoint, "keys", "list"]
    case_argv.append("--ndjson")
    base_argv = [sys.executable, "-m", "benchmarks.cli_cases", "--iterate", endpoint]
    samples: dict[str, list[Sample]] = {"case": [], "base": []}
    try:
        _measure(case_argv, env, cwd)  # warm the page cache, bytecode and the server's cache
        _measure(base_argv, env, cwd)
        for round_number in range(rounds):
            order = ("case", "base") if round_number % 2 == 0 else ("base", "case")
            for turn in order:
                sample = _measure(case_argv if turn == "case" else base_argv, env, cwd)
                if sample.lines != dataset.key_count:
                    raise RuntimeError(
                        f"{turn} wrote {sample.lines} lines for {dataset.key_count} keys"
                    )
                samples[turn].append(sample)
            case, base = samples["case"][-1], samples["base"][-1]
            log(
                f"  cli round {round_number + 1}: first line {case.first_ms:.0f} / "
                f"{base.first_ms:.0f} ms, total {case.total_s:.2f} / {base.total_s:.2f} s, "
                f"peak {case.peak_mib:.0f} / {base.peak_mib:.0f} MiB (command / client)"
            )
    finally:
        server.terminate()
        server.wait(30)

    def pick(turn: str, field: str) -> list[float]:
        return [float(getattr(sample, field)) for sample in samples[turn]]

    keys = f"{dataset.key_count:,} keys"
    baseline = "baseline: iter_keys in a bare process"
    rows = [
        Row(
            "cli: keys list",
            f"--ndjson, process start to the first line ({baseline})",
            "ms",
            pick("case", "first_ms"),
            pick("base", "first_ms"),
            Target.report_only("report the ratio"),
        ),
        Row(
            "cli: keys list",
            f"--ndjson, process start to the last of {keys} ({baseline})",
            "s",
            pick("case", "total_s"),
            pick("base", "total_s"),
            Target.report_only("report the ratio"),
        ),
        Row(
            "cli: keys list",
            f"--ndjson, peak RSS of the process over {keys} ({baseline})",
            "MiB",
            pick("case", "peak_mib"),
            pick("base", "peak_mib"),
            Target.report_only("report the ratio"),
        ),
    ]
    details = {turn: [vars_of(s) for s in values] for turn, values in samples.items()}
    return rows, details


def vars_of(sample: Sample) -> dict[str, float]:
    """A sample as a dict for the JSON copy."""
    return {
        "first_ms": sample.first_ms,
        "total_s": sample.total_s,
        "peak_mib": sample.peak_mib,
        "lines": sample.lines,
    }


async def _iterate(endpoint: str) -> None:
    """The baseline: every page through the client, one key id per line."""
    from kms_tui.api.admin import KmsAdminClient

    out = sys.stdout
    access, secret = os.environ["RUSTFS_ACCESS_KEY"], os.environ["RUSTFS_SECRET_KEY"]
    async with KmsAdminClient(endpoint, access, secret) as client:
        async for page in client.iter_keys():
            out.write("".join(f"{info.key_id}\n" for info in page.keys))
            out.flush()


def main(argv: list[str]) -> int:
    """``--iterate URL``: run the baseline process."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cli_cases")
    parser.add_argument("--iterate", metavar="URL", required=True)
    options = parser.parse_args(argv)
    asyncio.run(_iterate(options.iterate))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
