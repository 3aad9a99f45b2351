"""Impact-scan throughput against a real ``kms-tui serve``: the scan vs a sequential boto3 loop.

Deleting a KMS key needs an impact scan first: list every object of every bucket and HEAD each
one. ``python -m benchmarks.scan_cases`` (run by ``python -m benchmarks --only scan``) measures
the production :class:`~kms_tui.api.impact.ImpactScan` (``BucketEncryptionClient``, 32 in
flight) against what a user would otherwise write: one boto3 client (path-style, created once)
listing each bucket and calling ``head_object`` on every object, one at a time.

The child, in its own processes:

1. starts ``kms-tui serve`` on loopback over a fresh data directory (fixed credentials, an
   isolated environment), configures and starts a Local KMS with a default key, creates the
   scanned key, 10 buckets with SSE-KMS default encryption under it and N objects in all
   (1 KiB bodies), all through the real admin and S3 APIs with a bounded number in flight.
   Seeding is timed on its own, once per run.
2. case ``loopback``: rounds of both sides over all N objects, the order alternating per round.
   Every scan must find all N objects under the key, or the case fails.
3. case ``proxy``: the same through a delaying TCP proxy (``--proxy``, a separate process) that
   holds every client→server chunk 10 ms before forwarding it, in order per connection, as a
   remote RustFS would add. The boto3 side HEADs only the first ``--proxy-baseline`` objects
   there (10 ms each one after another would take minutes); objects per second are compared.

Wall time and ``time.process_time()`` (the measuring process only: no server or proxy work) are
taken around each side. The child prints one JSON object on its last stdout line;
:func:`scan_rows` turns it into rows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.report import Row, Target

__all__ = ["RatioAtLeast", "run_child", "scan_rows"]

REPO = Path(__file__).resolve().parent.parent
ACCESS_KEY = "scan-bench-access"
SECRET_KEY = "scan-bench-secret-0123456789"
MASTER_KEY = "scan-bench-master-key-not-a-secret"
SCAN_KEY = "scan-bench-key"
DEFAULT_KEY = "scan-bench-default"
BUCKETS = tuple(f"scan-bench-{index:02d}" for index in range(10))
BODY = bytes(range(256)) * 4  # 1 KiB
SCAN_CONCURRENCY = 32
SEED_IN_FLIGHT = 16
PROXY_DELAY_S = 0.010
_CHUNK = 65536
_START_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class RatioAtLeast(Target):
    """case/baseline ≥ limit (report.Target only bounds from above)."""

    @classmethod
    def of(cls, limit: float) -> RatioAtLeast:
        """case/baseline ≥ ``limit``."""
        return cls(f"≥ {limit:g}×", "ratio", limit)

    def met(self, case: float | None, base: float | None) -> bool | None:
        """Whether the ratio reaches the limit (False when a side has no figure)."""
        if case is None or base is None or base == 0:
            return False
        return case / base >= self.limit


def object_keys(per_bucket: int) -> list[str]:
    """The object keys seeded into each bucket (the listing returns them in this order)."""
    return [f"objects/{index:05d}.bin" for index in range(per_bucket)]


# ----------------------------------------------------------------------------- the delaying proxy


async def _forward(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
) -> None:
    """Copy ``reader`` to ``writer``, each chunk held ``delay`` seconds after it arrived.

    Reading goes on while chunks wait, so the delay is added once per chunk, not summed; a
    single writer task keeps the order of the connection.
    """
    if delay <= 0:
        try:
            while chunk := await reader.read(_CHUNK):
                writer.write(chunk)
                await writer.drain()
        except OSError:
            pass
        return
    loop = asyncio.get_running_loop()
    held: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

    async def release() -> None:
        while (item := await held.get()) is not None:
            due, chunk = item
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()

    releaser = asyncio.create_task(release())
    try:
        while chunk := await reader.read(_CHUNK):
            held.put_nowait((loop.time() + delay, chunk))
    except OSError:
        pass
    finally:
        held.put_nowait(None)
        with contextlib.suppress(OSError):
            await releaser


async def _proxy_connection(
    upstream: tuple[str, int],
    delay: float,
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
) -> None:
    try:
        server_reader, server_writer = await asyncio.open_connection(*upstream)
    except OSError:
        client_writer.close()
        return
    upward = asyncio.create_task(_forward(client_reader, server_writer, delay))
    downward = asyncio.create_task(_forward(server_reader, client_writer, 0.0))
    try:
        # The client's end of sending (after the held chunks went out) is passed on and the
        # answers still flow back; the server closing ends the connection.
        await asyncio.wait((upward, downward), return_when=asyncio.FIRST_COMPLETED)
        if upward.done() and not downward.done():
            with contextlib.suppress(OSError):
                if server_writer.can_write_eof():
                    server_writer.write_eof()
            await downward
    finally:
        for task in (upward, downward):
            task.cancel()
        await asyncio.gather(upward, downward, return_exceptions=True)
        for writer in (server_writer, client_writer):
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def start_proxy(upstream: tuple[str, int], delay: float) -> asyncio.Server:
    """The delaying proxy on a free loopback port (``server.sockets[0]`` says which)."""
    return await asyncio.start_server(
        lambda reader, writer: _proxy_connection(upstream, delay, reader, writer), "127.0.0.1", 0
    )


async def serve_proxy(upstream: tuple[str, int], delay: float) -> None:
    """Run the proxy, print its port, forward to ``upstream`` until killed."""
    server = await start_proxy(upstream, delay)
    sys.stdout.write(f"{server.sockets[0].getsockname()[1]}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


# ------------------------------------------------------------------------------- child processes


def _read_line(process: subprocess.Popen[bytes], deadline: float) -> str | None:
    """One stdout line of ``process``, or None at EOF or past the deadline."""
    assert process.stdout is not None
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not buffer.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return None
            chunk = os.read(process.stdout.fileno(), 1)
            if not chunk:
                return None
            buffer += chunk
    return buffer.decode().strip()


def _isolated_env(root: Path) -> dict[str, str]:
    """This environment minus RustFS/AWS settings, XDG directories inside ``root``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("RUSTFS_", "AWS_", "XDG_", "KMS_TUI_"))
    }
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[name] = str(root / name.lower())
    return env


