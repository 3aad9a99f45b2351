"""A PutObject body, read as a stream: payload hash, aws-chunked framing, checksums, size cap.

The body arrives from a ``read`` callable (the next piece of bytes, ``b""`` at the end) and
leaves as the decoded payload, piece by piece; nothing keeps it whole. What SigV4 and S3 say
about the body is checked as it streams and at its end:

* ``x-amz-content-sha256``: a hex SHA-256 is compared with the bytes received (400
  ``XAmzContentSHA256Mismatch``); ``UNSIGNED-PAYLOAD`` is taken as it is;
* ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` (what botocore sends over HTTPS, with
  ``Content-Encoding: aws-chunked``) and ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` (each chunk
  signed, chained from the request's signature) are decoded from the aws-chunked framing;
  other ``STREAMING-*`` payloads are not routed (501);
* ``x-amz-decoded-content-length`` must equal the decoded size (400 ``IncompleteBody``);
* ``Content-MD5`` (400 ``BadDigest`` / ``InvalidDigest``) and an ``x-amz-checksum-crc32``,
  ``-sha1`` or ``-sha256`` sent as a header or as a trailer (400 ``BadDigest``);
  ``-crc32c`` and ``-crc64nvme`` are accepted but not verified (the standard library has no
  such CRC);
* the size cap: a declared size over it, or a body found to be over it while streaming, is
  400 ``EntityTooLarge``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kms_tui.embedded.objects_common import S3Failure
from kms_tui.embedded.sigv4 import derive_signing_key

__all__ = [
    "SUPPORTED_STREAMING",
    "ChunkSigner",
    "PayloadReader",
    "chunk_signer",
    "declared_size",
    "entity_too_large",
    "is_unsupported_streaming",
]

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SUPPORTED_STREAMING = frozenset({STREAMING_UNSIGNED_TRAILER, STREAMING_SIGNED})
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX_SIZE = re.compile(rb"^[0-9a-fA-F]{1,16}$")
_MAX_LINE = 4096
_MAX_TRAILERS = 16
_CHECKSUM_PREFIX = "x-amz-checksum-"
_VERIFIED_CHECKSUMS = ("crc32", "sha1", "sha256")
_UNVERIFIED_CHECKSUMS = ("crc32c", "crc64nvme")
_AUTH_PARAM = re.compile(r"(Credential|Signature)\s*=\s*([^,\s]+)")


def is_unsupported_streaming(content_sha256: str | None) -> bool:
    """A ``STREAMING-*`` payload this server does not decode (ECDSA, signed trailers)."""
    value = (content_sha256 or "").strip()
    return value.startswith("STREAMING-") and value not in SUPPORTED_STREAMING


def entity_too_large(limit: int) -> S3Failure:
    """S3's answer to a body over the size cap."""
    return S3Failure(
        400,
        "EntityTooLarge",
        f"Your proposed upload exceeds the maximum allowed size ({limit} bytes).",
    )


def _incomplete() -> S3Failure:
    return S3Failure(
        400,
        "IncompleteBody",
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
    )


def _malformed(detail: str) -> S3Failure:
    return S3Failure(400, "InvalidRequest", f"malformed aws-chunked body: {detail}")


