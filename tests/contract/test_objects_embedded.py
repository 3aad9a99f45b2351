"""The object calls against the real embedded server over loopback, with a running Local KMS.

What is asserted is what the RustFS reference says a RustFS server answers
(``shared/reference/rustfs-object-sse.md`` §0, §1, §3, §7, §8): the SSE headers of PUT, HEAD
and GET, the bucket default applied when a PUT names none, 404 NoSuchKey, 409 BucketNotEmpty,
ListObjectsV2 pages, and a refused signature. The server checks every signature, so the keys
with spaces, non-ASCII and ``..`` segments also prove the S3 signing rule.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kms_tui.api.buckets import SSE_KMS, SSE_S3, BucketEncryptionClient
from kms_tui.api.errors import (
    KmsAccessDenied,
    KmsBucketNotEmpty,
    KmsError,
    KmsNotFound,
)
from kms_tui.api.s3_models import ObjectEncryption, ObjectHead
from kms_tui.embedded.server import EmbeddedServer
from tests.fakes.embedded import (
    ACCESS_KEY,
    SECRET_KEY,
    admin_client,
    local_config,
    running_server,
)

DEFAULT_KEY = "objects-default-key"
OBJECT_KEY = "objects-kms-key"


async def _prepare(server: EmbeddedServer, key_dir: Path) -> None:
    async with admin_client(server.endpoint) as admin:
        await admin.configure(local_config(key_dir, default_key_id=DEFAULT_KEY))
        await admin.start()
        await admin.create_key(name=DEFAULT_KEY, description="the service default key")
        await admin.create_key(name=OBJECT_KEY, description="SSE-KMS objects")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """One running server for the module; each test makes its own buckets."""
    base = tmp_path_factory.mktemp("objects-embedded")
    with running_server(base / "data") as running:
        asyncio.run(_prepare(running, base / "keys"))
        yield running


@pytest.fixture
async def client(server: EmbeddedServer) -> AsyncIterator[BucketEncryptionClient]:
    async with BucketEncryptionClient(server.endpoint, ACCESS_KEY, SECRET_KEY, retries=0) as c:
        yield c


@pytest.fixture
async def bucket(client: BucketEncryptionClient) -> str:
    name = f"objects-{uuid.uuid4().hex[:12]}"
    await client.create_bucket(name)
    return name


# ---------------------------------------------------------------------------------------------
# SSE on PUT, HEAD and GET


async def test_sse_kms_object(client: BucketEncryptionClient, bucket: str) -> None:
    payload = b"secret payload " * 100
    put = await client.put_object(bucket, "kms.bin", payload, sse=SSE_KMS, kms_key_id=OBJECT_KEY)
    assert put == ObjectEncryption(SSE_KMS, OBJECT_KEY, False)

    head = await client.head_object(bucket, "kms.bin")
    assert isinstance(head, ObjectHead)
    assert head.encryption == ObjectEncryption(SSE_KMS, OBJECT_KEY, False)
    assert head.size == len(payload)  # the plaintext size
    assert head.etag and head.last_modified is not None and head.last_modified.tzinfo

    data, encryption = await client.get_object(bucket, "kms.bin")
    assert data == payload
    assert encryption == ObjectEncryption(SSE_KMS, OBJECT_KEY, False)


async def test_sse_s3_object(client: BucketEncryptionClient, bucket: str) -> None:
    put = await client.put_object(bucket, "s3.bin", b"sse-s3 bytes", sse=SSE_S3)
    assert (put.algorithm, put.sse_c) == (SSE_S3, False)  # a key id may come too (RustFS §1.6)
    head = await client.head_object(bucket, "s3.bin")
    assert head.encryption == ObjectEncryption(SSE_S3, None, False)  # HEAD: no key id for SSE-S3
    data, encryption = await client.get_object(bucket, "s3.bin")
    assert (data, encryption.algorithm) == (b"sse-s3 bytes", SSE_S3)


async def test_unencrypted_object(client: BucketEncryptionClient, bucket: str) -> None:
    assert await client.put_object(bucket, "plain.txt", b"plain") == ObjectEncryption()
    head = await client.head_object(bucket, "plain.txt")
    assert head.encryption == ObjectEncryption() and not head.encryption.is_encrypted
    assert await client.get_object(bucket, "plain.txt") == (b"plain", ObjectEncryption())


async def test_bucket_default_applies_when_the_put_names_none(
    client: BucketEncryptionClient, bucket: str
) -> None:
    await client.put_bucket_encryption(bucket, algorithm=SSE_KMS, kms_key_id=OBJECT_KEY)
    put = await client.put_object(bucket, "defaulted.txt", b"by default")
    assert put == ObjectEncryption(SSE_KMS, OBJECT_KEY, False)
    head = await client.head_object(bucket, "defaulted.txt")
    assert head.encryption == ObjectEncryption(SSE_KMS, OBJECT_KEY, False)

    other = f"{bucket}-s3"
    await client.create_bucket(other)
    await client.put_bucket_encryption(other, algorithm=SSE_S3)
    await client.put_object(other, "defaulted.txt", b"by default")
    assert (await client.head_object(other, "defaulted.txt")).encryption.algorithm == SSE_S3


async def test_put_under_a_missing_kms_key_fails_and_stores_nothing(
    client: BucketEncryptionClient, bucket: str
) -> None:
    with pytest.raises(KmsError):
        await client.put_object(bucket, "orphan.txt", b"x", sse=SSE_KMS, kms_key_id="no-such-key")
    with pytest.raises(KmsNotFound):
        await client.head_object(bucket, "orphan.txt")


# ---------------------------------------------------------------------------------------------
# Not found, refused, not empty


async def test_missing_key_is_no_such_key(client: BucketEncryptionClient, bucket: str) -> None:
    with pytest.raises(KmsNotFound) as head:
        await client.head_object(bucket, "missing.txt")
    assert (head.value.status, head.value.code) == (404, "NoSuchKey")
    with pytest.raises(KmsNotFound) as get:
        await client.get_object(bucket, "missing.txt")
    assert (get.value.status, get.value.code) == (404, "NoSuchKey")
    assert type(get.value) is KmsNotFound


async def test_missing_bucket(client: BucketEncryptionClient) -> None:
    with pytest.raises(KmsNotFound) as listing:
        [page async for page in client.iter_object_pages("no-such-bucket-here")]
    assert (listing.value.status, listing.value.code) == (404, "NoSuchBucket")
    with pytest.raises(KmsNotFound) as head:
        await client.head_object("no-such-bucket-here", "k")
    assert head.value.status == 404


async def test_a_wrong_secret_is_refused(server: EmbeddedServer, bucket: str) -> None:
    async with BucketEncryptionClient(
        server.endpoint, ACCESS_KEY, "not-the-secret", retries=0
    ) as stranger:
        with pytest.raises(KmsAccessDenied) as head:
            await stranger.head_object(bucket, "anything")
        assert head.value.status == 403  # HEAD: the status alone
        with pytest.raises(KmsAccessDenied) as listing:
            [page async for page in stranger.iter_object_pages(bucket)]
        assert listing.value.code == "SignatureDoesNotMatch"


async def test_delete_objects_then_the_bucket(client: BucketEncryptionClient, bucket: str) -> None:
    await client.put_object(bucket, "one", b"1")
    await client.put_object(bucket, "dir/two", b"2", sse=SSE_S3)
    with pytest.raises(KmsBucketNotEmpty) as caught:
        await client.delete_bucket(bucket)
    assert (caught.value.status, caught.value.code) == (409, "BucketNotEmpty")
    await client.delete_object(bucket, "one")
    await client.delete_object(bucket, "dir/two")
    await client.delete_object(bucket, "dir/two")  # already gone: still 204
    await client.delete_bucket(bucket)
    assert bucket not in {b.name for b in await client.list_buckets()}


# ---------------------------------------------------------------------------------------------
# Listing and keys


async def test_pages_hold_every_key_once(client: BucketEncryptionClient, bucket: str) -> None:
    keys = [f"logs/{index:03d}" for index in range(23)] + [f"data/{index}" for index in range(7)]
    for key in keys:
        await client.put_object(bucket, key, key.encode())
    pages = [objects async for objects in client.iter_object_pages(bucket, page_size=7)]
    assert [len(objects) for objects in pages] == [7, 7, 7, 7, 2]
    listed = Counter(summary.key for objects in pages for summary in objects)
    assert set(listed) == set(keys) and set(listed.values()) == {1}
    sizes = {s.key: s.size for objects in pages for s in objects}
    assert all(sizes[key] == len(key) for key in keys)
    under_data = [s.key async for page in client.iter_object_pages(bucket, "data/") for s in page]
    assert under_data == sorted(key for key in keys if key.startswith("data/"))


async def test_odd_keys_are_signed_and_stored_as_given(
    client: BucketEncryptionClient, bucket: str
) -> None:
    keys = ["a b+c.txt", "ünï/ß", "100%", "q?x#y&z=1", "x/../y", "tab\there"]
    for key in keys:
        await client.put_object(bucket, key, key.encode(), sse=SSE_KMS, kms_key_id=OBJECT_KEY)
    listed = [s.key async for objects in client.iter_object_pages(bucket) for s in objects]
    assert sorted(listed) == sorted(keys)
    for key in keys:
        head = await client.head_object(bucket, key)
        assert (head.size, head.encryption.kms_key_id) == (len(key.encode()), OBJECT_KEY), key
        assert (await client.get_object(bucket, key))[0] == key.encode()


async def test_64_heads_with_16_in_flight_are_all_answered(
    client: BucketEncryptionClient, bucket: str
) -> None:
    keys = [f"scan/{index:02d}" for index in range(64)]
    for index, key in enumerate(keys):
        sse = SSE_KMS if index % 2 else SSE_S3
        kms_key_id = OBJECT_KEY if index % 2 else None
        await client.put_object(bucket, key, b"x" * index, sse=sse, kms_key_id=kms_key_id)
    gate = asyncio.Semaphore(16)

    async def head(key: str) -> ObjectHead:
        async with gate:
            return await client.head_object(bucket, key)

    heads = await asyncio.gather(*(head(key) for key in keys))
    assert [h.key for h in heads] == keys
    assert [h.size for h in heads] == list(range(64))
    assert [h.encryption.kms_key_id for h in heads] == [
        OBJECT_KEY if index % 2 else None for index in range(64)
    ]
