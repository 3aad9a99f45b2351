"""Framework-free request/response values shared by the admin routes, S3 routes and server.

Handlers are plain synchronous functions from a request value to a response value; the server
runs them in a worker thread, so file I/O with fsync never blocks the event loop.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

__all__ = [
    "HttpRequest",
    "HttpResponse",
    "empty_response",
    "json_error",
    "json_response",
    "text_response",
    "xml_error",
    "xml_response",
]

JSON_TYPE = "application/json"
XML_TYPE = "application/xml"
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One authenticated request, body already read (at most 1 MiB)."""

    method: str
    path: str  # decoded path; admin routes get it relative to /rustfs/admin/v3 (e.g. /kms/keys)
    raw_path: str  # as received, percent-encoding intact
    query: tuple[tuple[str, str], ...]  # decoded pairs in order, blank values kept
    raw_query: str
    headers: tuple[tuple[str, str], ...]  # lower-case names
    body: bytes
    request_id: str
    access_key: str = ""
    # ListBuckets for an account refused s3:ListAllMyBuckets: the buckets it may see.
    bucket_filter: Callable[[str], bool] | None = None

    def query_value(self, name: str) -> str | None:
        """The first value of a query parameter, or None when absent."""
        for key, value in self.query:
            if key == name:
                return value
        return None

    def has_query(self, name: str) -> bool:
        """Whether the parameter is present at all (``?encryption`` has an empty value)."""
        return any(key == name for key, _ in self.query)

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        lowered = name.lower()
        for key, value in self.headers:
            if key == lowered:
                return value
        return None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What a handler answers; the server adds ``x-amz-request-id`` and Content-Length."""

    status: int
    body: bytes = b""
    content_type: str | None = None  # None: no Content-Type header at all (as RustFS sometimes)
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def json_response(
    status: int, payload: Any, *, content_type: str | None = JSON_TYPE
) -> HttpResponse:
    """A JSON answer; pass ``content_type=None`` for routes where RustFS sends none."""
    try:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        # A lone surrogate that slipped into a message: escape it rather than fail the answer.
        body = json.dumps(payload, separators=(",", ":")).encode()
    return HttpResponse(status, body, content_type)


def json_error(
    status: int,
    payload: dict[str, Any],
    *,
    code: str,
    message: str,
    request_id: str,
    content_type: str | None = JSON_TYPE,
) -> HttpResponse:
    """A JSON error in the route's own family, plus the ``error`` object every error carries."""
    merged = dict(payload)
    merged["error"] = {"code": code, "message": message, "request_id": request_id}
    return json_response(status, merged, content_type=content_type)


def _xml_text(text: str) -> str:
    """Escape text for XML; characters XML 1.0 forbids (controls, surrogates) become ``\\xNN``."""
    if _NOT_XML_CHAR.search(text):
        text = _NOT_XML_CHAR.sub(lambda m: m.group().encode("unicode_escape").decode(), text)
    return escape(text)


def xml_error(status: int, code: str, message: str, request_id: str) -> HttpResponse:
    """An S3-style XML error (family E1); a message echoing odd input stays well-formed XML."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{_xml_text(code)}</Code><Message>{_xml_text(message)}</Message>"
        f"<RequestId>{_xml_text(request_id)}</RequestId></Error>"
    ).encode("utf-8", "replace")
    return HttpResponse(status, body, XML_TYPE)


def xml_response(status: int, body: str) -> HttpResponse:
    """An S3 XML document answer."""
    return HttpResponse(status, body.encode("utf-8", "replace"), XML_TYPE)


def text_response(status: int, text: str) -> HttpResponse:
    """A plain-text answer with no Content-Type (family E3 on configure/reconfigure)."""
    return HttpResponse(status, text.encode("utf-8", "replace"), None)


def empty_response(status: int) -> HttpResponse:
    """No body (204 on DeleteBucketEncryption, 426 on /rustfs/admin/v4)."""
    return HttpResponse(status, b"", None)
