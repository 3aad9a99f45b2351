"""Object answers parsed at the boundary: SSE headers, HEAD headers, ListObjectsV2 pages."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import httpx
import pytest

from kms_tui.api.errors import KmsResponseError
from kms_tui.api.s3_models import (
    ObjectEncryption,
    ObjectHead,
    ObjectSummary,
    parse_list_objects,
)

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


@pytest.mark.parametrize(
    ("headers", "expected", "label"),
    [
        ({}, ObjectEncryption(None, None, False), "none"),
        (
            {"x-amz-server-side-encryption": "AES256"},
            ObjectEncryption("AES256", None, False),
            "SSE-S3",
        ),
        (
            {
                "x-amz-server-side-encryption": "aws:kms",
                "x-amz-server-side-encryption-aws-kms-key-id": "key-1",
            },
            ObjectEncryption("aws:kms", "key-1", False),
            "SSE-KMS",
        ),
        (
            # RustFS 20d1266 names the KMS default key on PUT/GET of an SSE-S3 object: kept.
            {
                "x-amz-server-side-encryption": "AES256",
                "x-amz-server-side-encryption-aws-kms-key-id": "default",
            },
            ObjectEncryption("AES256", "default", False),
            "SSE-S3",
        ),
        (
            {"x-amz-server-side-encryption-customer-algorithm": "AES256"},
            ObjectEncryption(None, None, True),
            "SSE-C",
        ),
        (
            {"x-amz-server-side-encryption": "aws:kms:dsse"},
            ObjectEncryption("aws:kms:dsse", None, False),
            "aws:kms:dsse",
        ),
    ],
)
def test_encryption_from_headers(
    headers: dict[str, str], expected: ObjectEncryption, label: str
) -> None:
    parsed = ObjectEncryption.from_headers(httpx.Headers(headers))
    assert parsed == expected
    assert parsed.label == label
    assert parsed.is_encrypted == (label != "none")
    assert parsed.is_sse_kms == (expected.algorithm == "aws:kms")


def test_head_headers_are_parsed_into_a_frozen_model() -> None:
    headers = httpx.Headers(
        {
            "Content-Length": "1234",
            "ETag": '"0123456789abcdef"',
            "Last-Modified": "Fri, 02 Jan 2026 03:04:05 GMT",
            "x-amz-server-side-encryption": "aws:kms",
            "x-amz-server-side-encryption-aws-kms-key-id": "key-1",
            "X-Amz-Meta-Owner": "ops",
            "x-amz-meta-purpose": "backup",
            "x-amz-request-id": "R1",
        }
    )
    head = ObjectHead.from_headers("bkt", "a/b.txt", headers)
    assert (head.bucket, head.key, head.size, head.etag) == (
        "bkt",
        "a/b.txt",
        1234,
        "0123456789abcdef",
    )
    assert head.last_modified == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert head.encryption == ObjectEncryption("aws:kms", "key-1", False)
    assert dict(head.metadata) == {"owner": "ops", "purpose": "backup"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        head.size = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        head.metadata["owner"] = "x"  # type: ignore[index]


@pytest.mark.parametrize("length", [None, "", "-1", "12a"])
def test_head_without_a_usable_length_is_unreadable(length: str | None) -> None:
    headers = httpx.Headers({} if length is None else {"Content-Length": length})
    with pytest.raises(KmsResponseError, match="Content-Length"):
        ObjectHead.from_headers("bkt", "k", headers)


def test_head_tolerates_missing_or_odd_optional_headers() -> None:
    head = ObjectHead.from_headers(
        "bkt", "k", httpx.Headers({"Content-Length": "0", "Last-Modified": "yesterday-ish"})
    )
    assert (head.size, head.etag, head.last_modified) == (0, None, None)
    assert head.encryption == ObjectEncryption()
    assert dict(head.metadata) == {}


def listing(contents: str, extra: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{S3_NS}">'
        f"<Name>bkt</Name><Prefix></Prefix><MaxKeys>1000</MaxKeys>{extra}{contents}"
        "</ListBucketResult>"
    ).encode()


def entry(key: str, size: int = 5, modified: str = "2026-01-02T03:04:05.000Z") -> str:
    return (
        f"<Contents><Key>{key}</Key><LastModified>{modified}</LastModified>"
        f"<ETag>&quot;abc&quot;</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass>"
        "</Contents>"
    )


def test_listing_page_is_parsed() -> None:
    page = parse_list_objects(
        listing(
            entry("a.txt", 5) + entry("b/c.txt", 0, "2026-01-02T03:04:05Z"),
            "<IsTruncated>true</IsTruncated><NextContinuationToken>tok==</NextContinuationToken>",
        )
    )
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert page.objects == (
        ObjectSummary("a.txt", 5, when, "abc"),
        ObjectSummary("b/c.txt", 0, when, "abc"),
    )
    assert page.is_truncated and page.next_token == "tok=="


def test_url_encoded_keys_are_decoded_only_when_the_server_says_so() -> None:
    encoded = parse_list_objects(
        listing(entry("a%20b/%C3%BC%25"), "<EncodingType>url</EncodingType>")
    )
    assert [o.key for o in encoded.objects] == ["a b/ü%"]
    plain = parse_list_objects(listing(entry("a%20b")))
    assert [o.key for o in plain.objects] == ["a%20b"]


def test_last_page_and_empty_page() -> None:
    empty = parse_list_objects(
        listing("", "<IsTruncated>false</IsTruncated><KeyCount>0</KeyCount>")
    )
    assert empty.objects == () and not empty.is_truncated and empty.next_token is None


def test_rustfs_utc_suffix_and_a_namespace_free_answer_are_read() -> None:
    body = (
        "<ListBucketResult><IsTruncated>false</IsTruncated>"
        + entry("k", 1, "2026-01-02T03:04:05+00:00[UTC]")
        + "</ListBucketResult>"
    ).encode()
    page = parse_list_objects(body)
    assert page.objects[0].last_modified == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        (b"<!DOCTYPE html><html><title>Portal</title></html>", 'HTML page "Portal"'),
        (b'{"not": "xml"}', "JSON instead of S3 XML"),
        (b"", "empty body instead of S3 XML"),
        (b"<ListBucketResult><Contents>", "could not be read"),
        (b"<Error><Code>X</Code></Error>", "got <Error>"),
        (listing("<Contents><Size>1</Size></Contents>"), "has no <Key>"),
        (listing(entry("k").replace("<Size>5</Size>", "<Size>big</Size>")), "not a whole number"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><ListBucketResult/>', "DTD"),
    ],
)
def test_unreadable_listings_raise_response_errors(body: bytes, phrase: str) -> None:
    with pytest.raises(KmsResponseError) as caught:
        parse_list_objects(body)
    assert phrase in caught.value.message
