"""``kms-tui buckets list|encryption|encrypt|unencrypt|verify``.

A bucket is ``{"name", "created_at", "encryption": null | {"algorithm", "label",
"kms_key_id"}, "key_state", "problem"}``: ``key_state`` is the state of the KMS key the
default names (null when it names none or the key is missing), ``problem`` says in words what
is wrong (the key is missing, disabled or pending deletion; the default could not be read).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kms_tui.commands.confirm import ask_typed, interactive
from kms_tui.commands.errors import EXIT_FAILED, CommandError
from kms_tui.commands.output import Output, Style
from kms_tui.commands.records import encryption_record, iso
from kms_tui.commands.runner import Context

if TYPE_CHECKING:
    from kms_tui.api.admin import KmsAdminClient
    from kms_tui.api.buckets import BucketEncryption, BucketEncryptionClient
    from kms_tui.api.errors import KmsError
    from kms_tui.api.verify import CheckResult

__all__ = [
    "BucketRow",
    "bucket_defaults",
    "key_states",
    "run_encrypt",
    "run_encryption",
    "run_list",
    "run_unencrypt",
    "run_verify",
]

IN_FLIGHT = 8


@dataclass(frozen=True, slots=True)
class BucketRow:
    """A bucket and its default encryption (or why it could not be read)."""

    name: str
    created_at: datetime | None
    encryption: BucketEncryption | None
    error: KmsError | None = None


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """What the KMS says about a key a bucket default names."""

    state: str | None  # None: the key does not exist
    problem: str | None  # None: the key can encrypt new objects


async def bucket_defaults(
    client: BucketEncryptionClient, names: Iterable[str] | None = None
) -> list[BucketRow]:
    """Every bucket (or the named ones) with its default encryption, read a few at a time."""
    from kms_tui.api.errors import KmsError, KmsTransportError

    if names is None:
        listed = [(b.name, b.creation_date) for b in await client.list_buckets()]
    else:
        listed = [(name, None) for name in names]
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(name: str, created: datetime | None) -> BucketRow:
        async with gate:
            try:
                return BucketRow(name, created, await client.get_bucket_encryption(name))
            except KmsTransportError:
                raise
            except KmsError as err:
                return BucketRow(name, created, None, err)

    return list(await asyncio.gather(*(one(name, created) for name, created in listed)))


async def key_states(admin: KmsAdminClient, key_ids: Iterable[str]) -> dict[str, KeyCheck]:
    """Whether each key can encrypt new data, and if not, why (missing, disabled, pending)."""
    from kms_tui.api.errors import KmsNotFound
    from kms_tui.tui.key_usability import unusable_reason

    gate = asyncio.Semaphore(IN_FLIGHT)
    checks: dict[str, KeyCheck] = {}

    async def one(key_id: str) -> None:
        async with gate:
            try:
                meta = (await admin.describe_key(key_id)).metadata
            except KmsNotFound:
                checks[key_id] = KeyCheck(None, f"key {key_id} is missing")
                return
        reason = unusable_reason(meta.key_state, meta.deletion_date)
        checks[key_id] = KeyCheck(
            meta.key_state.value, f"key {key_id} is {reason}" if reason else None
        )

    await asyncio.gather(*(one(key_id) for key_id in dict.fromkeys(key_ids)))
    return checks


def _named_key(encryption: BucketEncryption | None) -> str | None:
    if encryption is not None and encryption.is_sse_kms and encryption.kms_key_id:
        return encryption.kms_key_id
    return None


def bucket_record(row: BucketRow, keys: dict[str, KeyCheck]) -> dict[str, Any]:
    """The JSON shape of one bucket."""
    key_id = _named_key(row.encryption)
    check = keys.get(key_id) if key_id else None
    problem = (
        f"default encryption unreadable: {row.error.message}"
        if row.error is not None
        else check.problem
        if check is not None
        else None
    )
    return {
        "name": row.name,
        "created_at": iso(row.created_at),
        "encryption": encryption_record(row.encryption),
        "key_state": check.state if check is not None else None,
        "problem": problem,
    }


def _render_buckets(out: Output, records: Sequence[dict[str, Any]]) -> None:
    rows = []
    for record in records:
        encryption = record["encryption"]
        rows.append(
            [
                record["name"],
                encryption["label"] if encryption else "none",
                (encryption or {}).get("kms_key_id"),
                record["key_state"],
                record["problem"],
            ]
        )
    out.table(["BUCKET", "ENCRYPTION", "KMS KEY", "KEY STATE", "PROBLEM"], rows)


async def run_list(ctx: Context) -> int:
    """Every bucket with its default encryption and a word on the key it names."""
    async with ctx.session() as session:
        rows = await bucket_defaults(session.buckets)
        keys = await key_states(
            session.admin, [k for k in (_named_key(r.encryption) for r in rows) if k]
        )
    records = [bucket_record(row, keys) for row in rows]
    if ctx.out.json:
        ctx.out.document({"buckets": records})
    elif records:
        _render_buckets(ctx.out, records)
    elif ctx.out.stdout_tty:
        ctx.out.line(("no buckets", Style.DIM))
    return 0


async def _one(ctx: Context, bucket: str) -> dict[str, Any]:
    async with ctx.session() as session:
        return await _read_back(session.admin, session.buckets, bucket)


async def _read_back(
    admin: KmsAdminClient, client: BucketEncryptionClient, bucket: str
) -> dict[str, Any]:
    encryption = await client.get_bucket_encryption(bucket)
    row = BucketRow(bucket, None, encryption)
    key_id = _named_key(encryption)
    keys = await key_states(admin, [key_id]) if key_id else {}
    record = bucket_record(row, keys)
    del record["created_at"]  # not known without listing every bucket
    return record


def _render_one(out: Output, record: dict[str, Any]) -> None:
    encryption = record["encryption"]
    out.fields(
        [
            ("bucket", record["name"]),
            ("encryption", encryption["label"] if encryption else "none"),
            ("kms key", (encryption or {}).get("kms_key_id")),
            ("key state", record["key_state"]),
        ]
    )
    if record["problem"]:
        out.line(("warning: ", Style.WARN), record["problem"])


async def run_encryption(ctx: Context) -> int:
    """One bucket's default encryption."""
    record = await _one(ctx, ctx.args.bucket)
    if ctx.out.json:
        ctx.out.document(record)
    else:
        _render_one(ctx.out, record)
    return 0


