"""`kms-tui serve` objects on the wire: listing, the size cap, body framing, KMS down.

* ListObjectsV2 over 2,500 objects (written into the data directory before the server starts,
  so the start-up index is what answers), paged by boto3's paginator; prefixes and delimiters;
  its 400s.
* The size cap (``--max-object-size``): EntityTooLarge from Content-Length, and found while
  streaming a body that announced no size.
* What boto3 sends by default over HTTPS (``Content-Encoding: aws-chunked``,
  ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``, a trailing CRC32), against the server's app on a real
  TLS socket; ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` chunks signed by hand from the AWS
  specification.
* A stopped or never-configured KMS: 503 for PUT and GET of encrypted objects, HEAD unaffected.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import os
import socket
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kms_tui.embedded.buckets import BucketStore
from kms_tui.embedded.config import parse_configure_body
from kms_tui.embedded.http import HttpRequest
from kms_tui.embedded.s3_routes import handle_s3
from tests.contract.test_serve_objects import (
    ObjectServer,
    error_of,
    isolated_env,
    sse_of,
    start_object_server,
    temp_files,
    xml_error,
)
from tests.fakes.embedded import ACCESS_KEY, SECRET_KEY, InProcessServer
from tests.fakes.serve import REGION, running_serve, s3_client, signed_headers

MANY = 2500


# ------------------------------------------------------------------------- listing


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectServer]:
    """A server over a data directory seeded with MANY objects, its KMS never configured."""
    base = tmp_path_factory.mktemp("serve-listing")
    store = BucketStore(base / "data")
    store.load()
    store.create("obj-many")
    for index in range(MANY):
        path = f"/obj-many/item-{index:05d}"
        request = HttpRequest("PUT", path, path, (), "", (), f"{index}".encode(), "seed")
        assert handle_s3(store, None, request).status == 200  # type: ignore[arg-type]
    with running_serve(base / "data", env=isolated_env(base)) as served:
        s3 = s3_client(served.endpoint, served.access_key, served.secret_key)
        yield ObjectServer(served, s3, base / "keys")


@pytest.mark.parametrize("page_size", [1000, 333, 5000])
def test_list_2500_objects_every_one_exactly_once(listing: ObjectServer, page_size: int) -> None:
    pages = list(
        listing.s3.get_paginator("list_objects_v2").paginate(
            Bucket="obj-many", PaginationConfig={"PageSize": page_size}
        )
    )
    keys = [entry["Key"] for page in pages for entry in page.get("Contents", [])]
    assert keys == [f"item-{index:05d}" for index in range(MANY)]
    effective = min(page_size, 1000)
    assert len(pages) == -(-MANY // effective)
    assert all(page["MaxKeys"] == effective for page in pages)
    assert all(page["KeyCount"] == len(page["Contents"]) for page in pages)
    assert [page["IsTruncated"] for page in pages] == [True] * (len(pages) - 1) + [False]
    assert all("NextContinuationToken" in page for page in pages[:-1])


def test_list_prefix_delimiter_and_start_after(listing: ObjectServer) -> None:
    s3 = listing.s3
    s3.create_bucket(Bucket="obj-tree")
    keys = ["docs/a", "docs/b/c", "photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg",
            "readme", "zeta/"]  # fmt: skip
    for key in keys:
        s3.put_object(Bucket="obj-tree", Key=key, Body=b"x")
    top = s3.list_objects_v2(Bucket="obj-tree", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["docs/", "photos/", "zeta/"]
    assert [c["Key"] for c in top["Contents"]] == ["readme"]
    assert top["KeyCount"] == 4
    photos = s3.list_objects_v2(Bucket="obj-tree", Prefix="photos/", Delimiter="/")
    assert [p["Prefix"] for p in photos["CommonPrefixes"]] == ["photos/2024/", "photos/2025/"]
    assert "Contents" not in photos
    # One entry per page: each common prefix and key comes exactly once.
    seen = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket="obj-tree", Delimiter="/", PaginationConfig={"PageSize": 1}
    ):
        seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        seen += [c["Key"] for c in page.get("Contents", [])]
    assert seen == ["docs/", "photos/", "readme", "zeta/"]
    after = s3.list_objects_v2(Bucket="obj-tree", StartAfter="photos/2024/b.jpg")
    assert [c["Key"] for c in after["Contents"]] == ["photos/2025/c.jpg", "readme", "zeta/"]
    assert after["StartAfter"] == "photos/2024/b.jpg"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("list-type=2&max-keys=-1", "Invalid max keys"),
        ("list-type=2&max-keys=abc", "Invalid max keys"),
        ("list-type=2&continuation-token=%25%25%25", "Invalid continuation token"),
        ("list-type=2&continuation-token=%2Fw%3D%3D", "Invalid continuation token"),  # not UTF-8
    ],
)
def test_list_refusals(listing: ObjectServer, query: str, message: str) -> None:
    answer = listing.raw("GET", f"/obj-many?{query}")
    assert answer.status_code == 400
    assert xml_error(answer) == ("InvalidArgument", message)


def test_list_missing_bucket_and_url_encoding(listing: ObjectServer) -> None:
    with pytest.raises(ClientError) as missing:
        listing.s3.list_objects_v2(Bucket="obj-no-bucket")
    assert error_of(missing)[:2] == (404, "NoSuchBucket")
    raw = listing.raw("GET", "/obj-many?list-type=2&max-keys=1&encoding-type=url&prefix=item-0")
    assert raw.status_code == 200
    assert b"<EncodingType>url</EncodingType>" in raw.content
    assert b"<Key>item-00000</Key>" in raw.content and b"<KeyCount>1</KeyCount>" in raw.content
    assert b"Encryption" not in raw.content and b"KMS" not in raw.content


def test_kms_never_configured(listing: ObjectServer) -> None:
    """Unencrypted objects work without a KMS; SSE answers 503 as RustFS does for a down KMS."""
    s3 = listing.s3
    assert s3.get_object(Bucket="obj-many", Key="item-00007")["Body"].read() == b"7"
    for algorithm in ("AES256", "aws:kms"):
        with pytest.raises(ClientError) as down:
            s3.put_object(Bucket="obj-many", Key="sse", Body=b"x", ServerSideEncryption=algorithm)
        assert error_of(down) == (
            503,
            "ServiceUnavailable",
            "The service is unavailable. Please retry.",
        )


# ------------------------------------------------------------------------- small cap, KMS down


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectServer]:
    """A server with a 1 MiB object cap and a KMS with no default key."""
    base = tmp_path_factory.mktemp("serve-capped")
    yield from start_object_server(
        base, "--max-object-size", "1MiB", default_key=None, keys=("cap-key",)
    )


def test_entity_too_large_from_content_length(capped: ObjectServer) -> None:
    capped.s3.create_bucket(Bucket="obj-capped")
    ok = capped.s3.put_object(Bucket="obj-capped", Key="fits", Body=b"x" * (1 << 20))
    assert ok["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as too_large:
        capped.s3.put_object(Bucket="obj-capped", Key="big", Body=b"x" * ((1 << 20) + 1))
    assert error_of(too_large)[:2] == (400, "EntityTooLarge")
    with pytest.raises(ClientError):
        capped.s3.head_object(Bucket="obj-capped", Key="big")


def test_entity_too_large_found_while_streaming(capped: ObjectServer) -> None:
    """A chunked body with no Content-Length is cut off at the cap; nothing is left behind."""
    if not _bucket_exists(capped, "obj-capped-stream"):
        capped.s3.create_bucket(Bucket="obj-capped-stream")
    url = f"{capped.served.endpoint}/obj-capped-stream/streamed"
    headers = signed_headers(
        "PUT", url, access_key=capped.served.access_key, secret_key=capped.served.secret_key,
        headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}, auth_class=SigV4Auth,
    )  # fmt: skip

    def body() -> Iterator[bytes]:
        for _ in range(40):
            yield b"y" * 65536  # 2.5 MiB in all

    answer = httpx.put(url, content=body(), headers=headers, timeout=30)
    assert answer.status_code == 400 and xml_error(answer)[0] == "EntityTooLarge"
    with pytest.raises(ClientError):
        capped.s3.head_object(Bucket="obj-capped-stream", Key="streamed")
    assert temp_files(capped.data_dir / "objects") == []


def _bucket_exists(server: ObjectServer, bucket: str) -> bool:
    try:
        server.s3.head_bucket(Bucket=bucket)
    except ClientError:
        return False
    return True


def test_aws_kms_with_no_key_anywhere(capped: ObjectServer) -> None:
    capped.s3.create_bucket(Bucket="obj-no-default")
    with pytest.raises(ClientError) as refused:
        capped.s3.put_object(
            Bucket="obj-no-default", Key="k", Body=b"x", ServerSideEncryption="aws:kms"
        )
    status, code, message = error_of(refused)
    assert (status, code) == (400, "InvalidRequest") and "no default key" in message
    with pytest.raises(ClientError) as sse_s3:  # SSE-S3 falls back to a key named "default"
        capped.s3.put_object(
            Bucket="obj-no-default", Key="k", Body=b"x", ServerSideEncryption="AES256"
        )
    status, code, message = error_of(sse_s3)
    assert (status, code) == (400, "KMS.NotFoundException") and "'default'" in message


def test_kms_stopped_put_and_get_503_head_200(capped: ObjectServer) -> None:
    capped.s3.create_bucket(Bucket="obj-stopped")
    capped.s3.put_object(
        Bucket="obj-stopped", Key="enc", Body=b"enc", ServerSideEncryption="aws:kms",
        SSEKMSKeyId="cap-key",
    )  # fmt: skip
    capped.s3.put_object(Bucket="obj-stopped", Key="plain", Body=b"plain")
    assert capped.admin("POST", "/kms/stop").json()["success"]
    try:
        with pytest.raises(ClientError) as put:
            capped.s3.put_object(
                Bucket="obj-stopped", Key="enc2", Body=b"x", ServerSideEncryption="aws:kms",
                SSEKMSKeyId="cap-key",
            )  # fmt: skip
        assert error_of(put)[:2] == (503, "ServiceUnavailable")
        with pytest.raises(ClientError) as get:
            capped.s3.get_object(Bucket="obj-stopped", Key="enc")
        assert error_of(get)[:2] == (503, "ServiceUnavailable")
        head = capped.s3.head_object(Bucket="obj-stopped", Key="enc")
        assert sse_of(head) == ("aws:kms", "cap-key")
        assert capped.s3.get_object(Bucket="obj-stopped", Key="plain")["Body"].read() == b"plain"
    finally:
        assert capped.admin("POST", "/kms/start", {}).json()["success"]
    assert capped.s3.get_object(Bucket="obj-stopped", Key="enc")["Body"].read() == b"enc"


# ------------------------------------------------------------------------- body framing


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path, InProcessServer]]:
    """The server's own ASGI app on a real TLS socket (uvicorn), KMS running with a key."""
    import uvicorn

    built = InProcessServer.build(tmp_path / "data")
    configure = {
        "backend_type": "Local",
        "key_dir": str(tmp_path / "keys"),
        "master_key": "tls test master key",
        "allow_insecure_dev_defaults": True,
    }
    assert built.service.configure(parse_configure_body(json.dumps(configure).encode())).success
    assert built.service.start().success
    built.service.keys.create_key("tls", {"name": "tls-key"})
    cert, key = _self_signed(tmp_path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    config = uvicorn.Config(
        built.app,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive()
            threading.Event().wait(0.01)
        yield f"https://127.0.0.1:{sock.getsockname()[1]}", cert, built
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        built.close()


def test_boto3_default_config_over_https_sends_aws_chunked(
    tls_server: tuple[str, Path, InProcessServer],
) -> None:
    """boto3's PutObject over TLS: aws-chunked, unsigned payload, CRC32 in a trailer."""
    import boto3

    endpoint, cert, built = tls_server
    seen: list[dict[str, str]] = []
    s3 = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, verify=str(cert),
    )  # fmt: skip

    def record(request: Any, **_: Any) -> None:
        seen.append(
            {
                k.lower(): v.decode() if isinstance(v, bytes) else v
                for k, v in request.headers.items()
            }
        )

    s3.meta.events.register("before-send.s3.PutObject", record)
    s3.create_bucket(Bucket="obj-tls")
    body = os.urandom(300_000)
    put = s3.put_object(
        Bucket="obj-tls", Key="chunked", Body=body, ServerSideEncryption="aws:kms",
        SSEKMSKeyId="tls-key",
    )  # fmt: skip
    sent = seen[-1]
    assert sent["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert sent["content-encoding"] == "aws-chunked"
    assert sent["x-amz-decoded-content-length"] == str(len(body))
    assert sent["x-amz-trailer"] == "x-amz-checksum-crc32"
    assert sse_of(put) == ("aws:kms", "tls-key")
    got = s3.get_object(Bucket="obj-tls", Key="chunked")
    assert got["Body"].read() == body
    assert "ContentEncoding" not in got  # aws-chunked is framing, not the object's encoding
    s3.put_object(Bucket="obj-tls", Key="empty", Body=b"")
    assert s3.get_object(Bucket="obj-tls", Key="empty")["Body"].read() == b""


def _chunked_trailer_body(data: bytes, crc: bytes) -> bytes:
    import base64

    encoded = b"%x\r\n%s\r\n" % (len(data), data) if data else b""
    trailer = b"x-amz-checksum-crc32:" + base64.b64encode(crc)
    return encoded + b"0\r\n" + trailer + b"\r\n\r\n"


def test_aws_chunked_trailer_checksum_is_verified(capped: ObjectServer) -> None:
    if not _bucket_exists(capped, "obj-trailer"):
        capped.s3.create_bucket(Bucket="obj-trailer")
    data = b"trailer checked"
    good = zlib.crc32(data).to_bytes(4, "big")
    headers = {
        "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
        "X-Amz-Trailer": "x-amz-checksum-crc32",
    }
    ok = capped.raw("PUT", "/obj-trailer/ok", body=_chunked_trailer_body(data, good),
                    headers=headers, auth_class=SigV4Auth)  # fmt: skip
    assert ok.status_code == 200, ok.text
    assert capped.s3.get_object(Bucket="obj-trailer", Key="ok")["Body"].read() == data
    bad = capped.raw("PUT", "/obj-trailer/bad", body=_chunked_trailer_body(data, b"\0\0\0\0"),
                     headers=headers, auth_class=SigV4Auth)  # fmt: skip
    assert bad.status_code == 400 and xml_error(bad)[0] == "BadDigest"
    short = dict(headers, **{"X-Amz-Decoded-Content-Length": str(len(data) + 1)})
    wrong_length = capped.raw("PUT", "/obj-trailer/len", body=_chunked_trailer_body(data, good),
                              headers=short, auth_class=SigV4Auth)  # fmt: skip
    assert wrong_length.status_code == 400 and xml_error(wrong_length)[0] == "IncompleteBody"
    for key in ("bad", "len"):
        with pytest.raises(ClientError):
            capped.s3.head_object(Bucket="obj-trailer", Key=key)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _signed_chunks(
    data: bytes, chunk_size: int, authorization: str, amz_date: str, secret: str
) -> bytes:
    """aws-chunked with chunk signatures, as the AWS SigV4 streaming specification says."""
    credential = authorization.split("Credential=")[1].split(",")[0]
    _access, date, region, service, _ = credential.split("/")
    scope = f"{date}/{region}/{service}/aws4_request"
    key = _hmac(f"AWS4{secret}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    previous = authorization.split("Signature=")[1].strip()
    empty = hashlib.sha256(b"").hexdigest()
    out = b""
    pieces = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for piece in pieces:
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, empty,
             hashlib.sha256(piece).hexdigest()]
        )  # fmt: skip
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out += b"%x;chunk-signature=%s\r\n%s\r\n" % (len(piece), previous.encode(), piece)
    return out


def _signed_streaming_put(server: ObjectServer, key: str, data: bytes, tamper: bool) -> Any:
    url = f"{server.served.endpoint}/obj-signed-stream/{key}"
    headers = {
        "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
    }
    signed = signed_headers(
        "PUT", url, access_key=server.served.access_key, secret_key=server.served.secret_key,
        headers=headers, auth_class=SigV4Auth,
    )  # fmt: skip
    body = _signed_chunks(
        data, 70_000, signed["Authorization"], signed["X-Amz-Date"], server.served.secret_key
    )
    if tamper:
        body = body.replace(data[100:110], b"X" * 10, 1)
    return httpx.put(url, content=body, headers=signed, timeout=30)


def test_signed_streaming_payload(capped: ObjectServer) -> None:
    if not _bucket_exists(capped, "obj-signed-stream"):
        capped.s3.create_bucket(Bucket="obj-signed-stream")
    data = os.urandom(200_000)
    ok = _signed_streaming_put(capped, "good", data, tamper=False)
    assert ok.status_code == 200, ok.text
    assert capped.s3.get_object(Bucket="obj-signed-stream", Key="good")["Body"].read() == data
    tampered = _signed_streaming_put(capped, "tampered", data, tamper=True)
    assert tampered.status_code == 403 and xml_error(tampered)[0] == "SignatureDoesNotMatch"
    with pytest.raises(ClientError):
        capped.s3.head_object(Bucket="obj-signed-stream", Key="tampered")


def test_unsupported_streaming_payload_is_not_routed(capped: ObjectServer) -> None:
    if not _bucket_exists(capped, "obj-signed-stream"):
        capped.s3.create_bucket(Bucket="obj-signed-stream")
    answer = capped.raw(
        "PUT", "/obj-signed-stream/ecdsa", body=b"0\r\n\r\n",
        headers={"X-Amz-Content-SHA256": "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"},
        auth_class=SigV4Auth,
    )  # fmt: skip
    assert answer.status_code == 501
    code, message = xml_error(answer)
    assert code == "NotImplemented" and "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD" in message
