"""One exception tree for every failure the RustFS KMS clients can report.

::

    KmsError                         status, code, message, request_id
    ├── KmsAccessDenied              401 / 403: unsigned, unknown key, bad signature, IAM denial
    │   └── KmsClockSkewError        403 RequestTimeTooSkewed: local and server clocks differ
    ├── KmsInvalidRequest            400 (and 411): bad field, bad enum spelling, bad window
    ├── KmsNotFound                  404
    │   ├── KmsKeyNotFound           the key does not exist
    │   └── KmsBucketNotFound        the bucket does not exist (S3 NoSuchBucket)
    ├── KmsConflict                  409: duplicate, still referenced, state forbids it
    ├── KmsServiceUnavailable        503, and the 500 "not initialized" answers
    ├── KmsNotSupported              501: no such route (``/kms/decrypt``) or capability (rotate)
    ├── KmsBackendError              any other 5xx: the backend or server failed
    ├── KmsOperationFailed           HTTP 200 carrying ``success: false`` (configure/start/stop)
    ├── KmsResponseError             unreadable answer: HTML, truncated, wrong shape
    └── KmsTransportError            nothing usable came back over the wire
        ├── KmsConnectionError       refused, reset, DNS, TLS verification
        └── KmsTimeoutError          connect / read / write / pool timeout

The four wire families (S3 XML, JSON ``success:false`` envelopes, plain text, backup JSON) are
parsed in :func:`error_from_response`, and the class is chosen in :func:`error_class_for` from
one table. UI code catches :class:`KmsError` only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "KmsAccessDenied",
    "KmsBackendError",
    "KmsBucketNotFound",
    "KmsClockSkewError",
    "KmsConflict",
    "KmsConnectionError",
    "KmsError",
    "KmsInvalidRequest",
    "KmsKeyNotFound",
    "KmsNotFound",
    "KmsNotSupported",
    "KmsOperationFailed",
    "KmsResponseError",
    "KmsServiceUnavailable",
    "KmsTimeoutError",
    "KmsTransportError",
    "error_class_for",
    "error_from_response",
    "parse_error_body",
]


class KmsError(Exception):
    """Base of every error the clients raise; carries what the server said."""

    default_code = "KmsError"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code or self.default_code
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        detail = []
        if self.status is not None:
            detail.append(f"HTTP {self.status}")
        if self.code and self.code != self.default_code:
            detail.append(self.code)
        if self.request_id:
            detail.append(f"request id {self.request_id}")
        if detail:
            parts.append(f"({', '.join(detail)})")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
            f"code={self.code!r}, request_id={self.request_id!r})"
        )


class KmsAccessDenied(KmsError):
    """The server refused the credentials or the IAM policy denied the action."""

    default_code = "AccessDenied"


class KmsClockSkewError(KmsAccessDenied):
    """The request time differs from the server's clock by more than it allows (15 minutes)."""

    default_code = "RequestTimeTooSkewed"


class KmsInvalidRequest(KmsError):
    """The server rejected the request as malformed or invalid."""

    default_code = "InvalidRequest"


class KmsNotFound(KmsError):
    """The named resource does not exist."""

    default_code = "NotFound"


class KmsKeyNotFound(KmsNotFound):
    """The named key does not exist."""


class KmsBucketNotFound(KmsNotFound):
    """The named bucket does not exist."""

    default_code = "NoSuchBucket"


class KmsConflict(KmsError):
    """The request conflicts with the current state (duplicate, still referenced, ...)."""

    default_code = "Conflict"


class KmsServiceUnavailable(KmsError):
    """The KMS service is not configured or not running."""

    default_code = "ServiceUnavailable"


class KmsNotSupported(KmsError):
    """The server or its backend does not implement this operation."""

    default_code = "NotImplemented"


class KmsBackendError(KmsError):
    """The server or its KMS backend failed while handling the request."""

    default_code = "InternalError"


class KmsOperationFailed(KmsError):
    """The server answered HTTP 200 but reported ``success: false``."""

    default_code = "OperationFailed"


class KmsResponseError(KmsError):
    """The server's answer could not be understood (not JSON, truncated, wrong shape)."""

    default_code = "InvalidResponse"


class KmsTransportError(KmsError):
    """No usable answer came back over the network."""

    default_code = "TransportError"


class KmsConnectionError(KmsTransportError):
    """The connection could not be made or was lost."""

    default_code = "ConnectionError"


class KmsTimeoutError(KmsTransportError):
    """The server did not answer in time."""

    default_code = "Timeout"


