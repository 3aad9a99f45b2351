"""ListObjectsV2 (``GET /<bucket>?list-type=2``), as RustFS answers it (reference §7).

``prefix``; ``delimiter`` (empty means none) with CommonPrefixes; ``max-keys`` (default 1000,
above 1000 capped, negative or not a number 400 ``InvalidArgument`` "Invalid max keys");
``continuation-token``, the base64 of the last key or common prefix returned (bad base64 or
UTF-8: 400 "Invalid continuation token"); ``start-after``; ``fetch-owner``;
``encoding-type=url`` (keys and prefixes percent-encoded, ``/`` kept). The listing carries no
encryption information: the index holds only key, size (plaintext), ETag and date.

Where RustFS echoes ``Prefix`` raw even with ``encoding-type=url``, this server encodes it
(and ``Delimiter``, ``StartAfter``) as AWS does: botocore decodes those fields, so a raw
``%`` or ``+`` in a prefix would otherwise come back changed.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import quote
from xml.sax.saxutils import escape

from kms_tui.embedded.buckets import BucketStore
from kms_tui.embedded.http import HttpRequest, HttpResponse, xml_response
from kms_tui.embedded.objects_common import S3Failure
from kms_tui.embedded.objects_store import ObjectSummary, format_timestamp

__all__ = ["LIST_PARAMETERS", "list_objects_v2"]

LIST_PARAMETERS = frozenset(
    {
        "prefix",
        "delimiter",
        "max-keys",
        "continuation-token",
        "start-after",
        "fetch-owner",
        "encoding-type",
    }
)
_MAX_KEYS = 1000
_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
# RustFS's fixed listing owner (rustfs/src/storage/s3_api/common.rs).
_OWNER = (
    "<Owner><ID>c19050dbcee97fda828689dda99097a6321af2248fa760517237346e5d9c8a66</ID>"
    "<DisplayName>rustfs</DisplayName></Owner>"
)
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    if _NOT_XML_CHAR.search(value):
        value = _NOT_XML_CHAR.sub(lambda m: m.group().encode("unicode_escape").decode(), value)
    return escape(value)


def _invalid(message: str) -> S3Failure:
    return S3Failure(400, "InvalidArgument", message)


def _max_keys(value: str | None) -> int:
    if value is None or value.strip() == "":
        return _MAX_KEYS
    try:
        wanted = int(value.strip())
    except ValueError:
        raise _invalid("Invalid max keys") from None
    if wanted < 0:
        raise _invalid("Invalid max keys")
    return min(wanted, _MAX_KEYS)


def _decode_token(token: str) -> str:
    try:
        return base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _invalid("Invalid continuation token") from None


def _encode_token(marker: str) -> str:
    return base64.b64encode(marker.encode("utf-8")).decode("ascii")


def list_objects_v2(store: BucketStore, request: HttpRequest, bucket: str) -> HttpResponse:
    """One page of a bucket's objects in key order."""
    if store.get(bucket) is None:
        raise S3Failure(404, "NoSuchBucket", "The specified bucket does not exist")
    if request.query_value("list-type") != "2":
        raise _invalid("Invalid list type: only list-type=2 (ListObjectsV2) is served")
    prefix = request.query_value("prefix") or ""
    delimiter = request.query_value("delimiter") or None
    max_keys = _max_keys(request.query_value("max-keys"))
    encoding = request.query_value("encoding-type")
    if encoding not in (None, "", "url"):
        raise _invalid("Invalid Encoding Method specified in Request")
    token = request.query_value("continuation-token")
    marker = _decode_token(token) if token is not None else None
    start_after = request.query_value("start-after") or None
    fetch_owner = (request.query_value("fetch-owner") or "").lower() == "true"

    contents: list[ObjectSummary] = []
    prefixes: list[str] = []
    truncated = False
    last_returned: str | None = None
    last_prefix = marker  # a token may end on a common prefix: its keys were all covered
    after = marker if marker is not None else start_after
    if max_keys > 0:
        for summary in store.objects.iter_objects(bucket, after=after, at_least=prefix):
            key = summary.key
            if not key.startswith(prefix):
                break
            common = None
            if delimiter is not None:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[: cut + len(delimiter)]
                    if common == last_prefix:
                        continue
            if len(contents) + len(prefixes) == max_keys:
                truncated = True
                break
            if common is not None:
                prefixes.append(common)
                last_prefix = last_returned = common
            else:
                contents.append(summary)
                last_returned = key
    url = encoding == "url"

    def shown(value: str) -> str:
        return _text(quote(value, safe="/") if url else value)

    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{_NAMESPACE}">',
        f"<Name>{_text(bucket)}</Name><Prefix>{shown(prefix)}</Prefix>",
    ]
    if token is not None:
        parts.append(f"<ContinuationToken>{_text(token)}</ContinuationToken>")
    if start_after is not None:
        parts.append(f"<StartAfter>{shown(start_after)}</StartAfter>")
    parts.append(
        f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>"
    )
    if delimiter is not None:
        parts.append(f"<Delimiter>{shown(delimiter)}</Delimiter>")
    if url:
        parts.append("<EncodingType>url</EncodingType>")
    parts.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
    if truncated and last_returned is not None:
        parts.append(
            f"<NextContinuationToken>{_encode_token(last_returned)}</NextContinuationToken>"
        )
    for summary in contents:
        parts.append(
            f"<Contents><Key>{shown(summary.key)}</Key>"
            f"<LastModified>{format_timestamp(summary.last_modified)}</LastModified>"
            f"<ETag>&quot;{summary.etag}&quot;</ETag><Size>{summary.size}</Size>"
            f"{_OWNER if fetch_owner else ''}<StorageClass>STANDARD</StorageClass></Contents>"
        )
    for common in prefixes:
        parts.append(f"<CommonPrefixes><Prefix>{shown(common)}</Prefix></CommonPrefixes>")
    parts.append("</ListBucketResult>")
    return xml_response(200, "".join(parts))
