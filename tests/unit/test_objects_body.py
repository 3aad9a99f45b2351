"""A PutObject body read as a stream: hashes, aws-chunked (botocore's own encoder), limits."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random
import zlib
from collections.abc import Callable, Iterator

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from kms_tui.embedded.objects_body import PayloadReader, declared_size, is_unsupported_streaming
from kms_tui.embedded.objects_common import S3Failure

TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def reader_of(data: bytes, rng: random.Random | None = None) -> Callable[[], bytes]:
    """``data`` in pieces of random sizes (framing split anywhere), then ``b""``."""
    rng = rng or random.Random(1)
    pieces: list[bytes] = []
    start = 0
    while start < len(data):
        size = rng.choice([1, 2, 3, 7, 100, 4096, 70_000])
        pieces.append(data[start : start + size])
        start += size
    iterator: Iterator[bytes] = iter(pieces)
    return lambda: next(iterator, b"")


def read_all(reader: PayloadReader) -> bytes:
    return b"".join(reader.chunks())


def botocore_chunked(data: bytes, chunk_size: int = 1024) -> bytes:
    wrapper = AwsChunkedWrapper(
        io.BytesIO(data),
        checksum_cls=Crc32Checksum,
        checksum_name="x-amz-checksum-crc32",
        chunk_size=chunk_size,
    )
    return wrapper.read()


def chunked_headers(data: bytes) -> dict[str, str]:
    return {
        "x-amz-content-sha256": TRAILER,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": "x-amz-checksum-crc32",
    }


def failure(reader: PayloadReader) -> S3Failure:
    with pytest.raises(S3Failure) as caught:
        read_all(reader)
    return caught.value


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 5000, 300_000])
def test_botocore_aws_chunked_with_crc32_trailer(size: int) -> None:
    data = os.urandom(size)
    encoded = botocore_chunked(data)
    reader = PayloadReader(reader_of(encoded), chunked_headers(data), limit=1 << 30)
    assert read_all(reader) == data
    assert reader.size == size and reader.etag == hashlib.md5(data).hexdigest()
    expected = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert reader.checksums == {"x-amz-checksum-crc32": expected}


def test_trailer_checksum_mismatch() -> None:
    data = b"some data"
    encoded = botocore_chunked(data).replace(
        base64.b64encode(zlib.crc32(data).to_bytes(4, "big")), b"AAAAAA=="
    )
    caught = failure(PayloadReader(reader_of(encoded), chunked_headers(data), limit=1 << 20))
    assert (caught.status, caught.code) == (400, "BadDigest")
    assert caught.message == "The CRC32 you specified did not match the calculated checksum."


def test_declared_trailer_missing() -> None:
    data = b"abc"
    encoded = b"3\r\nabc\r\n0\r\n\r\n"
    caught = failure(PayloadReader(reader_of(encoded), chunked_headers(data), limit=1 << 20))
    assert caught.code == "InvalidRequest"


@pytest.mark.parametrize(
    ("encoded", "code"),
    [
        (b"3\r\nab", "IncompleteBody"),  # cut inside data
        (b"3\r\nabc\r\n", "IncompleteBody"),  # no final chunk
        (b"zz\r\nabc\r\n0\r\n\r\n", "InvalidRequest"),  # bad size
        (b"3\r\nabcX\r\n0\r\n\r\n", "InvalidRequest"),  # no CRLF after data
        (b"3\r\nabc\r\n0\r\n\r\nextra", "InvalidRequest"),  # data after the end
        (b"3;foo=bar\r\nabc\r\n0\r\n\r\n", "InvalidRequest"),  # unknown extension
        (b"4" * 5000 + b"\r\n", "InvalidRequest"),  # endless header line
    ],
)
def test_malformed_framing(encoded: bytes, code: str) -> None:
    headers = {"x-amz-content-sha256": TRAILER, "content-encoding": "aws-chunked"}
    caught = failure(PayloadReader(reader_of(encoded), headers, limit=1 << 20))
    assert (caught.status, caught.code) == (400, code)


def test_decoded_length_must_match() -> None:
    headers = {"x-amz-content-sha256": TRAILER, "x-amz-decoded-content-length": "4"}
    caught = failure(PayloadReader(reader_of(b"3\r\nabc\r\n0\r\n\r\n"), headers, limit=100))
    assert caught.code == "IncompleteBody"


def test_hashed_payload_is_verified() -> None:
    data = os.urandom(5000)
    good = {"x-amz-content-sha256": hashlib.sha256(data).hexdigest()}
    assert read_all(PayloadReader(reader_of(data), good, limit=1 << 20)) == data
    bad = {"x-amz-content-sha256": hashlib.sha256(b"other").hexdigest()}
    caught = failure(PayloadReader(reader_of(data), bad, limit=1 << 20))
    assert (caught.status, caught.code) == (400, "XAmzContentSHA256Mismatch")


def test_unsigned_payload_and_header_checksums() -> None:
    data = b"checked"
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    sha1 = base64.b64encode(hashlib.sha1(data).digest()).decode()
    headers = {
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        "x-amz-checksum-crc32": crc,
        "x-amz-checksum-sha1": sha1,
        "content-md5": base64.b64encode(hashlib.md5(data).digest()).decode(),
    }
    reader = PayloadReader(reader_of(data), headers, limit=100)
    assert read_all(reader) == data
    assert reader.checksums == {"x-amz-checksum-crc32": crc, "x-amz-checksum-sha1": sha1}
    wrong = dict(headers, **{"x-amz-checksum-sha1": base64.b64encode(b"0" * 20).decode()})
    assert failure(PayloadReader(reader_of(data), wrong, limit=100)).code == "BadDigest"
    md5 = dict(headers, **{"content-md5": base64.b64encode(b"0" * 16).decode()})
    assert failure(PayloadReader(reader_of(data), md5, limit=100)).code == "BadDigest"


def test_invalid_content_md5_is_refused_before_reading() -> None:
    with pytest.raises(S3Failure) as caught:
        PayloadReader(reader_of(b"x"), {"content-md5": "%%%"}, limit=100)
    assert caught.value.code == "InvalidDigest"


def test_limit_while_streaming() -> None:
    data = b"z" * 1000
    reader = PayloadReader(reader_of(data), {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, limit=999)
    caught = failure(reader)
    assert (caught.status, caught.code) == (400, "EntityTooLarge")
    assert reader.size <= 999 + 70_000  # stopped at the first piece past the cap


def test_aws_chunked_content_encoding_needs_a_streaming_hash() -> None:
    with pytest.raises(S3Failure) as caught:
        PayloadReader(
            reader_of(b""),
            {"content-encoding": "aws-chunked", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
            limit=100,
        )
    assert caught.value.code == "InvalidArgument"


def test_signed_streaming_without_a_signer_is_refused() -> None:
    with pytest.raises(S3Failure) as caught:
        PayloadReader(
            reader_of(b""), {"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}, limit=1
        )
    assert caught.value.status == 403


def test_declared_size_and_unsupported_streaming() -> None:
    assert declared_size({"content-length": "12"}) == 12
    assert declared_size({"x-amz-content-sha256": TRAILER, "content-length": "99"}) is None
    assert (
        declared_size({"x-amz-content-sha256": TRAILER, "x-amz-decoded-content-length": "7"}) == 7
    )
    with pytest.raises(S3Failure):
        declared_size({"content-length": "-1"})
    assert is_unsupported_streaming("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")
    assert is_unsupported_streaming("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
    assert not is_unsupported_streaming(TRAILER)
    assert not is_unsupported_streaming("UNSIGNED-PAYLOAD")
    assert not is_unsupported_streaming(None)
