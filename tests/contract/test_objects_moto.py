"""The object calls against moto's S3 in server mode, an implementation nobody here wrote.

moto keeps the SSE headers an object was stored with and answers them on HEAD and GET, so an
object put by boto3 (the AWS SDK) with SSE is read back with our client, and the other way
round. moto does not check signatures: the 403 cases are in the embedded-server contract test.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from kms_tui.api.buckets import BucketEncryptionClient
from kms_tui.api.errors import KmsBucketNotEmpty, KmsBucketNotFound, KmsNotFound
from kms_tui.api.s3_models import ObjectEncryption, ObjectHead
from tests.fakes.serve import s3_client

ACCESS_KEY, SECRET_KEY = "moto-access", "moto-secret"
LISTED = 2_500
_names = itertools.count()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def boto(moto_endpoint: str) -> Any:
    return s3_client(moto_endpoint, ACCESS_KEY, SECRET_KEY)


@pytest.fixture
async def client(moto_endpoint: str) -> AsyncIterator[BucketEncryptionClient]:
    async with BucketEncryptionClient(moto_endpoint, ACCESS_KEY, SECRET_KEY, retries=0) as c:
        yield c


@pytest.fixture
def bucket(boto: Any) -> str:
    """A new empty bucket, made by boto3."""
    name = f"objects-{next(_names)}"
    boto.create_bucket(Bucket=name)
    return name


async def put_many(
    client: BucketEncryptionClient, bucket: str, keys: list[str], in_flight: int = 16
) -> None:
    gate = asyncio.Semaphore(in_flight)

    async def put(key: str) -> None:
        async with gate:
            await client.put_object(bucket, key, key.encode())

    await asyncio.gather(*(put(key) for key in keys))


# ---------------------------------------------------------------------------------------------
# SSE: put by one side, read by the other


@pytest.mark.parametrize(
    ("sse_args", "expected"),
    [
        ({}, ObjectEncryption(None, None, False)),
        ({"ServerSideEncryption": "AES256"}, ObjectEncryption("AES256", None, False)),
        (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "0a1b2c3d-key"},
            ObjectEncryption("aws:kms", "0a1b2c3d-key", False),
        ),
    ],
)
async def test_head_reads_what_boto3_stored(
    client: BucketEncryptionClient,
    boto: Any,
    bucket: str,
    sse_args: dict[str, str],
    expected: ObjectEncryption,
) -> None:
    stored = boto.put_object(
        Bucket=bucket, Key="doc.txt", Body=b"twelve bytes", Metadata={"owner": "ops"}, **sse_args
    )
    head = await client.head_object(bucket, "doc.txt")
    assert isinstance(head, ObjectHead)
    assert head.encryption == expected
    assert (head.bucket, head.key, head.size) == (bucket, "doc.txt", 12)
    assert head.etag == stored["ETag"].strip('"')
    assert dict(head.metadata) == {"owner": "ops"}
    sdk_head = boto.head_object(Bucket=bucket, Key="doc.txt")
    assert head.last_modified == sdk_head["LastModified"]


async def test_boto3_reads_what_the_client_stored(
    client: BucketEncryptionClient, boto: Any, bucket: str
) -> None:
    answered = await client.put_object(
        bucket, "kms.bin", b"\x00\x01secret", sse="aws:kms", kms_key_id="key-77"
    )
    assert answered == ObjectEncryption("aws:kms", "key-77", False)
    sdk_head = boto.head_object(Bucket=bucket, Key="kms.bin")
    assert sdk_head["ServerSideEncryption"] == "aws:kms"
    assert sdk_head["SSEKMSKeyId"] == "key-77"
    assert await client.put_object(bucket, "s3.bin", b"x", sse="AES256") == ObjectEncryption(
        "AES256", None, False
    )
    assert boto.head_object(Bucket=bucket, Key="s3.bin")["ServerSideEncryption"] == "AES256"


async def test_get_returns_the_bytes_and_the_encryption(
    client: BucketEncryptionClient, boto: Any, bucket: str
) -> None:
    payload = bytes(range(256)) * 40
    boto.put_object(
        Bucket=bucket, Key="blob", Body=payload, ServerSideEncryption="aws:kms", SSEKMSKeyId="k-1"
    )
    data, encryption = await client.get_object(bucket, "blob")
    assert data == payload
    assert encryption == ObjectEncryption("aws:kms", "k-1", False)


# ---------------------------------------------------------------------------------------------
# Listing


def seed_in_process(bucket: str, keys: list[str]) -> None:
    """Store objects through moto's own model, in this process: 2,500 PUTs over moto's HTTP
    server (a new connection each) take ~15 s here; the listing is what this test is about."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        backend.put_object(bucket, key, key.encode())