@dataclass(frozen=True, slots=True)
class Child:
    """A started helper process: its announcement (endpoint) and its pid (for its CPU time)."""

    endpoint: str
    pid: int


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of another process so far (Linux ``/proc``; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _child(argv: list[str], root: Path, name: str, wanted: str) -> Iterator[tuple[str, int]]:
    """Run a child until the ``with`` ends; yields (its first stdout line that starts
    ``wanted``, its pid)."""
    stderr_path = root / f"{name}.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=stderr, cwd=REPO, env=_isolated_env(root)
        )
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            line = _read_line(process, deadline)
            if line is None:
                raise RuntimeError(
                    f"{name} did not start: {stderr_path.read_text(errors='replace')[-2000:]}"
                )
            if line.startswith(wanted):
                break
        yield line, process.pid
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


@contextlib.contextmanager
def running_serve(root: Path) -> Iterator[Child]:
    """``kms-tui serve`` over ``root/server`` on a free loopback port; yields its endpoint."""
    argv = [
        sys.executable,
        "-m",
        "kms_tui",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--data-dir",
        str(root / "server"),
        "--access-key",
        ACCESS_KEY,
        "--secret-key",
        SECRET_KEY,
    ]
    with _child(argv, root, "serve", "listening on ") as (line, pid):
        yield Child(line.removeprefix("listening on ").strip(), pid)


