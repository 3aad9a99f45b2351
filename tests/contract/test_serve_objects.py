"""boto3 against `kms-tui serve`: objects with real server-side encryption (RustFS §1-§5).

One server for the module (start-up is the slow part) with a Local KMS whose default key is
``obj-default``; every test uses buckets of its own. The data directory is searched for the
plaintext of every encrypted object written here: it is never there.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.exceptions import ClientError

from tests.fakes.serve import (
    ServeProcess,
    admin_call,
    configure_local_kms,
    create_key,
    running_serve,
    s3_client,
    signed_headers,
)

SSE = "x-amz-server-side-encryption"
SSE_KEY = "x-amz-server-side-encryption-aws-kms-key-id"
DEFAULT_KEY = "obj-default"
KMS_KEY = "obj-kms"
OTHER_KEY = "obj-other"
INTERNAL_ERROR = "We encountered an internal error, please try again."
BLOCK = 64 * 1024


def isolated_env(base: Path) -> dict[str, str]:
    """The environment minus RustFS/AWS settings, with XDG directories under ``base``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RUSTFS_", "AWS_", "XDG_"))
    }
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(base / var.lower())
    return env


@dataclass
class ObjectServer:
    """A serve process with a running Local KMS, a boto3 client and raw signed requests."""

    served: ServeProcess
    s3: Any
    key_dir: Path

    @property
    def data_dir(self) -> Path:
        return self.served.data_dir

    def admin(self, method: str, path: str, payload: Any = None) -> httpx.Response:
        served = self.served
        return admin_call(
            served.endpoint, served.access_key, served.secret_key, method, path, payload
        )

    def raw(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        auth_class: type[SigV4Auth] = S3SigV4Auth,
    ) -> httpx.Response:
        """One signed request: botocore's S3 signer hashes the payload; ``SigV4Auth`` signs
        whatever ``X-Amz-Content-SHA256`` the headers carry."""
        url = self.served.endpoint + path
        signed = signed_headers(
            method,
            url,
            access_key=self.served.access_key,
            secret_key=self.served.secret_key,
            body=body,
            headers=headers,
            auth_class=auth_class,
        )
        return httpx.request(method, url, content=body, headers=signed, timeout=30)

    def bucket(self, name: str, algorithm: str | None = None, key_id: str | None = None) -> str:
        self.s3.create_bucket(Bucket=name)
        if algorithm is not None:
            default: dict[str, Any] = {"SSEAlgorithm": algorithm}
            if key_id is not None:
                default["KMSMasterKeyID"] = key_id
            self.s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": default}]
                },
            )
        return name

    def key(self, name: str) -> None:
        served = self.served
        answer = create_key(served.endpoint, served.access_key, served.secret_key, name)
        assert answer.status_code == 200, answer.text


def start_object_server(
    base: Path, *extra: str, default_key: str | None = DEFAULT_KEY, keys: tuple[str, ...] = ()
) -> Iterator[ObjectServer]:
    """Run serve with a Local KMS (and the given keys) for the duration of a generator."""
    with running_serve(base / "data", *extra, env=isolated_env(base)) as served:
        key_dir = base / "keys"
        configure_local_kms(
            served.endpoint,
            served.access_key,
            served.secret_key,
            key_dir,
            default_key_id=default_key,
        )
        server = ObjectServer(
            served, s3_client(served.endpoint, served.access_key, served.secret_key), key_dir
        )
        for name in keys:
            server.key(name)
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectServer]:
    base = tmp_path_factory.mktemp("serve-objects")
    yield from start_object_server(
        base, "--allow-immediate-deletion", keys=(DEFAULT_KEY, KMS_KEY, OTHER_KEY)
    )


