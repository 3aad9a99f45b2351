"""In-process cases, one child process each: ``python -m benchmarks.inproc CASE ROOT KEYS ROUNDS``.

The embedded server runs in a background thread of this process (the console runs its own
embedded server in a child process instead; here the server's share can then be timed
in-process beside the client's), and the real client talks to it over loopback. Each case
prints one JSON object (lists of per-round figures) as the last line of stdout; the
orchestrator takes the medians.

- ``load``: ``iter_keys`` over every key; the same pages fetched with bare signed httpx and no
  parsing (server + transport); parsing alone over the captured answers; the server's own work
  (``KmsService.list_keys``, and the whole route handler that renders the page) in-process.
- ``client``: ``describe_key`` round trips against the same GET signed with botocore's signer
  directly and sent with a bare ``httpx`` call, in alternating blocks.
- ``datakeys``: ``generate_data_key`` with 16 requests in flight against the service's envelope
  function called in-process, alternating per round.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from benchmarks.dataset import DataSet, key_id_for
from kms_tui.api.admin import ADMIN_PREFIX, KmsAdminClient, decode_answer, gc_paused
from kms_tui.api.auth import SigV4Auth
from kms_tui.api.models import KeyPage
from kms_tui.embedded.server import EmbeddedServer

PAGE_SIZE = 1000  # what the Keys screen asks for
IN_FLIGHT = 16
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

Case = Callable[[EmbeddedServer, argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]]


class _CaseProfile:
    """Profiles the case side (never the baseline) of one round when given a report path."""

    def __init__(self, report: str | None) -> None:
        self.report = report
        self._profiler: Any = None
        self.done = report is None

    def __enter__(self) -> None:
        if not self.done:
            from pyinstrument import Profiler

            self._profiler = Profiler(async_mode="enabled")
            self._profiler.start()

    def __exit__(self, *exc_info: object) -> None:
        if self._profiler is not None:
            self._profiler.stop()
            assert self.report is not None
            text = self._profiler.output_text(unicode=True, color=False)
            Path(self.report).write_text(text)
            self._profiler = None
            self.done = True


def _client(server: EmbeddedServer) -> KmsAdminClient:
    return KmsAdminClient(server.endpoint, server.access_key, server.secret_key)


# --------------------------------------------------------------------------------- scale: load


def _list_request(marker: str | None) -> Any:
    """The request value the route handler sees for one page (for the server-share timing)."""
    from kms_tui.embedded.http import HttpRequest

    query: tuple[tuple[str, str], ...] = (("limit", str(PAGE_SIZE)),)
    if marker:
        query += (("marker", marker),)
    raw_query = "&".join(f"{name}={quote(value, safe='')}" for name, value in query)
    return HttpRequest(
        method="GET",
        path="/kms/keys",
        raw_path=ADMIN_PREFIX + "/kms/keys",
        query=query,
        raw_query=raw_query,
        headers=(),
        body=b"",
        request_id="BENCH",
    )


async def case_load(server: EmbeddedServer, options: argparse.Namespace) -> dict[str, Any]:
    """Where the time of a full listing goes: total, server+transport, parsing, server."""
    from kms_tui.embedded import admin_keys

    service = server.service
    figures: dict[str, list[float]] = {
        "total_s": [],
        "fetch_s": [],
        "parse_s": [],
        "json_s": [],
        "server_list_keys_s": [],
        "server_handler_s": [],
        "server_records_s": [],
    }
    keys_seen = 0
    async with _client(server) as client:
        await client.list_keys(limit=1)  # connect and warm up
        bare = httpx.AsyncClient(
            base_url=server.endpoint + ADMIN_PREFIX,
            auth=SigV4Auth(server.access_key, server.secret_key),
        )
        try:
            await bare.get("/kms/keys", params={"limit": "1"})
            for _ in range(options.rounds):
                # 1. The whole client listing, as the Keys screen drives it.
                markers: list[str | None] = [None]
                keys_seen = 0
                with options.case_profile:
                    started = time.perf_counter()
                    async for page in client.iter_keys(page_size=PAGE_SIZE):
                        keys_seen += len(page.keys)
                        if page.truncated:
                            markers.append(page.next_marker)
                    figures["total_s"].append(time.perf_counter() - started)

                # 2. The same pages, signed, fetched with bare httpx, nothing parsed.
                responses: list[httpx.Response] = []
                started = time.perf_counter()
                for marker in markers:
                    params = {"limit": str(PAGE_SIZE)}
                    if marker:
                        params["marker"] = marker
                    responses.append(await bare.get("/kms/keys", params=params))
                figures["fetch_s"].append(time.perf_counter() - started)

                # 3. Parsing alone over the captured answers (JSON, then the typed models), as
                # the client parses a listing page: with the cyclic collector held.
                started = time.perf_counter()
                for response in responses:
                    with gc_paused():
                        KeyPage.from_wire(decode_answer(response))
                figures["parse_s"].append(time.perf_counter() - started)
                started = time.perf_counter()
                for response in responses:
                    json.loads(response.content)
                figures["json_s"].append(time.perf_counter() - started)

                # 4. The server's share, in-process: the service call and the whole handler.
                started = time.perf_counter()
                for marker in markers:
                    service.keys.list_keys(marker, PAGE_SIZE)
                figures["server_list_keys_s"].append(time.perf_counter() - started)
                started = time.perf_counter()
                for marker in markers:
                    service.keys.list_records(marker, PAGE_SIZE)
                figures["server_records_s"].append(time.perf_counter() - started)
                started = time.perf_counter()
                for marker in markers:
                    admin_keys.list_keys(service, _list_request(marker))
                figures["server_handler_s"].append(time.perf_counter() - started)
        finally:
            await bare.aclose()
    return {"keys": keys_seen, "pages": len(markers), **figures}


# ------------------------------------------------------------------------------ client overhead


def _bare_signed_get(server: EmbeddedServer) -> Callable[[httpx.AsyncClient, str], Awaitable[Any]]:
    """The baseline: botocore's SigV4 signer used directly, then one bare httpx GET."""
    from botocore.auth import SigV4Auth as BotocoreSigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signer = BotocoreSigV4Auth(Credentials(server.access_key, server.secret_key), "s3", "us-east-1")

    async def get(http: httpx.AsyncClient, key_id: str) -> httpx.Response:
        url = f"{server.endpoint}{ADMIN_PREFIX}/kms/keys/{key_id}"
        request = AWSRequest(
            method="GET", url=url, data=b"", headers={"x-amz-content-sha256": EMPTY_SHA256}
        )
        signer.add_auth(request)
        response = await http.get(url, headers=dict(request.headers.items()))
        if response.status_code != 200:
            raise RuntimeError(f"bare signed GET answered {response.status_code}")
        return response

    return get


