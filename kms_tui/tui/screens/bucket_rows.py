"""What the Buckets screen shows for each bucket, and how it is read from the server.

Every bucket's default encryption is read a few at a time, then the key of each SSE-KMS
default is cross-checked with ``describe_key``: a key that is disabled, pending deletion or
missing gets a warning, since new objects in that bucket would fail.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.buckets import BucketEncryption, BucketEncryptionClient
from kms_tui.api.errors import KmsError, KmsNotFound
from kms_tui.tui.key_usability import unusable_reason

__all__ = ["BucketRow", "read_bucket_rows"]

_CONCURRENCY = 8
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class BucketRow:
    """One bucket as the table shows it."""

    name: str
    creation_date: datetime | None
    encryption: BucketEncryption | None
    key_warning: str | None = None  # "disabled", "pending deletion", "missing", ...
    problem: str | None = None  # the encryption could not be read

    @property
    def encryption_label(self) -> str:
        """none / SSE-S3 / SSE-KMS (or the server's own spelling)."""
        if self.problem is not None:
            return "?"
        return "none" if self.encryption is None else self.encryption.label

    @property
    def key_label(self) -> str:
        """The KMS key, or the server default when SSE-KMS names none."""
        if self.encryption is None or not self.encryption.is_sse_kms:
            return ""
        return self.encryption.kms_key_id or "(default key)"


async def _bounded(calls: Iterable[Callable[[], Awaitable[_T]]]) -> list[_T]:
    """Run the calls concurrently, at most ``_CONCURRENCY`` at once, keeping their order."""
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(call: Callable[[], Awaitable[_T]]) -> _T:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(call) for call in calls)))


async def read_bucket_rows(
    client: BucketEncryptionClient, admin: Callable[[], Awaitable[KmsAdminClient]]
) -> list[BucketRow]:
    """List buckets, read each one's encryption, then check the keys they name."""
    buckets = await client.list_buckets()
    readings = await _bounded(
        functools.partial(_read_encryption, client, bucket.name) for bucket in buckets
    )
    key_ids = sorted(
        {
            encryption.kms_key_id
            for encryption, _problem in readings
            if encryption is not None and encryption.is_sse_kms and encryption.kms_key_id
        }
    )
    warnings: dict[str, str | None] = {}
    if key_ids:
        admin_client = await admin()
        found = await _bounded(
            functools.partial(_key_warning, admin_client, key_id) for key_id in key_ids
        )
        warnings = dict(zip(key_ids, found, strict=True))
    rows = []
    for bucket, (encryption, problem) in zip(buckets, readings, strict=True):
        key_id = encryption.kms_key_id if encryption is not None else None
        rows.append(
            BucketRow(
                name=bucket.name,
                creation_date=bucket.creation_date,
                encryption=encryption,
                key_warning=warnings.get(key_id) if key_id else None,
                problem=problem,
            )
        )
    return rows


async def _read_encryption(
    client: BucketEncryptionClient, bucket: str
) -> tuple[BucketEncryption | None, str | None]:
    try:
        return await client.get_bucket_encryption(bucket), None
    except KmsNotFound:
        return None, "bucket no longer exists"
    except KmsError as err:
        return None, err.message


async def _key_warning(admin: KmsAdminClient, key_id: str) -> str | None:
    try:
        description = await admin.describe_key(key_id)
    except KmsNotFound:
        return unusable_reason(None)
    except KmsError as err:
        return f"unknown ({err.message})"
    return unusable_reason(description.metadata.key_state)
