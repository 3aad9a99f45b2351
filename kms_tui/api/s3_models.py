"""Objects as the S3 API reports them, parsed at the boundary into frozen models.

A listing carries no encryption (RustFS and S3 alike), so the SSE result of an object comes from
the headers of HEAD, GET or PUT: :class:`ObjectEncryption`. The XML helpers here are shared with
the bucket calls in :mod:`kms_tui.api.buckets`; ``xml.etree`` is imported on first use, so this
module costs nothing on the console's start-up path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import unquote

from kms_tui.api.errors import KmsResponseError, describe_body, is_html

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = [
    "SSE_KMS",
    "SSE_S3",
    "ObjectEncryption",
    "ObjectHead",
    "ObjectListing",
    "ObjectSummary",
    "child_text",
    "children",
    "iso_timestamp",
    "local_name",
    "parse_list_objects",
    "parse_xml",
]

SSE_S3 = "AES256"
SSE_KMS = "aws:kms"

SSE_HEADER = "x-amz-server-side-encryption"
SSE_KMS_KEY_HEADER = "x-amz-server-side-encryption-aws-kms-key-id"
SSE_C_HEADER = "x-amz-server-side-encryption-customer-algorithm"
_META_PREFIX = "x-amz-meta-"


@dataclass(frozen=True, slots=True)
class ObjectSummary:
    """One ``Contents`` entry of a ListObjectsV2 page (no encryption: listings carry none)."""

    key: str
    size: int
    last_modified: datetime | None
    etag: str | None


@dataclass(frozen=True, slots=True)
class ObjectEncryption:
    """How the server says an object is encrypted, from its SSE response headers.

    ``algorithm`` is kept as sent (``AES256``, ``aws:kms`` or anything newer), None when the
    object is stored unencrypted. ``kms_key_id`` is the key-id header as sent: RustFS sends it for
    SSE-KMS everywhere and, on PUT and GET only, for SSE-S3 too (the KMS default key).
    """

    algorithm: str | None = None
    kms_key_id: str | None = None
    sse_c: bool = False

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> ObjectEncryption:
        """Read the SSE headers of a HEAD, GET or PUT answer."""
        return cls(
            algorithm=_header(headers, SSE_HEADER),
            kms_key_id=_header(headers, SSE_KMS_KEY_HEADER),
            sse_c=_header(headers, SSE_C_HEADER) is not None,
        )

    @property
    def is_encrypted(self) -> bool:
        """Whether the server reports any server-side encryption (SSE-S3, SSE-KMS or SSE-C)."""
        return self.algorithm is not None or self.sse_c

    @property
    def is_sse_kms(self) -> bool:
        """Whether the object is encrypted under a KMS key (``aws:kms``)."""
        return self.algorithm == SSE_KMS

    @property
    def label(self) -> str:
        """Short name for tables: ``none``, ``SSE-S3``, ``SSE-KMS``, ``SSE-C`` or as sent."""
        if self.sse_c:
            return "SSE-C"
        if self.algorithm is None:
            return "none"
        return {SSE_S3: "SSE-S3", SSE_KMS: "SSE-KMS"}.get(self.algorithm, self.algorithm)


@dataclass(frozen=True, slots=True)
class ObjectHead:
    """What HeadObject says about one object; ``metadata`` is the user's ``x-amz-meta-*``."""

    bucket: str
    key: str
    size: int
    etag: str | None
    last_modified: datetime | None
    encryption: ObjectEncryption
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_headers(cls, bucket: str, key: str, headers: Mapping[str, str]) -> ObjectHead:
        """Parse a HEAD answer's headers (names are matched case-insensitively by httpx)."""
        length = _header(headers, "content-length")
        if length is None or not length.isdigit():
            raise KmsResponseError(f"HEAD {bucket}/{key}: no usable Content-Length ({length!r})")
        metadata = {
            name[len(_META_PREFIX) :]: value
            for name, value in headers.items()
            if name.lower().startswith(_META_PREFIX)
        }
        return cls(
            bucket=bucket,
            key=key,
            size=int(length),
            etag=_unquote_etag(_header(headers, "etag")),
            last_modified=_http_date(_header(headers, "last-modified")),
            encryption=ObjectEncryption.from_headers(headers),
            metadata=MappingProxyType(metadata),
        )


