"""``python -m benchmarks``: every case beside its baseline, a table of medians, a JSON copy.

    python -m benchmarks                 # the full run (~9 minutes on 2 cores), recorded
    python -m benchmarks --quick         # small sizes, few rounds: checks the harness works
    python -m benchmarks --only startup --only live --rounds 3
    python -m benchmarks --json /tmp/run.json --profile

Cases: startup, load, store, table, memory, client, datakeys, s3, scan, cli, live. A full run
(no ``--only``, no ``--quick``) also writes its raw samples and the machine's description to
``benchmarks/results/run-<UTC time>.json``, the file to commit and cite. Data sets are seeded
once per run in a fresh temporary directory (removed at the end unless ``--keep``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.cli_cases import cli_rows
from benchmarks.console_cases import ConsoleRunner, LiveSettings
from benchmarks.dataset import DataSet
from benchmarks.report import (
    Row,
    Target,
    render_markdown,
    render_table,
    write_json,
    yardstick_ms,
)
from benchmarks.s3_cases import s3_rows
from benchmarks.scan_cases import scan_rows

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
CASES = (
    "startup",
    "load",
    "store",
    "table",
    "memory",
    "client",
    "datakeys",
    "s3",
    "scan",
    "cli",
    "live",
)
_NEEDS_LARGE = {"load", "store", "table", "memory", "cli"}
_NEEDS_SMALL = {"startup", "client", "datakeys", "live"}


@dataclass(frozen=True, slots=True)
class Plan:
    """Sizes and round counts; ``--quick`` swaps in small ones."""

    small_keys: int = 1_000
    large_keys: int = 100_000
    rounds: int = 5  # cheap cases
    heavy_rounds: int = 3  # cases that hold the large data set
    live: LiveSettings = LiveSettings(rounds=3, window_s=20.0)
    client_block: int = 50
    client_blocks: int = 4
    datakey_requests: int = 400
    s3_heads: int = 2_000  # HEADs per variant per round (a quarter for one-at-a-time ones)
    s3_in_flight: int = 16
    scan_objects: int = 10_000  # seeded through `kms-tui serve`'s S3 API, 10 buckets
    scan_proxy_baseline: int = 1_000  # objects the sequential boto3 loop HEADs through the proxy


QUICK = Plan(
    large_keys=5_000,
    rounds=2,
    heavy_rounds=1,
    live=LiveSettings(rounds=1, window_s=4.0, settle_s=2.0),
    client_block=20,
    client_blocks=2,
    datakey_requests=100,
    s3_heads=300,
    scan_objects=1_000,
    scan_proxy_baseline=200,
)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="kms-tui performance harness"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds")
    parser.add_argument(
        "--only",
        action="append",
        choices=CASES,
        metavar="CASE",
        help=f"run only this case (repeatable): {', '.join(CASES)}",
    )
    parser.add_argument("--rounds", type=int, metavar="N", help="rounds for every case")
    parser.add_argument(
        "--json",
        type=Path,
        default=RESULTS / "latest.json",
        metavar="PATH",
        help="where to write the JSON copy (default benchmarks/results/latest.json)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also write pyinstrument profiles to benchmarks/results/profiles/ (extra runs)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the seeded data directory")
    options = parser.parse_args(argv)
    if options.rounds is not None and options.rounds < 1:
        parser.error("--rounds must be 1 or more")
    return options


def _plan(options: argparse.Namespace) -> Plan:
    plan = QUICK if options.quick else Plan()
    if options.rounds is not None:
        plan = replace(
            plan,
            rounds=options.rounds,
            heavy_rounds=options.rounds,
            live=replace(plan.live, rounds=options.rounds),
        )
    return plan


def _compile_bytecode() -> None:
    """Write the bytecode of ``kms_tui`` and ``benchmarks`` before anything is timed.

    Every process is then measured as an installed console runs: pip compiles a wheel's
    modules at install, and Python writes them on the first run of an editable install, unless
    bytecode writing is off (``PYTHONDONTWRITEBYTECODE``, set on some machines here, which
    would have every console start compile ~130 modules while Textual's are precompiled).
    """
    import compileall

    for package in ("kms_tui", "benchmarks"):
        compileall.compile_dir(REPO / package, quiet=1)


def _log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class Harness:
    """Seeds the data sets, runs the chosen cases in a fixed order, gathers the rows."""

    def __init__(self, options: argparse.Namespace, plan: Plan, root: Path) -> None:
        self.options = options
        self.plan = plan
        self.root = root
        self.selected = set(options.only or CASES)
        self.small = DataSet(root / "small", plan.small_keys)
        self.large = DataSet(root / "large", plan.large_keys)
        self.profile_dir = RESULTS / "profiles" if options.profile else None
        self.rows: list[Row] = []
        self.details: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.console = ConsoleRunner(
            cwd=REPO,
            small=self.small,
            large=self.large,
            rounds=plan.rounds,
            heavy_rounds=plan.heavy_rounds,
            log=_log,
            profile_dir=self.profile_dir,
        )

    def run(self) -> None:
        _compile_bytecode()
        if self.profile_dir is not None:
            self.profile_dir.mkdir(parents=True, exist_ok=True)
        if self.selected & _NEEDS_SMALL:
            self._seed(self.small)
        if self.selected & _NEEDS_LARGE:
            self._seed(self.large)
        steps: list[tuple[str, Callable[[], list[Row]]]] = [
            ("startup", self.console.startup),
            ("client", self._client),
            ("datakeys", self._datakeys),
            ("s3", self._s3),
            ("scan", self._scan),
            ("load", self._load),
            ("store", self._store),
            ("cli", self._cli),
            ("table+memory", self._large_console),
            ("live", lambda: self.console.live(self.plan.live)),
        ]
        for name, step in steps:
            wanted = {"table", "memory"} if name == "table+memory" else {name}
            if not wanted & self.selected:
                continue
            _log(f"{name} …")
            started = time.perf_counter()
            try:
                self.rows.extend(step())
            except Exception as err:  # one broken case must not hide the others' figures
                self.errors[name] = f"{type(err).__name__}: {err}"
                _log(traceback.format_exc())
            _log(f"{name} done in {time.perf_counter() - started:.0f} s")
        self.details.update(self.console.details)
        self.rows.extend(self._console_load_row())

    def _seed(self, dataset: DataSet) -> None:
        _log(f"seeding {dataset.key_count:,} keys …")
        seconds = dataset.create(cwd=REPO)
        self.details.setdefault("seed_s", {})[str(dataset.key_count)] = seconds

    def _worker(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Run one case's worker process; its JSON is the last line of its stdout (kept in the
        run's details under ``name``)."""
        done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{name} worker failed ({done.returncode}): {done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        self.details[name] = result
        return result

    def _inproc(self, case: str, dataset: DataSet, rounds: int, *extra: str) -> dict[str, Any]:
        argv = [
            sys.executable,
            "-m",
            "benchmarks.inproc",
            case,
            str(dataset.root),
            str(dataset.key_count),
            str(rounds),
            *extra,
        ]
        if self.profile_dir is not None:
            argv += ["--profile", str(self.profile_dir / f"{case}.txt")]
        return self._worker(case, argv, dataset.env())

    def _client(self) -> list[Row]:
        plan = self.plan
        result = self._inproc(
            "client",
            self.small,
            plan.rounds,
            f"--block={plan.client_block}",
            f"--blocks={plan.client_blocks}",
        )
        return [
            Row(
                "client overhead",
                "signed describe_key round trip (baseline: botocore signer + bare httpx)",
                "ms",
                result["case_ms"],
                result["baseline_ms"],
                Target.ratio_at_most(1.25),
            )
        ]

    def _datakeys(self) -> list[Row]:
        result = self._inproc(
            "datakeys", self.small, self.plan.rounds, f"--requests={self.plan.datakey_requests}"
        )
        return [
            Row(
                "data keys",
                "generate_data_key per second, 16 in flight (baseline: envelope in-process)",
                "/s",
                result["case_per_s"],
                result["baseline_per_s"],
                Target.report_only("report the ratio"),
            )
        ]

    def _s3(self) -> list[Row]:
        """Client CPU per S3 HEAD, chosen transport vs botocore in threads (its own processes)."""
        argv = [
            sys.executable,
            "-m",
            "benchmarks.s3_cases",
            f"--rounds={self.plan.rounds}",
            f"--heads={self.plan.s3_heads}",
            f"--in-flight={self.plan.s3_in_flight}",
        ]
        result = self._worker("s3", argv)
        return s3_rows(result)

    def _scan(self) -> list[Row]:
        """Impact scan vs a sequential boto3 loop against `kms-tui serve` (its own processes)."""
        argv = [
            sys.executable,
            "-m",
            "benchmarks.scan_cases",
            f"--root={self.root / 'scan'}",
            f"--objects={self.plan.scan_objects}",
            f"--rounds={self.plan.heavy_rounds}",
            f"--proxy-baseline={self.plan.scan_proxy_baseline}",
        ]
        result = self._worker("scan", argv)
        return scan_rows(result)

    def _load(self) -> list[Row]:
        result = self._inproc("load", self.large, self.plan.heavy_rounds)
        keys = f"{result['keys']:,} keys, {result['pages']} pages"
        return [
            Row(
                "scale: load",
                f"iter_keys over {keys} vs the same pages fetched by bare signed httpx, not parsed",
                "s",
                result["total_s"],
                result["fetch_s"],
                Target.ratio_at_most(1.25),
            ),
            Row(
                "scale: load",
                "client parsing (decode_answer + KeyPage.from_wire, collector held as the "
                "client does) of those pages vs json.loads alone",
                "s",
                result["parse_s"],
                result["json_s"],
                Target.ratio_at_most(2),
            ),
            Row(
                "scale: load",
                "server route handler in-process (list + render JSON) vs "
                "KmsService.list_keys in-process",
                "s",
                result["server_handler_s"],
                result["server_list_keys_s"],
                Target.ratio_at_most(2),
            ),
            Row(
                "scale: load",
                "the same handler vs the store's page of records alone (list_records: what "
                "the handler reads; the rest is rendering JSON)",
                "s",
                result["server_handler_s"],
                result.get("server_records_s", []),
                Target.report_only("report the ratio"),
            ),
        ]

    def _store(self) -> list[Row]:
        """Embedded server start on the large set vs a bare read + parse + decrypt loop."""
        argv = [
            sys.executable,
            "-m",
            "benchmarks.store_start",
            str(self.large.root),
            str(self.large.key_count),
            str(self.plan.heavy_rounds),
        ]
        if self.profile_dir is not None:
            argv += ["--profile", str(self.profile_dir / "store.txt")]
        result = self._worker("store", argv, self.large.env())
        return [
            Row(
                "scale: store",
                f"embedded server start with {result['keys']:,} keys vs a bare loop that reads, "
                "parses and AES-GCM-decrypts the same records",
                "s",
                result["case_s"],
                result["baseline_s"],
                Target.ratio_at_most(1.5),
            )
        ]

    def _console_load_row(self) -> list[Row]:
        """Console start to all keys listed vs server start + bare fetch (from this run)."""
        console = self.details.get("large_console", {}).get("load_to_status_s") or []
        fetch = self.details.get("load", {}).get("fetch_s") or []
        starts = self.details.get("store", {}).get("case_s") or []
        if not starts and "server_start_s" in self.details.get("load", {}):
            starts = [self.details["load"]["server_start_s"]]
        if not (console and fetch and starts):
            return []
        start = statistics.median(starts)
        return [
            Row(
                "scale: console",
                f"console process start to all {self.large.key_count:,} keys listed vs "
                "(embedded server start + the bare signed fetch of every page)",
                "s",
                console,
                [start + seconds for seconds in fetch],
                Target.ratio_at_most(1.1),
            )
        ]

    def _cli(self) -> list[Row]:
        """``keys list --ndjson`` over the large set against iterating the client directly."""
        rows, details = cli_rows(self.large, self.plan.heavy_rounds, REPO, _log)
        self.details["cli"] = details
        return rows

    def _large_console(self) -> list[Row]:
        return self.console.large_console(
            table="table" in self.selected, memory="memory" in self.selected
        )


def main(argv: list[str] | None = None) -> int:
    """Run the harness; exit 1 when a case could not run (unmet targets still exit 0)."""
    options = _parse(sys.argv[1:] if argv is None else argv)
    plan = _plan(options)
    started = time.perf_counter()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    full_run = not options.quick and options.only is None and options.rounds is None
    yardstick = [yardstick_ms()]
    _log(f"yardstick: sum(range(1_000_000)) in {yardstick[0]:.1f} ms")
    root = Path(tempfile.mkdtemp(prefix="kms-tui-bench-"))
    harness = Harness(options, plan, root)
    try:
        harness.run()
    finally:
        if options.keep:
            _log(f"data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    duration = time.perf_counter() - started
    yardstick.append(yardstick_ms())
    run_name = f"run-{stamp}"
    print(render_table(harness.rows))
    print(f"\nharness run time: {duration:.0f} s" + (" (--quick)" if options.quick else ""))
    print(
        f"yardstick (sum(range(1_000_000))): {yardstick[0]:.1f} ms before, "
        f"{yardstick[1]:.1f} ms after"
    )
    for name, error in harness.errors.items():
        print(f"ERROR in {name}: {error}")
    document = {
        "run": run_name,
        "started_utc": stamp,
        "quick": options.quick,
        "cases": sorted(harness.selected),
        "plan": plan,
        "duration_s": duration,
        "yardstick_ms": yardstick,
        "errors": harness.errors,
        "details": harness.details,
        "markdown": render_markdown(harness.rows),
    }
    write_json(options.json, harness.rows, document)
    print(f"JSON written to {options.json}")
    if full_run:
        record = RESULTS / f"{run_name}.json"
        write_json(record, harness.rows, document)
        print(f"full run recorded in {record.relative_to(REPO)} (commit it; cite it as {run_name})")
    return 1 if harness.errors else 0


if __name__ == "__main__":
    sys.exit(main())
