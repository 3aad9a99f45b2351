"""The S3 object routes: PutObject, GetObject (ranges), HeadObject, DeleteObject.

A PUT is streamed: the body is decoded and checked (:mod:`objects_body`), encrypted block by
block when the object is encrypted (:mod:`objects_sse`, :mod:`objects_format`) and written to a
temp file that is renamed into place (:mod:`objects_store`); plaintext of an encrypted object
never reaches the disk and no body is held whole in memory. A GET decrypts only the blocks its
range needs and answers a :class:`StreamedResponse`. ListObjectsV2 is in :mod:`objects_list`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import format_datetime
from urllib.parse import unquote_to_bytes

from kms_tui.embedded.buckets import BucketStore
from kms_tui.embedded.http import HttpRequest, HttpResponse, empty_response
from kms_tui.embedded.objects_body import (
    ChunkSigner,
    PayloadReader,
    declared_size,
    entity_too_large,
)
from kms_tui.embedded.objects_common import S3Failure, StreamedResponse
from kms_tui.embedded.objects_format import (
    BLOCK_SIZE,
    BlockDecryptor,
    BlockEncryptor,
    BlockIntegrityError,
    block_span,
    encrypted_body_length,
)
from kms_tui.embedded.objects_sse import (
    KmsForObjects,
    check_read_headers,
    new_data_key,
    parse_write_sse,
    read_headers,
    stored_encryption,
    unwrap_data_key,
    write_headers,
)
from kms_tui.embedded.objects_store import ObjectMeta, StoredObject, UploadBucketGone
from kms_tui.embedded.timefmt import utc_now

__all__ = [
    "DEFAULT_MAX_OBJECT_SIZE",
    "PutBody",
    "delete_object",
    "get_object",
    "head_object",
    "object_key",
    "parse_size",
    "put_object",
]

DEFAULT_MAX_OBJECT_SIZE = 5 * 1024**3  # S3's limit for a single PUT
MAX_KEY_BYTES = 1024
_USER_METADATA_LIMIT = 2048
_DEFAULT_CONTENT_TYPE = "binary/octet-stream"
_STORED_HEADERS = ("cache-control", "content-disposition", "content-language", "expires")
_META_PREFIX = "x-amz-meta-"
_READ_BLOCKS = 16  # blocks decrypted per piece sent (1 MiB)
_READ_PLAIN = _READ_BLOCKS * BLOCK_SIZE
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_SIZE = re.compile(r"^(\d+)\s*([kmgt]?)(i?b?)$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@dataclass(frozen=True, slots=True)
class PutBody:
    """Where a PUT's body comes from: ``read`` gives the next bytes (``b""`` at the end)."""

    read: Callable[[], bytes]
    signer: ChunkSigner | None = None

    @classmethod
    def of(cls, data: bytes) -> PutBody:
        """A body already in memory (direct calls, tests)."""
        pieces = iter([data])
        return cls(lambda: next(pieces, b""))


def parse_size(text: str) -> int:
    """``5368709120``, ``5GiB``, ``10M``, ``512k`` -> bytes (binary units); ValueError if not."""
    match = _SIZE.match(text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r} (give bytes, or a number with K, M, G or T)")
    size = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if size <= 0:
        raise ValueError("the size must be positive")
    return size


def _no_such_bucket() -> S3Failure:
    return S3Failure(404, "NoSuchBucket", "The specified bucket does not exist")


def _no_such_key() -> S3Failure:
    return S3Failure(404, "NoSuchKey", "The specified key does not exist.")


def _storage_failure(err: OSError) -> S3Failure:
    return S3Failure(
        500, "InternalError", f"cannot store the object: {err.strerror or 'I/O error'}"
    )


def _first_values(request: HttpRequest) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in request.headers:
        values.setdefault(name, value)
    return values


def object_key(request: HttpRequest) -> str:
    """The object key of a path-style request, decoded as UTF-8 from the path as sent."""
    raw = unquote_to_bytes(request.raw_path)
    raw = raw[1:] if raw.startswith(b"/") else raw
    _bucket, _, key_bytes = raw.partition(b"/")
    try:
        key = key_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise S3Failure(400, "InvalidArgument", "Object keys must be valid UTF-8.") from None
    if len(key_bytes) > MAX_KEY_BYTES:
        raise S3Failure(400, "KeyTooLongError", "Your key is too long")
    return key


