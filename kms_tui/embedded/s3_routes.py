"""The S3 subset: buckets and their default encryption, path-style, as AWS SDKs expect.

Everything else S3 can do answers 501 ``NotImplemented``: this server holds no objects.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any, Protocol
from xml.sax.saxutils import escape

from kms_tui.embedded.buckets import (
    SSE_AES256,
    SSE_KMS,
    BucketExistsError,
    BucketNotFoundError,
    BucketRecord,
    BucketStore,
    is_valid_bucket_name,
)
from kms_tui.embedded.http import (
    HttpRequest,
    HttpResponse,
    empty_response,
    xml_error,
    xml_response,
)

__all__ = ["S3_NAMESPACE", "KmsKeyLookup", "handle_s3"]

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
# MinIO's and RustFS's fixed owner id for the single-owner deployment.
_OWNER_ID = "02d6176db174dc93cb1b899f7c6078f08654445fe8cf1b6ce98d8855f66bdbf4"
_IGNORED_QUERY = frozenset({"x-id"})
_MALFORMED_XML = (
    "The XML you provided was not well-formed or did not validate against our published schema."
)


class KmsKeyLookup(Protocol):
    """What the bucket routes need from the KMS service."""

    @property
    def is_running(self) -> bool: ...

    def default_key_id(self) -> str | None: ...

    def key_exists(self, key_id: str) -> bool: ...


class _S3Failure(Exception):
    """An S3 XML error answer raised from deep inside a handler."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _not_implemented() -> _S3Failure:
    return _S3Failure(
        501,
        "NotImplemented",
        "A header you provided implies functionality that is not implemented: "
        "this server implements only bucket and bucket-encryption operations.",
    )


def _no_such_bucket() -> _S3Failure:
    return _S3Failure(404, "NoSuchBucket", "The specified bucket does not exist")


def handle_s3(store: BucketStore, kms: KmsKeyLookup, request: HttpRequest) -> HttpResponse:
    """Answer one authenticated path-style S3 request."""
    try:
        try:
            return _dispatch(store, kms, request)
        except OSError as err:  # the bucket store's write or removal failed; nothing changed
            detail = err.strerror or "I/O error"
            raise _S3Failure(
                500, "InternalError", f"cannot store the bucket change: {detail}"
            ) from err
    except _S3Failure as failure:
        if request.method == "HEAD":
            return empty_response(failure.status)
        return xml_error(failure.status, failure.code, failure.message, request.request_id)


Handler = Callable[[BucketStore, KmsKeyLookup, HttpRequest, str], HttpResponse]


def _dispatch(store: BucketStore, kms: KmsKeyLookup, request: HttpRequest) -> HttpResponse:
    rest = request.path[1:] if request.path.startswith("/") else request.path
    if not rest:
        if request.method == "GET":
            return _list_buckets(store)
        raise _not_implemented()
    bucket, _, object_key = rest.partition("/")
    if not is_valid_bucket_name(bucket):
        raise _S3Failure(400, "InvalidBucketName", "The specified bucket is not valid.")
    if object_key:
        raise _not_implemented()
    subresources = frozenset(name for name, _ in request.query) - _IGNORED_QUERY
    handler = _BUCKET_ROUTES.get((request.method, subresources))
    if handler is None:
        raise _not_implemented()
    return handler(store, kms, request, bucket)


def _timestamp(record: BucketRecord) -> str:
    return record.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _list_buckets(store: BucketStore) -> HttpResponse:
    entries = "".join(
        f"<Bucket><Name>{escape(record.name)}</Name>"
        f"<CreationDate>{_timestamp(record)}</CreationDate></Bucket>"
        for record in store.list_buckets()
    )
    body = (
        f'{_XML_DECLARATION}<ListAllMyBucketsResult xmlns="{S3_NAMESPACE}">'
        f"<Owner><ID>{_OWNER_ID}</ID><DisplayName>rustfs</DisplayName></Owner>"
        f"<Buckets>{entries}</Buckets></ListAllMyBucketsResult>"
    )
    return xml_response(200, body)


def _local_name(element: ET.Element) -> str:
    return element.tag.rpartition("}")[2]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local_name(child) == name]


def _parse_xml(body: bytes, root_name: str) -> ET.Element:
    """Parse bounded input with no DTD or entity declarations allowed."""
    lowered = body.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise _S3Failure(400, "MalformedXML", _MALFORMED_XML)
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise _S3Failure(400, "MalformedXML", _MALFORMED_XML) from None
    if _local_name(root) != root_name:
        raise _S3Failure(400, "MalformedXML", _MALFORMED_XML)
    return root


