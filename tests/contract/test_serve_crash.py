"""SIGKILL `kms-tui serve` during key traffic; what was acknowledged must survive intact."""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.fakes.serve import ServeProcess, admin_call, configure_local_kms, start_serve

ROUNDS = 10
_BUDGET_SECONDS = 50.0


@dataclass
class Ledger:
    """What the server acknowledged, filled in by the traffic thread."""

    created: set[str] = field(default_factory=set)
    destroy_sent: set[str] = field(default_factory=set)
    destroyed: set[str] = field(default_factory=set)
    scheduled: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def call(served: ServeProcess, method: str, path: str, payload: object = None) -> httpx.Response:
    return admin_call(
        served.endpoint, served.access_key, served.secret_key, method, path, payload, timeout=10
    )


def traffic(served: ServeProcess, ledger: Ledger, round_number: int, stop: threading.Event) -> None:
    """Create keys; destroy every third at once and schedule every third for deletion."""
    index = 0
    try:
        while not stop.is_set():
            key_id = f"crash-{round_number:02d}-{index:04d}"
            answer = call(served, "POST", "/kms/keys", {"tags": {"name": key_id}})
            if answer.status_code == 200:
                with ledger.lock:
                    ledger.created.add(key_id)
            if index % 3 == 1:
                body = {"key_id": key_id, "force_immediate": True, "confirm_key_id": key_id}
                with ledger.lock:
                    ledger.destroy_sent.add(key_id)  # its outcome is unknown until acknowledged
                if call(served, "DELETE", "/kms/keys/delete", body).status_code == 200:
                    with ledger.lock:
                        ledger.destroyed.add(key_id)
            elif index % 3 == 2:
                body = {"key_id": key_id, "pending_window_in_days": 7}
                if call(served, "DELETE", "/kms/keys/delete", body).status_code == 200:
                    with ledger.lock:
                        ledger.scheduled.add(key_id)
            index += 1
    except httpx.TransportError:
        return  # the server was killed under us


def listed_keys(served: ServeProcess) -> dict[str, str]:
    """Every key id with its status, over all pages; asserts none is unreadable."""
    found: dict[str, str] = {}
    marker = ""
    while True:
        answer = call(served, "GET", f"/kms/keys?limit=1000&marker={marker}")
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert "unreadable_key_ids" not in page, page.get("unreadable_key_ids")
        found.update({key["key_id"]: key["status"] for key in page["keys"]})
        if not page["truncated"]:
            return found
        marker = page["next_marker"]


def verify(served: ServeProcess, ledger: Ledger, key_dir: Path, seed: int) -> None:
    status = call(served, "GET", "/kms/service-status").json()["status"]
    assert status == "Running", f"seed {seed}: {status}"
    listed = listed_keys(served)
    temp_files = [name for name in os.listdir(key_dir) if ".tmp-" in name]
    assert temp_files == [], f"seed {seed}: temp files left: {temp_files}"
    for key_id in sorted(ledger.created - ledger.destroyed):
        if key_id in ledger.destroy_sent and key_id not in listed:
            continue  # destroyed, but the server died before it could say so
        assert key_id in listed, f"seed {seed}: acknowledged key {key_id} lost"
        described = call(served, "GET", f"/kms/keys/{key_id}")
        assert described.status_code == 200, f"seed {seed}: {key_id}: {described.text}"
    for key_id in sorted(ledger.destroyed):
        assert key_id not in listed, f"seed {seed}: destroyed key {key_id} came back"
    for key_id in sorted(ledger.scheduled - ledger.destroyed):
        assert listed[key_id] == "PendingDeletion", f"seed {seed}: {key_id} {listed[key_id]}"


@pytest.mark.slow
def test_sigkill_during_key_traffic(tmp_path: Path) -> None:
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    data_dir, key_dir = tmp_path / "data", tmp_path / "keys"
    ledger = Ledger()
    served = start_serve(data_dir, "--allow-immediate-deletion")
    configure_local_kms(served.endpoint, served.access_key, served.secret_key, key_dir)
    started = time.monotonic()
    rounds_done = 0
    for round_number in range(ROUNDS):
        if round_number:
            served = start_serve(data_dir, "--allow-immediate-deletion")
        try:
            verify(served, ledger, key_dir, seed)
            stop = threading.Event()
            worker = threading.Thread(target=traffic, args=(served, ledger, round_number, stop))
            worker.start()
            time.sleep(rng.uniform(0.05, 0.6))
            served.kill()
            stop.set()
            worker.join(30)
            assert not worker.is_alive()
        finally:
            served.close()
        rounds_done += 1
        if time.monotonic() - started > _BUDGET_SECONDS:
            break
    final = start_serve(data_dir, "--allow-immediate-deletion")
    try:
        verify(final, ledger, key_dir, seed)
    finally:
        final.stop()
    assert rounds_done >= 3
    assert len(ledger.created) > rounds_done, f"seed {seed}: too little traffic to mean much"
    assert ledger.destroyed and ledger.scheduled