@contextlib.contextmanager
def running_proxy(root: Path, upstream: str, delay: float) -> Iterator[Child]:
    """The delaying proxy in front of ``upstream``; yields its endpoint."""
    port = upstream.rsplit(":", 1)[1]
    argv = [
        sys.executable,
        "-m",
        "benchmarks.scan_cases",
        "--proxy",
        f"--upstream-port={port}",
        f"--delay-ms={delay * 1000:g}",
    ]
    with _child(argv, root, "proxy", "") as (line, pid):
        yield Child(f"http://127.0.0.1:{int(line)}", pid)


# ------------------------------------------------------------------------------------- seeding


async def seed(endpoint: str, key_dir: Path, per_bucket: int, in_flight: int) -> None:
    """KMS configured and started, the keys, the buckets and their objects (the real APIs)."""
    from kms_tui.api.admin import KmsAdminClient
    from kms_tui.api.backends import LocalConfig
    from kms_tui.api.buckets import SSE_KMS, BucketEncryptionClient

    async with KmsAdminClient(endpoint, ACCESS_KEY, SECRET_KEY) as admin:
        config = LocalConfig(
            key_dir=str(key_dir),
            master_key=MASTER_KEY,
            default_key_id=DEFAULT_KEY,
            allow_insecure_dev_defaults=True,
        )
        configured = await admin.configure(config)
        if not configured.success:
            raise RuntimeError(f"KMS configure failed: {configured.message}")
        started = await admin.start()
        if not started.success:
            raise RuntimeError(f"KMS start failed: {started.message}")
        for name in (DEFAULT_KEY, SCAN_KEY):
            await admin.create_key(name=name, description="impact-scan benchmark")

    async with BucketEncryptionClient(endpoint, ACCESS_KEY, SECRET_KEY) as s3:
        for bucket in BUCKETS:
            await s3.create_bucket(bucket)
            await s3.put_bucket_encryption(bucket, algorithm=SSE_KMS, kms_key_id=SCAN_KEY)
        gate = asyncio.Semaphore(in_flight)

        async def put(bucket: str, key: str) -> None:
            async with gate:
                applied = await s3.put_object(bucket, key, BODY)
            if applied.algorithm != SSE_KMS or applied.kms_key_id != SCAN_KEY:
                raise RuntimeError(f"{bucket}/{key} was stored as {applied}, not under {SCAN_KEY}")

        keys = object_keys(per_bucket)
        await asyncio.gather(*(put(bucket, key) for bucket in BUCKETS for key in keys))


# ----------------------------------------------------------------------------------- the sides


@dataclass(frozen=True, slots=True)
class Sample:
    """One timed pass of one side."""

    objects: int
    wall_s: float
    cpu_s: float

    @property
    def per_s(self) -> float:
        """Objects per second."""
        return self.objects / self.wall_s

    @property
    def cpu_us(self) -> float:
        """Client CPU per object, µs."""
        return self.cpu_s * 1e6 / self.objects


async def _scan(endpoint: str, expected: int) -> Sample:
    from kms_tui.api.buckets import BucketEncryptionClient
    from kms_tui.api.impact import ImpactScan

    cpu, wall = time.process_time(), time.perf_counter()
    async with BucketEncryptionClient(endpoint, ACCESS_KEY, SECRET_KEY) as source:
        scan = ImpactScan(
            source, [SCAN_KEY], default_key_id=DEFAULT_KEY, concurrency=SCAN_CONCURRENCY
        )
        result = await scan.run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    impact = result.impact(SCAN_KEY)
    problems = []
    if result.partial or result.errors:
        problems.append(f"partial={result.partial}, errors={result.errors[:3]}")
    if sorted(result.buckets) != sorted(BUCKETS):
        problems.append(f"buckets {result.buckets}")
    if (result.listed, result.scanned, impact.object_count) != (expected, expected, expected):
        problems.append(
            f"listed {result.listed}, scanned {result.scanned}, "
            f"found {impact.object_count} under {SCAN_KEY} (expected {expected})"
        )
    if len(impact.bucket_defaults) != len(BUCKETS):
        problems.append(f"{len(impact.bucket_defaults)} bucket defaults name the key")
    if problems:
        raise RuntimeError("the impact scan is wrong: " + "; ".join(problems))
    return Sample(expected, wall, cpu)


