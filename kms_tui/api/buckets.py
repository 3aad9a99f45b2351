"""The S3 client: buckets, their default encryption, and objects with their SSE result.

RustFS keeps bucket default encryption behind the ordinary S3 calls (``/{bucket}?encryption``),
not the admin API, and reports an object's encryption only in the headers of HEAD, GET and PUT.
Every call here is a plain path-style S3 request, SigV4-signed exactly as the admin client signs
(:mod:`kms_tui.api.s3_http`), so it works unchanged against RustFS, MinIO, moto or the embedded
server. Answers become frozen models at this boundary; failures become :mod:`kms_tui.api.errors`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import unquote

import httpx

from kms_tui.api.errors import KmsAccessDenied, KmsBucketNotEmpty, KmsError, KmsResponseError
from kms_tui.api.s3_heads import BulkHeads
from kms_tui.api.s3_http import S3Http, bucket_path, object_path, request_id_of, s3_error
from kms_tui.api.s3_models import (
    SSE_KMS,
    SSE_S3,
    ObjectEncryption,
    ObjectHead,
    ObjectSummary,
    child_text,
    children,
    iso_timestamp,
    parse_list_objects,
    parse_xml,
)
from kms_tui.iam_actions import s3_operation

__all__ = [
    "MAX_PAGE_SIZE",
    "SSE_KMS",
    "SSE_S3",
    "Bucket",
    "BucketEncryption",
    "BucketEncryptionClient",
    "validate_bucket_name",
    "validate_object_key",
]

_ALGORITHMS = (SSE_S3, SSE_KMS)
S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_PAGE_SIZE = 1000  # ListObjectsV2 max-keys: RustFS and S3 cap it here
MAX_KEY_BYTES = 1024
_MAX_PAGES = 10_000_000  # a listing longer than this is a server that never stops

# GetBucketEncryption with nothing configured: RustFS says 400, MinIO and moto say 404.
NO_ENCRYPTION_CODE = "ServerSideEncryptionConfigurationNotFoundError"

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket as ListBuckets reports it."""

    name: str
    creation_date: datetime | None


@dataclass(frozen=True, slots=True)
class BucketEncryption:
    """A bucket's default encryption; ``algorithm`` is kept as the server spelled it."""

    algorithm: str
    kms_key_id: str | None = None

    @property
    def is_sse_kms(self) -> bool:
        """Whether objects are encrypted under a KMS key (``aws:kms``)."""
        return self.algorithm == SSE_KMS

    @property
    def is_sse_s3(self) -> bool:
        """Whether objects are encrypted with server-managed keys (``AES256``)."""
        return self.algorithm == SSE_S3

    @property
    def label(self) -> str:
        """Short name for tables: ``SSE-S3``, ``SSE-KMS`` or the server's own spelling."""
        if self.is_sse_s3:
            return "SSE-S3"
        if self.is_sse_kms:
            return "SSE-KMS"
        return self.algorithm


# ---------------------------------------------------------------------------------------------
# Names checked before anything is sent

_BUCKET_CHARS = re.compile(r"^[a-z0-9.-]+$")
_IP_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def validate_bucket_name(name: str) -> str | None:
    """Why S3 would refuse ``name`` as a bucket name, or None when it is acceptable."""
    if not 3 <= len(name) <= 63:
        return f"must be 3 to 63 characters long (it has {len(name)})"
    if not _BUCKET_CHARS.match(name):
        return "may contain only lowercase letters, digits, '.' and '-'"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "must start and end with a lowercase letter or a digit"
    if ".." in name:
        return "must not contain two periods in a row"
    if _IP_LIKE.match(name):
        return "must not look like an IP address"
    if name.startswith("xn--"):
        return "must not start with 'xn--'"
    if name.endswith("-s3alias"):
        return "must not end with '-s3alias'"
    return None


def validate_object_key(key: object) -> str | None:
    """Why S3 would refuse ``key`` as an object key, or None when it is acceptable."""
    if not isinstance(key, str):
        return f"must be a string, not {type(key).__name__}"
    if not key:
        return "must not be empty"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "must be valid Unicode text (it holds a lone surrogate)"
    if size > MAX_KEY_BYTES:
        return f"must be at most {MAX_KEY_BYTES} bytes of UTF-8 (it has {size})"
    return None


def _names_accepted(bucket: str, key: str) -> bool:
    """Whether head_object would send these names (else it raises its own ValueError)."""
    return (
        isinstance(bucket, str)
        and validate_bucket_name(bucket) is None
        and validate_object_key(key) is None
    )