def _digits(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or not value.isascii():
        raise S3Failure(400, "InvalidArgument", f"invalid header: {name}")
    return int(value)


def _streaming(headers: Mapping[str, str]) -> bool:
    return headers.get("x-amz-content-sha256", "").strip().startswith("STREAMING-")


def declared_size(headers: Mapping[str, str]) -> int | None:
    """The payload size the request announces (decoded size for aws-chunked), if any."""
    if _streaming(headers):
        return _digits(headers, "x-amz-decoded-content-length")
    return _digits(headers, "content-length")


class ChunkSigner:
    """Checks the chain of chunk signatures of ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``."""

    def __init__(self, signing_key: bytes, amz_date: str, scope: str, seed: str) -> None:
        self._key = signing_key
        self._prefix = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n"
        self._previous = seed

    def verify(self, digest_hex: str, signature: str | None) -> None:
        """One chunk, given the SHA-256 of its data; 403 when it is not signed right."""
        to_sign = f"{self._prefix}{self._previous}\n{_EMPTY_SHA256}\n{digest_hex}"
        expected = hmac.new(self._key, to_sign.encode(), hashlib.sha256).hexdigest()
        if signature is None or not hmac.compare_digest(expected, signature):
            raise S3Failure(
                403,
                "SignatureDoesNotMatch",
                "The chunk signature we calculated does not match the signature you provided.",
            )
        self._previous = signature


def chunk_signer(
    headers: Mapping[str, str], lookup_secret: Callable[[str], str | None]
) -> ChunkSigner | None:
    """The signer for a request already verified by SigV4 (None if it cannot be built)."""
    params = dict(_AUTH_PARAM.findall(headers.get("authorization", "")))
    scope = params.get("Credential", "").split("/")
    amz_date = headers.get("x-amz-date", "").strip()
    if len(scope) != 5 or "Signature" not in params or not amz_date:
        return None
    secret = lookup_secret(scope[0])
    if secret is None:
        return None
    key = derive_signing_key(secret, scope[1], scope[2], scope[3])
    return ChunkSigner(key, amz_date, "/".join(scope[1:]), params["Signature"])


class _Crc32:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


def _checksum_hasher(algorithm: str) -> Any:
    if algorithm == "crc32":
        return _Crc32()
    return hashlib.new(algorithm)


def _checksum_names(headers: Mapping[str, str]) -> list[str]:
    names = [name for name in headers if name.startswith(_CHECKSUM_PREFIX)]
    names += [
        part.strip().lower()
        for part in headers.get("x-amz-trailer", "").split(",")
        if part.strip().lower().startswith(_CHECKSUM_PREFIX)
    ]
    known = _VERIFIED_CHECKSUMS + _UNVERIFIED_CHECKSUMS
    return [name for name in dict.fromkeys(names) if name.removeprefix(_CHECKSUM_PREFIX) in known]


@dataclass
class _Digests:
    md5: Any
    sha256: Any | None
    checksums: dict[str, Any]

    def update(self, data: bytes) -> None:
        self.md5.update(data)
        for hasher in self.checksums.values():
            hasher.update(data)


class PayloadReader:
    """The decoded payload of one PUT, checked as it streams (see the module docstring)."""

    def __init__(
        self,
        read: Callable[[], bytes],
        headers: Mapping[str, str],
        *,
        limit: int,
        signer: ChunkSigner | None = None,
    ) -> None:
        self._read = read
        self._headers = headers
        self._limit = limit
        self._content_sha = headers.get("x-amz-content-sha256", "").strip()
        self._chunked = self._content_sha.startswith("STREAMING-")
        self._signer = signer if self._content_sha == STREAMING_SIGNED else None
        if self._content_sha == STREAMING_SIGNED and signer is None:
            raise S3Failure(
                403, "SignatureDoesNotMatch", "The chunk signatures of this body cannot be checked."
            )
        encodings = [e.strip().lower() for e in headers.get("content-encoding", "").split(",")]
        if "aws-chunked" in encodings and not self._chunked:
            raise S3Failure(
                400,
                "InvalidArgument",
                "Content-Encoding aws-chunked needs a STREAMING-* x-amz-content-sha256.",
            )
        self._decoded_length = _digits(headers, "x-amz-decoded-content-length")
        self._content_md5 = self._parse_md5(headers.get("content-md5"))
        names = _checksum_names(headers)
        self._expected: dict[str, str] = {
            name: headers[name].strip() for name in names if name in headers
        }
        self._digests = _Digests(
            md5=hashlib.md5(usedforsecurity=False),
            sha256=hashlib.sha256() if _HEX64.match(self._content_sha) else None,
            checksums={
                name: _checksum_hasher(name.removeprefix(_CHECKSUM_PREFIX))
                for name in names
                if name.removeprefix(_CHECKSUM_PREFIX) in _VERIFIED_CHECKSUMS
            },
        )
        self._trailers: dict[str, str] = {}
        self.size = 0
        self.checksums: dict[str, str] = {}

    @staticmethod
    def _parse_md5(value: str | None) -> bytes | None:
        if value is None:
            return None
        try:
            digest = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        if len(digest) != 16:
            raise S3Failure(400, "InvalidDigest", "The Content-MD5 you specified is not valid.")
        return digest

    @property
    def etag(self) -> str:
        """The MD5 of the decoded payload, hex (read it after :meth:`chunks` is exhausted)."""
        digest: str = self._digests.md5.hexdigest()
        return digest

    def chunks(self) -> Iterator[bytes]:
        """The decoded payload, piece by piece; the end checks run after the last piece."""
        source = self._aws_chunked() if self._chunked else self._plain()
        for piece in source:
            if not piece:
                continue
            self.size += len(piece)
            if self.size > self._limit:
                raise entity_too_large(self._limit)
            self._digests.update(piece)
            yield piece
        self._finish()

    def _plain(self) -> Iterator[bytes]:
        sha = self._digests.sha256
        while True:
            piece = self._read()
            if not piece:
                return
            if sha is not None:
                sha.update(piece)
            yield piece

    # ------------------------------------------------------------------ aws-chunked

    def _aws_chunked(self) -> Iterator[bytes]:
        buffer = bytearray()
        ended = False

        def fill() -> bool:
            nonlocal ended
            if ended:
                return False
            piece = self._read()
            if not piece:
                ended = True
                return False
            buffer.extend(piece)
            return True

        def line() -> bytes:
            while True:
                end = buffer.find(b"\r\n", 0, _MAX_LINE + 2)
                if end >= 0:
                    text = bytes(buffer[:end])
                    del buffer[: end + 2]
                    return text
                if len(buffer) > _MAX_LINE:
                    raise _malformed("a chunk header or trailer line is too long")
                if not fill():
                    raise _incomplete()

        while True:
            size, signature = self._chunk_header(line())
            chunk_sha = hashlib.sha256() if self._signer is not None else None
            remaining = size
            while remaining:
                if not buffer and not fill():
                    raise _incomplete()
                piece = bytes(buffer[:remaining])
                del buffer[: len(piece)]
                remaining -= len(piece)
                if chunk_sha is not None:
                    chunk_sha.update(piece)
                yield piece
            if self._signer is not None:
                assert chunk_sha is not None
                self._signer.verify(chunk_sha.hexdigest(), signature)
            if size == 0:
                break
            while len(buffer) < 2:
                if not fill():
                    raise _incomplete()
            if bytes(buffer[:2]) != b"\r\n":
                raise _malformed("chunk data is not followed by CRLF")
            del buffer[:2]
        while True:
            trailer = line()
            if not trailer:
                break
            name, colon, value = trailer.partition(b":")
            if not colon or len(self._trailers) >= _MAX_TRAILERS:
                raise _malformed("bad trailer line")
            self._trailers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
        if buffer or fill():
            raise _malformed("data after the final chunk")

    def _chunk_header(self, header: bytes) -> tuple[int, str | None]:
        size_text, _, extension = header.partition(b";")
        if not _HEX_SIZE.match(size_text.strip()):
            raise _malformed("bad chunk size")
        signature: str | None = None
        if extension:
            name, _, value = extension.partition(b"=")
            if name.strip() != b"chunk-signature":
                raise _malformed("unknown chunk extension")
            signature = value.strip().decode("latin-1")
        return int(size_text.strip(), 16), signature

    # ------------------------------------------------------------------ end checks

    def _finish(self) -> None:
        sha = self._digests.sha256
        if sha is not None and not hmac.compare_digest(sha.hexdigest(), self._content_sha):
            raise S3Failure(
                400,
                "XAmzContentSHA256Mismatch",
                "failed to read request body: the body does not match x-amz-content-sha256",
            )
        if self._decoded_length is not None and self._decoded_length != self.size:
            raise _incomplete()
        md5 = self._digests.md5.digest()
        if self._content_md5 is not None and not hmac.compare_digest(md5, self._content_md5):
            raise S3Failure(
                400, "BadDigest", "The Content-MD5 you specified did not match what we received."
            )
        declared = [
            part.strip().lower()
            for part in self._headers.get("x-amz-trailer", "").split(",")
            if part.strip()
        ]
        for name in declared:
            if name not in self._trailers:
                raise S3Failure(
                    400, "InvalidRequest", f"The trailer {name} was declared but not sent."
                )
        expected = dict(self._expected)
        expected.update({k: v for k, v in self._trailers.items() if k.startswith(_CHECKSUM_PREFIX)})
        for name, value in expected.items():
            hasher = self._digests.checksums.get(name)
            if hasher is None:
                continue
            try:
                given = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise S3Failure(
                    400, "InvalidRequest", f"Value for {name} header is invalid."
                ) from None
            if not hmac.compare_digest(given, hasher.digest()):
                algorithm = name.removeprefix(_CHECKSUM_PREFIX).upper()
                raise S3Failure(
                    400,
                    "BadDigest",
                    f"The {algorithm} you specified did not match the calculated checksum.",
                )
            self.checksums[name] = base64.b64encode(hasher.digest()).decode("ascii")
