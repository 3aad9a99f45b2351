"""Which key protects a new object, and what each refusal answers (RustFS §1.2-§1.4, §5)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from kms_tui.embedded.objects_common import S3Failure
from kms_tui.embedded.objects_sse import (
    SSE,
    SSE_KEY_ID,
    WriteSse,
    check_read_headers,
    check_sse_c_put,
    new_data_key,
    parse_write_sse,
    read_headers,
    stored_encryption,
    unwrap_data_key,
    write_headers,
)
from kms_tui.embedded.objects_store import ObjectMeta
from kms_tui.embedded.service_keys import KmsOpError

CONTEXT = "x-amz-server-side-encryption-context"


@pytest.mark.parametrize(
    ("headers", "bucket", "expected"),
    [
        ({}, (None, None), WriteSse(None, None)),
        ({}, ("AES256", None), WriteSse("AES256", None)),
        ({}, ("aws:kms", "bk"), WriteSse("aws:kms", "bk")),
        ({SSE: "aws:kms"}, (None, None), WriteSse("aws:kms", None)),
        ({SSE: "aws:kms"}, ("aws:kms", "bk"), WriteSse("aws:kms", "bk")),
        ({SSE: "aws:kms", SSE_KEY_ID: "rk"}, ("aws:kms", "bk"), WriteSse("aws:kms", "rk")),
        ({SSE: "aws:kms", SSE_KEY_ID: "rk"}, ("AES256", None), WriteSse("aws:kms", "rk")),
        # Not replicated from 20d1266: an explicit AES256 does not inherit the bucket's key id.
        ({SSE: "AES256"}, ("aws:kms", "bk"), WriteSse("AES256", None)),
        # A bucket default of aws:kms lets the key id come alone (§1.3, a trace).
        ({SSE_KEY_ID: "rk"}, ("aws:kms", "bk"), WriteSse("aws:kms", "rk")),
        ({SSE: "aws:kms", SSE_KEY_ID: ""}, ("aws:kms", "bk"), WriteSse("aws:kms", "bk")),
    ],
)
def test_effective_encryption(
    headers: dict[str, str], bucket: tuple[str | None, str | None], expected: WriteSse
) -> None:
    assert parse_write_sse(headers, *bucket) == expected


@pytest.mark.parametrize(
    ("headers", "bucket", "message"),
    [
        ({SSE: "aws:kms:dsse"}, None, "The SSE algorithm specified is not supported."),
        ({SSE: "aes256"}, None, "The SSE algorithm specified is not supported."),
        ({SSE: ""}, None, "The SSE algorithm specified is not supported."),
        ({SSE: "AES256", SSE_KEY_ID: "k"}, None, "The SSE-KMS key ID header can only"),
        ({SSE_KEY_ID: "k"}, None, "The SSE-KMS key ID header can only"),
        ({SSE_KEY_ID: "k"}, "AES256", "The SSE-KMS key ID header can only"),
        ({SSE: "AES256", CONTEXT: "e30="}, None, "The SSE-KMS context header can only"),
        ({SSE: "aws:kms", CONTEXT: "!!"}, None, "must be valid base64-encoded JSON"),
        ({SSE: "aws:kms", CONTEXT: "WzFd"}, None, "must be a base64-encoded JSON object"),
        (
            {SSE: "aws:kms", "x-amz-server-side-encryption-bucket-key-enabled": "yes"},
            None,
            "invalid header",
        ),
    ],
)
def test_refusals(headers: dict[str, str], bucket: str | None, message: str) -> None:
    with pytest.raises(S3Failure) as caught:
        parse_write_sse(headers, bucket, None)
    assert (caught.value.status, caught.value.code) == (400, "InvalidArgument")
    assert message in caught.value.message


def test_client_context_is_parsed() -> None:
    context = base64.b64encode(json.dumps({"team": "a"}).encode()).decode()
    write = parse_write_sse({SSE: "aws:kms", CONTEXT: context}, None, None)
    assert dict(write.client_context) == {"team": "a"}


SSEC_ALG = "x-amz-server-side-encryption-customer-algorithm"
SSEC_KEY = "x-amz-server-side-encryption-customer-key"
SSEC_MD5 = "x-amz-server-side-encryption-customer-key-md5"
GOOD_KEY = base64.b64encode(b"k" * 32).decode()
GOOD_MD5 = "mT2HRsMGJ5IX5C+0rreZ8Q=="  # base64 MD5 of b"k" * 32


@pytest.mark.parametrize(
    ("headers", "status", "code", "message"),
    [
        ({SSEC_ALG: "AES256", SSE: "AES256"}, 400, "InvalidArgument", "The SSE-C and managed"),
        ({SSEC_ALG: "AES256"}, 400, "InvalidRequest", "Missing SSE-C parameters."),
        ({SSEC_ALG: "AES128", SSEC_KEY: GOOD_KEY, SSEC_MD5: GOOD_MD5}, 400, "InvalidRequest",
         "Unsupported SSE-C algorithm."),
        ({SSEC_ALG: "AES256", SSEC_KEY: "%%", SSEC_MD5: GOOD_MD5}, 400, "InvalidRequest",
         "Invalid SSE-C key: not valid Base64."),
        ({SSEC_ALG: "AES256", SSEC_KEY: GOOD_KEY, SSEC_MD5: "AAAA"}, 400, "InvalidRequest",
         "The calculated MD5 hash of the key did not match"),
        ({SSEC_ALG: "AES256", SSEC_KEY: GOOD_KEY, SSEC_MD5: GOOD_MD5}, 501, "NotImplemented",
         "SSE-C is not supported by this server"),
    ],
)  # fmt: skip
def test_sse_c_put(headers: dict[str, str], status: int, code: str, message: str) -> None:
    with pytest.raises(S3Failure) as caught:
        check_sse_c_put(headers)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.message.startswith(message)


@dataclass
class FakeKeys:
    """Stands in for KmsService.keys; raises KmsOpError as the real one does."""

    failure: KmsOpError | None = None
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def generate_data_key(
        self, key_id: str, key_spec: str, context: Mapping[str, str]
    ) -> tuple[bytes, bytes]:
        assert key_spec == "Aes256"
        self.calls.append((key_id, dict(context)))
        if self.failure is not None:
            raise self.failure
        return b"d" * 32, b'{"envelope": true}'

    def decrypt(self, blob: bytes, context: Mapping[str, str]) -> tuple[str, bytes]:
        self.calls.append(("decrypt", dict(context)))
        if self.failure is not None:
            raise self.failure
        return "k", b"d" * 32


@dataclass
class FakeKms:
    running: bool = True
    default: str | None = "dflt"
    fake_keys: FakeKeys = field(default_factory=FakeKeys)

    @property
    def is_running(self) -> bool:
        return self.running

    def default_key_id(self) -> str | None:
        return self.default

    @property
    def keys(self) -> FakeKeys:
        return self.fake_keys


def test_key_resolution_and_context() -> None:
    kms = FakeKms()
    assert new_data_key(kms, WriteSse(None, None), "b", "k") is None
    assert kms.keys.calls == []
    kms_material = new_data_key(kms, WriteSse("aws:kms", "rk", {"b": "mine", "x": "y"}), "b", "k")
    s3_material = new_data_key(kms, WriteSse("AES256", None), "b", "dir/k")
    bare = new_data_key(kms, WriteSse("aws:kms", None), "b", "k")
    assert kms_material and s3_material and bare
    assert kms.keys.calls == [
        ("rk", {"b": "mine", "x": "y"}),  # the client's entry named like the bucket wins
        ("dflt", {"b": "b/dir/k"}),
        ("dflt", {"b": "b/k"}),
    ]
    assert write_headers(s3_material) == ((SSE, "AES256"), (SSE_KEY_ID, "dflt"))
    assert len(kms_material.base_nonce) == 12
    assert kms_material.base_nonce != s3_material.base_nonce
    no_default = FakeKms(default=None)
    assert new_data_key(no_default, WriteSse("AES256", None), "b", "k") is not None
    assert no_default.keys.calls[0][0] == "default"


@pytest.mark.parametrize(
    ("kms", "status", "code"),
    [
        (FakeKms(running=False), 503, "ServiceUnavailable"),
        (FakeKms(default=None), 400, "InvalidRequest"),
        (FakeKms(fake_keys=FakeKeys(KmsOpError("not_found", "Key not found: x"))), 400,
         "KMS.NotFoundException"),
        (FakeKms(fake_keys=FakeKeys(KmsOpError("invalid", "Key x is disabled"))), 500,
         "InternalError"),
        (FakeKms(fake_keys=FakeKeys(KmsOpError("not_running", "down"))), 503,
         "ServiceUnavailable"),
    ],
)  # fmt: skip
def test_key_refusals(kms: FakeKms, status: int, code: str) -> None:
    with pytest.raises(S3Failure) as caught:
        new_data_key(kms, WriteSse("aws:kms", None), "b", "k")
    assert (caught.value.status, caught.value.code) == (status, code)
    if code == "InternalError":
        assert caught.value.message == "We encountered an internal error, please try again."


def meta_with(encryption: dict[str, str] | None) -> ObjectMeta:
    return ObjectMeta(
        key="k",
        size=1,
        etag="e",
        last_modified=datetime(2026, 1, 1, tzinfo=UTC),
        content_type="binary/octet-stream",
        encryption=encryption,
        block_size=65536 if encryption is not None else None,
    )


def test_stored_metadata_and_read_headers() -> None:
    kms = FakeKms()
    context = {"team": "a"}
    material = new_data_key(kms, WriteSse("aws:kms", "rk", context), "b", "k")
    assert material is not None
    stored = stored_encryption(material, 123)
    assert stored[SSE] == "aws:kms" and stored[SSE_KEY_ID] == "rk"
    assert stored["x-rustfs-encryption-key-id"] == "rk"
    assert base64.b64decode(stored["x-rustfs-encryption-key"]) == b'{"envelope": true}'
    assert base64.b64decode(stored["x-rustfs-encryption-iv"]) == material.base_nonce
    assert stored["x-rustfs-encryption-algorithm"] == "aws:kms"
    assert stored["x-rustfs-encryption-original-size"] == "123"
    assert json.loads(stored["x-rustfs-encryption-context"]) == context
    meta = meta_with(stored)
    assert read_headers(meta, head=True) == ((SSE, "aws:kms"), (SSE_KEY_ID, "rk"))
    assert unwrap_data_key(kms, meta, "b", "k") == (b"d" * 32, material.base_nonce)
    assert kms.keys.calls[-1] == ("decrypt", {"b": "b/k", "team": "a"})
    sse_s3 = new_data_key(kms, WriteSse("AES256", None), "b", "k")
    assert sse_s3 is not None
    s3_meta = meta_with(stored_encryption(sse_s3, 1))
    assert SSE_KEY_ID not in s3_meta.encryption  # type: ignore[operator]
    assert read_headers(s3_meta, head=True) == ((SSE, "AES256"),)
    assert read_headers(s3_meta, head=False) == ((SSE, "AES256"), (SSE_KEY_ID, "dflt"))
    assert read_headers(meta_with(None), head=False) == ()


@pytest.mark.parametrize(
    ("failure", "status", "fragment"),
    [
        (KmsOpError("not_found", "Key not found: rk"), 500, "no longer exists"),
        (KmsOpError("context", "Encryption context mismatch"), 500, "could not be unwrapped"),
        (KmsOpError("not_running", "down"), 503, "unavailable"),
    ],
)
def test_unwrap_refusals(failure: KmsOpError, status: int, fragment: str) -> None:
    material = new_data_key(FakeKms(), WriteSse("aws:kms", "rk"), "b", "k")
    assert material is not None
    meta = meta_with(stored_encryption(material, 1))
    with pytest.raises(S3Failure) as caught:
        unwrap_data_key(FakeKms(fake_keys=FakeKeys(failure)), meta, "b", "k")
    assert caught.value.status == status and fragment in caught.value.message
    if status == 500:
        assert "'rk'" in caught.value.message


def test_read_headers_refused() -> None:
    plain, encrypted = meta_with(None), meta_with({SSE: "AES256"})
    for headers in ({SSE: "AES256"}, {SSE_KEY_ID: "k"}, {CONTEXT: "e30="}):
        with pytest.raises(S3Failure) as caught:
            check_read_headers(headers, encrypted)
        assert caught.value.code == "InvalidArgument"
    with pytest.raises(S3Failure) as managed:
        check_read_headers({SSEC_ALG: "AES256"}, encrypted)
    assert managed.value.code == "InvalidArgument"
    with pytest.raises(S3Failure) as unencrypted:
        check_read_headers({SSEC_ALG: "AES256"}, plain)
    assert unencrypted.value.code == "InvalidRequest"
    check_read_headers({}, encrypted)
