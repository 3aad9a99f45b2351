"""Many clients change the same keys at once; every acknowledged change must survive intact.

Writers (asyncio tasks in the test's loop, threads with their own loops, and one separate
process) race to create a small set of shared keys, tag and untag them, rewrite their
descriptions, schedule and cancel their deletion, disable and enable them, and wrap data keys
under them, over real loopback sockets. Each writer logs every call with its start and end on
the system-wide monotonic clock and whether the server acknowledged it (2xx).

What is provable from those logs, and asserted:

* each shared key was created by exactly one acknowledged create (the others got 409);
* every acknowledged create of a writer's own key exists at the end;
* tag ``w<N>`` is written only by writer N, whose calls are sequential: its final value is
  exactly writer N's last acknowledged tag/untag of it (a lost read-modify-write shows here);
* for fields every writer writes (description, tag ``shared``, status), the final value comes
  from an acknowledged write that no other acknowledged write started after (real-time order;
  a register cannot end on a write that was already overtaken);
* every acknowledged data key still decrypts to its plaintext;
* no temp file is left, and every record re-read from disk by a fresh ``LocalKeyStore`` parses,
  decrypts and matches what the server reported.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.errors import KmsError
from kms_tui.api.models import KeyMetadata
from kms_tui.embedded.config import parse_configure_body
from kms_tui.embedded.http import HttpRequest
from kms_tui.embedded.keystore import LocalKeyStore
from kms_tui.embedded.s3_routes import handle_s3
from kms_tui.embedded.service_keys import KmsOpError
from tests.fakes.embedded import (
    ACCESS_KEY,
    MASTER_KEY,
    InProcessServer,
    admin_client,
    local_config,
    running_server,
)

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_KEYS = ("shared-a", "shared-b", "shared-c")
ASYNC_WRITERS = 5
THREAD_WRITERS = 2
PROCESS_WRITER = ASYNC_WRITERS + THREAD_WRITERS  # index of the writer in another process
OPS_PER_WRITER = 60
STATE_AFTER = {
    "create": "Enabled",
    "schedule": "PendingDeletion",
    "cancel": "Enabled",
    "disable": "Disabled",
    "enable": "Enabled",
}
# Refusals that change nothing and that the races make legitimate: (HTTP status, message part).
EXPECTED_REFUSALS = (
    (404, "Key not found"),  # the shared key is not created yet
    (409, "already exists"),  # another writer created it first
    (400, "is already pending deletion"),
    (400, "is pending deletion"),  # enable/disable of a pending key
    (500, "is not pending deletion"),  # cancel: RustFS answers every failure with 500
    (500, "Key not found"),  # cancel / generate-data-key of a key not created yet
    (500, "is not enabled"),  # generate-data-key under a pending key
    (500, "is disabled"),
)


@dataclass(frozen=True)
class Op:
    """One call a writer made, with its real-time window and outcome."""

    writer: int
    seq: int
    kind: str
    key_id: str
    value: str | None
    started: int
    ended: int
    acked: bool
    refusal: str | None = None
    unexpected: str | None = None
    deletion_date: str | None = None
    blob: str | None = None
    plaintext: str | None = None


def _classify(err: KmsError) -> tuple[str | None, str | None]:
    """(expected refusal, unexpected failure) for an error answer."""
    for status, part in EXPECTED_REFUSALS:
        if err.status == status and part in err.message:
            return f"{status} {part}", None
    return None, f"{type(err).__name__}: {err}"


async def _one_call(
    client: KmsAdminClient, writer: int, seq: int, kind: str, key_id: str, value: str | None
) -> Op:
    started = time.monotonic_ns()
    extra: dict[str, str | None] = {}
    try:
        if kind in ("create", "create_private"):
            await client.create_key(name=key_id, description=value, tags={"origin": f"w{writer}"})
        elif kind == "tag":
            assert value is not None
            answer = await client.tag_key(key_id, {f"w{writer}": value, "shared": value})
            assert answer is not None and answer.tags[f"w{writer}"] == value, answer
        elif kind == "untag":
            answer = await client.untag_key(key_id, [f"w{writer}"])
            assert answer is not None and f"w{writer}" not in answer.tags, answer
        elif kind == "description":
            assert value is not None
            answer = await client.update_key_description(key_id, value)
            assert answer is not None and answer.description == value, answer
        elif kind == "schedule":
            deletion = await client.schedule_key_deletion(
                key_id, pending_window_in_days=int(value or "30")
            )
            assert deletion.deletion_date is not None
            extra["deletion_date"] = deletion.deletion_date.isoformat()
        elif kind == "cancel":
            await client.cancel_key_deletion(key_id)
        elif kind == "disable":
            await client.disable_key(key_id)
        elif kind == "enable":
            await client.enable_key(key_id)
        elif kind == "data_key":
            data_key = await client.generate_data_key(key_id)
            extra["blob"] = base64.b64encode(data_key.ciphertext_blob).decode()
            extra["plaintext"] = base64.b64encode(data_key.plaintext).decode()
        else:
            raise AssertionError(f"unknown op {kind}")
    except KmsError as err:
        refusal, unexpected = _classify(err)
        return Op(
            writer,
            seq,
            kind,
            key_id,
            value,
            started,
            time.monotonic_ns(),
            False,
            refusal,
            unexpected,
        )
    except AssertionError as err:  # acknowledged, but the answer does not show the change
        return Op(
            writer,
            seq,
            kind,
            key_id,
            value,
            started,
            time.monotonic_ns(),
            True,
            unexpected=f"answer does not reflect the change: {err}",
        )
    return Op(writer, seq, kind, key_id, value, started, time.monotonic_ns(), True, **extra)


def _plan(writer: int) -> list[tuple[str, str, str | None]]:
    """The writer's calls: mostly on the shared keys, a few creates of its own keys."""
    rng = random.Random(1000 + writer)
    plan: list[tuple[str, str, str | None]] = [
        ("create", key_id, f"created by w{writer}") for key_id in rng.sample(SHARED_KEYS, 3)
    ]
    kinds = (
        "tag",
        "tag",
        "untag",
        "description",
        "schedule",
        "cancel",
        "cancel",
        "disable",
        "enable",
        "data_key",
        "create_private",
    )
    for seq in range(len(plan), OPS_PER_WRITER):
        kind = rng.choice(kinds)
        if kind == "create_private":
            plan.append((kind, f"w{writer}-own-{seq:03d}", f"own key of w{writer}"))
            continue
        key_id = rng.choice(SHARED_KEYS)
        value: str | None = f"w{writer}-{seq:03d}"
        if kind == "schedule":
            value = str(rng.randint(7, 30))
        elif kind not in ("tag", "description"):
            value = None
        plan.append((kind, key_id, value))
    return plan


