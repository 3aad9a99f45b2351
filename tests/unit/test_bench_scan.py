"""The impact-scan benchmark's own parts: its delaying proxy, its at-least target, its rows."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.scan_cases import RatioAtLeast, object_keys, scan_rows, start_proxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def test_proxy_delays_each_chunk_once_and_keeps_the_order() -> None:
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    upstream = echo.sockets[0].getsockname()[:2]
    proxy = await start_proxy(upstream, 0.05)
    port = proxy.sockets[0].getsockname()[1]
    async with echo, proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        for part in (b"one ", b"two ", b"three"):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.01)
        received = b""
        while len(received) < len(b"one two three"):
            received += await asyncio.wait_for(reader.read(100), 5)
        elapsed = time.monotonic() - started
        writer.close()
        await writer.wait_closed()
    assert received == b"one two three"
    assert 0.05 <= elapsed < 0.05 * 3  # held once per chunk, not once per chunk in turn


async def test_proxy_without_delay_forwards_both_ways() -> None:
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    proxy = await start_proxy(echo.sockets[0].getsockname()[:2], 0.0)
    async with echo, proxy:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", proxy.sockets[0].getsockname()[1]
        )
        writer.write(b"x" * 200_000)
        await writer.drain()
        writer.write_eof()
        received = await asyncio.wait_for(reader.read(-1), 5)
        writer.close()
    assert received == b"x" * 200_000


def test_ratio_at_least() -> None:
    target = RatioAtLeast.of(2)
    assert target.text == "≥ 2×"
    assert target.met(200.0, 100.0) is True
    assert target.met(199.0, 100.0) is False
    assert target.met(None, 100.0) is False and target.met(1.0, 0.0) is False


def _sample(per_s: float, objects: int) -> dict[str, Any]:
    wall = objects / per_s
    return {
        "objects": objects,
        "wall_s": wall,
        "cpu_s": wall / 2,
        "per_s": per_s,
        "cpu_us": wall / 2 * 1e6 / objects,
        "server_cpu_us": 500.0,
    }


def test_rows_compare_objects_per_second_against_the_targets() -> None:
    result = {
        "objects": 10_000,
        "buckets": 10,
        "concurrency": 32,
        "seed_s": 40.0,
        "seed_in_flight": 16,
        "proxy_delay_ms": 10.0,
        "proxy_baseline_objects": 1_000,
        "loopback": {
            "scan": [_sample(rate, 10_000) for rate in (500, 520, 480)],
            "boto3": [_sample(rate, 10_000) for rate in (200, 210, 190)],
        },
        "proxy": {
            "scan": [_sample(rate, 10_000) for rate in (900, 950, 1000)],
            "boto3": [_sample(rate, 1_000) for rate in (80, 85, 90)],
        },
    }
    rows = scan_rows(result)
    rates = [row for row in rows if row.unit == "/s"]
    assert [row.ratio for row in rates] == [500 / 200, 950 / 85]
    assert [row.met for row in rates] == [True, True]
    assert "over the first 1,000" in rates[1].metric
    assert rows[-1].case_samples == [40.0] and rows[-1].met is None


def test_object_keys_sort_in_seeding_order() -> None:
    keys = object_keys(1_000)
    assert keys == sorted(keys) and len(set(keys)) == 1_000
