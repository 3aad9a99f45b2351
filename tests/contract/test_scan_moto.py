"""The impact scan and the encryption check against moto's S3 in server mode.

moto keeps the SSE headers objects were stored with (written here by boto3, the AWS SDK), so a
scan over it must find exactly the objects boto3 put under the scanned key, through the lean
bulk-HEAD path and the bucket defaults boto3 set; and the encryption check of a bucket without a
default must say "not encrypted" and leave no probe behind.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from kms_tui.api.buckets import BucketEncryptionClient
from kms_tui.api.impact import ImpactScan
from kms_tui.api.verify import PROBE_PREFIX, Verdict, check_bucket_encryption
from tests.contract.test_objects_moto import ACCESS_KEY, SECRET_KEY, moto_endpoint
from tests.fakes.serve import s3_client

__all__ = ["moto_endpoint"]  # the fixture, shared with the object-call tests

_names = itertools.count()


@pytest.fixture(scope="module")
def boto(moto_endpoint: str) -> Any:
    return s3_client(moto_endpoint, ACCESS_KEY, SECRET_KEY)


@pytest.fixture
async def client(moto_endpoint: str) -> AsyncIterator[BucketEncryptionClient]:
    async with BucketEncryptionClient(moto_endpoint, ACCESS_KEY, SECRET_KEY, retries=0) as c:
        yield c


@pytest.fixture
def world(boto: Any) -> Iterator[dict[str, Any]]:
    """Three buckets: objects under key-a, key-b, SSE-S3 and none; key-a as one default."""
    run = next(_names)
    buckets = [f"scan-{run}-{index}" for index in range(3)]
    for name in buckets:
        boto.create_bucket(Bucket=name)
    boto.put_bucket_encryption(
        Bucket=buckets[0],
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": "key-a",
                    }
                }
            ]
        },
    )
    expected: set[tuple[str, str]] = set()
    for index in range(90):
        bucket = buckets[index % 3]
        key = f"dir/{index:03d} obj+ü.bin"
        if index % 3 == 0 or index % 5 == 0:
            boto.put_object(
                Bucket=bucket,
                Key=key,
                Body=b"x",
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId="key-a",
            )
            expected.add((bucket, key))
        elif index % 2 == 0:
            boto.put_object(
                Bucket=bucket,
                Key=key,
                Body=b"x",
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId="key-b",
            )
        elif index % 7 == 0:
            boto.put_object(Bucket=bucket, Key=key, Body=b"x", ServerSideEncryption="AES256")
        else:
            boto.put_object(Bucket=bucket, Key=key, Body=b"x")
    yield {"buckets": buckets, "expected": expected}


async def test_scan_finds_exactly_the_objects_under_the_key(
    client: BucketEncryptionClient, world: dict[str, Any]
) -> None:
    scan = ImpactScan(client, ["key-a", "key-b"], default_key_id=None, buckets=world["buckets"])
    result = await scan.run()
    assert result.scanned == result.listed == 90
    assert not result.partial and result.errors == []
    found = {(hit.bucket, hit.key) for hit in result.impact("key-a").objects}
    assert found == world["expected"]
    assert [d.bucket for d in result.impact("key-a").bucket_defaults] == [world["buckets"][0]]
    assert result.impact("key-b").bucket_defaults == []
    assert not found & {(hit.bucket, hit.key) for hit in result.impact("key-b").objects}


async def test_sse_s3_objects_count_against_the_default_key(
    client: BucketEncryptionClient, world: dict[str, Any]
) -> None:
    scan = ImpactScan(client, ["key-d"], default_key_id="key-d", buckets=world["buckets"])
    result = await scan.run()
    hits = result.impact("key-d").objects
    assert hits and all(hit.algorithm == "AES256" and hit.via_default_key for hit in hits)
    assert "SSE-S3 objects are counted too" in result.impact("key-d").summary(partial=False)


async def test_check_says_not_encrypted_where_the_server_applies_no_default(
    client: BucketEncryptionClient, world: dict[str, Any]
) -> None:
    bucket = world["buckets"][1]  # no default encryption
    result = await check_bucket_encryption(client, bucket, default_key_id=None)
    assert result.verdict is Verdict.NOT_ENCRYPTED
    assert "no default encryption" in result.detail
    assert "probe deleted" in result.steps
    left = [
        summary.key
        async for page in client.iter_object_pages(bucket, PROBE_PREFIX)
        for summary in page
    ]
    assert left == []