async def test_listing_2500_objects_yields_every_key_once(
    client: BucketEncryptionClient, bucket: str
) -> None:
    keys = [f"a/{index:05d}" for index in range(1_500)] + [
        f"b/{index:05d}" for index in range(LISTED - 1_500)
    ]
    seed_in_process(bucket, keys)

    pages = [objects async for objects in client.iter_object_pages(bucket)]
    assert [len(objects) for objects in pages] == [1000, 1000, 500]
    listed = Counter(summary.key for objects in pages for summary in objects)
    assert set(listed) == set(keys) and set(listed.values()) == {1}
    sizes = {summary.key: summary.size for objects in pages for summary in objects}
    assert all(sizes[key] == len(key) for key in keys)

    odd_pages = [objects async for objects in client.iter_object_pages(bucket, page_size=999)]
    assert [len(objects) for objects in odd_pages] == [999, 999, 502]
    assert Counter(s.key for objects in odd_pages for s in objects) == listed

    under_b = [s.key async for objects in client.iter_object_pages(bucket, "b/") for s in objects]
    assert under_b == sorted(key for key in keys if key.startswith("b/"))


async def test_empty_bucket_answers_one_empty_page(
    client: BucketEncryptionClient, bucket: str
) -> None:
    assert [objects async for objects in client.iter_object_pages(bucket)] == [()]


async def test_odd_keys_list_and_head_as_stored(
    client: BucketEncryptionClient, boto: Any, bucket: str
) -> None:
    keys = ["dir/a b+c.txt", "ünï/ß", "100%", "q?x#y&z=1", "a//b", "x/../y", "tab\there"]
    for key in keys:
        boto.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listed = [s.key async for objects in client.iter_object_pages(bucket) for s in objects]
    assert sorted(listed) == sorted(keys)
    for key in keys:
        head = await client.head_object(bucket, key)
        assert head.size == len(key.encode()), key
        data, _ = await client.get_object(bucket, key)
        assert data == key.encode()


# ---------------------------------------------------------------------------------------------
# Errors


async def test_missing_bucket_and_missing_key(client: BucketEncryptionClient, bucket: str) -> None:
    with pytest.raises(KmsBucketNotFound) as listing:
        [page async for page in client.iter_object_pages("no-such-bucket-here")]
    assert (listing.value.status, listing.value.code) == (404, "NoSuchBucket")
    assert listing.value.request_id

    with pytest.raises(KmsNotFound) as head:
        await client.head_object(bucket, "missing.txt")
    assert (head.value.status, head.value.code) == (404, "NoSuchKey")
    assert "missing.txt" in head.value.message

    with pytest.raises(KmsNotFound) as head_elsewhere:
        await client.head_object("no-such-bucket-here", "missing.txt")
    assert head_elsewhere.value.status == 404

    with pytest.raises(KmsNotFound) as get:
        await client.get_object(bucket, "missing.txt")
    assert type(get.value) is KmsNotFound
    assert (get.value.status, get.value.code) == (404, "NoSuchKey")
    assert get.value.request_id


async def test_delete_objects_then_the_bucket(client: BucketEncryptionClient, bucket: str) -> None:
    await put_many(client, bucket, ["one", "two"])
    with pytest.raises(KmsBucketNotEmpty) as caught:
        await client.delete_bucket(bucket)
    assert (caught.value.status, caught.value.code) == (409, "BucketNotEmpty")
    await client.delete_object(bucket, "one")
    await client.delete_object(bucket, "two")
    await client.delete_object(bucket, "two")  # already gone: S3 answers 204 all the same
    await client.delete_bucket(bucket)
    assert bucket not in {b.name for b in await client.list_buckets()}


# ---------------------------------------------------------------------------------------------
# Concurrency: the impact scan's shape


async def test_64_heads_with_16_in_flight_are_all_answered(
    client: BucketEncryptionClient, bucket: str
) -> None:
    keys = [f"scan/{index:03d}-{'x' * index}" for index in range(64)]
    await put_many(client, bucket, keys)
    gate = asyncio.Semaphore(16)
    in_flight = 0
    most = 0

    async def head(key: str) -> ObjectHead:
        nonlocal in_flight, most
        async with gate:
            in_flight += 1
            most = max(most, in_flight)
            try:
                return await client.head_object(bucket, key)
            finally:
                in_flight -= 1

    heads = await asyncio.gather(*(head(key) for key in keys))
    assert [h.key for h in heads] == keys
    assert [h.size for h in heads] == [len(key) for key in keys]
    assert most == 16
