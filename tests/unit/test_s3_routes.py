"""The S3 bucket routes called directly: XML in and out, status codes, error codes."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from kms_tui.embedded.buckets import BucketStore
from kms_tui.embedded.http import HttpRequest, HttpResponse
from kms_tui.embedded.s3_routes import S3_NAMESPACE, handle_s3

NS = {"s3": S3_NAMESPACE}


@dataclass
class KmsLookupStandIn:
    """The three facts the bucket routes ask the KMS service, set per test."""

    running: bool = True
    default_key: str | None = None
    keys: set[str] = field(default_factory=set)

    @property
    def is_running(self) -> bool:
        return self.running

    def default_key_id(self) -> str | None:
        return self.default_key

    def key_exists(self, key_id: str) -> bool:
        return self.running and key_id in self.keys


@pytest.fixture
def store(tmp_path: Path) -> BucketStore:
    bucket_store = BucketStore(tmp_path / "data")
    bucket_store.load()
    return bucket_store


@pytest.fixture
def kms() -> KmsLookupStandIn:
    return KmsLookupStandIn(keys={"existing-key"}, default_key="default-key")


def call(
    store: BucketStore,
    kms: KmsLookupStandIn,
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    path, _, query = target.partition("?")
    request = HttpRequest(
        method=method,
        path=path,
        raw_path=path,
        query=tuple(parse_qsl(query, keep_blank_values=True)),
        raw_query=query,
        headers=tuple((name.lower(), value) for name, value in (headers or {}).items()),
        body=body,
        request_id="0123456789ABCDEF",
    )
    return handle_s3(store, kms, request)


def error_code(response: HttpResponse) -> str:
    root = ET.fromstring(response.body)
    assert root.tag == "Error"
    assert root.findtext("RequestId") == "0123456789ABCDEF"
    return root.findtext("Code") or ""


def encryption_xml(algorithm: str, key_id: str | None = None) -> bytes:
    key = f"<KMSMasterKeyID>{key_id}</KMSMasterKeyID>" if key_id is not None else ""
    return (
        f'<ServerSideEncryptionConfiguration xmlns="{S3_NAMESPACE}"><Rule>'
        f"<ApplyServerSideEncryptionByDefault><SSEAlgorithm>{algorithm}</SSEAlgorithm>{key}"
        "</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
    ).encode()


def test_list_buckets_xml(store: BucketStore, kms: KmsLookupStandIn) -> None:
    store.create("beta")
    store.create("alpha")
    response = call(store, kms, "GET", "/")
    assert response.status == 200 and response.content_type == "application/xml"
    root = ET.fromstring(response.body)
    assert root.tag == f"{{{S3_NAMESPACE}}}ListAllMyBucketsResult"
    names = [node.text for node in root.findall("s3:Buckets/s3:Bucket/s3:Name", NS)]
    assert names == ["alpha", "beta"]
    dates = root.findall("s3:Buckets/s3:Bucket/s3:CreationDate", NS)
    assert all(node.text and node.text.endswith(".000Z") for node in dates)
    assert root.find("s3:Owner/s3:ID", NS) is not None


def test_list_buckets_empty(store: BucketStore, kms: KmsLookupStandIn) -> None:
    root = ET.fromstring(call(store, kms, "GET", "/").body)
    assert root.findall("s3:Buckets/s3:Bucket", NS) == []


def test_create_head_delete(store: BucketStore, kms: KmsLookupStandIn) -> None:
    created = call(store, kms, "PUT", "/new-bucket")
    assert created.status == 200 and created.body == b""
    assert ("location", "/new-bucket") in created.headers
    assert call(store, kms, "HEAD", "/new-bucket").status == 200
    duplicate = call(store, kms, "PUT", "/new-bucket")
    assert duplicate.status == 409 and error_code(duplicate) == "BucketAlreadyOwnedByYou"
    assert call(store, kms, "DELETE", "/new-bucket").status == 204
    missing_head = call(store, kms, "HEAD", "/new-bucket")
    assert missing_head.status == 404 and missing_head.body == b""
    missing_delete = call(store, kms, "DELETE", "/new-bucket")
    assert missing_delete.status == 404 and error_code(missing_delete) == "NoSuchBucket"


def test_create_with_configuration_and_trailing_slash(
    store: BucketStore, kms: KmsLookupStandIn
) -> None:
    body = (
        f'<CreateBucketConfiguration xmlns="{S3_NAMESPACE}">'
        "<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"
    ).encode()
    assert call(store, kms, "PUT", "/configured/", body).status == 200
    assert store.get("configured") is not None


@pytest.mark.parametrize(
    "body",
    [b"<CreateBucketConfiguration>", b"<Other/>", b"not xml at all"],
)
def test_create_with_malformed_body(store: BucketStore, kms: KmsLookupStandIn, body: bytes) -> None:
    response = call(store, kms, "PUT", "/malformed", body)
    assert response.status == 400 and error_code(response) == "MalformedXML"
    assert store.get("malformed") is None


@pytest.mark.parametrize("name", ["ab", "Upper-Case", "bad_name", "a..b", "10.0.0.1"])
def test_invalid_bucket_name(store: BucketStore, kms: KmsLookupStandIn, name: str) -> None:
    for method, target in (("PUT", f"/{name}"), ("GET", f"/{name}?encryption")):
        response = call(store, kms, method, target)
        assert response.status == 400 and error_code(response) == "InvalidBucketName"


def test_get_encryption_none_configured(store: BucketStore, kms: KmsLookupStandIn) -> None:
    store.create("plain")
    response = call(store, kms, "GET", "/plain?encryption")
    assert response.status == 400
    assert error_code(response) == "ServerSideEncryptionConfigurationNotFoundError"


def test_put_get_sse_s3(store: BucketStore, kms: KmsLookupStandIn) -> None:
    store.create("s3-enc")
    put = call(store, kms, "PUT", "/s3-enc?encryption", encryption_xml("AES256"))
    assert put.status == 200 and put.body == b""
    response = call(store, kms, "GET", "/s3-enc?encryption")
    assert response.status == 200
    root = ET.fromstring(response.body)
    assert root.tag == f"{{{S3_NAMESPACE}}}ServerSideEncryptionConfiguration"
    by_default = "s3:Rule/s3:ApplyServerSideEncryptionByDefault"
    assert root.findtext(f"{by_default}/s3:SSEAlgorithm", namespaces=NS) == "AES256"
    assert root.find(f"{by_default}/s3:KMSMasterKeyID", NS) is None


def test_put_sse_kms_existing_key(store: BucketStore, kms: KmsLookupStandIn) -> None:
    store.create("kms-enc")
    put = call(store, kms, "PUT", "/kms-enc?encryption", encryption_xml("aws:kms", "existing-key"))
    assert put.status == 200
    root = ET.fromstring(call(store, kms, "GET", "/kms-enc?encryption").body)
    by_default = "s3:Rule/s3:ApplyServerSideEncryptionByDefault"
    assert root.findtext(f"{by_default}/s3:SSEAlgorithm", namespaces=NS) == "aws:kms"
    assert root.findtext(f"{by_default}/s3:KMSMasterKeyID", namespaces=NS) == "existing-key"
    assert store.buckets_naming_key("existing-key") == ["kms-enc"]


def test_put_sse_kms_missing_key(store: BucketStore, kms: KmsLookupStandIn) -> None:
    store.create("kms-missing")
    put = call(store, kms, "PUT", "/kms-missing?encryption", encryption_xml("aws:kms", "nope"))
    assert put.status == 400 and error_code(put) == "InvalidArgument"
    assert "'nope'" in (ET.fromstring(put.body).findtext("Message") or "")
    assert store.get("kms-missing") is not None
    assert store.buckets_naming_key("nope") == []


def test_put_sse_kms_default_key(store: BucketStore, kms: KmsLookupStandIn) -> None:
    store.create("kms-default")
    put = call(store, kms, "PUT", "/kms-default?encryption", encryption_xml("aws:kms"))
    assert put.status == 200
    assert store.buckets_naming_key("default-key") == ["kms-default"]


@pytest.mark.parametrize(
    ("running", "default_key", "key_id", "message"),
    [
        (True, None, None, "KMS default key not configured"),
        (False, "default-key", None, "KMS service not initialized"),
        (False, "default-key", "existing-key", "KMS service not initialized"),
    ],
)
def test_put_sse_kms_unavailable(
    store: BucketStore, running: bool, default_key: str | None, key_id: str | None, message: str
) -> None:
    kms = KmsLookupStandIn(running=running, default_key=default_key, keys={"existing-key"})
    store.create("kms-fail")
    put = call(store, kms, "PUT", "/kms-fail?encryption", encryption_xml("aws:kms", key_id))
    assert put.status == 500 and error_code(put) == "InternalError"
    assert ET.fromstring(put.body).findtext("Message") == message
    record = store.get("kms-fail")
    assert record is not None and record.sse_algorithm is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "MalformedXML"),
        (b"<ServerSideEncryptionConfiguration><Rule>", "MalformedXML"),
        (b"<Wrong/>", "MalformedXML"),
        (b"<ServerSideEncryptionConfiguration/>", "MalformedXML"),
        (
            b"<ServerSideEncryptionConfiguration><Rule></Rule></ServerSideEncryptionConfiguration>",
            "MalformedXML",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "AES256">]>'
            b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>"
            b"<SSEAlgorithm>&a;</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>"
            b"</ServerSideEncryptionConfiguration>",
            "MalformedXML",
        ),
        (encryption_xml("AES256").replace(b"<Rule>", b"<Rule></Rule><Rule>", 1), "MalformedXML"),
        (encryption_xml("aws:kms:dsse"), "InvalidArgument"),
        (encryption_xml("AES256", "existing-key"), "InvalidArgument"),
    ],
)
def test_put_encryption_rejects(
    store: BucketStore, kms: KmsLookupStandIn, body: bytes, code: str
) -> None:
    store.create("rejecting")
    response = call(store, kms, "PUT", "/rejecting?encryption", body)
    assert response.status == 400 and error_code(response) == code
    record = store.get("rejecting")
    assert record is not None and record.sse_algorithm is None


def test_put_encryption_without_namespace_accepted(
    store: BucketStore, kms: KmsLookupStandIn
) -> None:
    store.create("no-ns")
    body = encryption_xml("AES256").replace(f' xmlns="{S3_NAMESPACE}"'.encode(), b"")
    assert call(store, kms, "PUT", "/no-ns?encryption", body).status == 200


def test_content_md5_checked(store: BucketStore, kms: KmsLookupStandIn) -> None:
    store.create("digest")
    body = encryption_xml("AES256")
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    mismatch = call(store, kms, "PUT", "/digest?encryption", body, {"Content-MD5": bad})
    assert mismatch.status == 400 and error_code(mismatch) == "BadDigest"
    invalid = call(store, kms, "PUT", "/digest?encryption", body, {"Content-MD5": "***"})
    assert invalid.status == 400 and error_code(invalid) == "InvalidDigest"
    assert call(store, kms, "PUT", "/digest?encryption", body, {"Content-MD5": good}).status == 200


def test_delete_encryption_idempotent(store: BucketStore, kms: KmsLookupStandIn) -> None:
    store.create("del-enc")
    call(store, kms, "PUT", "/del-enc?encryption", encryption_xml("AES256"))
    first = call(store, kms, "DELETE", "/del-enc?encryption")
    second = call(store, kms, "DELETE", "/del-enc?encryption")
    assert (first.status, second.status) == (204, 204)
    assert first.body == b"" and second.body == b""
    after = call(store, kms, "GET", "/del-enc?encryption")
    assert error_code(after) == "ServerSideEncryptionConfigurationNotFoundError"


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("GET", "/ghost?encryption", b""),
        ("PUT", "/ghost?encryption", encryption_xml("AES256")),
        ("DELETE", "/ghost?encryption", b""),
    ],
)
def test_missing_bucket(
    store: BucketStore, kms: KmsLookupStandIn, method: str, target: str, body: bytes
) -> None:
    response = call(store, kms, method, target, body)
    assert response.status == 404 and error_code(response) == "NoSuchBucket"


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/exists"),  # ListObjects (v1)
        ("POST", "/exists/object.txt?uploads"),  # multipart uploads
        ("PUT", "/exists/object.txt?partNumber=1&uploadId=u"),
        ("GET", "/exists/object.txt?tagging"),
        ("PUT", "/exists?tagging"),
        ("GET", "/exists?versioning"),
        ("POST", "/exists?delete"),
        ("POST", "/"),
        ("DELETE", "/"),
        ("PUT", "/exists?encryption&tagging"),
    ],
)
def test_other_operations_not_implemented(
    store: BucketStore, kms: KmsLookupStandIn, method: str, target: str
) -> None:
    store.create("exists")
    response = call(store, kms, method, target)
    assert response.status == 501 and error_code(response) == "NotImplemented"


def test_x_id_query_is_ignored(store: BucketStore, kms: KmsLookupStandIn) -> None:
    assert call(store, kms, "PUT", "/with-x-id?x-id=CreateBucket").status == 200
