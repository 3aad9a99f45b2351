"""The object store and routes in-process: files, index, start-up clean-up, listing details."""

from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import pytest

from kms_tui.embedded.buckets import BucketNotEmptyError, BucketStore
from kms_tui.embedded.config import parse_configure_body
from kms_tui.embedded.http import HttpRequest, HttpResponse
from kms_tui.embedded.objects import parse_size
from kms_tui.embedded.objects_common import StreamedResponse
from kms_tui.embedded.objects_format import BlockIntegrityError
from kms_tui.embedded.objects_store import ObjectMeta, UploadBucketGone
from kms_tui.embedded.s3_routes import handle_s3, match_route
from kms_tui.embedded.service import KmsService

NS = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}


@pytest.fixture
def store(tmp_path: Path) -> BucketStore:
    buckets = BucketStore(tmp_path / "data")
    buckets.load()
    return buckets


@pytest.fixture
def service(tmp_path: Path, store: BucketStore) -> Iterator[KmsService]:
    kms = KmsService(tmp_path / "data", references=store)
    kms.load()
    body = {
        "backend_type": "Local",
        "key_dir": str(tmp_path / "keys"),
        "master_key": "unit test master key",
        "allow_insecure_dev_defaults": True,
        "default_key_id": "unit-default",
    }
    assert kms.configure(parse_configure_body(json.dumps(body).encode())).success
    assert kms.start().success
    kms.keys.create_key("d", {"name": "unit-default"})
    try:
        yield kms
    finally:
        kms.close()


def call(
    store: BucketStore,
    kms: Any,
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> HttpResponse | StreamedResponse:
    raw_path, _, query = target.partition("?")
    request = HttpRequest(
        method=method,
        path=unquote(raw_path),
        raw_path=raw_path,
        query=tuple(parse_qsl(query, keep_blank_values=True)),
        raw_query=query,
        headers=tuple((k.lower(), v) for k, v in (headers or {}).items()),
        body=body,
        request_id="REQ",
    )
    return handle_s3(store, kms, request)


def body_of(answer: HttpResponse | StreamedResponse) -> bytes:
    if isinstance(answer, HttpResponse):
        return answer.body
    try:
        return b"".join(answer.chunks)
    finally:
        answer.close()


def put(store: BucketStore, kms: Any, bucket: str, key: str, data: bytes, **headers: str) -> None:
    answer = call(store, kms, "PUT", f"/{bucket}/{quote(key)}", data, headers)
    assert answer.status == 200, body_of(answer)


def test_files_are_private_and_one_per_object(store: BucketStore, service: KmsService) -> None:
    store.create("unit-files")
    store.set_encryption("unit-files", "AES256", None)
    put(store, service, "unit-files", "a/b", b"one")
    put(store, service, "unit-files", "a/b", b"two")  # an overwrite replaces the file
    put(store, service, "unit-files", "c", b"three")
    directory = store.objects.bucket_dir("unit-files")
    files = sorted(directory.iterdir())
    assert len(files) == 2
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in files)
    assert body_of(call(store, service, "GET", "/unit-files/a/b")) == b"two"


def test_load_removes_temp_files_and_rebuilds_the_index(
    tmp_path: Path, store: BucketStore, service: KmsService
) -> None:
    store.create("unit-reload")
    put(store, service, "unit-reload", "kept", b"kept")
    directory = store.objects.bucket_dir("unit-reload")
    (directory / ".upload.tmp-1234").write_bytes(b"torn upload")
    (directory / "k-garbage").write_bytes(b"not an object")
    reloaded = BucketStore(tmp_path / "data")
    reloaded.load()
    assert not (directory / ".upload.tmp-1234").exists()
    assert (directory / "k-garbage").exists()  # unreadable files are kept, and logged
    listed = ET.fromstring(body_of(call(reloaded, service, "GET", "/unit-reload?list-type=2")))
    assert [k.text for k in listed.findall("s3:Contents/s3:Key", NS)] == ["kept"]
    # An unreadable file still counts as content: the bucket is not empty.
    with pytest.raises(BucketNotEmptyError):
        reloaded.delete("unit-reload")