@dataclass(frozen=True, slots=True)
class ObjectListing:
    """One ListObjectsV2 answer: its objects and where the next page starts."""

    objects: tuple[ObjectSummary, ...]
    is_truncated: bool
    next_token: str | None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value if value else None


def _unquote_etag(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    return value or None


def _http_date(value: str | None) -> datetime | None:
    """An RFC 7231 date (``Fri, 02 Jan 2026 03:04:05 GMT``) as an aware UTC datetime."""
    if value is None:
        return None
    from email.utils import parsedate_to_datetime

    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def iso_timestamp(value: str | None) -> datetime | None:
    """An S3 XML timestamp (``2026-01-02T03:04:05.000Z``) as an aware UTC datetime."""
    if not value:
        return None
    text = value.strip()
    if text.endswith("[UTC]"):
        text = text[: -len("[UTC]")]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# XML


def local_name(element: Element) -> str:
    """The tag without its ``{namespace}``."""
    return element.tag.rpartition("}")[2]


def children(element: Element, name: str) -> list[Element]:
    """Direct children named ``name``, whatever namespace the server used."""
    return [child for child in element if local_name(child) == name]


def child_text(element: Element, name: str) -> str | None:
    """The text of the first direct child named ``name``, or None when there is none."""
    for child in element:
        if local_name(child) == name:
            return child.text or ""
    return None


def parse_xml(body: bytes, root_name: str) -> Element:
    """The root element of an S3 XML answer, or :class:`KmsResponseError` saying what came back."""
    text = body.lstrip()
    if not text.startswith(b"<") or is_html(body):
        hint = " (a proxy or web server in front of the server?)" if is_html(body) else ""
        raise KmsResponseError(f"the server answered {describe_body(body)} instead of S3 XML{hint}")
    head = text[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in head:
        raise KmsResponseError("the server's XML declares a DTD or entities; refusing to read it")
    from xml.etree.ElementTree import ParseError, fromstring

    try:
        root = fromstring(body)
    except ParseError as err:
        raise KmsResponseError(f"the server's XML could not be read ({err})") from None
    if local_name(root) != root_name:
        raise KmsResponseError(f"expected an S3 <{root_name}> answer, got <{local_name(root)}>")
    return root


def _int_text(element: Element, name: str, where: str) -> int:
    text = (child_text(element, name) or "").strip()
    if not text.isdigit():
        raise KmsResponseError(f"{where}: <{name}> is not a whole number ({text!r})")
    return int(text)


def parse_list_objects(body: bytes) -> ObjectListing:
    """One ListObjectsV2 page; keys are decoded when the server says it URL-encoded them."""
    root = parse_xml(body, "ListBucketResult")
    url_encoded = (child_text(root, "EncodingType") or "").strip().lower() == "url"
    objects: list[ObjectSummary] = []
    for entry in children(root, "Contents"):
        key = child_text(entry, "Key")
        if key is None:
            raise KmsResponseError("ListObjectsV2: a <Contents> entry has no <Key>")
        if url_encoded:
            key = unquote(key)
        objects.append(
            ObjectSummary(
                key=key,
                size=_int_text(entry, "Size", f"ListObjectsV2 entry {key!r}"),
                last_modified=iso_timestamp(child_text(entry, "LastModified")),
                etag=_unquote_etag(child_text(entry, "ETag")),
            )
        )
    truncated = (child_text(root, "IsTruncated") or "").strip().lower() == "true"
    token = child_text(root, "NextContinuationToken") or None
    return ObjectListing(tuple(objects), truncated, token)
