"""SIGKILL `kms-tui serve` during key traffic; what was acknowledged must survive intact.

Each round starts the server, checks everything acknowledged so far, runs key traffic (create,
destroy, schedule deletion, generate data keys) and SIGKILLs the server mid-traffic. After each
restart: every acknowledged key is listed and describable, destroyed keys stay gone, scheduled
ones stay PendingDeletion, and every acknowledged data key still decrypts (``/kms/decrypt``) to the
plaintext it was generated with, so a key's material survived, not just its name. Every answer
of the traffic is counted: anything but a 200 is a failure, and so is a connection error before
the kill; the only failure tolerated is a connection error once the kill was issued.
"""

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
    data_keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # blob -> (key, plain)
    answers: int = 0
    unexpected: list[str] = field(default_factory=list)  # non-200, or a failure before the kill
    killed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, method: str, path: str, answer: httpx.Response) -> bool:
        """Count an answer of the traffic; True when it is the 200 every call expects."""
        with self.lock:
            self.answers += 1
            if answer.status_code != 200:
                self.unexpected.append(f"{method} {path} -> {answer.status_code} {answer.text}")
        return answer.status_code == 200


def call(served: ServeProcess, method: str, path: str, payload: object = None) -> httpx.Response:
    return admin_call(
        served.endpoint, served.access_key, served.secret_key, method, path, payload, timeout=10
    )


def traffic(served: ServeProcess, ledger: Ledger, round_number: int, stop: threading.Event) -> None:
    """Create keys; a data key under every third, destroy every third, schedule every third."""
    index = 0

    def send(method: str, path: str, payload: object) -> httpx.Response | None:
        answer = call(served, method, path, payload)
        return answer if ledger.answered(method, path, answer) else None

    try:
        while not stop.is_set():
            key_id = f"crash-{round_number:02d}-{index:04d}"
            if send("POST", "/kms/keys", {"tags": {"name": key_id}}) is None:
                return  # an unexpected answer, recorded; nothing below would mean anything
            with ledger.lock:
                ledger.created.add(key_id)
            if index % 3 == 0:
                body: dict[str, object] = {"key_id": key_id, "key_spec": "Aes256"}
                answer = send("POST", "/kms/generate-data-key", body)
                if answer is not None:
                    data_key = answer.json()
                    with ledger.lock:
                        blob = data_key["ciphertext_blob"]
                        ledger.data_keys[blob] = (key_id, data_key["plaintext_key"])
            elif index % 3 == 1:
                body = {"key_id": key_id, "force_immediate": True, "confirm_key_id": key_id}
                with ledger.lock:
                    ledger.destroy_sent.add(key_id)  # its outcome is unknown until acknowledged
                if send("DELETE", "/kms/keys/delete", body) is not None:
                    with ledger.lock:
                        ledger.destroyed.add(key_id)
            else:
                body = {"key_id": key_id, "pending_window_in_days": 7}
                if send("DELETE", "/kms/keys/delete", body) is not None:
                    with ledger.lock:
                        ledger.scheduled.add(key_id)
            index += 1
    except httpx.TransportError as err:
        if not ledger.killed.is_set():  # only the kill may cut a connection
            with ledger.lock:
                ledger.unexpected.append(f"connection error before the kill: {err!r}")


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
    for blob, (key_id, plaintext) in sorted(ledger.data_keys.items()):
        answer = call(served, "POST", "/kms/decrypt", {"ciphertext_blob": blob})
        assert answer.status_code == 200, f"seed {seed}: data key under {key_id}: {answer.text}"
        decrypted = answer.json()
        assert (decrypted["key_id"], decrypted["plaintext"]) == (key_id, plaintext), f"seed {seed}"


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
            ledger.killed.set()
            served.kill()
            stop.set()
            worker.join(30)
            assert not worker.is_alive()
            assert ledger.unexpected == [], f"seed {seed}: {ledger.unexpected}"
            ledger.killed.clear()
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
    assert ledger.destroyed and ledger.scheduled and ledger.data_keys
    assert ledger.answers > len(ledger.created), f"seed {seed}: {ledger.answers} answers counted"
