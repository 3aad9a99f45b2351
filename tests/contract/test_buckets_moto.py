"""BucketEncryptionClient against moto's S3, an implementation nobody here wrote, over loopback.

moto in server mode does not check SigV4 signatures, so the wrong-secret case is covered by
the error-mapping tests in ``tests/unit/test_buckets.py`` instead.
"""

from __future__ import annotations

import datetime as dt
import itertools
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from moto.server import ThreadedMotoServer

from kms_tui.api.buckets import BucketEncryption, BucketEncryptionClient, validate_bucket_name
from kms_tui.api.errors import KmsBucketNotFound, KmsConnectionError

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


@pytest.fixture
def fresh_moto(moto_endpoint: str) -> str:
    """Reset moto's state so every test starts with no buckets."""
    import urllib.request

    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    return moto_endpoint


@pytest.fixture
async def client(fresh_moto: str) -> AsyncIterator[BucketEncryptionClient]:
    async with BucketEncryptionClient(fresh_moto, "moto-access", "moto-secret", retries=0) as c:
        yield c


def bucket_name(prefix: str = "bucket") -> str:
    return f"{prefix}-{next(_names)}"


async def test_list_is_empty_then_shows_created_buckets(client: BucketEncryptionClient) -> None:
    assert await client.list_buckets() == ()
    before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    await client.create_bucket("alpha-bucket")
    await client.create_bucket("beta.bucket")
    buckets = await client.list_buckets()
    assert sorted(bucket.name for bucket in buckets) == ["alpha-bucket", "beta.bucket"]
    for bucket in buckets:
        assert bucket.creation_date is not None
        assert bucket.creation_date.tzinfo is not None
        assert bucket.creation_date > before


async def test_new_bucket_has_no_encryption(client: BucketEncryptionClient) -> None:
    name = bucket_name()
    await client.create_bucket(name)
    assert await client.get_bucket_encryption(name) is None


async def test_encryption_round_trip(client: BucketEncryptionClient) -> None:
    name = bucket_name("enc")
    await client.create_bucket(name)

    await client.put_bucket_encryption(name, algorithm="AES256")
    sse_s3 = await client.get_bucket_encryption(name)
    assert sse_s3 == BucketEncryption(algorithm="AES256", kms_key_id=None)
    assert sse_s3.is_sse_s3

    key_id = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    await client.put_bucket_encryption(name, algorithm="aws:kms", kms_key_id=key_id)
    sse_kms = await client.get_bucket_encryption(name)
    assert sse_kms == BucketEncryption(algorithm="aws:kms", kms_key_id=key_id)
    assert sse_kms.is_sse_kms

    await client.delete_bucket_encryption(name)
    assert await client.get_bucket_encryption(name) is None


async def test_sse_kms_without_key_id(client: BucketEncryptionClient) -> None:
    name = bucket_name("kmsdefault")
    await client.create_bucket(name)
    await client.put_bucket_encryption(name, algorithm="aws:kms")
    configured = await client.get_bucket_encryption(name)
    assert configured is not None
    assert configured.is_sse_kms


async def test_encryption_is_per_bucket(client: BucketEncryptionClient) -> None:
    first, second = bucket_name("first"), bucket_name("second")
    await client.create_bucket(first)
    await client.create_bucket(second)
    await client.put_bucket_encryption(first, algorithm="aws:kms", kms_key_id="key-a")
    assert await client.get_bucket_encryption(second) is None
    encryption = await client.get_bucket_encryption(first)
    assert encryption is not None and encryption.kms_key_id == "key-a"


@pytest.mark.parametrize("operation", ["get", "put", "delete"])
async def test_missing_bucket_is_bucket_not_found(
    client: BucketEncryptionClient, operation: str
) -> None:
    missing = bucket_name("missing")
    with pytest.raises(KmsBucketNotFound) as caught:
        if operation == "get":
            await client.get_bucket_encryption(missing)
        elif operation == "put":
            await client.put_bucket_encryption(missing, algorithm="AES256")
        else:
            await client.delete_bucket_encryption(missing)
    error = caught.value
    assert error.status == 404
    assert error.code == "NoSuchBucket"
    assert error.request_id


async def test_connection_refused_is_connection_error() -> None:
    port = _free_port()
    async with BucketEncryptionClient(f"http://127.0.0.1:{port}", "a", "s", retries=0) as client:
        with pytest.raises(KmsConnectionError):
            await client.list_buckets()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(name=st.from_regex(r"\A[a-z0-9][a-z0-9.-]{1,40}[a-z0-9]\Z"))
def test_names_the_validator_accepts_are_accepted_by_moto(moto_endpoint: str, name: str) -> None:
    """moto's S3 enforces its own naming rules; whatever we let through, it takes."""
    import asyncio

    assume(validate_bucket_name(name) is None)

    async def create_and_check() -> None:
        async with BucketEncryptionClient(moto_endpoint, "a", "s", retries=0) as client:
            await client.create_bucket(name)
            assert name in {bucket.name for bucket in await client.list_buckets()}

    asyncio.run(create_and_check())
