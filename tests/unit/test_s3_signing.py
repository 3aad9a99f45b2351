"""S3 object requests are signed as S3 signs them: the key encoded once, never normalised, and
every x-amz-* header the request carries (SSE, user metadata) kept and signed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import httpx
import pytest

from kms_tui.api.auth import SigV4Auth
from kms_tui.api.s3_http import object_path, with_query

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
FROZEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
HOST = "127.0.0.1:9000"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def spec_signature(canonical: str) -> str:
    """SigV4 from the AWS specification with hashlib and hmac only (us-east-1, s3)."""

    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    key = mac(
        mac(mac(mac(f"AWS4{SECRET_KEY}".encode(), "20260102"), "us-east-1"), "s3"), "aws4_request"
    )
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            "20260102T030405Z",
            "20260102/us-east-1/s3/aws4_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def sign(request: httpx.Request) -> httpx.Request:
    auth = SigV4Auth(ACCESS_KEY, SECRET_KEY, clock=lambda: FROZEN)
    return next(auth.sync_auth_flow(request))


def signature_of(request: httpx.Request) -> str:
    return request.headers["authorization"].rpartition("Signature=")[2]


@pytest.mark.parametrize(
    ("key", "wire_path", "canonical_path"),
    [
        ("plain/key.txt", "/bkt/plain/key.txt", "/bkt/plain/key.txt"),
        ("a b/c+d", "/bkt/a%20b/c%2Bd", "/bkt/a%20b/c%2Bd"),
        ("ünï/ß", "/bkt/%C3%BCn%C3%AF/%C3%9F", "/bkt/%C3%BCn%C3%AF/%C3%9F"),
        ("100%/x?y#z", "/bkt/100%25/x%3Fy%23z", "/bkt/100%25/x%3Fy%23z"),
        ("a//b", "/bkt/a//b", "/bkt/a//b"),
        ("x/../y/./z", "/bkt/x/%2E%2E/y/%2E/z", "/bkt/x/../y/./z"),
    ],
)
def test_object_keys_are_encoded_once_and_never_normalised(
    key: str, wire_path: str, canonical_path: str
) -> None:
    path = object_path("bkt", key)
    request = sign(httpx.Request("HEAD", f"http://{HOST}{path}"))
    assert request.url.raw_path.decode() == wire_path  # what goes on the wire
    canonical = "\n".join(
        [
            "HEAD",
            canonical_path,
            "",
            "content-length:0\n"
            f"host:{HOST}\n"
            f"x-amz-content-sha256:{EMPTY_SHA256}\n"
            "x-amz-date:20260102T030405Z\n",
            "content-length;host;x-amz-content-sha256;x-amz-date",
            EMPTY_SHA256,
        ]
    )
    assert signature_of(request) == spec_signature(canonical)


def test_sse_and_metadata_headers_are_kept_and_signed() -> None:
    body = b"object bytes"
    body_hash = hashlib.sha256(body).hexdigest()
    request = httpx.Request(
        "PUT",
        f"http://{HOST}/bkt/k",
        content=body,
        headers={
            "x-amz-server-side-encryption": "aws:kms",
            "x-amz-server-side-encryption-aws-kms-key-id": "key-1",
            "x-amz-meta-owner": "ops",
        },
    )
    signed = sign(sign(request))  # re-signing (a retry) keeps them too
    assert signed.headers["x-amz-server-side-encryption"] == "aws:kms"
    assert signed.headers["x-amz-server-side-encryption-aws-kms-key-id"] == "key-1"
    assert signed.headers["x-amz-meta-owner"] == "ops"
    signed_headers = (
        "content-length;host;x-amz-content-sha256;x-amz-date;x-amz-meta-owner;"
        "x-amz-server-side-encryption;x-amz-server-side-encryption-aws-kms-key-id"
    )
    assert f"SignedHeaders={signed_headers}," in signed.headers["authorization"]
    canonical = "\n".join(
        [
            "PUT",
            "/bkt/k",
            "",
            f"content-length:{len(body)}\n"
            f"host:{HOST}\n"
            f"x-amz-content-sha256:{body_hash}\n"
            "x-amz-date:20260102T030405Z\n"
            "x-amz-meta-owner:ops\n"
            "x-amz-server-side-encryption:aws:kms\n"
            "x-amz-server-side-encryption-aws-kms-key-id:key-1\n",
            signed_headers,
            body_hash,
        ]
    )
    assert signature_of(signed) == spec_signature(canonical)


def test_list_query_is_signed_as_sent() -> None:
    path = with_query(
        "/bkt",
        {
            "list-type": "2",
            "prefix": "a b/",
            "continuation-token": "b64+/=token",
            "encryption": None,
        },
    )
    assert (
        path == "/bkt?list-type=2&prefix=a%20b%2F&continuation-token=b64%2B%2F%3Dtoken&encryption"
    )
    request = sign(httpx.Request("GET", f"http://{HOST}{path}"))
    assert request.url.query.decode() == path.partition("?")[2]
    canonical = "\n".join(
        [
            "GET",
            "/bkt",
            "continuation-token=b64%2B%2F%3Dtoken&encryption=&list-type=2&prefix=a%20b%2F",
            "content-length:0\n"
            f"host:{HOST}\n"
            f"x-amz-content-sha256:{EMPTY_SHA256}\n"
            "x-amz-date:20260102T030405Z\n",
            "content-length;host;x-amz-content-sha256;x-amz-date",
            EMPTY_SHA256,
        ]
    )
    assert signature_of(request) == spec_signature(canonical)
