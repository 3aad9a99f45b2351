"""Crash safety: a writer SIGKILLed at random moments never loses an acknowledged write."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kms_tui.embedded.keystore import LocalKeyStore

MASTER = "crash test master key"
ROUNDS = 15
REPO_ROOT = Path(__file__).resolve().parents[2]

# The child prints "begin <op> <id>" before a store call and "<op> <id> <revision>" only after
# it has returned, so the parent knows which single operation the kill may have cut short.
_WRITER = textwrap.dedent(
    """
    import dataclasses, random, sys
    from pathlib import Path
    from kms_tui.embedded.keystore import KeyRecord, LocalKeyStore

    key_dir, master, round_no = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    store = LocalKeyStore(key_dir, master)
    store.open()
    rng = random.Random(round_no)
    mine = []
    print("ready", flush=True)
    for n in range(100000):
        roll = rng.random()
        if mine and roll < 0.25:
            key_id = rng.choice(mine)
            current = store.get(key_id)
            revision = int(current.description) + 1
            print("begin R", key_id, flush=True)
            store.replace(dataclasses.replace(current, description=str(revision)))
            print("R", key_id, revision, flush=True)
        elif mine and roll < 0.4:
            key_id = mine.pop(rng.randrange(len(mine)))
            print("begin D", key_id, flush=True)
            store.destroy(key_id)
            print("D", key_id, 0, flush=True)
        else:
            key_id = f"k-{round_no}-{n}"
            record = KeyRecord(
                key_id=key_id,
                material=bytes([n % 256]) * 32,
                description="0",
                metadata={"round": str(round_no)},
                created_at="2026-01-01T00:00:00+00:00[UTC]",
            )
            print("begin C", key_id, flush=True)
            store.create(record)
            mine.append(key_id)
            print("C", key_id, 0, flush=True)
    """
)


def _run_and_kill(
    key_dir: Path, round_no: int, delay: float
) -> tuple[list[tuple[str, str, int]], tuple[str, str] | None]:
    """Run one writer, SIGKILL it; returns its acknowledged ops and the one it was inside."""
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(key_dir), MASTER, str(round_no)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first == "ready\n", child.stderr.read() if child.stderr else first
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        # Read through the same buffered file readline() used: communicate() would read the
        # pipe beneath it and drop what readline() had already buffered (acknowledgements).
        rest = child.stdout.read()
        errors = child.stderr.read() if child.stderr else ""
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, errors
    acknowledged: list[tuple[str, str, int]] = []
    in_flight: tuple[str, str] | None = None
    for line in rest.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "begin":
            in_flight = (parts[1], parts[2])
        elif len(parts) == 3:
            acknowledged.append((parts[0], parts[1], int(parts[2])))
            in_flight = None
    return acknowledged, in_flight


@pytest.mark.slow
def test_sigkilled_writer_never_loses_acknowledged_writes(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    rng = random.Random(20260823)
    live: dict[str, int] = {}  # acknowledged-created and not destroyed -> last acked revision
    destroyed: set[str] = set()
    total_acks = 0
    for round_no in range(ROUNDS):
        acknowledged, in_flight = _run_and_kill(key_dir, round_no, rng.uniform(0.02, 0.35))
        total_acks += len(acknowledged)
        for op, key_id, revision in acknowledged:
            if op == "C":
                live[key_id] = 0
            elif op == "R":
                live[key_id] = revision
            else:
                live.pop(key_id)
                destroyed.add(key_id)

        store = LocalKeyStore(key_dir, MASTER)
        store.open()
        assert store.unreadable_key_ids == []
        assert [p.name for p in key_dir.iterdir() if ".tmp-" in p.name] == []
        present = set(store.key_ids())
        if in_flight is not None and in_flight[0] == "D" and in_flight[1] not in present:
            live.pop(in_flight[1])  # the destroy the kill interrupted had finished
            destroyed.add(in_flight[1])
        assert set(live) <= present
        assert not (destroyed & present)
        for key_id, revision in live.items():
            record = store.get(key_id)
            number = int(key_id.rsplit("-", 1)[1])
            assert record.material == bytes([number % 256]) * 32
            # a replace cut short by the kill may or may not have landed, never gone backwards
            assert int(record.description or "-1") >= revision
        # writes cut short may have landed: adopt what is on disk as the new baseline
        for key_id in present - set(live):
            live[key_id] = int(store.get(key_id).description or "0")
        store.close()
    assert total_acks > ROUNDS  # the writer really made progress between kills