# Codes that decide the class whatever the HTTP status says.
_CODE_TABLE: dict[str, type[KmsError]] = {
    "RequestTimeTooSkewed": KmsClockSkewError,
    "AccessDenied": KmsAccessDenied,
    "InvalidAccessKeyId": KmsAccessDenied,
    "SignatureDoesNotMatch": KmsAccessDenied,
    "UnauthorizedAccess": KmsAccessDenied,
    "InvalidToken": KmsAccessDenied,
    "ExpiredToken": KmsAccessDenied,
    "NoSuchBucket": KmsBucketNotFound,
    "NotImplemented": KmsNotSupported,
    "ServiceUnavailable": KmsServiceUnavailable,
    "BucketAlreadyExists": KmsConflict,
    "BucketAlreadyOwnedByYou": KmsConflict,
    "BucketNotEmpty": KmsConflict,
}

_STATUS_TABLE: dict[int, type[KmsError]] = {
    400: KmsInvalidRequest,
    401: KmsAccessDenied,
    403: KmsAccessDenied,
    404: KmsKeyNotFound,
    409: KmsConflict,
    411: KmsInvalidRequest,
    412: KmsInvalidRequest,
    413: KmsInvalidRequest,
    501: KmsNotSupported,
    503: KmsServiceUnavailable,
}

# RustFS answers some conditions with a bare 500; its message then says which one it was.
_MESSAGE_TABLE: tuple[tuple[re.Pattern[str], type[KmsError]], ...] = (
    (
        re.compile(r"not (?:initiali[sz]ed|running)|not configured", re.IGNORECASE),
        KmsServiceUnavailable,
    ),
    (re.compile(r"is not supported by KMS backend", re.IGNORECASE), KmsNotSupported),
    (re.compile(r"Key not found", re.IGNORECASE), KmsKeyNotFound),
    (re.compile(r"already exists|still referenced", re.IGNORECASE), KmsConflict),
)


def error_class_for(status: int | None, code: str | None, message: str) -> type[KmsError]:
    """Choose the exception class for one failed answer (the single table of the tree)."""
    if code and code in _CODE_TABLE:
        return _CODE_TABLE[code]
    if status is not None and status in _STATUS_TABLE:
        return _STATUS_TABLE[status]
    if status is not None and 200 <= status < 300:
        return KmsOperationFailed
    for pattern, cls in _MESSAGE_TABLE:
        if pattern.search(message):
            return cls
    if status is not None and 400 <= status < 500:
        return KmsInvalidRequest
    return KmsBackendError


_XML_FIELD = re.compile(r"<(Code|Message|RequestId)>(.*?)</\1>", re.DOTALL)
_XML_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}


def _xml_unescape(text: str) -> str:
    return re.sub(r"&(?:lt|gt|quot|apos|amp);", lambda m: _XML_ENTITIES[m.group(0)], text)


def parse_error_body(
    body: bytes, content_type: str | None = None
) -> tuple[str | None, str, str | None]:
    """Read ``(code, message, request_id)`` from any of the four RustFS error families.

    Content-Type is only a hint: RustFS leaves it off several JSON answers, so the body's own
    shape decides.
    """
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None, "", None
    if text.startswith("<"):
        fields = {name: _xml_unescape(value.strip()) for name, value in _XML_FIELD.findall(text)}
        if fields:
            return fields.get("Code"), fields.get("Message", ""), fields.get("RequestId")
        # HTML or some other markup: not one of ours.
        return None, _first_line(_strip_tags(text)), None
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None, _first_line(text), None
        if isinstance(data, Mapping):
            return _from_json_mapping(data)
    return None, _first_line(text), None


def _from_json_mapping(data: Mapping[str, Any]) -> tuple[str | None, str, str | None]:
    code: str | None = None
    request_id: str | None = None
    message = ""
    nested = data.get("error")
    if isinstance(nested, Mapping):
        code = _str_or_none(nested.get("code"))
        message = _str_or_none(nested.get("message")) or ""
        request_id = _str_or_none(nested.get("request_id"))
    top_message = _str_or_none(data.get("message")) or _str_or_none(data.get("Message"))
    if top_message:
        message = top_message
    code = code or _str_or_none(data.get("code")) or _str_or_none(data.get("Code"))
    request_id = request_id or _str_or_none(data.get("request_id"))
    return code, message, request_id


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]*>", " ", text)


def _first_line(text: str, limit: int = 300) -> str:
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            return line[:limit]
    return ""


def error_from_response(
    status: int,
    body: bytes,
    *,
    content_type: str | None = None,
    request_id: str | None = None,
    fallback_message: str | None = None,
) -> KmsError:
    """Build the exception for one failed HTTP answer of any family."""
    code, message, body_request_id = parse_error_body(body, content_type)
    if not message:
        message = fallback_message or f"HTTP {status} with no error message"
    cls = error_class_for(status, code, message)
    return cls(message, status=status, code=code, request_id=body_request_id or request_id)
