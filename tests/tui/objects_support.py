"""What the object, impact-scan and encryption-check tests share: seeding buckets and objects
through the real S3 client, setting the KMS default key, and reading what the server holds."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from kms_tui.api.backends import LocalConfig
from kms_tui.api.buckets import SSE_KMS, SSE_S3, BucketEncryptionClient
from kms_tui.embedded.server import EmbeddedServer
from tests.tui.conftest import admin_client_for

__all__ = [
    "SSE_KMS",
    "SSE_S3",
    "bucket_client_for",
    "object_keys",
    "seed_bucket",
    "seed_objects",
    "set_default_key",
]


def bucket_client_for(server: EmbeddedServer) -> BucketEncryptionClient:
    """An S3 client for seeding and asserting (close it, or use ``async with``)."""
    return BucketEncryptionClient(server.endpoint, server.access_key, server.secret_key, retries=0)


async def set_default_key(server: EmbeddedServer, key_dir: Path, key_id: str) -> None:
    """Make ``key_id`` the KMS default key (it then wraps every SSE-S3 data key)."""
    async with admin_client_for(server) as admin:
        await admin.reconfigure(LocalConfig(key_dir=str(key_dir), default_key_id=key_id))


async def seed_bucket(
    server: EmbeddedServer, bucket: str, *, algorithm: str | None = None, key_id: str | None = None
) -> None:
    """Create ``bucket`` with a default encryption (None: none)."""
    async with bucket_client_for(server) as client:
        await client.create_bucket(bucket)
        if algorithm is not None:
            await client.put_bucket_encryption(bucket, algorithm=algorithm, kms_key_id=key_id)


async def seed_objects(
    server: EmbeddedServer,
    bucket: str,
    keys: Iterable[str],
    *,
    sse: str | None = None,
    kms_key_id: str | None = None,
) -> None:
    """Write small objects, with explicit SSE headers or (None) as the bucket default says."""
    async with bucket_client_for(server) as client:
        for key in keys:
            await client.put_object(
                bucket, key, f"contents of {key}".encode(), sse=sse, kms_key_id=kms_key_id
            )


async def object_keys(server: EmbeddedServer, bucket: str) -> list[str]:
    """Every object key in ``bucket`` as the server lists it."""
    found: list[str] = []
    async with bucket_client_for(server) as client:
        async for page in client.iter_object_pages(bucket):
            found.extend(summary.key for summary in page)
    return found