async def run_encrypt(ctx: Context) -> int:
    """Set SSE-S3 or SSE-KMS; a KMS key that does not exist is refused before anything is set."""
    from kms_tui.api.buckets import SSE_KMS, SSE_S3

    bucket: str = ctx.args.bucket
    key_id: str | None = ctx.args.kms_key
    async with ctx.session() as session:
        if key_id is not None:
            check = (await key_states(session.admin, [key_id]))[key_id]
            if check.state is None:
                raise CommandError(
                    f"key {key_id!r} does not exist; the encryption of {bucket} was not changed",
                    code="KeyNotFound",
                    exit_code=EXIT_FAILED,
                    status=404,
                )
            if check.problem:
                ctx.out.message(
                    f"warning: {check.problem}: new objects in {bucket} cannot be stored "
                    "until it can be used again"
                )
        await session.buckets.put_bucket_encryption(
            bucket, algorithm=SSE_KMS if key_id else SSE_S3, kms_key_id=key_id
        )
        record = await _read_back(session.admin, session.buckets, bucket)
    if ctx.out.json:
        ctx.out.document(record)
    else:
        _render_one(ctx.out, record)
    return 0


async def run_unencrypt(ctx: Context) -> int:
    """Remove the default encryption (typed confirmation on a terminal, else ``--yes``)."""
    bucket: str = ctx.args.bucket
    async with ctx.session() as session:
        current = await session.buckets.get_bucket_encryption(bucket)
        if current is not None and not ctx.args.yes and interactive():
            key = f" under key {current.kms_key_id}" if current.kms_key_id else ""
            ctx.out.message(
                f"{bucket} encrypts new objects with {current.label}{key}; after this they are "
                "stored unencrypted unless the request asks otherwise (existing objects keep "
                "their encryption)"
            )
            await ask_typed(ctx.out, f"Type the bucket name ({bucket}) to confirm", bucket)
        if current is not None:
            await session.buckets.delete_bucket_encryption(bucket)
        elif not ctx.out.json:
            ctx.out.message(f"{bucket} has no default encryption; nothing to remove")
        record = await _read_back(session.admin, session.buckets, bucket)
    if ctx.out.json:
        ctx.out.document(record)
    else:
        _render_one(ctx.out, record)
    return 0


def verify_record(result: CheckResult) -> dict[str, Any]:
    """The JSON shape of one check."""
    return {
        "bucket": result.bucket,
        "ok": result.ok,
        "verdict": result.verdict.name.lower(),
        "detail": result.detail,
        "expected_algorithm": result.expected_algorithm,
        "expected_key_id": result.expected_key_id,
        "seen_algorithm": result.seen_algorithm,
        "seen_key_id": result.seen_key_id,
        "steps": list(result.steps),
        "request_id": result.request_id,
        "checked_at": iso(result.checked_at),
    }


async def default_key_id(admin: KmsAdminClient) -> str | None:
    """The KMS default key (None when the service does not run or names none)."""
    from kms_tui.api.errors import KmsError, KmsTransportError

    try:
        return (await admin.status()).default_key_id
    except KmsTransportError:
        raise
    except KmsError:
        return None


async def run_verify(ctx: Context) -> int:
    """Write, read back and delete a probe object in each bucket; 0 only if all encrypt."""
    from kms_tui.api.verify import check_bucket_encryption

    out = ctx.out
    records = []
    async with ctx.session() as session:
        default_key = await default_key_id(session.admin)
        for bucket in ctx.args.buckets:
            out.progress(f"checking {bucket}…")
            result = await check_bucket_encryption(
                session.buckets, bucket, default_key_id=default_key
            )
            records.append(verify_record(result))
            if not out.json:
                mark = ("ok  ", Style.GOOD) if result.ok else ("FAIL", Style.BAD)
                out.line(mark, f"  {result.line}")
    if out.json:
        out.document({"results": records, "ok": all(r["ok"] for r in records)})
    failed = [r["bucket"] for r in records if not r["ok"]]
    if failed:
        out.message(f"not encrypting as expected: {', '.join(failed)}")
        return EXIT_FAILED
    return 0
