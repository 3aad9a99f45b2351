"""Client CPU per S3 HEAD: the chosen transport against the one it replaced, in the same run.

An impact scan HEADs every object of every bucket with 16-32 requests in flight, so what one
HEAD costs the console's process is what matters. ``python -m benchmarks.s3_cases`` (run by
``python -m benchmarks --only s3``) starts a stub S3 in a **separate process** that answers every
request with a fixed HEAD answer (SSE-KMS headers, ETag, user metadata), so the client's
``time.process_time()`` holds no server work. Per round, each variant sends the same HEADs,
after a warm-up that opens its connections, in an order that rotates between rounds:

- ``client``: the chosen transport, ``BucketEncryptionClient.head_object`` (httpx with the admin
  client's SigV4 auth, connections spread over lanes; the typed model parsed), N in flight.
- ``botocore_threads``: the transport it replaced, botocore's S3 client ``head_object`` run
  through ``asyncio.to_thread`` on N worker threads (a pool of N connections), N in flight.
- ``httpx_one_pool``: httpx + the same SigV4 auth + the same parsing through one pool of N
  connections, N in flight: what the lanes save.
- ``client_sequential`` and ``botocore_sequential``: one at a time, for the per-request floor.

The child prints one JSON object on its last stdout line; :func:`s3_rows` turns it into rows.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.report import Row, Target

__all__ = ["run_child", "s3_rows"]

BUCKET = "bench-bucket"
ACCESS_KEY = "bench-access"
SECRET_KEY = "bench-secret-key"
_HEAD_ANSWER = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Length: 1048576\r\n"
    b'ETag: "0123456789abcdef0123456789abcdef"\r\n'
    b"Last-Modified: Fri, 02 Jan 2026 03:04:05 GMT\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"x-amz-server-side-encryption: aws:kms\r\n"
    b"x-amz-server-side-encryption-aws-kms-key-id: bench-key\r\n"
    b"x-amz-meta-owner: bench\r\n"
    b"x-amz-request-id: 17F0A0B0C0D0E0F0\r\n"
    b"\r\n"
)
VARIANTS = (
    "client",
    "botocore_threads",
    "httpx_one_pool",
    "client_sequential",
    "botocore_sequential",
)


# ------------------------------------------------------------------------------------ the stub


class _StubProtocol(asyncio.Protocol):
    """Answers every request head with the same HEAD answer, keeping the connection open."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            assert self.transport is not None
            self.transport.write(_HEAD_ANSWER)  # HEAD requests carry no body


async def _serve_stub() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_StubProtocol, "127.0.0.1", 0)
    sys.stdout.write(f"{server.sockets[0].getsockname()[1]}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


def _start_stub() -> tuple[subprocess.Popen[str], str]:
    stub = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.s3_cases", "--stub"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert stub.stdout is not None
    port = int(stub.stdout.readline())
    return stub, f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------------- the variants

Heads = Callable[[int], Awaitable[None]]  # send this many HEADs


def _keys(count: int) -> list[str]:
    return [f"objects/{index:07d}.bin" for index in range(count)]


async def _fan_out(call: Callable[[str], Awaitable[object]], count: int, in_flight: int) -> None:
    gate = asyncio.Semaphore(in_flight)

    async def one(key: str) -> None:
        async with gate:
            await call(key)

    await asyncio.gather(*(one(key) for key in _keys(count)))


def _botocore_client(endpoint: str, pool: int) -> Any:
    """botocore's S3 client configured as the replaced BucketEncryptionClient built it."""
    from botocore.config import Config
    from botocore.session import Session

    return Session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            max_pool_connections=pool,
            retries={"total_max_attempts": 1, "mode": "standard"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


async def _measure(variant: str, endpoint: str, count: int, in_flight: int) -> tuple[float, float]:
    """(client CPU µs per HEAD, HEADs per second) of one variant over ``count`` HEADs."""
    from kms_tui.api.buckets import BucketEncryptionClient

    closers: list[Callable[[], Awaitable[None]]] = []
    sequential = variant.endswith("_sequential")
    lanes_in_flight = 1 if sequential else in_flight
    if variant in ("client", "client_sequential"):
        client = BucketEncryptionClient(endpoint, ACCESS_KEY, SECRET_KEY, retries=0)
        closers.append(client.aclose)

        async def call(key: str) -> object:
            return await client.head_object(BUCKET, key)

    elif variant == "httpx_one_pool":
        import httpx

        from kms_tui.api.auth import SigV4Auth
        from kms_tui.api.s3_http import object_path
        from kms_tui.api.s3_models import ObjectHead

        http = httpx.AsyncClient(
            base_url=endpoint,
            auth=SigV4Auth(ACCESS_KEY, SECRET_KEY),
            limits=httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight),
        )
        closers.append(http.aclose)

        async def call(key: str) -> object:
            answer = await http.head(object_path(BUCKET, key))
            return ObjectHead.from_headers(BUCKET, key, answer.headers)

    else:
        boto = _botocore_client(endpoint, lanes_in_flight)
        loop = asyncio.get_running_loop()
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=lanes_in_flight)
        loop.set_default_executor(executor)

        if sequential:

            async def call(key: str) -> object:
                return boto.head_object(Bucket=BUCKET, Key=key)  # on the loop's own thread

        else:

            async def call(key: str) -> object:
                return await asyncio.to_thread(boto.head_object, Bucket=BUCKET, Key=key)

        async def close_boto() -> None:
            boto.close()

        closers.append(close_boto)

    try:
        await _fan_out(call, 2 * lanes_in_flight, lanes_in_flight)  # open the connections
        cpu, wall = time.process_time(), time.perf_counter()
        await _fan_out(call, count, lanes_in_flight)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        for close in closers:
            await close()
    return cpu * 1e6 / count, count / wall


