"""Which data dies with a key: the buckets that name it and every object encrypted under it.

Deleting a KMS key is crypto-shredding, and an S3 listing carries no encryption, so the scan
lists every object of the chosen buckets and HEADs each one (a HEAD never calls the KMS) with a
bounded number in flight. HEAD names the KMS key of SSE-KMS objects only; an SSE-S3 object's
data key is wrapped by the KMS *default* key, so SSE-S3 objects count against the default key
(and the result says so). One scan answers for several keys at once (a bulk deletion).

The scan is plain asyncio over the S3 client: the console runs it in a worker and the command
line in its own loop. Progress is reported through a callback at most every ``progress_every``
seconds, never per object; cancelling the task keeps what was found, marked partial.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from kms_tui.api.errors import KmsError, KmsNotFound
from kms_tui.api.s3_models import SSE_KMS, SSE_S3, ObjectHead, ObjectSummary

__all__ = [
    "BucketDefault",
    "ImpactScan",
    "KeyImpact",
    "ObjectHit",
    "ScanProgress",
    "ScanResult",
    "default_names_key",
    "run_in_own_thread",
]

DEFAULT_CONCURRENCY = 32
DEFAULT_PROGRESS_SECONDS = 0.25


class _BucketEncryption(Protocol):
    @property
    def algorithm(self) -> str: ...

    @property
    def kms_key_id(self) -> str | None: ...


class _Bucket(Protocol):
    @property
    def name(self) -> str: ...


class ObjectSource(Protocol):
    """The S3 calls a scan needs (:class:`kms_tui.api.buckets.BucketEncryptionClient`)."""

    async def list_buckets(self) -> tuple[_Bucket, ...]: ...

    async def get_bucket_encryption(self, bucket: str) -> _BucketEncryption | None: ...

    def iter_object_pages(
        self, bucket: str, prefix: str = "", *, page_size: int = ...
    ) -> AsyncIterator[tuple[ObjectSummary, ...]]: ...

    async def head_object(self, bucket: str, key: str) -> ObjectHead: ...


class HeadSession(Protocol):
    """A source's bulk-HEAD path (``BucketEncryptionClient.bulk_heads()``)."""

    async def head(self, bucket: str, key: str) -> ObjectHead: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BucketDefault:
    """A bucket whose default encryption names (or, for SSE-S3, implies) a scanned key."""

    bucket: str
    algorithm: str
    kms_key_id: str | None
    via_default_key: bool  # SSE-S3, or SSE-KMS without a key id: the KMS default key


@dataclass(frozen=True, slots=True)
class ObjectHit:
    """One object whose data key is wrapped by a scanned key."""

    bucket: str
    key: str
    size: int
    algorithm: str
    via_default_key: bool  # an SSE-S3 object, counted against the default key


@dataclass(slots=True)
class KeyImpact:
    """What becomes unreadable if one key is deleted."""

    key_id: str
    is_default_key: bool
    bucket_defaults: list[BucketDefault] = field(default_factory=list)
    objects: list[ObjectHit] = field(default_factory=list)

    @property
    def object_count(self) -> int:
        """Objects encrypted under the key (SSE-S3 ones too when it is the default key)."""
        return len(self.objects)

    @property
    def bytes(self) -> int:
        """Their total size (plaintext, as the server reports it)."""
        return sum(hit.size for hit in self.objects)

    @property
    def buckets_with_objects(self) -> tuple[str, ...]:
        """The buckets holding at least one such object, in scan order."""
        return tuple(dict.fromkeys(hit.bucket for hit in self.objects))

    def summary(self, *, partial: bool) -> str:
        """One line in plain words, e.g. for the deletion confirmation."""
        objects = self.object_count
        buckets = len(self.buckets_with_objects)
        at_least = "at least " if partial else ""
        line = (
            f"{at_least}{objects:,} object{'s' if objects != 1 else ''} in {buckets:,} "
            f"bucket{'s' if buckets != 1 else ''} become unreadable when this key is deleted"
        )
        if self.is_default_key:
            line += " (it is the KMS default key: SSE-S3 objects are counted too)"
        return line


@dataclass(frozen=True, slots=True)
class ScanProgress:
    """A snapshot for the progress bar."""

    buckets_done: int
    buckets_total: int
    listed: int  # objects listed so far
    scanned: int  # objects HEADed so far
    listing_done: bool  # every bucket fully listed: ``listed`` is the total
    elapsed_seconds: float
    errors: int

    @property
    def rate(self) -> float:
        """Objects HEADed per second so far."""
        return self.scanned / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        """Time left at the current rate, once the total is known."""
        if not self.listing_done or self.rate <= 0:
            return None
        return max(self.listed - self.scanned, 0) / self.rate