def test_a_file_under_the_wrong_name_is_ignored(
    tmp_path: Path, store: BucketStore, service: KmsService
) -> None:
    store.create("unit-renamed")
    put(store, service, "unit-renamed", "original", b"x")
    directory = store.objects.bucket_dir("unit-renamed")
    (only,) = directory.iterdir()
    only.rename(directory / "k-nbswy3dp")  # the name of the key "hello"
    reloaded = BucketStore(tmp_path / "data")
    reloaded.load()
    assert not reloaded.objects.has_objects("unit-renamed")
    misplaced = call(reloaded, service, "GET", "/unit-renamed/hello")
    assert misplaced.status == 500 and b"damaged" in body_of(misplaced)


def test_delete_bucket_while_an_upload_runs(store: BucketStore, service: KmsService) -> None:
    store.create("unit-race")
    upload = store.objects.begin_upload("unit-race")
    upload.write(b"partial")
    store.delete("unit-race")  # no object yet: the bucket is empty
    meta = ObjectMeta("k", 7, "e", datetime.now(UTC), "binary/octet-stream")
    with pytest.raises(UploadBucketGone):
        store.objects.commit("unit-race", upload, meta)
    assert not upload.temp_path.exists()
    assert not store.objects.bucket_dir("unit-race").exists()


def test_tampered_ciphertext_is_never_served(store: BucketStore, service: KmsService) -> None:
    store.create("unit-tamper")
    data = os.urandom(200_000)
    put(store, service, "unit-tamper", "t", data, **{"x-amz-server-side-encryption": "AES256"})
    (path,) = store.objects.bucket_dir("unit-tamper").iterdir()
    raw = bytearray(path.read_bytes())
    raw[100_000] ^= 0xFF
    path.write_bytes(bytes(raw))
    answer = call(store, service, "GET", "/unit-tamper/t")
    assert isinstance(answer, StreamedResponse) and answer.status == 200
    with pytest.raises(BlockIntegrityError):
        body_of(answer)
    ranged = call(store, service, "GET", "/unit-tamper/t", headers={"range": "bytes=0-99"})
    assert body_of(ranged) == data[:100]  # the first block is intact


def test_listing_details(store: BucketStore) -> None:
    store.create("unit-list")
    keys = ["a+b", "a b", "a%b", "dir/x", "dir/y", "dir2/z", "e\x01ctl", "z"]
    for key in keys:
        put(store, None, "unit-list", key, key.encode())

    def listed(query: str) -> ET.Element:
        answer = call(store, None, "GET", "/unit-list?list-type=2&" + query)
        assert answer.status == 200, body_of(answer)
        return ET.fromstring(body_of(answer))

    url = listed("encoding-type=url&delimiter=/")
    assert [k.text for k in url.findall("s3:Contents/s3:Key", NS)] == [
        "a%20b", "a%25b", "a%2Bb", "e%01ctl", "z"
    ]  # fmt: skip
    assert [p.text for p in url.findall("s3:CommonPrefixes/s3:Prefix", NS)] == ["dir/", "dir2/"]
    zero = listed("max-keys=0")
    assert zero.findtext("s3:KeyCount", namespaces=NS) == "0"
    assert zero.findtext("s3:IsTruncated", namespaces=NS) == "false"
    owner = listed("fetch-owner=true&max-keys=1")
    assert owner.findtext("s3:Contents/s3:Owner/s3:DisplayName", namespaces=NS) == "rustfs"
    assert owner.findtext("s3:IsTruncated", namespaces=NS) == "true"
    capped = listed("max-keys=100000")
    assert capped.findtext("s3:MaxKeys", namespaces=NS) == "1000"
    # A token that ends on a common prefix resumes after every key under it.
    first = listed("delimiter=/&max-keys=4")
    token = first.findtext("s3:NextContinuationToken", namespaces=NS)
    assert [p.text for p in first.findall("s3:CommonPrefixes/s3:Prefix", NS)] == ["dir/"]
    rest = listed(f"delimiter=/&continuation-token={quote(token or '')}")
    names = [k.text for k in rest.findall("s3:Contents/s3:Key", NS)]
    prefixes = [p.text for p in rest.findall("s3:CommonPrefixes/s3:Prefix", NS)]
    assert prefixes == ["dir2/"] and names == ["e\\x01ctl", "z"]
    assert call(store, None, "GET", "/unit-list?list-type=3").status == 400
    assert call(store, None, "GET", "/unit-list?list-type=2&encoding-type=x").status == 400


