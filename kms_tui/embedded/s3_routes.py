"""The S3 subset, path-style, as AWS SDKs expect: buckets, their default encryption, objects.

Bucket routes are here; ListObjectsV2 is in :mod:`objects_list`, the object routes (PutObject,
GetObject, HeadObject, DeleteObject, with real SSE) in :mod:`objects`. Which operation a request
is comes from :func:`match_route`, the one matcher (the fuzz oracle uses it too): the method,
the scope (service root, bucket, object), the query names that select an operation
(``_IGNORED_QUERY`` and the operation's own parameters aside) and, for a PUT of an object, the
headers that make it another operation: ``x-amz-copy-source`` (CopyObject), SSE-C headers and
``STREAMING-*`` payloads this server does not decode. Everything unmatched answers 501
``NotImplemented``: ListObjects (v1), multipart uploads, CopyObject, ACLs, tagging, versioning...
SSE-C headers on a PUT are validated as RustFS does (400s) before the 501.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import hmac
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from xml.sax.saxutils import escape

from kms_tui.embedded.buckets import (
    SSE_AES256,
    SSE_KMS,
    BucketExistsError,
    BucketNotEmptyError,
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
from kms_tui.embedded.objects import (
    DEFAULT_MAX_OBJECT_SIZE,
    PutBody,
    delete_object,
    get_object,
    head_object,
    put_object,
)
from kms_tui.embedded.objects_body import is_unsupported_streaming
from kms_tui.embedded.objects_common import S3Failure, StreamedResponse
from kms_tui.embedded.objects_list import LIST_PARAMETERS, list_objects_v2
from kms_tui.embedded.objects_sse import KmsForObjects, check_sse_c_put, has_sse_c_headers

__all__ = [
    "S3_NAMESPACE",
    "KmsKeyLookup",
    "S3Kms",
    "S3Route",
    "handle_s3",
    "match_route",
    "streams_body",
]

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


class S3Kms(KmsKeyLookup, KmsForObjects, Protocol):
    """What the bucket and object routes together need from the KMS service."""


def _not_implemented() -> S3Failure:
    return S3Failure(
        501,
        "NotImplemented",
        "A header you provided implies functionality that is not implemented: this server "
        "implements buckets, bucket encryption, ListObjectsV2 and single-request object "
        "PUT, GET, HEAD and DELETE.",
    )


def _no_such_bucket() -> S3Failure:
    return S3Failure(404, "NoSuchBucket", "The specified bucket does not exist")


def handle_s3(
    store: BucketStore,
    kms: S3Kms,
    request: HttpRequest,
    *,
    body: PutBody | None = None,
    max_object_size: int = DEFAULT_MAX_OBJECT_SIZE,
) -> HttpResponse | StreamedResponse:
    """Answer one authenticated path-style S3 request.

    ``body`` streams a PutObject body (the ASGI app passes one; without it ``request.body``
    is the body); ``max_object_size`` caps it (400 ``EntityTooLarge``).
    """
    try:
        try:
            return _dispatch(store, kms, request, body, max_object_size)
        except OSError as err:  # the bucket store's write or removal failed; nothing changed
            detail = err.strerror or "I/O error"
            raise S3Failure(
                500, "InternalError", f"cannot store the bucket change: {detail}"
            ) from err
    except S3Failure as failure:
        if request.method == "HEAD":
            return HttpResponse(failure.status, b"", None, failure.headers)
        answer = xml_error(failure.status, failure.code, failure.message, request.request_id)
        return dataclasses.replace(answer, headers=failure.headers)


Handler = Callable[[BucketStore, KmsKeyLookup, HttpRequest, str], HttpResponse]
ObjectHandler = Callable[
    [BucketStore, S3Kms, HttpRequest, str, PutBody, int], HttpResponse | StreamedResponse
]


@dataclasses.dataclass(frozen=True, slots=True)
class S3Route:
    """A routed S3 operation: its scope (``root``, ``bucket``, ``object``), method, selectors."""

    scope: str
    method: str
    selectors: frozenset[str]


def _selectors(query_names: Iterable[str], method: str) -> tuple[frozenset[str], frozenset[str]]:
    names = frozenset(query_names) - _IGNORED_QUERY
    for (route_method, selectors), parameters in _ROUTE_PARAMETERS.items():
        if route_method == method and selectors <= names and names - selectors <= parameters:
            return names, selectors
    return names, names


def _header_map(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in headers:
        found.setdefault(name.lower(), value)
    return found


def match_route(
    method: str,
    path: str,
    query_names: Iterable[str],
    headers: Iterable[tuple[str, str]] = (),
) -> S3Route | None:
    """The operation the server dispatches a (decoded) path-style request to, or None."""
    method = method.upper()
    rest = path[1:] if path.startswith("/") else path
    if not rest:
        return S3Route("root", "GET", frozenset()) if method == "GET" else None
    _bucket, _, key = rest.partition("/")
    _names, selectors = _selectors(query_names, method)
    if not key:
        return (
            S3Route("bucket", method, selectors) if (method, selectors) in _BUCKET_ROUTES else None
        )
    if (method, selectors) not in _OBJECT_ROUTES:
        return None
    if method == "PUT":
        found = _header_map(headers)
        if (
            "x-amz-copy-source" in found
            or has_sse_c_headers(found)
            or is_unsupported_streaming(found.get("x-amz-content-sha256"))
        ):
            return None
    return S3Route("object", method, selectors)


def streams_body(
    method: str, path: str, query_names: Iterable[str], headers: Iterable[tuple[str, str]]
) -> bool:
    """Whether the request is a PutObject, whose body the ASGI app must stream, not buffer."""
    route = match_route(method, path, query_names, headers)
    return route is not None and route.scope == "object" and route.method == "PUT"


def _dispatch(
    store: BucketStore,
    kms: S3Kms,
    request: HttpRequest,
    body: PutBody | None,
    max_object_size: int,
) -> HttpResponse | StreamedResponse:
    rest = request.path[1:] if request.path.startswith("/") else request.path
    if not rest:
        if request.method == "GET":
            return _list_buckets(store, request.bucket_filter)
        raise _not_implemented()
    bucket, _, object_key = rest.partition("/")
    if not is_valid_bucket_name(bucket):
        raise S3Failure(400, "InvalidBucketName", "The specified bucket is not valid.")
    route = match_route(
        request.method, request.path, (n for n, _ in request.query), request.headers
    )
    if route is None:
        if object_key and request.method == "PUT":
            _explain_unrouted_put(request)
        raise _not_implemented()
    if route.scope == "bucket":
        return _BUCKET_ROUTES[(route.method, route.selectors)](store, kms, request, bucket)
    handler = _OBJECT_ROUTES[(route.method, route.selectors)]
    return handler(store, kms, request, bucket, body or PutBody.of(request.body), max_object_size)


def _explain_unrouted_put(request: HttpRequest) -> None:
    """SSE-C is validated as RustFS does before it is refused; other streaming payloads named."""
    headers = _header_map(request.headers)
    if has_sse_c_headers(headers) and "x-amz-copy-source" not in headers:
        check_sse_c_put(headers)
    content_sha = headers.get("x-amz-content-sha256")
    if is_unsupported_streaming(content_sha):
        raise S3Failure(
            501,
            "NotImplemented",
            f"The payload {content_sha} is not supported by this server; sign the payload hash, "
            "send UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER or "
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD.",
        )


def _timestamp(record: BucketRecord) -> str:
    return record.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _list_buckets(store: BucketStore, visible: Callable[[str], bool] | None) -> HttpResponse:
    """Every bucket; for an account refused s3:ListAllMyBuckets, those ``visible`` keeps.

    As in RustFS, such an account that may see no bucket at all is refused.
    """
    records = store.list_buckets()
    if visible is not None:
        records = [record for record in records if visible(record.name)]
        if not records:
            raise S3Failure(403, "AccessDenied", "Access Denied.")
    entries = "".join(
        f"<Bucket><Name>{escape(record.name)}</Name>"
        f"<CreationDate>{_timestamp(record)}</CreationDate></Bucket>"
        for record in records
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
        raise S3Failure(400, "MalformedXML", _MALFORMED_XML)
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise S3Failure(400, "MalformedXML", _MALFORMED_XML) from None
    if _local_name(root) != root_name:
        raise S3Failure(400, "MalformedXML", _MALFORMED_XML)
    return root


def _check_content_md5(request: HttpRequest) -> None:
    declared = request.header("content-md5")
    if declared is None:
        return
    try:
        digest = base64.b64decode(declared.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise S3Failure(
            400, "InvalidDigest", "The Content-MD5 you specified is not valid."
        ) from None
    if not hmac.compare_digest(digest, hashlib.md5(request.body).digest()):
        raise S3Failure(
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
        raise S3Failure(
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
    except BucketNotEmptyError:
        raise S3Failure(
            409, "BucketNotEmpty", "The bucket you tried to delete is not empty"
        ) from None
    return empty_response(204)


def _list_objects(
    store: BucketStore, kms: KmsKeyLookup, request: HttpRequest, bucket: str
) -> HttpResponse:
    return list_objects_v2(store, request, bucket)


def _get_encryption(
    store: BucketStore, kms: KmsKeyLookup, request: HttpRequest, bucket: str
) -> HttpResponse:
    record = store.get(bucket)
    if record is None:
        raise _no_such_bucket()
    if record.sse_algorithm is None:
        raise S3Failure(
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
        raise S3Failure(400, "MalformedXML", _MALFORMED_XML)
    defaults = _children(rules[0], "ApplyServerSideEncryptionByDefault")
    if len(defaults) != 1:
        raise S3Failure(400, "MalformedXML", _MALFORMED_XML)
    algorithms = _children(defaults[0], "SSEAlgorithm")
    key_ids = _children(defaults[0], "KMSMasterKeyID")
    if len(algorithms) != 1 or len(key_ids) > 1:
        raise S3Failure(400, "MalformedXML", _MALFORMED_XML)
    algorithm = (algorithms[0].text or "").strip()
    key_id = (key_ids[0].text or "").strip() if key_ids else ""
    if algorithm not in (SSE_AES256, SSE_KMS):
        raise S3Failure(
            400,
            "InvalidArgument",
            f"Unsupported SSEAlgorithm '{algorithm}': this server accepts AES256 or aws:kms.",
        )
    if algorithm == SSE_AES256 and key_id:
        raise S3Failure(
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
            raise S3Failure(500, "InternalError", "KMS service not initialized")
        if key_id is None:
            key_id = kms.default_key_id()
            if not key_id:
                raise S3Failure(500, "InternalError", "KMS default key not configured")
        elif not kms.key_exists(key_id):
            raise S3Failure(
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


def _put_object(
    store: BucketStore, kms: S3Kms, request: HttpRequest, bucket: str, body: PutBody, cap: int
) -> HttpResponse:
    return put_object(store, kms, request, bucket, body, cap)


def _get_object(
    store: BucketStore, kms: S3Kms, request: HttpRequest, bucket: str, body: PutBody, cap: int
) -> StreamedResponse:
    return get_object(store, kms, request, bucket)


def _head_object(
    store: BucketStore, kms: S3Kms, request: HttpRequest, bucket: str, body: PutBody, cap: int
) -> HttpResponse:
    return head_object(store, request, bucket)


def _delete_object(
    store: BucketStore, kms: S3Kms, request: HttpRequest, bucket: str, body: PutBody, cap: int
) -> HttpResponse:
    return delete_object(store, request, bucket)


_NONE: frozenset[str] = frozenset()
_ENCRYPTION = frozenset({"encryption"})
_LIST_V2 = frozenset({"list-type"})
# (method, selecting query names) -> handler; an operation's parameters are in _ROUTE_PARAMETERS.
_BUCKET_ROUTES: dict[tuple[str, frozenset[str]], Handler] = {
    ("PUT", _NONE): _create_bucket,
    ("HEAD", _NONE): _head_bucket,
    ("DELETE", _NONE): _delete_bucket,
    ("GET", _ENCRYPTION): _get_encryption,
    ("PUT", _ENCRYPTION): _put_encryption,
    ("DELETE", _ENCRYPTION): _delete_encryption,
    ("GET", _LIST_V2): _list_objects,
}
_ROUTE_PARAMETERS: dict[tuple[str, frozenset[str]], frozenset[str]] = {
    ("GET", _LIST_V2): LIST_PARAMETERS,
}
_OBJECT_ROUTES: dict[tuple[str, frozenset[str]], ObjectHandler] = {
    ("PUT", _NONE): _put_object,
    ("GET", _NONE): _get_object,
    ("HEAD", _NONE): _head_object,
    ("DELETE", _NONE): _delete_object,
}