async def case_client(server: EmbeddedServer, options: argparse.Namespace) -> dict[str, Any]:
    """Per-call round-trip time of describe_key versus the bare signed GET, interleaved."""
    key_ids = [key_id_for(index) for index in range(min(50, options.keys))]
    block = options.block
    case_ms: list[float] = []
    base_ms: list[float] = []
    bare_get = _bare_signed_get(server)
    async with _client(server) as client, httpx.AsyncClient() as http:
        for key_id in key_ids:  # warm both connections and the server's metadata cache
            await client.describe_key(key_id)
            await bare_get(http, key_id)
        for _ in range(options.rounds):
            case_times: list[float] = []
            base_times: list[float] = []
            for block_number in range(options.blocks):
                for turn in ("case", "base") if block_number % 2 == 0 else ("base", "case"):
                    if turn == "case":
                        with options.case_profile:
                            for call in range(block):
                                started = time.perf_counter()
                                await client.describe_key(key_ids[call % len(key_ids)])
                                case_times.append(time.perf_counter() - started)
                    else:
                        for call in range(block):
                            started = time.perf_counter()
                            await bare_get(http, key_ids[call % len(key_ids)])
                            base_times.append(time.perf_counter() - started)
            case_ms.append(statistics.median(case_times) * 1000)
            base_ms.append(statistics.median(base_times) * 1000)
    return {"calls_per_round": block * options.blocks, "case_ms": case_ms, "baseline_ms": base_ms}


# ----------------------------------------------------------------------------------- data keys


async def case_datakeys(server: EmbeddedServer, options: argparse.Namespace) -> dict[str, Any]:
    """Data keys per second over HTTP (16 in flight) versus the envelope function in-process."""
    key_id = key_id_for(0)
    service = server.service
    case_rate: list[float] = []
    base_rate: list[float] = []
    requests = options.requests
    async with _client(server) as client:
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def one() -> None:
            async with gate:
                await client.generate_data_key(key_id)

        await asyncio.gather(*(one() for _ in range(IN_FLIGHT)))  # open the connections
        for round_number in range(options.rounds):
            for turn in ("case", "base") if round_number % 2 == 0 else ("base", "case"):
                if turn == "case":
                    with options.case_profile:
                        started = time.perf_counter()
                        await asyncio.gather(*(one() for _ in range(requests)))
                        case_rate.append(requests / (time.perf_counter() - started))
                else:
                    calls = requests * options.inproc_factor
                    started = time.perf_counter()
                    for _ in range(calls):
                        service.keys.generate_data_key(key_id, "Aes256", {})
                    base_rate.append(calls / (time.perf_counter() - started))
    return {"requests_per_round": requests, "case_per_s": case_rate, "baseline_per_s": base_rate}


CASES: dict[str, Case] = {"load": case_load, "client": case_client, "datakeys": case_datakeys}


def _run(options: argparse.Namespace) -> dict[str, Any]:
    dataset = DataSet(Path(options.root), options.keys)
    server = EmbeddedServer(dataset.server_dir, log_file=dataset.server_log)
    started = time.perf_counter()
    server.start()
    server_start_s = time.perf_counter() - started
    try:
        if not server.service.is_running:
            raise RuntimeError("the seeded server did not come back Running; see its log")
        case = CASES[options.case]
        if options.profile:  # an extra, unmeasured round: the profiler slows what it watches
            profiled = argparse.Namespace(**vars(options))
            profiled.rounds = 1
            profiled.case_profile = _CaseProfile(options.profile)
            asyncio.run(case(server, profiled))
        options.case_profile = _CaseProfile(None)
        result: dict[str, Any] = asyncio.run(case(server, options))
    finally:
        server.stop()
    result["server_start_s"] = server_start_s
    return result


def main(argv: list[str]) -> int:
    """Run one case and print its JSON on the last line of stdout."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inproc")
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("root")
    parser.add_argument("keys", type=int)
    parser.add_argument("rounds", type=int)
    parser.add_argument("--block", type=int, default=50, help="client: calls per block")
    parser.add_argument("--blocks", type=int, default=4, help="client: blocks per round")
    parser.add_argument("--requests", type=int, default=400, help="datakeys: per round")
    parser.add_argument("--inproc-factor", type=int, default=10, help="datakeys: baseline calls")
    parser.add_argument(
        "--profile", metavar="PATH", help="profile the case side of round 1 (pyinstrument text)"
    )
    options = parser.parse_args(argv)
    result = _run(options)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