def _require_bucket_name(name: str) -> str:
    if not isinstance(name, str):
        raise ValueError(f"bucket: expected a bucket name string, got {type(name).__name__}")
    problem = validate_bucket_name(name)
    if problem:
        raise ValueError(f"bucket: the name {name!r} {problem}")
    return name


def _require_key(key: str) -> str:
    problem = validate_object_key(key)
    if problem:
        raise ValueError(f"key: the object key {problem}")
    return key


def _require_sse(sse: str | None, kms_key_id: str | None, field: str) -> None:
    if sse is not None and sse not in _ALGORITHMS:
        raise ValueError(
            f"{field}: must be {SSE_S3!r} (SSE-S3) or {SSE_KMS!r} (SSE-KMS), not {sse!r}"
        )
    if kms_key_id is not None:
        if sse != SSE_KMS:
            raise ValueError(f"kms_key_id: only allowed with {field} {SSE_KMS!r}")
        if not isinstance(kms_key_id, str) or not kms_key_id.strip():
            raise ValueError("kms_key_id: must not be empty (omit it for the default key)")


# ---------------------------------------------------------------------------------------------
# Bucket XML, both ways


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _encryption_document(algorithm: str, kms_key_id: str | None) -> bytes:
    key = f"<KMSMasterKeyID>{_xml_escape(kms_key_id)}</KMSMasterKeyID>" if kms_key_id else ""
    return (
        f'<ServerSideEncryptionConfiguration xmlns="{S3_NAMESPACE}"><Rule>'
        f"<ApplyServerSideEncryptionByDefault><SSEAlgorithm>{algorithm}</SSEAlgorithm>{key}"
        "</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
    ).encode()


def _location_document(region: str) -> bytes:
    return (
        f'<CreateBucketConfiguration xmlns="{S3_NAMESPACE}">'
        f"<LocationConstraint>{_xml_escape(region)}</LocationConstraint>"
        "</CreateBucketConfiguration>"
    ).encode()


def _content_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


def _parse_bucket_list(response: httpx.Response) -> tuple[tuple[Bucket, ...], str | None]:
    root = parse_xml(response.content, "ListAllMyBucketsResult")
    buckets: list[Bucket] = []
    for holder in children(root, "Buckets"):
        for entry in children(holder, "Bucket"):
            buckets.append(
                Bucket(
                    name=child_text(entry, "Name") or "",
                    creation_date=iso_timestamp(child_text(entry, "CreationDate")),
                )
            )
    return tuple(buckets), child_text(root, "ContinuationToken") or None


def _parse_bucket_encryption(response: httpx.Response) -> BucketEncryption | None:
    root = parse_xml(response.content, "ServerSideEncryptionConfiguration")
    for rule in children(root, "Rule"):
        for default in children(rule, "ApplyServerSideEncryptionByDefault"):
            algorithm = (child_text(default, "SSEAlgorithm") or "").strip()
            if algorithm:
                key_id = (child_text(default, "KMSMasterKeyID") or "").strip()
                return BucketEncryption(algorithm=algorithm, kms_key_id=key_id or None)
    return None


def _next_token(token: str | None, seen: set[str], what: str) -> str:
    """The continuation token to ask with next, refusing answers that would loop or stop short."""
    if not token:
        raise KmsResponseError(
            f"{what}: the page says more follow but names no continuation token, so the rest "
            "of the listing cannot be fetched"
        )
    if token in seen:
        raise KmsResponseError(
            f"{what}: the server sent the continuation token {token!r} a second time; "
            "following it would never end the listing"
        )
    seen.add(token)
    return token


# ---------------------------------------------------------------------------------------------
# The client