def _require_bucket(store: BucketStore, bucket: str) -> tuple[str | None, str | None]:
    record = store.get(bucket)
    if record is None:
        raise _no_such_bucket()
    return record.sse_algorithm, record.kms_key_id


def _user_metadata(request: HttpRequest) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in request.headers:
        if name.startswith(_META_PREFIX) and len(name) > len(_META_PREFIX):
            short = name[len(_META_PREFIX) :]
            found[short] = f"{found[short]},{value}" if short in found else value
    if sum(len(k) + len(v) for k, v in found.items()) > _USER_METADATA_LIMIT:
        raise S3Failure(
            400,
            "MetadataTooLarge",
            "Your metadata headers exceed the maximum allowed metadata size.",
        )
    return found


def _stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {name: headers[name] for name in _STORED_HEADERS if name in headers}
    encodings = [
        part.strip()
        for part in headers.get("content-encoding", "").split(",")
        if part.strip() and part.strip().lower() != "aws-chunked"
    ]
    if encodings:
        kept["content-encoding"] = ",".join(encodings)
    return kept


def put_object(
    store: BucketStore,
    kms: KmsForObjects,
    request: HttpRequest,
    bucket: str,
    body: PutBody,
    max_size: int,
) -> HttpResponse:
    """PutObject: everything is checked before the body is read, the body then streamed."""
    key = object_key(request)
    headers = _first_values(request)
    bucket_algorithm, bucket_key_id = _require_bucket(store, bucket)
    declared = declared_size(headers)
    if declared is not None and declared > max_size:
        raise entity_too_large(max_size)
    user_metadata = _user_metadata(request)
    write = parse_write_sse(headers, bucket_algorithm, bucket_key_id)
    reader = PayloadReader(body.read, headers, limit=max_size, signer=body.signer)
    material = new_data_key(kms, write, bucket, key)
    try:
        upload = store.objects.begin_upload(bucket)
    except UploadBucketGone:
        raise _no_such_bucket() from None
    except OSError as err:
        raise _storage_failure(err) from err
    try:
        encryptor = (
            BlockEncryptor(material.data_key, material.base_nonce) if material is not None else None
        )
        for piece in reader.chunks():
            upload.write(encryptor.update(piece) if encryptor is not None else piece)
        if encryptor is not None:
            upload.write(encryptor.finish())
        meta = ObjectMeta(
            key=key,
            size=reader.size,
            etag=reader.etag,
            last_modified=utc_now(),
            content_type=headers.get("content-type", _DEFAULT_CONTENT_TYPE),
            headers=_stored_headers(headers),
            user_metadata=user_metadata,
            checksums=reader.checksums,
            encryption=stored_encryption(material, reader.size) if material is not None else None,
            block_size=BLOCK_SIZE if material is not None else None,
        )
        store.objects.commit(bucket, upload, meta)
    except UploadBucketGone:
        raise _no_such_bucket() from None
    except OSError as err:
        upload.abort()
        raise _storage_failure(err) from err
    except BaseException:
        upload.abort()
        raise
    answer = [("etag", f'"{meta.etag}"'), *write_headers(material), *meta.checksums.items()]
    return HttpResponse(200, b"", None, tuple(answer))


def delete_object(store: BucketStore, request: HttpRequest, bucket: str) -> HttpResponse:
    """DeleteObject: 204 whether or not the key existed."""
    key = object_key(request)
    _require_bucket(store, bucket)
    try:
        store.objects.delete(bucket, key)
    except OSError as err:
        raise _storage_failure(err) from err
    return empty_response(204)


def _open(store: BucketStore, request: HttpRequest, bucket: str) -> tuple[str, StoredObject]:
    key = object_key(request)
    _require_bucket(store, bucket)
    try:
        stored = store.objects.open_object(bucket, key)
    except ValueError as err:
        raise S3Failure(500, "InternalError", f"the object's file is damaged: {err}") from None
    if stored is None:
        raise _no_such_key()
    return key, stored