def headers_of(answer: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = answer["ResponseMetadata"]["HTTPHeaders"]
    return headers


def sse_of(answer: Mapping[str, Any]) -> tuple[str | None, str | None]:
    headers = headers_of(answer)
    return headers.get(SSE), headers.get(SSE_KEY)


def error_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = info.value.response
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    return status, response["Error"]["Code"], response["Error"].get("Message", "")


def xml_error(answer: httpx.Response) -> tuple[str, str]:
    root = ET.fromstring(answer.content)
    return root.findtext("Code") or "", root.findtext("Message") or ""


def files_under(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


def temp_files(directory: Path) -> list[Path]:
    return [path for path in files_under(directory) if ".tmp-" in path.name]


# ------------------------------------------------------------------------- SSE headers


def test_bucket_default_sse_kms(server: ObjectServer) -> None:
    bucket = server.bucket("obj-default-kms", "aws:kms", KMS_KEY)
    put = server.s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"default kms")
    assert sse_of(put) == ("aws:kms", KMS_KEY)
    head = server.s3.head_object(Bucket=bucket, Key="doc.txt")
    assert sse_of(head) == ("aws:kms", KMS_KEY)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == KMS_KEY
    got = server.s3.get_object(Bucket=bucket, Key="doc.txt")
    assert sse_of(got) == ("aws:kms", KMS_KEY)
    assert got["Body"].read() == b"default kms"


def test_explicit_header_overrides_the_bucket_default(server: ObjectServer) -> None:
    bucket = server.bucket("obj-override", "AES256")
    put = server.s3.put_object(
        Bucket=bucket,
        Key="k",
        Body=b"explicit",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=OTHER_KEY,
    )
    assert sse_of(put) == ("aws:kms", OTHER_KEY)
    assert sse_of(server.s3.head_object(Bucket=bucket, Key="k")) == ("aws:kms", OTHER_KEY)
    got = server.s3.get_object(Bucket=bucket, Key="k")
    assert sse_of(got) == ("aws:kms", OTHER_KEY) and got["Body"].read() == b"explicit"


def test_explicit_aes256_into_a_kms_default_bucket_is_not_refused(server: ObjectServer) -> None:
    """RustFS 20d1266 answered 400 here (the bucket's key id was inherited); fixed upstream."""
    bucket = server.bucket("obj-aes-over-kms", "aws:kms", KMS_KEY)
    put = server.s3.put_object(Bucket=bucket, Key="k", Body=b"s3", ServerSideEncryption="AES256")
    assert sse_of(put) == ("AES256", DEFAULT_KEY)
    assert sse_of(server.s3.head_object(Bucket=bucket, Key="k")) == ("AES256", None)


def test_aws_kms_without_key_id_uses_the_kms_default_key(server: ObjectServer) -> None:
    bucket = server.bucket("obj-bare-kms")
    put = server.s3.put_object(Bucket=bucket, Key="k", Body=b"bare", ServerSideEncryption="aws:kms")
    assert sse_of(put) == ("aws:kms", DEFAULT_KEY)
    assert sse_of(server.s3.head_object(Bucket=bucket, Key="k")) == ("aws:kms", DEFAULT_KEY)
    got = server.s3.get_object(Bucket=bucket, Key="k")
    assert sse_of(got) == ("aws:kms", DEFAULT_KEY) and got["Body"].read() == b"bare"


def test_sse_s3_is_keyed_by_the_default_key(server: ObjectServer) -> None:
    """PUT and GET name the key for SSE-S3 too (§1.6, §3.1); HEAD does not."""
    bucket = server.bucket("obj-sse-s3", "AES256")
    put = server.s3.put_object(Bucket=bucket, Key="k", Body=b"sse-s3")
    assert sse_of(put) == ("AES256", DEFAULT_KEY)
    head = server.s3.head_object(Bucket=bucket, Key="k")
    assert sse_of(head) == ("AES256", None)
    got = server.s3.get_object(Bucket=bucket, Key="k")
    assert sse_of(got) == ("AES256", DEFAULT_KEY) and got["Body"].read() == b"sse-s3"
    explicit = server.s3.put_object(
        Bucket=server.bucket("obj-sse-s3-header"), Key="k", Body=b"x", ServerSideEncryption="AES256"
    )
    assert sse_of(explicit) == ("AES256", DEFAULT_KEY)


def test_no_header_and_no_default_is_stored_unencrypted(server: ObjectServer) -> None:
    bucket = server.bucket("obj-plain")
    put = server.s3.put_object(Bucket=bucket, Key="k", Body=b"plain")
    assert sse_of(put) == (None, None)
    assert sse_of(server.s3.head_object(Bucket=bucket, Key="k")) == (None, None)
    assert sse_of(server.s3.get_object(Bucket=bucket, Key="k")) == (None, None)


def test_metadata_kept_and_internal_metadata_never_shown(server: ObjectServer) -> None:
    bucket = server.bucket("obj-metadata", "aws:kms", KMS_KEY)
    body = b"with metadata"
    put = server.s3.put_object(
        Bucket=bucket,
        Key="m",
        Body=body,
        Metadata={"owner": "team-a", "purpose": "test"},
        ContentType="text/plain",
        CacheControl="no-cache",
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    for answer in (
        server.s3.head_object(Bucket=bucket, Key="m"),
        server.s3.get_object(Bucket=bucket, Key="m"),
    ):
        assert answer["Metadata"] == {"owner": "team-a", "purpose": "test"}
        assert answer["ContentType"] == "text/plain" and answer["CacheControl"] == "no-cache"
        assert answer["ContentLength"] == len(body)
        assert answer["ETag"] == put["ETag"]
        assert answer["LastModified"] is not None
        names = set(headers_of(answer))
        leaked = [n for n in names if n.startswith(("x-rustfs-", "x-minio-", "x-amz-meta-x-"))]
        assert leaked == [], leaked
        assert not names & {
            "x-amz-server-side-encryption-context",
            "x-amz-server-side-encryption-bucket-key-enabled",
        }
    listed = server.s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [("m", len(body), put["ETag"])]
    assert not any("SSE" in name or "Encryption" in name for name in listed[0])


def test_client_encryption_context_is_accepted_and_never_echoed(server: ObjectServer) -> None:
    bucket = server.bucket("obj-context")
    context = base64.b64encode(b'{"department":"finance"}').decode()
    put = server.s3.put_object(
        Bucket=bucket,
        Key="c",
        Body=b"ctx",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=KMS_KEY,
        SSEKMSEncryptionContext=context,
    )
    assert "x-amz-server-side-encryption-context" not in headers_of(put)
    assert server.s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"ctx"


# ------------------------------------------------------------------------- at rest


@pytest.mark.parametrize(
    ("size", "algorithm"),
    [(100, "aws:kms"), (3 * 1024 * 1024 + 7, "aws:kms"), (3 * 1024 * 1024, "AES256")],
)
def test_plaintext_never_reaches_the_disk(server: ObjectServer, size: int, algorithm: str) -> None:
    marker = secrets.token_hex(16).encode()
    filler = os.urandom(size)
    # The marker at the start, across a block boundary, and at the end.
    spots = [0, BLOCK - len(marker) // 2, size - len(marker)] if size > BLOCK else [0]
    body = bytearray(filler)
    for spot in spots:
        body[spot : spot + len(marker)] = marker
    bucket = server.bucket(f"obj-at-rest-{size}-{algorithm.replace(':', '-').lower()}")
    key_id = KMS_KEY if algorithm == "aws:kms" else None
    extra = {"SSEKMSKeyId": key_id} if key_id else {}
    server.s3.put_object(
        Bucket=bucket, Key="secret.bin", Body=bytes(body), ServerSideEncryption=algorithm, **extra
    )
    assert server.s3.get_object(Bucket=bucket, Key="secret.bin")["Body"].read() == bytes(body)
    scanned = files_under(server.data_dir)
    object_files = [path for path in scanned if bucket in path.parts]
    assert object_files, "the object's file was scanned"
    for path in scanned:
        content = path.read_bytes()
        assert marker not in content, path
        if size > 2000:
            assert bytes(filler[1000:1064]) not in content, path
    assert object_files[0].stat().st_size > size  # ciphertext, tags and metadata


# ------------------------------------------------------------------------- key states


def test_put_under_a_missing_key(server: ObjectServer) -> None:
    bucket = server.bucket("obj-missing-key")
    with pytest.raises(ClientError) as missing:
        server.s3.put_object(
            Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId="nope"
        )
    status, code, message = error_of(missing)
    assert (status, code) == (400, "KMS.NotFoundException") and "nope" in message


def test_put_under_a_disabled_or_pending_key_and_get_still_decrypts(server: ObjectServer) -> None:
    server.key("obj-disabled")
    server.key("obj-pending")
    bucket = server.bucket("obj-key-states")
    for name in ("obj-disabled", "obj-pending"):
        server.s3.put_object(
            Bucket=bucket, Key=name, Body=name.encode(), ServerSideEncryption="aws:kms",
            SSEKMSKeyId=name,
        )  # fmt: skip
    assert server.admin("POST", "/kms/keys/disable", {"key_id": "obj-disabled"}).status_code == 200
    scheduled = server.admin(
        "DELETE", "/kms/keys/delete", {"key_id": "obj-pending", "pending_window_in_days": 7}
    )
    assert scheduled.status_code == 200, scheduled.text
    for name in ("obj-disabled", "obj-pending"):
        with pytest.raises(ClientError) as refused:
            server.s3.put_object(
                Bucket=bucket, Key=f"new-{name}", Body=b"x", ServerSideEncryption="aws:kms",
                SSEKMSKeyId=name,
            )  # fmt: skip
        assert error_of(refused) == (500, "InternalError", INTERNAL_ERROR)
        got = server.s3.get_object(Bucket=bucket, Key=name)
        assert got["Body"].read() == name.encode() and sse_of(got) == ("aws:kms", name)


def test_get_after_the_key_is_deleted(server: ObjectServer) -> None:
    server.key("obj-doomed")
    bucket = server.bucket("obj-deleted-key")
    server.s3.put_object(
        Bucket=bucket, Key="k", Body=b"doomed", ServerSideEncryption="aws:kms",
        SSEKMSKeyId="obj-doomed",
    )  # fmt: skip
    deleted = server.admin(
        "DELETE",
        "/kms/keys/delete",
        {"key_id": "obj-doomed", "force_immediate": True, "confirm_key_id": "obj-doomed"},
    )
    assert deleted.status_code == 200, deleted.text
    with pytest.raises(ClientError) as gone:
        server.s3.get_object(Bucket=bucket, Key="k")
    status, code, message = error_of(gone)
    assert (status, code) == (500, "InternalError")
    assert "obj-doomed" in message and "no longer exists" in message
    head = server.s3.head_object(Bucket=bucket, Key="k")
    assert sse_of(head) == ("aws:kms", "obj-doomed") and head["ContentLength"] == 6


# ------------------------------------------------------------------------- ranges


@pytest.fixture(scope="module")
def ranged(server: ObjectServer) -> tuple[str, bytes]:
    bucket = server.bucket("obj-ranges", "aws:kms", KMS_KEY)
    body = os.urandom(3 * BLOCK + 1234)
    server.s3.put_object(Bucket=bucket, Key="r", Body=body)
    return bucket, body


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-0", 0, 0),
        (f"bytes={BLOCK - 10}-{BLOCK + 9}", BLOCK - 10, BLOCK + 9),  # across a block boundary
        (f"bytes={BLOCK}-{3 * BLOCK - 1}", BLOCK, 3 * BLOCK - 1),  # whole blocks
        ("bytes=-100", 3 * BLOCK + 1234 - 100, 3 * BLOCK + 1233),  # suffix
        ("bytes=150000-", 150000, 3 * BLOCK + 1233),  # open-ended
        ("bytes=5-999999999", 5, 3 * BLOCK + 1233),  # past the end: clamped
    ],
)
def test_range_get(
    server: ObjectServer, ranged: tuple[str, bytes], header: str, first: int, last: int
) -> None:
    bucket, body = ranged
    got = server.s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {first}-{last}/{len(body)}"
    assert got["ContentLength"] == last - first + 1
    assert got["Body"].read() == body[first : last + 1]


def test_range_out_of_bounds(server: ObjectServer, ranged: tuple[str, bytes]) -> None:
    bucket, body = ranged
    answer = server.raw("GET", f"/{bucket}/r", headers={"Range": f"bytes={len(body)}-"})
    assert answer.status_code == 416
    assert xml_error(answer)[0] == "InvalidRange"
    assert answer.headers["content-range"] == f"bytes */{len(body)}"


def test_whole_get_and_head_of_ranged_object(
    server: ObjectServer, ranged: tuple[str, bytes]
) -> None:
    bucket, body = ranged
    got = server.s3.get_object(Bucket=bucket, Key="r")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200 and got["Body"].read() == body
    assert server.s3.head_object(Bucket=bucket, Key="r")["ContentLength"] == len(body)


# ------------------------------------------------------------------------- errors


def test_missing_key_bucket_and_delete(server: ObjectServer) -> None:
    bucket = server.bucket("obj-missing")
    with pytest.raises(ClientError) as no_key:
        server.s3.get_object(Bucket=bucket, Key="none")
    assert error_of(no_key)[:2] == (404, "NoSuchKey")
    with pytest.raises(ClientError) as no_head:
        server.s3.head_object(Bucket=bucket, Key="none")
    assert error_of(no_head)[0] == 404
    with pytest.raises(ClientError) as no_bucket:
        server.s3.put_object(Bucket="obj-never-made", Key="k", Body=b"x")
    assert error_of(no_bucket)[:2] == (404, "NoSuchBucket")
    deleted = server.s3.delete_object(Bucket=bucket, Key="none")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    server.s3.put_object(Bucket=bucket, Key="there", Body=b"x")
    assert (
        server.s3.delete_object(Bucket=bucket, Key="there")["ResponseMetadata"]["HTTPStatusCode"]
        == 204
    )
    with pytest.raises(ClientError):
        server.s3.head_object(Bucket=bucket, Key="there")


def test_bucket_not_empty(server: ObjectServer) -> None:
    bucket = server.bucket("obj-not-empty", "AES256")
    server.s3.put_object(Bucket=bucket, Key="a/b", Body=b"x")
    with pytest.raises(ClientError) as refused:
        server.s3.delete_bucket(Bucket=bucket)
    assert error_of(refused) == (
        409,
        "BucketNotEmpty",
        "The bucket you tried to delete is not empty",
    )
    server.s3.delete_object(Bucket=bucket, Key="a/b")
    assert server.s3.delete_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert not (server.data_dir / "objects" / bucket).exists()


@pytest.mark.parametrize(
    ("headers", "code", "fragment"),
    [
        ({SSE: "aws:kms:dsse"}, "InvalidArgument", "The valid values are AES256 or aws:kms"),
        ({SSE: "aes256"}, "InvalidArgument", "The valid values are AES256 or aws:kms"),
        ({SSE: "AES256", SSE_KEY: KMS_KEY}, "InvalidArgument", "SSE-KMS key ID header"),
        ({SSE_KEY: KMS_KEY}, "InvalidArgument", "SSE-KMS key ID header"),
        (
            {SSE: "AES256", "x-amz-server-side-encryption-context": "e30="},
            "InvalidArgument",
            "SSE-KMS context header",
        ),
        (
            {SSE: "aws:kms", "x-amz-server-side-encryption-context": "not base64!"},
            "InvalidArgument",
            "base64",
        ),
    ],
)
def test_put_sse_header_validation(
    server: ObjectServer, headers: dict[str, str], code: str, fragment: str
) -> None:
    if not _exists(server, "obj-validate"):
        server.bucket("obj-validate")
    answer = server.raw("PUT", "/obj-validate/k", body=b"x", headers=headers)
    assert answer.status_code == 400, answer.text
    found_code, message = xml_error(answer)
    assert found_code == code and fragment in message


def _exists(server: ObjectServer, bucket: str) -> bool:
    try:
        server.s3.head_bucket(Bucket=bucket)
    except ClientError:
        return False
    return True


def test_sse_c(server: ObjectServer) -> None:
    bucket = server.bucket("obj-sse-c")
    customer_key = os.urandom(32)
    with pytest.raises(ClientError) as refused:
        server.s3.put_object(
            Bucket=bucket, Key="c", Body=b"x", SSECustomerAlgorithm="AES256",
            SSECustomerKey=customer_key,
        )  # fmt: skip
    status, code, message = error_of(refused)
    assert (status, code) == (501, "NotImplemented") and "SSE-C is not supported" in message
    short = base64.b64encode(b"k" * 16).decode()
    partial = server.raw(
        "PUT", f"/{bucket}/c", body=b"x",
        headers={"x-amz-server-side-encryption-customer-algorithm": "AES256"},
    )  # fmt: skip
    assert partial.status_code == 400 and xml_error(partial)[0] == "InvalidRequest"
    wrong_size = server.raw(
        "PUT", f"/{bucket}/c", body=b"x",
        headers={
            "x-amz-server-side-encryption-customer-algorithm": "AES256",
            "x-amz-server-side-encryption-customer-key": short,
            "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(
                hashlib.md5(b"k" * 16).digest()
            ).decode(),
        },
    )  # fmt: skip
    assert wrong_size.status_code == 400
    assert xml_error(wrong_size) == (
        "InvalidRequest",
        "SSE-C key must be 32 bytes (256 bits), got 16 bytes.",
    )
    mixed = server.raw(
        "PUT", f"/{bucket}/c", body=b"x",
        headers={SSE: "AES256", "x-amz-server-side-encryption-customer-algorithm": "AES256"},
    )  # fmt: skip
    assert mixed.status_code == 400 and xml_error(mixed)[0] == "InvalidArgument"


