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
    │   └── KmsBucketNotEmpty        409 BucketNotEmpty: the bucket still holds objects
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
    "KmsBucketNotEmpty",
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
    "describe_body",
    "error_class_for",
    "error_from_response",
    "is_html",
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
        # For a policy refusal: the IAM action of the call and the key id or bucket it named.
        self.action: str | None = None
        self.resource: str | None = None

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

    @property
    def hint(self) -> str | None:
        """What happened, in an operator's words, where the server's own message is cryptic."""
        return None


# What a refusal means for the operator, by the S3 code RustFS sends with it.
_ACCESS_HINTS: dict[str, str] = {
    "SignatureDoesNotMatch": (
        "the server refused the signature: the secret key does not belong to this access key "
        "(check secret_key_env / secret_key in the profile)"
    ),
    "InvalidAccessKeyId": (
        "the server does not know this access key (check access_key in the profile)"
    ),
    "UnauthorizedAccess": "no access key was sent (set access_key in the profile)",
    "InvalidToken": "the session token is not valid (check session_token_env in the profile)",
    "ExpiredToken": "the session token has expired (get a new one for session_token_env)",
}


class KmsAccessDenied(KmsError):
    """The server refused the credentials or the IAM policy denied the action."""

    default_code = "AccessDenied"

    @property
    def is_policy_refusal(self) -> bool:
        """The account's policy refused the call (not its signature, token or clock)."""
        return self.code == "AccessDenied" and self.status in (403, None)

    @property
    def hint(self) -> str | None:
        """Which part of the credentials to check, or that the policy forbids the action."""
        return _ACCESS_HINTS.get(
            self.code or "",
            "access denied: these credentials are not allowed to do this (the server's IAM "
            "policy refused it)",
        )


class KmsClockSkewError(KmsAccessDenied):
    """The request time differs from the server's clock by more than it allows (15 minutes)."""

    default_code = "RequestTimeTooSkewed"

    @property
    def hint(self) -> str | None:
        """Signed requests are refused whatever the credentials: the clocks must be fixed."""
        return (
            "the clocks of this machine and the server differ by more than 15 minutes, so the "
            "server refuses every signed request; set both to the right time (e.g. with NTP)"
        )


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


class KmsBucketNotEmpty(KmsConflict):
    """The bucket still holds objects, so it cannot be deleted."""

    default_code = "BucketNotEmpty"

    @property
    def hint(self) -> str | None:
        """What to do instead: S3 deletes only empty buckets."""
        return "the bucket still holds objects; delete them first, then the bucket"


class KmsServiceUnavailable(KmsError):
    """The KMS service is not configured or not running."""

    default_code = "ServiceUnavailable"


class KmsNotSupported(KmsError):
    """The server or its backend does not implement this operation."""

    default_code = "NotImplemented"

    @property
    def hint(self) -> str | None:
        """Not a failure of the request: this server lacks the operation."""
        return "this server does not support this operation"


class KmsBackendError(KmsError):
    """The server or its KMS backend failed while handling the request."""

    default_code = "InternalError"

    @property
    def hint(self) -> str | None:
        """A 5xx says the fault is on the server's side, not in what was asked."""
        status = f"HTTP {self.status}" if self.status is not None else "an internal error"
        return f"the server failed while handling the request ({status})"


class KmsOperationFailed(KmsError):
    """The server answered HTTP 200 but reported ``success: false``."""

    default_code = "OperationFailed"

    @property
    def hint(self) -> str | None:
        """The request arrived and was understood; the server could not carry it out."""
        return "the server reported that the operation failed"


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
    "BucketNotEmpty": KmsBucketNotEmpty,
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


_HTML_MARK = re.compile(r"<!doctype\s+html|<html[\s>]", re.IGNORECASE)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def is_html(body: bytes) -> bool:
    """Whether a body is an HTML page (a proxy's error page, a login portal), not an API answer."""
    head = body[:2048].decode("utf-8", errors="replace").lstrip()
    return head.startswith("<") and _HTML_MARK.search(head) is not None


def describe_body(body: bytes) -> str:
    """Name what came back, for messages about answers that are not the API's (``an HTML page``)."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return "an empty body"
    if is_html(body):
        title = _HTML_TITLE.search(text)
        label = _first_line(_xml_unescape(_strip_tags(title.group(1)))) if title else ""
        label = label or _first_line(_strip_tags(text), 80)
        return f'an HTML page "{label}"' if label else "an HTML page"
    if text.startswith("<"):
        return "XML"
    if text.startswith(("{", "[")):
        return "JSON"
    return f'plain text "{_first_line(text, 80)}"'


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
    if code is None and is_html(body):
        message = (
            f"HTTP {status} with {describe_body(body)} instead of an API answer "
            "(a proxy or web server in front of the KMS?)"
        )
    if not message:
        message = fallback_message or f"HTTP {status} with no error message"
    cls = error_class_for(status, code, message)
    return cls(message, status=status, code=code, request_id=body_request_id or request_id)