def _parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``bytes=`` range; None: serve the whole object."""
    if value is None:
        return None
    match = _RANGE.match(value.strip())
    if match is None or not (match.group(1) or match.group(2)):
        return None  # not one byte range: ignored, as RFC 9110 allows
    if not match.group(1):
        suffix = int(match.group(2))
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - suffix), size - 1
    first = int(match.group(1))
    if match.group(2) and int(match.group(2)) < first:
        return None  # syntactically invalid: ignored
    if first >= size:
        raise _unsatisfiable(size)
    last = int(match.group(2)) if match.group(2) else size - 1
    return first, min(last, size - 1)


def _unsatisfiable(size: int) -> S3Failure:
    return S3Failure(
        416,
        "InvalidRange",
        "The requested range is not satisfiable",
        (("content-range", f"bytes */{size}"),),
    )


def _object_headers(
    meta: ObjectMeta, request: HttpRequest, *, head: bool, whole: bool
) -> list[tuple[str, str]]:
    """The headers of a GET or HEAD answer; the stored checksums only for the whole object."""
    answer = [
        ("etag", f'"{meta.etag}"'),
        ("last-modified", format_datetime(meta.last_modified, usegmt=True)),
        ("accept-ranges", "bytes"),
        *meta.headers.items(),
        *((_META_PREFIX + name, value) for name, value in meta.user_metadata.items()),
        *read_headers(meta, head=head),
    ]
    if whole and request.header("x-amz-checksum-mode") == "ENABLED" and meta.checksums:
        answer += [*meta.checksums.items(), ("x-amz-checksum-type", "FULL_OBJECT")]
    return answer


def head_object(store: BucketStore, request: HttpRequest, bucket: str) -> HttpResponse:
    """HeadObject: from the stored metadata only (no KMS call), ranges as GET."""
    _key, stored = _open(store, request, bucket)
    try:
        meta = stored.meta
    finally:
        stored.close()
    check_read_headers(_first_values(request), meta)
    span = _parse_range(request.header("range"), meta.size)
    answer = _object_headers(meta, request, head=True, whole=span is None)
    status, length = 200, meta.size
    if span is not None:
        status, length = 206, span[1] - span[0] + 1
        answer.append(("content-range", f"bytes {span[0]}-{span[1]}/{meta.size}"))
    answer.append(("content-length", str(length)))
    return HttpResponse(status, b"", meta.content_type, tuple(answer))


def get_object(
    store: BucketStore, kms: KmsForObjects, request: HttpRequest, bucket: str
) -> StreamedResponse:
    """GetObject: the whole object or one range, decrypted block by block as it is sent."""
    key, stored = _open(store, request, bucket)
    try:
        meta = stored.meta
        check_read_headers(_first_values(request), meta)
        span = _parse_range(request.header("range"), meta.size)
        first, last = span if span is not None else (0, meta.size - 1)
        if meta.encrypted:
            if meta.block_size != BLOCK_SIZE or stored.body_length != encrypted_body_length(
                meta.size
            ):
                raise S3Failure(
                    500, "InternalError", "the object's file is damaged: wrong body length"
                )
            data_key, nonce = unwrap_data_key(kms, meta, bucket, key)
            chunks = _decrypted(stored, BlockDecryptor(data_key, nonce, meta.size), first, last)
        else:
            chunks = _plain(stored, first, last)
    except BaseException:
        stored.close()
        raise
    answer = _object_headers(meta, request, head=False, whole=span is None)
    if span is not None:
        answer.append(("content-range", f"bytes {first}-{last}/{meta.size}"))
    return StreamedResponse(
        status=206 if span is not None else 200,
        content_length=max(0, last - first + 1),
        chunks=chunks,
        close=stored.close,
        content_type=meta.content_type,
        headers=tuple(answer),
    )


def _plain(stored: StoredObject, first: int, last: int) -> Iterator[bytes]:
    position = first
    while position <= last:
        piece = stored.read_body(position, min(_READ_PLAIN, last - position + 1))
        if not piece:
            raise BlockIntegrityError("the object's file is shorter than its size")
        position += len(piece)
        yield piece


def _decrypted(
    stored: StoredObject, decryptor: BlockDecryptor, first: int, last: int
) -> Iterator[bytes]:
    if last < first:
        return
    size = stored.meta.size
    block = first // BLOCK_SIZE
    end_block = last // BLOCK_SIZE
    while block <= end_block:
        batch_end = min(end_block, block + _READ_BLOCKS - 1)
        offset, _ = block_span(block, size)
        end_offset, end_length = block_span(batch_end, size)
        sealed = stored.read_body(offset, end_offset + end_length - offset)
        pieces = []
        for index in range(block, batch_end + 1):
            start, length = block_span(index, size)
            plain = decryptor.decrypt(index, sealed[start - offset : start - offset + length])
            base = index * BLOCK_SIZE
            pieces.append(
                plain[max(first, base) - base : min(last, base + len(plain) - 1) - base + 1]
            )
        yield b"".join(pieces)
        block = batch_end + 1