def test_sse_headers_on_get_and_head(server: ObjectServer) -> None:
    bucket = server.bucket("obj-read-headers", "AES256")
    server.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    get = server.raw("GET", f"/{bucket}/k", headers={SSE: "AES256"})
    assert get.status_code == 400
    assert xml_error(get) == (
        "InvalidArgument",
        "The object is not encrypted with server-side encryption. Do not provide server-side "
        "encryption headers.",
    )
    head = server.raw("HEAD", f"/{bucket}/k", headers={SSE_KEY: KMS_KEY})
    assert head.status_code == 400 and head.content == b""
    ssec = server.raw(
        "GET", f"/{bucket}/k", headers={"x-amz-server-side-encryption-customer-algorithm": "AES256"}
    )
    assert ssec.status_code == 400 and xml_error(ssec)[0] == "InvalidArgument"


def test_payload_hash_mismatch_leaves_nothing(server: ObjectServer) -> None:
    bucket = server.bucket("obj-hash", "aws:kms", KMS_KEY)
    server.s3.put_object(Bucket=bucket, Key="k", Body=b"old content")
    wrong = hashlib.sha256(b"something else").hexdigest()
    answer = server.raw(
        "PUT", f"/{bucket}/k", body=b"new content", headers={"X-Amz-Content-SHA256": wrong},
        auth_class=SigV4Auth,
    )  # fmt: skip
    assert answer.status_code == 400, answer.text
    assert xml_error(answer)[0] == "XAmzContentSHA256Mismatch"
    assert server.s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old content"
    fresh = server.raw(
        "PUT", f"/{bucket}/new", body=b"x", headers={"X-Amz-Content-SHA256": wrong},
        auth_class=SigV4Auth,
    )  # fmt: skip
    assert fresh.status_code == 400
    with pytest.raises(ClientError):
        server.s3.head_object(Bucket=bucket, Key="new")
    assert temp_files(server.data_dir / "objects") == []


