"""SIGKILL `kms-tui serve` during object PUTs; every acknowledged object must read back exactly.

Each round starts the server, checks everything acknowledged so far, runs PUT traffic (new
objects of random sizes, some spanning many blocks, and overwrites of one "hot" key per bucket)
into an SSE-S3 bucket, an SSE-KMS bucket and an unencrypted one, and SIGKILLs the server
mid-traffic. After each restart: every acknowledged object reads back byte for byte (its
SHA-256), an object whose overwrite was cut off is either the old or the new content (never a
mix, never missing), an object whose first PUT was cut off is absent or whole, the listing
holds exactly those objects, and no temp file is left anywhere in the data directory. Any answer
but 200 before the kill fails the test; the only failure tolerated is a connection error once the
kill was issued.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.fakes.serve import (
    ServeProcess,
    configure_local_kms,
    create_key,
    s3_client,
    start_serve,
)

ROUNDS = 6
_BUDGET_SECONDS = 13.0
BUCKETS = {"crash-sse-s3": ("AES256", None), "crash-kms": ("aws:kms", "crash-kms"),
           "crash-plain": (None, None)}  # fmt: skip


@dataclass
class Ledger:
    """Per (bucket, key): the digest acknowledged last, and the one in flight (if any)."""

    acked: dict[tuple[str, str], str] = field(default_factory=dict)
    inflight: dict[tuple[str, str], str] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    answers: int = 0
    killed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def payload(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.6:
        size = rng.randrange(0, 70_000)
    elif roll < 0.95:
        size = rng.randrange(70_000, 600_000)
    else:
        size = rng.randrange(1_500_000, 2_500_000)
    return rng.randbytes(size)


def traffic(s3: Any, ledger: Ledger, round_number: int, seed: int, stop: threading.Event) -> None:
    rng = random.Random(seed * 1000 + round_number)
    index = 0
    while not stop.is_set():
        bucket = rng.choice(sorted(BUCKETS))
        key = "hot" if rng.random() < 0.3 else f"r{round_number:02d}/obj-{index:04d}"
        body = payload(rng)
        digest = hashlib.sha256(body).hexdigest()
        with ledger.lock:
            ledger.inflight[(bucket, key)] = digest
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        except (BotoCoreError, ClientError) as err:
            if isinstance(err, ClientError) or not ledger.killed.is_set():
                with ledger.lock:
                    ledger.unexpected.append(f"PUT {bucket}/{key}: {err!r}")
            return
        with ledger.lock:
            ledger.answers += 1
            ledger.acked[(bucket, key)] = digest
            del ledger.inflight[(bucket, key)]
        index += 1


def verify(served: ServeProcess, s3: Any, ledger: Ledger, seed: int) -> None:
    temp = [p for p in served.data_dir.rglob("*") if ".tmp-" in p.name]
    assert temp == [], f"seed {seed}: temp files left: {temp}"
    present: dict[str, set[str]] = {}
    for bucket in BUCKETS:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        present[bucket] = {entry["Key"] for page in pages for entry in page.get("Contents", [])}
    expected_keys = set(ledger.acked) | set(ledger.inflight)
    for bucket, keys in present.items():
        extra = {key for key in keys if (bucket, key) not in expected_keys}
        assert not extra, f"seed {seed}: objects nobody wrote: {bucket} {extra}"
    for bucket, key in sorted(expected_keys):
        allowed = {d for d in (ledger.acked.get((bucket, key)), ledger.inflight.get((bucket, key)))}
        if key not in present[bucket]:
            assert (bucket, key) not in ledger.acked, (
                f"seed {seed}: acknowledged {bucket}/{key} lost"
            )
            continue
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        digest = hashlib.sha256(body).hexdigest()
        assert digest in allowed, f"seed {seed}: {bucket}/{key} is neither old nor new"
        ledger.acked[(bucket, key)] = digest  # what survived is now the durable version
    ledger.inflight.clear()


def start(data_dir: Path) -> tuple[ServeProcess, Any]:
    served = start_serve(data_dir)
    return served, s3_client(served.endpoint, served.access_key, served.secret_key)


@pytest.mark.slow
def test_sigkill_during_object_puts(tmp_path: Path) -> None:
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    data_dir, key_dir = tmp_path / "data", tmp_path / "keys"
    served, s3 = start(data_dir)
    endpoint, access, secret = served.endpoint, served.access_key, served.secret_key
    configure_local_kms(endpoint, access, secret, key_dir, default_key_id="crash-default")
    for name in ("crash-default", "crash-kms"):
        assert create_key(endpoint, access, secret, name).status_code == 200
    for bucket, (algorithm, key_id) in BUCKETS.items():
        s3.create_bucket(Bucket=bucket)
        if algorithm is not None:
            rule: dict[str, Any] = {"SSEAlgorithm": algorithm}
            if key_id is not None:
                rule["KMSMasterKeyID"] = key_id
            s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": rule}]
                },
            )
    ledger = Ledger()
    started = time.monotonic()
    rounds_done = cut_mid_put = 0
    try:
        for round_number in range(ROUNDS):
            if round_number:
                served, s3 = start(data_dir)
                verify(served, s3, ledger, seed)
            stop = threading.Event()
            ledger.killed.clear()
            worker = threading.Thread(
                target=traffic, args=(s3, ledger, round_number, seed, stop), daemon=True
            )
            worker.start()
            time.sleep(rng.uniform(0.3, 1.0))
            ledger.killed.set()
            stop.set()
            served.kill()
            worker.join(30)
            assert not worker.is_alive(), f"seed {seed}: traffic did not stop"
            assert ledger.unexpected == [], f"seed {seed}: {ledger.unexpected}"
            cut_mid_put += bool(ledger.inflight)  # the kill landed during a PUT
            rounds_done += 1
            if time.monotonic() - started > _BUDGET_SECONDS:
                break
        served, s3 = start(data_dir)
        verify(served, s3, ledger, seed)
    finally:
        served.stop()
    assert rounds_done >= 3, f"seed {seed}: only {rounds_done} rounds"
    assert cut_mid_put >= 1, f"seed {seed}: no kill landed during a PUT"
    assert ledger.answers >= 10, f"seed {seed}: only {ledger.answers} PUTs acknowledged"
    encrypted = [key for key in ledger.acked if key[0] != "crash-plain"]
    assert encrypted, f"seed {seed}: no encrypted object was written"
