"""Is this bucket really encrypting new data with the key the operator thinks?

The check writes a small random probe object *without* SSE headers (so the bucket default
decides), reads what the PUT answer and a HEAD say about its encryption, compares both with the
bucket's default (and the KMS default key where the default implies it), reads the probe back and
compares the bytes, and deletes it — also when a step failed. It writes, so it is refused in a
read-only session by its callers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from kms_tui.api.errors import KmsError
from kms_tui.api.s3_models import SSE_KMS, SSE_S3, ObjectEncryption, ObjectHead

__all__ = ["PROBE_PREFIX", "CheckResult", "Verdict", "check_bucket_encryption"]

PROBE_PREFIX = ".kms-tui-probe/"


class Verdict(StrEnum):
    """The one-word outcome of a check."""

    EXPECTED = "encrypted with the expected key"
    NOT_ENCRYPTED = "not encrypted"
    OTHER_KEY = "encrypted under another key"
    FAILED = "failed"


class _BucketEncryption(Protocol):
    @property
    def algorithm(self) -> str: ...

    @property
    def kms_key_id(self) -> str | None: ...


class ProbeTarget(Protocol):
    """The S3 calls a check needs (:class:`kms_tui.api.buckets.BucketEncryptionClient`)."""

    async def get_bucket_encryption(self, bucket: str) -> _BucketEncryption | None: ...

    async def put_object(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        sse: str | None = ...,
        kms_key_id: str | None = ...,
    ) -> ObjectEncryption: ...

    async def head_object(self, bucket: str, key: str) -> ObjectHead: ...

    async def get_object(self, bucket: str, key: str) -> tuple[bytes, ObjectEncryption]: ...

    async def delete_object(self, bucket: str, key: str) -> None: ...


@dataclass(slots=True)
class CheckResult:
    """One bucket's verdict, in plain words, with every step it took."""

    bucket: str
    verdict: Verdict
    detail: str
    checked_at: datetime
    expected_algorithm: str | None = None
    expected_key_id: str | None = None
    seen_algorithm: str | None = None
    seen_key_id: str | None = None
    steps: list[str] = field(default_factory=list)
    request_id: str | None = None
    probe_key: str | None = None  # the probe's name (random; the steps name it only if it stays)

    @property
    def ok(self) -> bool:
        """Whether the bucket encrypts new data as its default says."""
        return self.verdict is Verdict.EXPECTED

    @property
    def line(self) -> str:
        """``bucket: verdict — detail`` for a notification or a terminal."""
        return f"{self.bucket}: {self.verdict.value} — {self.detail}"


def _expected(
    default: _BucketEncryption | None, default_key_id: str | None
) -> tuple[str | None, str | None]:
    if default is None:
        return None, None
    if default.algorithm == SSE_KMS:
        return SSE_KMS, default.kms_key_id or default_key_id
    if default.algorithm == SSE_S3:
        return SSE_S3, default_key_id
    return default.algorithm, default.kms_key_id


async def check_bucket_encryption(
    client: ProbeTarget,
    bucket: str,
    *,
    default_key_id: str | None,
    clock: Callable[[], datetime] | None = None,
) -> CheckResult:
    """Probe ``bucket`` and judge; never raises :class:`KmsError` (a failure is a verdict)."""
    now = clock or (lambda: datetime.now(UTC))
    probe_key = f"{PROBE_PREFIX}{secrets.token_hex(8)}"
    result = CheckResult(bucket, Verdict.FAILED, "", checked_at=now(), probe_key=probe_key)
    payload = b"kms-tui encryption probe " + secrets.token_bytes(32)
    written = False
    try:
        default = await client.get_bucket_encryption(bucket)
        expected_algorithm, expected_key = _expected(default, default_key_id)
        result.expected_algorithm, result.expected_key_id = expected_algorithm, expected_key
        result.steps.append(
            "bucket default: "
            + (
                "none"
                if default is None
                else f"{default.algorithm}"
                + (f" key {default.kms_key_id}" if default.kms_key_id else "")
            )
        )
        put_answer = await client.put_object(bucket, probe_key, payload)
        written = True
        result.steps.append(f"PUT probe: {put_answer.label}" + _key_text(put_answer))
        head = await client.head_object(bucket, probe_key)
        seen = head.encryption
        result.steps.append(f"HEAD: {seen.label}" + _key_text(seen))
        data, _ = await client.get_object(bucket, probe_key)
        if data != payload:
            result.detail = "the probe read back differs from what was written"
            result.steps.append("GET: content differs")
            return result
        result.steps.append("GET: content matches")
        _judge(result, put_answer, seen)
    except KmsError as err:
        result.verdict = Verdict.FAILED
        result.detail = err.message
        result.request_id = err.request_id
        result.steps.append(f"failed: {err.message}")
    finally:
        if written:
            try:
                await client.delete_object(bucket, probe_key)
                result.steps.append("probe deleted")
            except KmsError as err:
                result.steps.append(f"probe {probe_key} could not be deleted: {err.message}")
                if result.verdict is not Verdict.FAILED:
                    result.detail += f" (the probe {probe_key} could not be deleted)"
        result.checked_at = now()
    return result


def _key_text(encryption: ObjectEncryption) -> str:
    return f" key {encryption.kms_key_id}" if encryption.kms_key_id else ""


def _judge(result: CheckResult, put_answer: ObjectEncryption, seen: ObjectEncryption) -> None:
    algorithm = seen.algorithm or put_answer.algorithm
    # HEAD names the key of SSE-KMS objects only; the PUT answer names it for SSE-S3 too.
    key_id = seen.kms_key_id or put_answer.kms_key_id
    result.seen_algorithm, result.seen_key_id = algorithm, key_id
    expected_algorithm, expected_key = result.expected_algorithm, result.expected_key_id
    if algorithm is None and not seen.sse_c:
        result.verdict = Verdict.NOT_ENCRYPTED
        result.detail = (
            "the bucket has no default encryption: new objects are stored unencrypted"
            if expected_algorithm is None
            else f"the bucket's default says {expected_algorithm} but the new object is "
            "stored unencrypted"
        )
        return
    if expected_algorithm is None:
        result.verdict = Verdict.OTHER_KEY
        result.detail = (
            f"the bucket has no default encryption, yet the server applied {algorithm}"
            + (f" with key {key_id}" if key_id else "")
        )
        return
    if algorithm != expected_algorithm:
        result.verdict = Verdict.OTHER_KEY
        result.detail = f"expected {expected_algorithm}, the server applied {algorithm}" + (
            f" with key {key_id}" if key_id else ""
        )
        return
    if expected_key is not None and key_id is not None and key_id != expected_key:
        result.verdict = Verdict.OTHER_KEY
        result.detail = f"{algorithm} under key {key_id}, not the expected {expected_key}"
        return
    result.verdict = Verdict.EXPECTED
    if key_id is not None:
        result.detail = f"{algorithm} under key {key_id}"
    elif expected_algorithm == SSE_S3:
        result.detail = "SSE-S3 (keyed by the KMS default key; the server does not name it)"
    else:
        result.detail = f"{algorithm}; the server did not name the key"