async def run_writer(endpoint: str, writer: int) -> list[Op]:
    """Run one writer's plan with its own client (own connections)."""
    async with admin_client(endpoint) as client:
        return [
            await _one_call(client, writer, seq, kind, key_id, value)
            for seq, (kind, key_id, value) in enumerate(_plan(writer))
        ]


def _thread_writer(endpoint: str, writer: int, start: threading.Event, out: list[Op]) -> None:
    start.wait()
    out.extend(asyncio.run(run_writer(endpoint, writer)))


def process_writer_main() -> None:
    """Entry point of the writer in another process: wait for "go", run, print the log."""
    endpoint, writer = os.environ["WRITER_ENDPOINT"], int(os.environ["WRITER_INDEX"])
    print("ready", flush=True)
    sys.stdin.readline()
    ops = asyncio.run(run_writer(endpoint, writer))
    print(json.dumps([asdict(op) for op in ops]), flush=True)


def _start_process_writer(endpoint: str) -> subprocess.Popen[str]:
    env = dict(os.environ, WRITER_ENDPOINT=endpoint, WRITER_INDEX=str(PROCESS_WRITER))
    process = subprocess.Popen(
        [sys.executable, "-c", f"from {__name__} import process_writer_main as m; m()"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready", "the writer process did not start"
    return process


async def _run_all_writers(endpoint: str) -> list[Op]:
    process = _start_process_writer(endpoint)
    start = threading.Event()
    thread_logs: list[list[Op]] = [[] for _ in range(THREAD_WRITERS)]
    threads = [
        threading.Thread(
            target=_thread_writer, args=(endpoint, ASYNC_WRITERS + i, start, thread_logs[i])
        )
        for i in range(THREAD_WRITERS)
    ]
    for thread in threads:
        thread.start()
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()
    start.set()
    logs = await asyncio.gather(*(run_writer(endpoint, i) for i in range(ASYNC_WRITERS)))
    process_out, _ = await asyncio.to_thread(process.communicate, None, 60)
    for thread in threads:
        await asyncio.to_thread(thread.join, 60)
    assert process.returncode == 0, "the writer process failed"
    remote = [Op(**item) for item in json.loads(process_out.strip().splitlines()[-1])]
    ops = [op for log in logs for op in log] + [op for log in thread_logs for op in log] + remote
    assert len(ops) == (ASYNC_WRITERS + THREAD_WRITERS + 1) * OPS_PER_WRITER
    return ops


# ---------------------------------------------------------------------------- the checks


def _maximal(writes: Iterable[Op]) -> list[Op]:
    """Acknowledged writes that no other acknowledged write started after (the possible last)."""
    acked = [op for op in writes if op.acked]
    return [op for op in acked if not any(other.started > op.ended for other in acked)]


def _check_register(name: str, final: object, writes: list[Op], value_of: dict[str, object]) -> str:
    """'' when ``final`` is the value of a possible last write, else why not."""
    candidates = _maximal(writes)
    if not candidates:
        return ""
    allowed = {repr(value_of[f"{op.writer}:{op.seq}"]) for op in candidates}
    if repr(final) in allowed:
        return ""
    return f"{name}: final {final!r} is none of the possible last writes {sorted(allowed)}"


def _per_writer_tag_problems(key_id: str, final: KeyMetadata, ops: list[Op]) -> list[str]:
    problems = []
    writers = {op.writer for op in ops}
    for writer in sorted(writers):
        own = sorted(
            (op for op in ops if op.writer == writer and op.acked and op.kind in ("tag", "untag")),
            key=lambda op: op.seq,
        )
        expected = None if not own or own[-1].kind == "untag" else own[-1].value
        actual = final.tags.get(f"w{writer}")
        if actual != expected:
            problems.append(
                f"{key_id}: tag w{writer} is {actual!r}, its last ack says {expected!r}"
            )
    return problems


def _shared_key_problems(key_id: str, final: KeyMetadata, ops: list[Op]) -> list[str]:
    on_key = [op for op in ops if op.key_id == key_id]
    creates = [op for op in on_key if op.kind == "create" and op.acked]
    problems = []
    if len(creates) != 1:
        problems.append(f"{key_id}: {len(creates)} acknowledged creates, expected exactly 1")
    if creates and final.tags.get("origin") != f"w{creates[0].writer}":
        problems.append(f"{key_id}: origin {final.tags.get('origin')!r} is not the creator")
    problems += _per_writer_tag_problems(key_id, final, on_key)

    values: dict[str, object] = {}
    descriptions = []
    shared_tags = []
    statuses = []
    for op in on_key:
        ident = f"{op.writer}:{op.seq}"
        if op.kind in ("create", "description"):
            descriptions.append(op)
            values[ident] = op.value
        if op.kind == "tag":
            shared_tags.append(op)
            values[ident] = op.value
        if op.kind in STATE_AFTER:
            statuses.append(op)
    problems.append(
        _check_register(f"{key_id} description", final.description, descriptions, values)
    )
    problems.append(
        _check_register(f"{key_id} tag shared", final.tags.get("shared"), shared_tags, values)
    )
    status_values = {f"{op.writer}:{op.seq}": STATE_AFTER[op.kind] for op in statuses}
    problems.append(
        _check_register(f"{key_id} state", final.key_state.value, statuses, status_values)
    )
    if final.key_state.value == "PendingDeletion":
        possible = {
            op.deletion_date
            for op in _maximal(statuses)
            if op.kind == "schedule" and op.deletion_date is not None
        }
        shown = final.deletion_date.isoformat() if final.deletion_date else None
        if shown not in possible:
            problems.append(f"{key_id}: deletion date {shown} is from no possible last schedule")
    return [problem for problem in problems if problem]


def _disk_problems(key_dir: Path, finals: dict[str, KeyMetadata]) -> list[str]:
    """Stray files, and every record re-read from disk against what the server reported."""
    names = sorted(os.listdir(key_dir))
    strays = [name for name in names if not name.endswith(".key") and name != ".master-key.salt"]
    problems = [f"stray files in the key directory: {strays}"] if strays else []
    fresh = LocalKeyStore(key_dir, MASTER_KEY)
    fresh.open()
    try:
        if fresh.unreadable_key_ids:
            problems.append(f"unreadable on disk: {fresh.unreadable_reasons}")
        if sorted(fresh.key_ids()) != sorted(finals):
            problems.append(f"disk holds {fresh.key_ids()}, the server listed {sorted(finals)}")
        state_of = {
            "Active": "Enabled",
            "Disabled": "Disabled",
            "PendingDeletion": "PendingDeletion",
        }
        for key_id, final in finals.items():
            if key_id not in fresh.key_ids():
                continue
            record = fresh.get(key_id)
            if (
                state_of.get(record.status) != final.key_state.value
                or record.description != final.description
                or dict(record.metadata) != dict(final.tags)
            ):
                problems.append(f"{key_id}: disk {record!r} {dict(record.metadata)} != {final}")
    finally:
        fresh.close()
    return problems


async def test_concurrent_writers_lose_no_acknowledged_change(tmp_path: Path) -> None:
    """Eight writers in three kinds of concurrency over loopback; the invariants above hold."""
    key_dir = tmp_path / "keys"
    log_file = tmp_path / "server.log"
    with running_server(tmp_path / "data", log_file=log_file) as server:
        async with admin_client(server.endpoint) as client:
            await client.configure(local_config(key_dir))
            await client.start()
            ops = await _run_all_writers(server.endpoint)
            finals = {}
            async for page in client.iter_keys(page_size=7):
                assert page.unreadable_key_ids == ()
                for info in page.keys:
                    finals[info.key_id] = (await client.describe_key(info.key_id)).metadata
            decrypted = {}
            for op in ops:
                if op.kind == "data_key" and op.acked:
                    assert op.blob is not None
                    answer = await client.decrypt(base64.b64decode(op.blob))
                    decrypted[op.blob] = base64.b64encode(answer.plaintext).decode()

    unexpected = [op for op in ops if op.unexpected]
    assert not unexpected, "\n".join(f"{op.kind} {op.key_id}: {op.unexpected}" for op in unexpected)
    acked = [op for op in ops if op.acked]
    assert len(acked) > len(ops) // 2, f"only {len(acked)} of {len(ops)} calls succeeded"
    assert {op.kind for op in acked} >= {"tag", "untag", "schedule", "cancel", "data_key"}

    problems: list[str] = []
    for key_id in SHARED_KEYS:
        assert key_id in finals, f"{key_id} was never created"
        problems += _shared_key_problems(key_id, finals[key_id], ops)
    own = [op for op in acked if op.kind == "create_private"]
    problems += [
        f"acknowledged create of {op.key_id} is missing" for op in own if op.key_id not in finals
    ]
    assert set(finals) == set(SHARED_KEYS) | {op.key_id for op in own}
    problems += [
        f"data key {op.blob[:16]}... under {op.key_id} no longer decrypts to its plaintext"
        for op in acked
        if op.kind == "data_key" and op.blob is not None and decrypted[op.blob] != op.plaintext
    ]
    problems += _disk_problems(key_dir, finals)
    assert not problems, "\n".join(problems)
    assert "Traceback" not in log_file.read_text("utf-8")


def test_bucket_cannot_name_a_key_destroyed_while_it_was_being_assigned(tmp_path: Path) -> None:
    """PutBucketEncryption checks the key and stores the reference under the service lock.

    An immediate deletion that arrives between the check and the store must either wait and then
    see the new reference (409), or the assignment must fail: a bucket may never end up naming
    a destroyed key while both calls were acknowledged.
    """
    server = InProcessServer.build(tmp_path / "data", allow_immediate_deletion=True)
    try:
        service = server.service
        body = json.dumps(local_config(tmp_path / "keys").to_wire()).encode()
        assert service.configure(parse_configure_body(body)).success
        assert service.start().success
        service.keys.create_key("doomed", {"name": "doomed"})
        server.buckets.create("racing-bucket")
        deletion: list[str] = []

        def delete_now() -> None:
            try:
                service.keys.delete_immediately("doomed", "doomed")
                deletion.append("destroyed")
            except KmsOpError as err:
                deletion.append(err.kind)

        original = service.key_exists
        deleter = threading.Thread(target=delete_now)

        def key_exists_then_race(key_id: str) -> bool:
            found = original(key_id)
            deleter.start()
            deleter.join(0.5)  # long enough for the deletion to finish if nothing holds it back
            return found

        service.key_exists = key_exists_then_race  # type: ignore[method-assign]
        answer = handle_s3(server.buckets, service, _put_encryption_request("doomed"))
        deleter.join(10)
        service.key_exists = original  # type: ignore[method-assign]
        bucket = server.buckets.get("racing-bucket")
        assert bucket is not None
        names_key = bucket.kms_key_id == "doomed"
        assert answer.status == 200 and names_key, answer
        assert deletion == ["referenced"], deletion
        assert service.key_exists("doomed")
    finally:
        server.close()


def _put_encryption_request(key_id: str) -> HttpRequest:
    xml = (
        "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>"
        f"<SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>{key_id}</KMSMasterKeyID>"
        "</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
    )
    return HttpRequest(
        method="PUT",
        path="/racing-bucket",
        raw_path="/racing-bucket",
        query=(("encryption", ""),),
        raw_query="encryption",
        headers=(),
        body=xml.encode(),
        request_id="RACE",
        access_key=ACCESS_KEY,
    )