def test_unsigned_payload_and_content_md5(server: ObjectServer) -> None:
    bucket = server.bucket("obj-unsigned")
    body = b"unsigned body"
    url = f"{server.served.endpoint}/{bucket}/u"
    headers = signed_headers(
        "PUT", url, access_key=server.served.access_key, secret_key=server.served.secret_key,
        headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}, auth_class=SigV4Auth,
    )  # fmt: skip
    assert httpx.put(url, content=body, headers=headers, timeout=30).status_code == 200
    assert server.s3.get_object(Bucket=bucket, Key="u")["Body"].read() == body
    bad_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    answer = server.raw("PUT", f"/{bucket}/md5", body=body, headers={"Content-MD5": bad_md5})
    assert answer.status_code == 400 and xml_error(answer)[0] == "BadDigest"
    checksum = server.raw(
        "PUT", f"/{bucket}/crc", body=body, headers={"x-amz-checksum-crc32": "AAAAAA=="}
    )
    assert checksum.status_code == 400 and xml_error(checksum)[0] == "BadDigest"


@pytest.mark.parametrize(
    "key",
    [
        "a/b/../c",
        "ключ/🔑 emoji",
        "with space+plus%25&amp;=?#",
        "/leading/slash",
        "trailing/",
        "x" * 1000,
        "é" * 300,  # 600 bytes: a hashed file name
    ],
)
def test_odd_keys_round_trip(server: ObjectServer, key: str) -> None:
    bucket = "obj-odd-keys"
    if not _exists(server, bucket):
        server.bucket(bucket, "AES256")
    body = key.encode()
    server.s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert server.s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    listed = server.s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
    assert [entry["Key"] for entry in listed] == [key]


def test_key_too_long(server: ObjectServer) -> None:
    bucket = server.bucket("obj-long-key")
    with pytest.raises(ClientError) as refused:
        server.s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error_of(refused)[:2] == (400, "KeyTooLongError")