@dataclass(slots=True)
class ScanResult:
    """Every scanned key's impact, when it was taken, and how complete it is."""

    impacts: dict[str, KeyImpact]
    started_at: datetime
    finished_at: datetime | None = None
    buckets: tuple[str, ...] = ()
    scanned: int = 0
    listed: int = 0
    partial: bool = False  # stopped before every object was HEADed
    errors: list[str] = field(default_factory=list)  # objects or buckets that could not be read
    default_key_id: str | None = None

    def impact(self, key_id: str) -> KeyImpact:
        """The impact of one scanned key."""
        return self.impacts[key_id]


def default_names_key(
    algorithm: str, kms_key_id: str | None, key_id: str, default_key_id: str | None
) -> tuple[bool, bool]:
    """(whether a bucket default or object encryption uses ``key_id``, whether via the default)."""
    if algorithm == SSE_KMS and kms_key_id:
        return kms_key_id == key_id, False
    if algorithm in (SSE_KMS, SSE_S3):
        # aws:kms without a key id and AES256 both take the KMS default key.
        return default_key_id is not None and key_id == default_key_id, True
    return False, False


class ImpactScan:
    """One scan of ``buckets`` (None: all) for the objects under ``key_ids``."""

    def __init__(
        self,
        source: ObjectSource,
        key_ids: Iterable[str],
        *,
        default_key_id: str | None,
        buckets: Iterable[str] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_progress: Callable[[ScanProgress], None] | None = None,
        progress_every: float = DEFAULT_PROGRESS_SECONDS,
        clock: Callable[[], datetime] | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        keys = tuple(dict.fromkeys(key_ids))
        if not keys:
            raise ValueError("key_ids: name at least one key")
        if concurrency < 1:
            raise ValueError("concurrency: at least 1")
        self.source = source
        self.key_ids = keys
        self.default_key_id = default_key_id
        self.only_buckets = tuple(buckets) if buckets is not None else None
        self.concurrency = concurrency
        self.on_progress = on_progress
        self.progress_every = progress_every
        self.clock = clock or (lambda: datetime.now(UTC))
        self.timer = timer
        self.result = ScanResult(
            {key: KeyImpact(key, is_default_key=key == default_key_id) for key in keys},
            started_at=self.clock(),
            default_key_id=default_key_id,
        )
        self._buckets_total = 0
        self._buckets_done = 0
        self._listing_done = False
        self._started = 0.0
        self._last_report = float("-inf")

    async def run(self) -> ScanResult:
        """Scan to the end; when cancelled, the result so far is kept in :attr:`result`."""
        self._started = self.timer()
        result = self.result
        try:
            buckets = await self._bucket_names()
            result.buckets = buckets
            self._buckets_total = len(buckets)
            self._report(force=True)
            queue: asyncio.Queue[tuple[str, ObjectSummary] | None] = asyncio.Queue(
                maxsize=self.concurrency * 8
            )
            # A source with a bulk-HEAD path (the S3 client) HEADs through it; others, such as
            # test doubles, through head_object.
            opener: Callable[[], HeadSession] | None = getattr(self.source, "bulk_heads", None)
            session = opener() if callable(opener) else None
            head = session.head if session is not None else self.source.head_object
            workers = [
                asyncio.create_task(self._head_worker(queue, head)) for _ in range(self.concurrency)
            ]
            try:
                for bucket in buckets:
                    await self._scan_bucket(bucket, queue)
                    self._buckets_done += 1
                self._listing_done = True
                self._report(force=True)  # the total is final now: say so at once
                for _ in workers:
                    await queue.put(None)
                await asyncio.gather(*workers)
            finally:
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                if session is not None:
                    await session.aclose()
        except asyncio.CancelledError:
            result.partial = True
            self._in_listing_order()
            result.finished_at = self.clock()
            self._report(force=True)
            raise
        self._in_listing_order()
        result.finished_at = self.clock()
        self._report(force=True)
        return result

    def _in_listing_order(self) -> None:
        """Put each key's hits in listing order (bucket order, then key order, as S3 lists).

        HEADs run concurrently and finish in any order; the result a person reads, and the
        JSON a script diffs between runs, should not depend on which answer came first.
        """
        position = {name: index for index, name in enumerate(self.result.buckets)}
        for impact in self.result.impacts.values():
            impact.objects.sort(
                key=lambda hit: (position.get(hit.bucket, len(position)), hit.bucket, hit.key)
            )

    async def _bucket_names(self) -> tuple[str, ...]:
        if self.only_buckets is not None:
            return self.only_buckets
        return tuple(bucket.name for bucket in await self.source.list_buckets())

    async def _scan_bucket(
        self, bucket: str, queue: asyncio.Queue[tuple[str, ObjectSummary] | None]
    ) -> None:
        try:
            encryption = await self.source.get_bucket_encryption(bucket)
        except KmsError as err:
            self.result.errors.append(f"{bucket}: default encryption unreadable: {err.message}")
            encryption = None
        if encryption is not None:
            for impact in self.result.impacts.values():
                uses, via_default = default_names_key(
                    encryption.algorithm, encryption.kms_key_id, impact.key_id, self.default_key_id
                )
                if uses:
                    impact.bucket_defaults.append(
                        BucketDefault(
                            bucket, encryption.algorithm, encryption.kms_key_id, via_default
                        )
                    )
        try:
            async for page in self.source.iter_object_pages(bucket):
                for summary in page:
                    self.result.listed += 1
                    await queue.put((bucket, summary))
                self._report()
        except KmsNotFound as err:
            self.result.errors.append(f"{bucket}: {err.message}")
        except KmsError as err:
            self.result.errors.append(f"{bucket}: listing stopped: {err.message}")

    async def _head_worker(
        self,
        queue: asyncio.Queue[tuple[str, ObjectSummary] | None],
        head_object: Callable[[str, str], Awaitable[ObjectHead]],
    ) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            bucket, summary = item
            try:
                head = await head_object(bucket, summary.key)
            except KmsNotFound:
                pass  # deleted since it was listed: nothing to lose
            except KmsError as err:
                self.result.errors.append(f"{bucket}/{summary.key}: {err.message}")
            except ValueError as err:
                # A listed key the client will not send (e.g. over 1,024 bytes): note it and go
                # on; a worker that died here would leave the listing blocked on a full queue.
                self.result.errors.append(f"{bucket}/{summary.key}: {err}")
            else:
                self._count(head)
            self.result.scanned += 1
            self._report()

    def _count(self, head: ObjectHead) -> None:
        encryption = head.encryption
        if encryption.algorithm is None or encryption.sse_c:
            return
        # HEAD names the key of SSE-KMS objects only; an SSE-S3 object is the default key's.
        kms_key = encryption.kms_key_id if encryption.algorithm == SSE_KMS else None
        for impact in self.result.impacts.values():
            uses, via_default = default_names_key(
                encryption.algorithm, kms_key, impact.key_id, self.default_key_id
            )
            if uses:
                impact.objects.append(
                    ObjectHit(head.bucket, head.key, head.size, encryption.algorithm, via_default)
                )

    def progress(self) -> ScanProgress:
        """Where the scan is now."""
        return ScanProgress(
            buckets_done=self._buckets_done,
            buckets_total=self._buckets_total,
            listed=self.result.listed,
            scanned=self.result.scanned,
            listing_done=self._listing_done,
            elapsed_seconds=max(self.timer() - self._started, 0.0),
            errors=len(self.result.errors),
        )

    def _report(self, *, force: bool = False) -> None:
        if self.on_progress is None:
            return
        now = self.timer()
        if not force and now - self._last_report < self.progress_every:
            return
        self._last_report = now
        self.on_progress(self.progress())


def bucket_counts(hits: Iterable[ObjectHit]) -> Mapping[str, int]:
    """Objects per bucket, in scan order."""
    counts: dict[str, int] = {}
    for hit in hits:
        counts[hit.bucket] = counts.get(hit.bucket, 0) + 1
    return counts


async def run_in_own_thread(scan: ImpactScan, close: Callable[[], Awaitable[None]]) -> ScanResult:
    """Run ``scan`` on an event loop of its own in a worker thread, and wait for it.

    The console's loop then only draws: parsing a few hundred HEAD answers a second no longer
    delays its keystrokes. ``scan.source`` must belong to no other loop (see
    ``BucketEncryptionClient.twin``); ``close`` closes it on the scan's loop when the scan ends.
    Cancelling the caller cancels the scan and waits for it, so ``scan.result`` is complete up
    to that point (``partial``) when the cancellation reaches the caller.
    """
    started = threading.Event()
    handles: dict[str, Any] = {}

    async def main() -> ScanResult:
        handles["loop"] = asyncio.get_running_loop()
        handles["task"] = asyncio.current_task()
        started.set()
        try:
            return await scan.run()
        finally:
            await close()

    outcome = asyncio.get_running_loop().run_in_executor(None, asyncio.run, main())
    try:
        return await asyncio.shield(outcome)
    except asyncio.CancelledError:
        await asyncio.to_thread(started.wait, 5.0)
        loop, task = handles.get("loop"), handles.get("task")
        if loop is not None and task is not None:
            loop.call_soon_threadsafe(task.cancel)
        with contextlib.suppress(BaseException):
            await outcome
        raise
