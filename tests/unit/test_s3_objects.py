"""The object calls against a scripted S3 on loopback: what they send, and what every kind of
answer becomes (pages, tokens that repeat, HEAD's bare statuses, a non-empty bucket)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from kms_tui.api.buckets import BucketEncryptionClient
from kms_tui.api.errors import (
    KmsAccessDenied,
    KmsBackendError,
    KmsBucketNotEmpty,
    KmsConflict,
    KmsError,
    KmsInvalidRequest,
    KmsKeyNotFound,
    KmsNotFound,
    KmsResponseError,
    KmsServiceUnavailable,
)
from kms_tui.api.s3_models import ObjectEncryption, ObjectSummary
from tests.unit.test_buckets import Answer, ScriptedS3, s3_error, xml

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


@pytest.fixture
def s3() -> Iterator[ScriptedS3]:
    server = ScriptedS3()
    yield server
    server.close()


def page(keys: list[str], token: str | None = None, *, truncated: bool | None = None) -> Answer:
    is_truncated = token is not None if truncated is None else truncated
    contents = "".join(
        f"<Contents><Key>{key}</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified>"
        f"<ETag>&quot;e-{key}&quot;</ETag><Size>{len(key)}</Size></Contents>"
        for key in keys
    )
    next_token = f"<NextContinuationToken>{token}</NextContinuationToken>" if token else ""
    body = (
        f'<ListBucketResult xmlns="{S3_NS}"><Name>bkt</Name><EncodingType>url</EncodingType>'
        f"<IsTruncated>{'true' if is_truncated else 'false'}</IsTruncated>{next_token}"
        f"{contents}</ListBucketResult>"
    )
    return xml(200, body.encode())


def query_of(path: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))


async def collect(client: BucketEncryptionClient, *args: Any, **kwargs: Any) -> list[list[str]]:
    return [[o.key for o in objects] async for objects in client.iter_object_pages(*args, **kwargs)]


# ---------------------------------------------------------------------------------------------
# ListObjectsV2 pages


async def test_pages_follow_continuation_tokens(s3: ScriptedS3) -> None:
    s3.answers += [page(["a", "b"], "t1"), page(["c", "d%20e"], "t2"), page(["f"])]
    async with s3.client() as client:
        pages = await collect(client, "bkt", "", page_size=2)
    assert pages == [["a", "b"], ["c", "d e"], ["f"]]
    first, second, third = (query_of(seen.path) for seen in s3.seen)
    assert first == {"list-type": "2", "encoding-type": "url", "max-keys": "2"}
    assert second["continuation-token"] == "t1"
    assert third["continuation-token"] == "t2"
    assert all(urlsplit(seen.path).path == "/bkt" for seen in s3.seen)


async def test_pages_are_typed_summaries(s3: ScriptedS3) -> None:
    s3.answers.append(page(["k1"]))
    async with s3.client() as client:
        pages = [objects async for objects in client.iter_object_pages("bkt")]
    (summary,) = pages[0]
    assert isinstance(summary, ObjectSummary)
    assert (summary.key, summary.size, summary.etag) == ("k1", 2, "e-k1")
    assert summary.last_modified is not None and summary.last_modified.year == 2026


async def test_prefix_is_sent(s3: ScriptedS3) -> None:
    s3.answers.append(page([]))
    async with s3.client() as client:
        assert await collect(client, "bkt", "logs/2026 01/") == [[]]
    assert query_of(s3.seen[0].path)["prefix"] == "logs/2026 01/"
    assert query_of(s3.seen[0].path)["max-keys"] == "1000"


async def test_a_repeated_token_stops_the_listing(s3: ScriptedS3) -> None:
    s3.answers += [page(["a"], "same"), page(["b"], "other"), page(["c"], "same")]
    async with s3.client() as client:
        seen: list[list[str]] = []
        with pytest.raises(KmsResponseError, match="'same' a second time"):
            async for objects in client.iter_object_pages("bkt"):
                seen.append([o.key for o in objects])
    assert seen == [["a"], ["b"], ["c"]]  # what came before the loop is still delivered
    assert len(s3.seen) == 3


async def test_truncated_page_without_a_token_is_an_error(s3: ScriptedS3) -> None:
    s3.answers.append(page(["a"], None, truncated=True))
    async with s3.client() as client:
        with pytest.raises(KmsResponseError, match="names no continuation token"):
            await collect(client, "bkt")


async def test_listing_an_unknown_bucket(s3: ScriptedS3) -> None:
    s3.answers.append(xml(404, s3_error("NoSuchBucket", "The specified bucket does not exist")))
    async with s3.client() as client:
        with pytest.raises(KmsError) as caught:
            await collect(client, "bkt")
    assert (caught.value.code, caught.value.status) == ("NoSuchBucket", 404)


async def test_html_listing_is_an_unreadable_answer(s3: ScriptedS3) -> None:
    s3.answers.append(
        Answer(200, b"<!DOCTYPE html><html><title>Login</title></html>", {"x-amz-request-id": "H"})
    )
    async with s3.client() as client:
        with pytest.raises(KmsResponseError) as caught:
            await collect(client, "bkt")
    assert 'HTML page "Login"' in caught.value.message
    assert (caught.value.status, caught.value.request_id) == (200, "H")


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1001}, "page_size"),
        ({"page_size": True}, "page_size"),
        ({"prefix": 7}, "prefix"),
    ],
)
async def test_listing_arguments_are_checked_before_sending(
    s3: ScriptedS3, kwargs: dict[str, Any], field_name: str
) -> None:
    async with s3.client() as client:
        with pytest.raises(ValueError, match=f"^{field_name}:"):
            await collect(client, "bkt", **kwargs)
    assert s3.seen == []


# ---------------------------------------------------------------------------------------------
# HEAD: no body, so the status alone decides


@pytest.mark.parametrize(
    ("status", "expected", "code"),
    [
        (404, KmsNotFound, "NoSuchKey"),
        (403, KmsAccessDenied, "AccessDenied"),
        (400, KmsInvalidRequest, "InvalidRequest"),
        (500, KmsBackendError, "InternalError"),
        (502, KmsBackendError, "InternalError"),
        (503, KmsServiceUnavailable, "ServiceUnavailable"),
    ],
)
async def test_head_errors_by_status(
    s3: ScriptedS3, status: int, expected: type[KmsError], code: str
) -> None:
    s3.answers.append(Answer(status, b"", {"x-amz-request-id": "HEAD-1"}))
    async with s3.client() as client:
        with pytest.raises(KmsError) as caught:
            await client.head_object("bkt", "dir/file.txt")
    error = caught.value
    assert type(error) is expected
    assert (error.status, error.code, error.request_id) == (status, code, "HEAD-1")
    assert "bkt/dir/file.txt" in error.message


async def test_head_retries_a_busy_server_then_answers(s3: ScriptedS3) -> None:
    s3.answers += [Answer(503), Answer(200, b"", {"x-amz-server-side-encryption": "AES256"})]
    async with s3.client(retries=1) as client:
        head = await client.head_object("bkt", "k")
    assert (head.size, head.encryption.algorithm) == (0, "AES256")
    assert [seen.method for seen in s3.seen] == ["HEAD", "HEAD"]


async def test_head_sends_the_key_encoded_once(s3: ScriptedS3) -> None:
    s3.answers.append(Answer(200))
    async with s3.client() as client:
        await client.head_object("bkt", "a b/../ü")
    assert s3.seen[0].path == "/bkt/a%20b/%2E%2E/%C3%BC"


# ---------------------------------------------------------------------------------------------
# PUT, GET, DELETE


async def test_put_sends_sse_headers_and_a_content_md5(s3: ScriptedS3) -> None:
    s3.answers.append(
        Answer(
            200,
            b"",
            {
                "ETag": '"x"',
                "x-amz-server-side-encryption": "aws:kms",
                "x-amz-server-side-encryption-aws-kms-key-id": "key-9",
            },
        )
    )
    async with s3.client() as client:
        result = await client.put_object("bkt", "k", b"hello", sse="aws:kms", kms_key_id="key-9")
    assert result == ObjectEncryption("aws:kms", "key-9", False)
    sent = s3.seen[0]
    assert (sent.method, sent.path, sent.body) == ("PUT", "/bkt/k", b"hello")
    assert sent.headers["x-amz-server-side-encryption"] == "aws:kms"
    assert sent.headers["x-amz-server-side-encryption-aws-kms-key-id"] == "key-9"
    assert sent.headers["content-md5"] == "XUFAKrxLKna5cZ2REBfFkg=="
    assert "x-amz-server-side-encryption" in sent.headers["authorization"]


async def test_put_without_sse_leaves_it_to_the_bucket(s3: ScriptedS3) -> None:
    s3.answers.append(Answer(200))
    async with s3.client() as client:
        assert await client.put_object("bkt", "k", b"") == ObjectEncryption()
    assert "x-amz-server-side-encryption" not in s3.seen[0].headers


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"sse": "aws:kms:dsse"}, "sse"),
        ({"sse": "aes256"}, "sse"),
        ({"sse": "AES256", "kms_key_id": "k"}, "kms_key_id"),
        ({"kms_key_id": "k"}, "kms_key_id"),
        ({"sse": "aws:kms", "kms_key_id": " "}, "kms_key_id"),
        ({"data": "text, not bytes"}, "data"),
        ({"key": ""}, "key"),
        ({"key": "k" * 1025}, "key"),
        ({"bucket": "Bad_Name"}, "bucket"),
    ],
)
async def test_put_arguments_are_checked_before_sending(
    s3: ScriptedS3, kwargs: dict[str, Any], field_name: str
) -> None:
    arguments: dict[str, Any] = {"bucket": "bkt", "key": "k", "data": b"d"}
    arguments.update(kwargs)
    async with s3.client() as client:
        with pytest.raises(ValueError, match=f"^{field_name}:"):
            await client.put_object(**arguments)
    assert s3.seen == []


async def test_get_returns_bytes_and_encryption(s3: ScriptedS3) -> None:
    s3.answers.append(Answer(200, b"payload", {"x-amz-server-side-encryption": "AES256"}))
    async with s3.client() as client:
        data, encryption = await client.get_object("bkt", "k")
    assert data == b"payload"
    assert encryption == ObjectEncryption("AES256", None, False)


async def test_get_of_a_missing_key_is_not_found(s3: ScriptedS3) -> None:
    s3.answers.append(xml(404, s3_error("NoSuchKey", "The specified key does not exist.")))
    async with s3.client() as client:
        with pytest.raises(KmsNotFound) as caught:
            await client.get_object("bkt", "k")
    assert type(caught.value) is KmsNotFound  # an object key, not a KMS key
    assert caught.value.code == "NoSuchKey"


async def test_put_with_a_missing_kms_key_is_key_not_found(s3: ScriptedS3) -> None:
    # RustFS after PR #7423 answers a missing SSE-KMS key on PUT with this code.
    s3.answers.append(xml(400, s3_error("KMS.NotFoundException", "Key 'gone' does not exist")))
    async with s3.client() as client:
        with pytest.raises(KmsKeyNotFound):
            await client.put_object("bkt", "k", b"d", sse="aws:kms", kms_key_id="gone")


async def test_delete_object_and_bucket(s3: ScriptedS3) -> None:
    s3.answers += [Answer(204), Answer(204)]
    async with s3.client() as client:
        await client.delete_object("bkt", "a/b")
        await client.delete_bucket("bkt")
    assert [(seen.method, seen.path) for seen in s3.seen] == [
        ("DELETE", "/bkt/a/b"),
        ("DELETE", "/bkt"),
    ]


async def test_deleting_a_bucket_that_holds_objects(s3: ScriptedS3) -> None:
    s3.answers.append(
        xml(409, s3_error("BucketNotEmpty", "The bucket you tried to delete is not empty"))
    )
    async with s3.client() as client:
        with pytest.raises(KmsBucketNotEmpty) as caught:
            await client.delete_bucket("bkt")
    error = caught.value
    assert isinstance(error, KmsConflict)
    assert (error.status, error.code, error.request_id) == (409, "BucketNotEmpty", "REQ123")
    assert "'bkt'" in error.message and "still holds objects" in error.message
    assert error.hint is not None and "delete them first" in error.hint
