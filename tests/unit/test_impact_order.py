"""The impact scan's hits come out in listing order, whatever order the HEADs answer in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from kms_tui.api.impact import ImpactScan
from kms_tui.api.s3_models import SSE_KMS, ObjectEncryption, ObjectHead, ObjectSummary


@dataclass(frozen=True)
class _Bucket:
    name: str


class _ReverseSource:
    """Two buckets of SSE-KMS objects; each HEAD is held until every later one has answered."""

    def __init__(self, objects: dict[str, list[str]]) -> None:
        self.objects = objects
        self.order = [(bucket, key) for bucket, keys in objects.items() for key in keys]
        self.answered: list[tuple[str, str]] = []
        self._done = {item: asyncio.Event() for item in self.order}

    async def list_buckets(self) -> tuple[_Bucket, ...]:
        return tuple(_Bucket(name) for name in self.objects)

    async def get_bucket_encryption(self, bucket: str) -> None:
        return None

    async def iter_object_pages(
        self, bucket: str, prefix: str = "", *, page_size: int = 1000
    ) -> AsyncIterator[tuple[ObjectSummary, ...]]:
        yield tuple(ObjectSummary(key, 1, None, None) for key in self.objects[bucket])

    async def head_object(self, bucket: str, key: str) -> ObjectHead:
        index = self.order.index((bucket, key))
        for later in self.order[index + 1 :]:
            await self._done[later].wait()
        self.answered.append((bucket, key))
        self._done[(bucket, key)].set()
        return ObjectHead(bucket, key, 1, None, None, ObjectEncryption(SSE_KMS, "k1", False))


async def test_hits_are_in_bucket_then_key_order_though_heads_answer_last_first() -> None:
    # Listing order: the buckets as the server lists them, then S3's key order within each.
    source = _ReverseSource({"zeta": ["a/x", "b", "c"], "alpha": ["m", "n"]})
    scan = ImpactScan(source, ["k1"], default_key_id=None, concurrency=8)

    result = await asyncio.wait_for(scan.run(), timeout=10)

    # The HEADs did answer last-first: the order below is the scan's doing, not the source's.
    assert source.answered == list(reversed(source.order))
    hits = [(hit.bucket, hit.key) for hit in result.impact("k1").objects]
    assert hits == [("zeta", "a/x"), ("zeta", "b"), ("zeta", "c"), ("alpha", "m"), ("alpha", "n")]