def _check_content_md5(request: HttpRequest) -> None:
    declared = request.header("content-md5")
    if declared is None:
        return
    try:
        digest = base64.b64decode(declared.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _S3Failure(
            400, "InvalidDigest", "The Content-MD5 you specified is not valid."
        ) from None
    if not hmac.compare_digest(digest, hashlib.md5(request.body).digest()):
        raise _S3Failure(
            400, "BadDigest", "The Content-MD5 you specified did not match what we received."
        )


def _create_bucket(
    store: BucketStore, kms: KmsKeyLookup, request: HttpRequest, bucket: str
) -> HttpResponse:
    _check_content_md5(request)
    if request.body.strip():
        _parse_xml(request.body, "CreateBucketConfiguration")
    try:
        store.create(bucket)
    except BucketExistsError:
        raise _S3Failure(
            409,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
        ) from None
    return HttpResponse(200, b"", None, (("location", f"/{bucket}"),))


def _head_bucket(
    store: BucketStore, kms: KmsKeyLookup, request: HttpRequest, bucket: str
) -> HttpResponse:
    if store.get(bucket) is None:
        raise _no_such_bucket()
    return HttpResponse(200, b"", None, (("x-amz-bucket-region", "us-east-1"),))


def _delete_bucket(
    store: BucketStore, kms: KmsKeyLookup, request: HttpRequest, bucket: str
) -> HttpResponse:
    try:
        store.delete(bucket)
    except BucketNotFoundError:
        raise _no_such_bucket() from None
    return empty_response(204)


def _get_encryption(
    store: BucketStore, kms: KmsKeyLookup, request: HttpRequest, bucket: str
) -> HttpResponse:
    record = store.get(bucket)
    if record is None:
        raise _no_such_bucket()
    if record.sse_algorithm is None:
        raise _S3Failure(
            400,
            "ServerSideEncryptionConfigurationNotFoundError",
            "The server side encryption configuration was not found",
        )
    key_element = (
        f"<KMSMasterKeyID>{escape(record.kms_key_id)}</KMSMasterKeyID>" if record.kms_key_id else ""
    )
    body = (
        f'{_XML_DECLARATION}<ServerSideEncryptionConfiguration xmlns="{S3_NAMESPACE}">'
        f"<Rule><ApplyServerSideEncryptionByDefault>"
        f"<SSEAlgorithm>{escape(record.sse_algorithm)}</SSEAlgorithm>{key_element}"
        f"</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
    )
    return xml_response(200, body)


def _parse_encryption(body: bytes) -> tuple[str, str | None]:
    """The (algorithm, key id) of a ServerSideEncryptionConfiguration document."""
    root = _parse_xml(body, "ServerSideEncryptionConfiguration")
    rules = _children(root, "Rule")
    if len(rules) != 1:
        raise _S3Failure(400, "MalformedXML", _MALFORMED_XML)
    defaults = _children(rules[0], "ApplyServerSideEncryptionByDefault")
    if len(defaults) != 1:
        raise _S3Failure(400, "MalformedXML", _MALFORMED_XML)
    algorithms = _children(defaults[0], "SSEAlgorithm")
    key_ids = _children(defaults[0], "KMSMasterKeyID")
    if len(algorithms) != 1 or len(key_ids) > 1:
        raise _S3Failure(400, "MalformedXML", _MALFORMED_XML)
    algorithm = (algorithms[0].text or "").strip()
    key_id = (key_ids[0].text or "").strip() if key_ids else ""
    if algorithm not in (SSE_AES256, SSE_KMS):
        raise _S3Failure(
            400,
            "InvalidArgument",
            f"Unsupported SSEAlgorithm '{algorithm}': this server accepts AES256 or aws:kms.",
        )
    if algorithm == SSE_AES256 and key_id:
        raise _S3Failure(
            400, "InvalidArgument", "KMSMasterKeyID is only valid with SSEAlgorithm aws:kms."
        )
    return algorithm, key_id or None


def _key_guard(kms: KmsKeyLookup) -> contextlib.AbstractContextManager[Any]:
    """The KMS service lock where there is one, so a key cannot be destroyed mid-assignment."""
    lock = getattr(kms, "lock", None)
    return lock if isinstance(lock, contextlib.AbstractContextManager) else contextlib.nullcontext()


def _put_encryption(
    store: BucketStore, kms: KmsKeyLookup, request: HttpRequest, bucket: str
) -> HttpResponse:
    _check_content_md5(request)
    algorithm, key_id = _parse_encryption(request.body)
    if store.get(bucket) is None:
        raise _no_such_bucket()
    # Checking the key and storing the reference happen under the service lock: an immediate
    # deletion or the sweep (which check references under that lock) then sees this bucket.
    with _key_guard(kms):
        return _assign_encryption(store, kms, bucket, algorithm, key_id)


def _assign_encryption(
    store: BucketStore, kms: KmsKeyLookup, bucket: str, algorithm: str, key_id: str | None
) -> HttpResponse:
    if algorithm == SSE_KMS:
        if not kms.is_running:
            raise _S3Failure(500, "InternalError", "KMS service not initialized")
        if key_id is None:
            key_id = kms.default_key_id()
            if not key_id:
                raise _S3Failure(500, "InternalError", "KMS default key not configured")
        elif not kms.key_exists(key_id):
            raise _S3Failure(
                400,
                "InvalidArgument",
                f"The KMS key '{key_id}' does not exist; create it first or name an existing key.",
            )
    try:
        store.set_encryption(bucket, algorithm, key_id)
    except BucketNotFoundError:
        raise _no_such_bucket() from None
    return HttpResponse(200, b"", None)


def _delete_encryption(
    store: BucketStore, kms: KmsKeyLookup, request: HttpRequest, bucket: str
) -> HttpResponse:
    try:
        store.clear_encryption(bucket)
    except BucketNotFoundError:
        raise _no_such_bucket() from None
    return empty_response(204)


_NONE: frozenset[str] = frozenset()
_ENCRYPTION = frozenset({"encryption"})
_BUCKET_ROUTES: dict[tuple[str, frozenset[str]], Handler] = {
    ("PUT", _NONE): _create_bucket,
    ("HEAD", _NONE): _head_bucket,
    ("DELETE", _NONE): _delete_bucket,
    ("GET", _ENCRYPTION): _get_encryption,
    ("PUT", _ENCRYPTION): _put_encryption,
    ("DELETE", _ENCRYPTION): _delete_encryption,
}
