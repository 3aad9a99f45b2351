"""The embedded server's ASGI app: request ids, body cap, SigV4, admin/S3 dispatch.

Handlers are synchronous (they fsync); the app runs them in worker threads.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, quote

from kms_tui.embedded.buckets import BucketStore
from kms_tui.embedded.http import HttpRequest, HttpResponse, empty_response, xml_error
from kms_tui.embedded.s3_routes import handle_s3
from kms_tui.embedded.sigv4 import SigV4Error, verify_request

__all__ = ["BODY_LIMIT", "AdminHandler", "KmsAsgiApp", "new_request_id"]

BODY_LIMIT = 1 << 20
_DRAIN_LIMIT = 64 << 20  # past this we stop discarding an oversized body and close instead
_ADMIN_ROOT = "/rustfs/admin"
_ADMIN_V3 = "/rustfs/admin/v3"
_ADMIN_V4 = "/rustfs/admin/v4"
_MINIO_ADMIN_ROOT = "/minio/admin"
_INTERNAL_ERROR = "We encountered an internal error. Please try again."
_NOT_IMPLEMENTED = "A header you provided implies functionality that is not implemented."

logger = logging.getLogger("kms_tui.embedded.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


AdminHandler = Callable[[Any, HttpRequest], HttpResponse | None]


class _ClientDisconnected(Exception):
    """The client went away before its body was read."""


def new_request_id() -> str:
    """16 upper-case hex characters, as RustFS and MinIO write request ids."""
    return secrets.token_hex(8).upper()


class KmsAsgiApp:
    """Authenticate, bound the body, route to the admin or S3 handlers, tag every answer."""

    def __init__(
        self,
        *,
        service: Any,
        buckets: BucketStore,
        access_key: str,
        secret_key: str,
        admin_handler: AdminHandler,
    ) -> None:
        self._service = service
        self._buckets = buckets
        self._access_key = access_key
        self._secret_key = secret_key
        self._admin_handler = admin_handler

    def __repr__(self) -> str:
        return f"KmsAsgiApp(access_key={self._access_key!r})"

    def _lookup_secret(self, access_key: str) -> str | None:
        if hmac.compare_digest(access_key.encode(), self._access_key.encode()):
            return self._secret_key
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request_id = new_request_id()
        try:
            response, close = await self._respond(scope, receive, request_id)
        except _ClientDisconnected:
            return
        except Exception:
            logger.exception("request %s failed", request_id)
            response, close = xml_error(500, "InternalError", _INTERNAL_ERROR, request_id), False
        await self._send(send, scope, response, request_id, close)

    async def _respond(
        self, scope: Scope, receive: Receive, request_id: str
    ) -> tuple[HttpResponse, bool]:
        method = str(scope["method"]).upper()
        path = str(scope["path"])
        raw_path_bytes = scope.get("raw_path")
        raw_path = raw_path_bytes.decode("latin-1") if raw_path_bytes else quote(path)
        raw_query = bytes(scope.get("query_string", b"")).decode("latin-1")
        headers = tuple(
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in scope.get("headers", [])
        )
        body, too_large, drained_all = await _read_body(headers, receive)
        try:
            verified = verify_request(
                method=method,
                raw_path=raw_path,
                raw_query=raw_query,
                headers=headers,
                body=b"" if too_large else body,
                lookup_secret=self._lookup_secret,
            )
        except SigV4Error as err:
            # With an oversized body only the hash comparison can fail after a good signature.
            if not (too_large and err.code == "XAmzContentSHA256Mismatch"):
                return xml_error(err.status, err.code, err.message, request_id), not drained_all
            verified = None
        if too_large:
            message = f"failed to read request body: length limit exceeded ({BODY_LIMIT} bytes)"
            return xml_error(400, "InvalidRequest", message, request_id), not drained_all
        access_key = verified.access_key if verified else ""

        if path == _MINIO_ADMIN_ROOT or path.startswith(_MINIO_ADMIN_ROOT + "/"):
            path = _ADMIN_ROOT + path[len(_MINIO_ADMIN_ROOT) :]
            raw_path = (
                _ADMIN_ROOT + raw_path[len(_MINIO_ADMIN_ROOT) :]
                if raw_path.startswith(_MINIO_ADMIN_ROOT)
                else quote(path)
            )
        request = HttpRequest(
            method=method,
            path=path,
            raw_path=raw_path,
            query=tuple(parse_qsl(raw_query, keep_blank_values=True)),
            raw_query=raw_query,
            headers=headers,
            body=body,
            request_id=request_id,
            access_key=access_key,
        )
        try:
            response = await self._dispatch(request)
        except Exception:
            logger.exception(
                "request %s (%s %s) failed", request_id, _printable(method), _printable(path)
            )
            response = xml_error(500, "InternalError", _INTERNAL_ERROR, request_id)
        shown = path + ("?" + "&".join(name for name, _ in request.query) if request.query else "")
        logger.info(
            "%s %s -> %d [%s]", _printable(method), _printable(shown), response.status, request_id
        )
        return response, False

    async def _dispatch(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if not _under(path, _ADMIN_ROOT):
            return await asyncio.to_thread(handle_s3, self._buckets, self._service, request)
        if _under(path, _ADMIN_V4):
            return empty_response(426)
        if _under(path, _ADMIN_V3):
            relative = path[len(_ADMIN_V3) :]
            raw_relative = (
                request.raw_path[len(_ADMIN_V3) :]
                if request.raw_path.startswith(_ADMIN_V3)
                else quote(relative)
            )
            admin_request = HttpRequest(
                method=request.method,
                path=relative,
                raw_path=raw_relative,
                query=request.query,
                raw_query=request.raw_query,
                headers=request.headers,
                body=request.body,
                request_id=request.request_id,
                access_key=request.access_key,
            )
            answer = await asyncio.to_thread(self._admin_handler, self._service, admin_request)
            if answer is not None:
                return answer
        return xml_error(501, "NotImplemented", _NOT_IMPLEMENTED, request.request_id)

    @staticmethod
    async def _send(
        send: Send, scope: Scope, response: HttpResponse, request_id: str, close: bool
    ) -> None:
        headers: list[tuple[bytes, bytes]] = [(b"x-amz-request-id", request_id.encode())]
        if response.content_type is not None:
            headers.append((b"content-type", response.content_type.encode()))
        if response.status not in (204, 304) and response.status >= 200:
            headers.append((b"content-length", str(len(response.body)).encode()))
        for name, value in response.headers:
            headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        if close:
            headers.append((b"connection", b"close"))
        body = b"" if scope["method"] == "HEAD" or response.status in (204, 304) else response.body
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _printable(text: str) -> str:
    """A request's own text for one log line: control characters escaped, so none can forge one."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


async def _read_body(
    headers: tuple[tuple[str, str], ...], receive: Receive
) -> tuple[bytes, bool, bool]:
    """(body, too large, fully drained): at most BODY_LIMIT bytes are ever kept in memory."""
    declared = next((value for name, value in headers if name == "content-length"), None)
    too_large = declared is not None and declared.strip().isdigit() and int(declared) > BODY_LIMIT
    expects_continue = any(
        name == "expect" and value.strip().lower() == "100-continue" for name, value in headers
    )
    if too_large and expects_continue:
        return b"", True, False  # never invite the body: answer now and close
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientDisconnected
        chunk = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        size += len(chunk)
        if too_large or size > BODY_LIMIT:
            too_large = True
            chunks.clear()
            if size > _DRAIN_LIMIT:
                return b"", True, not more
            continue
        chunks.append(chunk)
    return (b"" if too_large else b"".join(chunks)), too_large, True