def boto3_client(endpoint: str) -> Any:
    """The baseline's client: boto3 S3, path-style, checksums only when required."""
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(
            s3={"addressing_style": "path"}, request_checksum_calculation="when_required"
        ),
    )


def _boto3_loop(client: Any, limit: int) -> Sample:
    """List the buckets' objects and HEAD the first ``limit`` one at a time, counting the key."""
    cpu, wall = time.process_time(), time.perf_counter()
    headed = found = 0
    pages = client.get_paginator("list_objects_v2")
    for bucket in BUCKETS:
        for page in pages.paginate(Bucket=bucket, PaginationConfig={"PageSize": 1000}):
            for entry in page.get("Contents", ()):
                if headed == limit:
                    break
                head = client.head_object(Bucket=bucket, Key=entry["Key"])
                headed += 1
                found += head.get("SSEKMSKeyId") == SCAN_KEY
            if headed == limit:
                break
        if headed == limit:
            break
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if (headed, found) != (limit, limit):
        raise RuntimeError(f"boto3 loop: headed {headed}, found {found} (expected {limit})")
    return Sample(headed, wall, cpu)


def _helpers_cpu(helpers: dict[str, int]) -> dict[str, float | None]:
    return {name: cpu_seconds(pid) for name, pid in helpers.items()}


def _rounds(
    endpoint: str, objects: int, baseline_objects: int, rounds: int, helpers: dict[str, int]
) -> dict[str, list[dict[str, float | None]]]:
    """Both sides ``rounds`` times, alternating which goes first.

    ``helpers`` (name → pid: the server, the proxy) have their CPU per object recorded too.
    """
    client = boto3_client(endpoint)
    first = BUCKETS[0]
    client.head_object(Bucket=first, Key=object_keys(1)[0])  # load the models, open a connection
    samples: dict[str, list[dict[str, float | None]]] = {"scan": [], "boto3": []}
    try:
        for round_number in range(rounds):
            order = ("scan", "boto3") if round_number % 2 == 0 else ("boto3", "scan")
            for side in order:
                before = _helpers_cpu(helpers)
                if side == "scan":
                    sample = asyncio.run(_scan(endpoint, objects))
                else:
                    sample = _boto3_loop(client, baseline_objects)
                after = _helpers_cpu(helpers)
                record: dict[str, float | None] = {
                    "objects": sample.objects,
                    "wall_s": sample.wall_s,
                    "cpu_s": sample.cpu_s,
                    "per_s": sample.per_s,
                    "cpu_us": sample.cpu_us,
                }
                for name in helpers:
                    start, end = before[name], after[name]
                    record[f"{name}_cpu_us"] = (
                        None
                        if start is None or end is None
                        else (end - start) * 1e6 / sample.objects
                    )
                samples[side].append(record)
    finally:
        client.close()
    return samples