def run_child(rounds: int, heads: int, in_flight: int) -> dict[str, Any]:
    """Every variant, ``rounds`` times, against one stub process."""
    stub, endpoint = _start_stub()
    cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    rate: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    try:
        for round_number in range(rounds):
            shift = round_number % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                sequential = variant.endswith("_sequential")
                count = max(1, heads // 4) if sequential else heads
                per_head, per_second = asyncio.run(_measure(variant, endpoint, count, in_flight))
                cpu[variant].append(per_head)
                rate[variant].append(per_second)
    finally:
        stub.kill()
        stub.wait()
    return {"heads": heads, "in_flight": in_flight, "cpu_us": cpu, "per_s": rate}


# ------------------------------------------------------------------------------------ the rows


def s3_rows(result: dict[str, Any]) -> list[Row]:
    """The table rows: CPU per HEAD and HEADs per second, chosen transport vs the replaced one."""
    cpu, rate = result["cpu_us"], result["per_s"]
    n = result["in_flight"]
    return [
        Row(
            "s3 HEAD",
            f"client CPU per HEAD, {n} in flight: httpx + SigV4 lanes "
            f"(baseline: botocore S3 client in {n} threads)",
            "µs",
            cpu["client"],
            cpu["botocore_threads"],
            Target.ratio_at_most(0.75),
        ),
        Row(
            "s3 HEAD",
            f"HEADs per second, {n} in flight, stub server in its own process "
            "(baseline: botocore in threads)",
            "/s",
            rate["client"],
            rate["botocore_threads"],
            Target.report_only("report the ratio"),
        ),
        Row(
            "s3 HEAD",
            f"client CPU per HEAD, {n} in flight: one httpx pool of {n} "
            "(baseline: the client's lanes)",
            "µs",
            cpu["httpx_one_pool"],
            cpu["client"],
            Target.report_only("report the ratio"),
        ),
        Row(
            "s3 HEAD",
            "client CPU per HEAD, one at a time (baseline: botocore, one at a time)",
            "µs",
            cpu["client_sequential"],
            cpu["botocore_sequential"],
            Target.report_only("report the ratio"),
        ),
    ]


def main(argv: list[str]) -> int:
    """The measuring child (or, with ``--stub``, the stub server)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.s3_cases")
    parser.add_argument("--stub", action="store_true", help="serve the stub S3 (internal)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--heads", type=int, default=2000, help="HEADs per variant per round")
    parser.add_argument("--in-flight", type=int, default=16)
    options = parser.parse_args(argv)
    if options.stub:
        asyncio.run(_serve_stub())
        return 0
    result = run_child(options.rounds, options.heads, options.in_flight)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