def test_route_matching() -> None:
    assert match_route("GET", "/", []) is not None
    assert match_route("PUT", "/", []) is None
    assert match_route("GET", "/b", ["list-type", "prefix", "max-keys", "x-id"]) is not None
    assert match_route("GET", "/b", ["prefix"]) is None  # ListObjects v1
    assert match_route("PUT", "/b", ["prefix"]) is None
    assert match_route("PUT", "/b/k", ["x-id"]) is not None
    assert match_route("PUT", "/b/k", [], [("x-amz-copy-source", "/b/j")]) is None
    ssec = [("x-amz-server-side-encryption-customer-algorithm", "AES256")]
    assert match_route("PUT", "/b/k", [], ssec) is None
    assert match_route("GET", "/b/k", [], ssec) is not None  # answered 400 by the route
    ecdsa = [("x-amz-content-sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")]
    assert match_route("PUT", "/b/k", [], ecdsa) is None
    assert match_route("POST", "/b/k", ["uploads"]) is None
    assert match_route("PUT", "/b/k", ["partNumber", "uploadId"]) is None


@pytest.mark.parametrize(
    ("text", "size"),
    [("1024", 1024), ("1k", 1024), ("1KiB", 1024), ("5GiB", 5 << 30), ("10M", 10 << 20),
     ("2 MB", 2 << 20), ("1T", 1 << 40)],
)  # fmt: skip
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-1", "1.5G", "lots", "5PB"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def _xml(code: str, message: str) -> str:
    return f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "status", "text", "documented"),
    [
        ("PUT", "/b/k", "", (), 503,
         _xml("ServiceUnavailable", "The service is unavailable. Please retry."), True),
        ("GET", "/b/k", "", (), 503,
         _xml("ServiceUnavailable", "The service is unavailable. Please retry."), True),
        ("HEAD", "/b/k", "", (), 503, "", False),  # HEAD never calls the KMS
        ("PUT", "/b/k", "", (), 500,
         _xml("InternalError", "We encountered an internal error, please try again."), True),
        ("GET", "/b/k", "", (), 500,
         _xml("InternalError", "The object's KMS key 'x' no longer exists, so..."), True),
        ("GET", "/b/k", "", (), 500,
         _xml("InternalError", "We encountered an internal error. Please try again."), False),
        ("PUT", "/b/k", "", (), 501, _xml("NotImplemented", "no"), False),  # PutObject is routed
        ("PUT", "/b/k", "", (("x-amz-copy-source", "/b/j"),), 501,
         _xml("NotImplemented", "no"), True),
        ("PUT", "/b/k", "", (("x-amz-server-side-encryption-customer-key", "k"),), 501,
         _xml("NotImplemented", "SSE-C is not supported by this server"), True),
        ("POST", "/b/k", "uploads", (), 501, _xml("NotImplemented", "no"), True),
    ],
)  # fmt: skip
def test_the_fuzz_oracle_knows_the_object_answers(
    method: str,
    path: str,
    query: str,
    headers: tuple[tuple[str, str], ...],
    status: int,
    text: str,
    documented: bool,
) -> None:
    from scripts import fuzz_oracle

    why = fuzz_oracle.documented_5xx(method, path, query, status, text, headers)
    assert (why is not None) == documented, why