def run_child(root: Path, objects: int, rounds: int, proxy_baseline: int) -> dict[str, Any]:
    """Seed once, then the loopback case and the proxy case."""
    per_bucket = max(1, objects // len(BUCKETS))
    objects = per_bucket * len(BUCKETS)
    proxy_baseline = min(proxy_baseline, objects)
    root.mkdir(parents=True, exist_ok=True)
    with running_serve(root) as server:
        started = time.perf_counter()
        asyncio.run(seed(server.endpoint, root / "keys", per_bucket, SEED_IN_FLIGHT))
        seed_s = time.perf_counter() - started
        loopback = _rounds(server.endpoint, objects, objects, rounds, {"server": server.pid})
        with running_proxy(root, server.endpoint, PROXY_DELAY_S) as proxy_child:
            helpers = {"server": server.pid, "proxy": proxy_child.pid}
            proxy = _rounds(proxy_child.endpoint, objects, proxy_baseline, rounds, helpers)
    return {
        "objects": objects,
        "buckets": len(BUCKETS),
        "concurrency": SCAN_CONCURRENCY,
        "seed_s": seed_s,
        "seed_in_flight": SEED_IN_FLIGHT,
        "proxy_delay_ms": PROXY_DELAY_S * 1000,
        "proxy_baseline_objects": proxy_baseline,
        "loopback": loopback,
        "proxy": proxy,
        "load_average": os.getloadavg(),
    }


# ------------------------------------------------------------------------------------ the rows


def _series(result: dict[str, Any], case: str, side: str, field: str) -> list[float]:
    return [float(sample[field]) for sample in result[case][side] if sample.get(field) is not None]


def scan_rows(result: dict[str, Any]) -> list[Row]:
    """The table rows: objects/s (with the targets), client CPU and wall time per side."""
    n, m = result["objects"], result["proxy_baseline_objects"]
    buckets, c = result["buckets"], result["concurrency"]
    delay = f"{result['proxy_delay_ms']:g} ms proxy"
    rows = []
    for case, label, target, baseline_n in (
        ("loopback", "loopback", RatioAtLeast.of(2), n),
        ("proxy", delay, RatioAtLeast.of(10), m),
    ):
        on = f"over the first {baseline_n:,}" if baseline_n != n else "same objects"
        rows += [
            Row(
                "impact scan",
                f"objects/s, {label}: ImpactScan of {n:,} objects in {buckets} buckets, "
                f"{c} in flight (baseline: sequential boto3 list + head_object, {on})",
                "/s",
                _series(result, case, "scan", "per_s"),
                _series(result, case, "boto3", "per_s"),
                target,
            ),
            Row(
                "impact scan",
                f"client CPU per object, {label} (baseline: the boto3 loop)",
                "µs",
                _series(result, case, "scan", "cpu_us"),
                _series(result, case, "boto3", "cpu_us"),
            ),
            Row(
                "impact scan",
                f"server CPU per object, {label}, `kms-tui serve` (baseline: the boto3 loop)",
                "µs",
                _series(result, case, "scan", "server_cpu_us"),
                _series(result, case, "boto3", "server_cpu_us"),
            ),
            Row(
                "impact scan",
                f"wall time, {label}: the scan of {n:,} (baseline: the boto3 loop, {baseline_n:,})",
                "s",
                _series(result, case, "scan", "wall_s"),
                _series(result, case, "boto3", "wall_s"),
            ),
        ]
    rows.append(
        Row(
            "impact scan",
            f"seeding (once): KMS, keys, {buckets} SSE-KMS buckets, {n:,} 1 KiB PUTs, "
            f"{result['seed_in_flight']} in flight",
            "s",
            [result["seed_s"]],
        )
    )
    return rows


def main(argv: list[str]) -> int:
    """The measuring child (or, with ``--proxy``, the delaying proxy)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scan_cases")
    parser.add_argument("--proxy", action="store_true", help="run the delaying proxy (internal)")
    parser.add_argument("--upstream-port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=PROXY_DELAY_S * 1000)
    parser.add_argument("--root", type=Path, help="a fresh directory for the server's data")
    parser.add_argument("--objects", type=int, default=10_000, help="objects in all")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--proxy-baseline", type=int, default=1_000, help="objects the boto3 loop HEADs via proxy"
    )
    options = parser.parse_args(argv)
    if options.proxy:
        upstream = ("127.0.0.1", options.upstream_port)
        asyncio.run(serve_proxy(upstream, options.delay_ms / 1000))
        return 0
    if options.root is None:
        parser.error("--root is required")
    result = run_child(options.root, options.objects, options.rounds, options.proxy_baseline)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