class BucketEncryptionClient:
    """Async S3 client for one endpoint: bucket calls, default encryption and objects."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        region: str = "us-east-1",
        session_token: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        verify: bool | str = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError("endpoint: must start with http:// or https://")
        if not access_key:
            raise ValueError("access_key: must not be empty")
        if not secret_key:
            raise ValueError("secret_key: must not be empty")
        if not timeout > 0:
            raise ValueError("timeout: must be greater than 0")
        if retries < 0:
            raise ValueError("retries: must not be negative")
        self.endpoint = endpoint.rstrip("/")
        self.access_key = access_key
        self.region = region
        self.timeout = float(timeout)
        self.retries = retries
        self.verify = verify
        self._http = S3Http(
            self.endpoint,
            access_key,
            secret_key,
            region=region,
            session_token=session_token,
            timeout=self.timeout,
            retries=retries,
            verify=verify,
            transport=transport,
        )
        self._closed = False
        self._twin_args = (endpoint, access_key, secret_key)
        self._twin_options: dict[str, Any] = {
            "region": region,
            "session_token": session_token,
            "timeout": timeout,
            "retries": retries,
            "verify": verify,
        }

    def twin(self) -> BucketEncryptionClient:
        """A new client with the same endpoint, credentials and settings, for another event
        loop (a client's connections belong to the loop that opened them)."""
        return BucketEncryptionClient(*self._twin_args, **self._twin_options)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(endpoint={self.endpoint!r}, access_key={self.access_key!r}, "
            f"region={self.region!r})"
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections; the client cannot be used afterwards."""
        self._closed = True
        await self._http.aclose()

    # -- plumbing ---------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        query: Mapping[str, str | None] | None = None,
        content: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; any answer but a 2xx raises its :class:`KmsError`."""
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")
        response = await self._http.send(
            method, path, query=query, content=content, headers=headers
        )
        if not 200 <= response.status_code < 300:
            err = s3_error(response, what)
            if isinstance(err, KmsAccessDenied) and err.is_policy_refusal:
                found = s3_operation(method, unquote(path.partition("?")[0]), query or {})
                if found is not None:
                    err.action, bucket, _ = found
                    err.resource = bucket or None
            raise err
        return response

    @staticmethod
    def _parse(response: httpx.Response, parse: Callable[[httpx.Response], _T]) -> _T:
        """Parse a 2xx answer, giving a failure the answer's status and request id."""
        try:
            return parse(response)
        except KmsResponseError as err:
            raise KmsResponseError(
                err.message, status=response.status_code, request_id=request_id_of(response)
            ) from err

    # -- buckets ----------------------------------------------------------------------------

    async def list_buckets(self) -> tuple[Bucket, ...]:
        """Every bucket the credentials can see, following continuation tokens if sent."""
        buckets: list[Bucket] = []
        seen: set[str] = set()
        query: dict[str, str | None] = {}
        for _page in range(_MAX_PAGES):
            response = await self._call("GET", "/", "ListBuckets", query=query)
            page, token = self._parse(response, _parse_bucket_list)
            buckets.extend(page)
            if token is None:
                break
            query = {"continuation-token": _next_token(token, seen, "ListBuckets")}
        return tuple(buckets)

    async def create_bucket(self, name: str) -> None:
        """Create a bucket (with a location constraint outside us-east-1, as S3 requires)."""
        bucket = _require_bucket_name(name)
        body = _location_document(self.region) if self.region != "us-east-1" else b""
        await self._call("PUT", bucket_path(bucket), f"CreateBucket {bucket}", content=body)

    async def delete_bucket(self, bucket: str) -> None:
        """Delete an empty bucket; one that still holds objects raises KmsBucketNotEmpty."""
        name = _require_bucket_name(bucket)
        try:
            await self._call("DELETE", bucket_path(name), f"DeleteBucket {name}")
        except KmsBucketNotEmpty as err:
            raise KmsBucketNotEmpty(
                f"cannot delete bucket {name!r}: it still holds objects ({err.message})",
                status=err.status,
                code=err.code,
                request_id=err.request_id,
            ) from err

    async def get_bucket_encryption(self, bucket: str) -> BucketEncryption | None:
        """The bucket's default encryption, or None when none is configured (400 or 404)."""
        name = _require_bucket_name(bucket)
        try:
            response = await self._call(
                "GET", bucket_path(name), f"GetBucketEncryption {name}", query={"encryption": None}
            )
        except KmsError as err:
            if err.code == NO_ENCRYPTION_CODE:
                return None
            raise
        return self._parse(response, _parse_bucket_encryption)

    async def put_bucket_encryption(
        self, bucket: str, *, algorithm: str, kms_key_id: str | None = None
    ) -> None:
        """Set default encryption: ``AES256`` (SSE-S3) or ``aws:kms`` with an optional key id.

        ``aws:kms`` without a key id makes the server use its KMS default key.
        """
        name = _require_bucket_name(bucket)
        _require_sse(algorithm, kms_key_id, "algorithm")
        body = _encryption_document(algorithm, kms_key_id)
        headers = {"Content-Type": "application/xml", "Content-MD5": _content_md5(body)}
        await self._call(
            "PUT",
            bucket_path(name),
            f"PutBucketEncryption {name}",
            query={"encryption": None},
            content=body,
            headers=headers,
        )

    async def delete_bucket_encryption(self, bucket: str) -> None:
        """Remove the bucket's default encryption (idempotent on RustFS)."""
        name = _require_bucket_name(bucket)
        await self._call(
            "DELETE",
            bucket_path(name),
            f"DeleteBucketEncryption {name}",
            query={"encryption": None},
        )

    # -- objects ----------------------------------------------------------------------------

    async def iter_object_pages(
        self, bucket: str, prefix: str = "", *, page_size: int = MAX_PAGE_SIZE
    ) -> AsyncIterator[tuple[ObjectSummary, ...]]:
        """Every object under ``prefix``, one ListObjectsV2 page at a time, as answered.

        A page may be empty (an empty bucket answers one empty page). A continuation token
        the server sends twice, or a page that says more follow but names no token, raises
        :class:`KmsResponseError` instead of looping or stopping short.
        """
        name = _require_bucket_name(bucket)
        if not isinstance(prefix, str):
            raise ValueError(f"prefix: must be a string, not {type(prefix).__name__}")
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= MAX_PAGE_SIZE
        ):
            raise ValueError(f"page_size: must be a whole number from 1 to {MAX_PAGE_SIZE}")
        what = f"ListObjectsV2 {name}"
        query: dict[str, str | None] = {
            "list-type": "2",
            "encoding-type": "url",
            "max-keys": str(page_size),
        }
        if prefix:
            query["prefix"] = prefix
        seen: set[str] = set()
        for _page in range(_MAX_PAGES):
            response = await self._call("GET", bucket_path(name), what, query=query)
            listing = self._parse(response, lambda answer: parse_list_objects(answer.content))
            yield listing.objects
            if not listing.is_truncated:
                return
            query["continuation-token"] = _next_token(listing.next_token, seen, what)
        raise KmsResponseError(f"{what}: more than {_MAX_PAGES:,} pages; giving up")

    async def head_object(self, bucket: str, key: str) -> ObjectHead:
        """Size, date, ETag, user metadata and the SSE result of one object (no KMS call)."""
        name, key = _require_bucket_name(bucket), _require_key(key)
        response = await self._call("HEAD", object_path(name, key), f"HeadObject {name}/{key}")
        return self._parse(
            response, lambda answer: ObjectHead.from_headers(name, key, answer.headers)
        )

    def bulk_heads(self, *, connections: int = 32) -> BulkHeads:
        """A lean path for many HEADs (the impact scan): ``await heads.head(bucket, key)``
        answers as :meth:`head_object` does, falling back to it for anything but a plain 2xx;
        ``await heads.aclose()`` closes its connections (see :mod:`kms_tui.api.s3_heads`)."""
        http = self._http
        return BulkHeads(
            http.endpoint,
            http.auth,
            timeout=self.timeout,
            ssl_context=http.ssl_context,
            fallback=self.head_object,
            accepts=_names_accepted,
            direct=not http.custom_transport,
            connections=connections,
        )

    async def put_object(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        sse: str | None = None,
        kms_key_id: str | None = None,
    ) -> ObjectEncryption:
        """Store ``data``; ``sse``/``kms_key_id`` ask for SSE-S3 or SSE-KMS, None leaves it to
        the bucket default. Returns the encryption the server says it applied."""
        name, key = _require_bucket_name(bucket), _require_key(key)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValueError(f"data: must be bytes, not {type(data).__name__}")
        _require_sse(sse, kms_key_id, "sse")
        body = bytes(data)
        headers = {"Content-Type": "application/octet-stream", "Content-MD5": _content_md5(body)}
        if sse is not None:
            headers["x-amz-server-side-encryption"] = sse
        if kms_key_id is not None:
            headers["x-amz-server-side-encryption-aws-kms-key-id"] = kms_key_id
        response = await self._call(
            "PUT", object_path(name, key), f"PutObject {name}/{key}", content=body, headers=headers
        )
        return ObjectEncryption.from_headers(response.headers)

    async def get_object(self, bucket: str, key: str) -> tuple[bytes, ObjectEncryption]:
        """The object's bytes (decrypted by the server) and the encryption it reports."""
        name, key = _require_bucket_name(bucket), _require_key(key)
        response = await self._call("GET", object_path(name, key), f"GetObject {name}/{key}")
        return response.content, ObjectEncryption.from_headers(response.headers)

    async def delete_object(self, bucket: str, key: str) -> None:
        """Delete one object (S3 answers 204 for a key that is already gone, too)."""
        name, key = _require_bucket_name(bucket), _require_key(key)
        await self._call("DELETE", object_path(name, key), f"DeleteObject {name}/{key}")
