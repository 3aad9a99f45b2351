"""The embedded server's ASGI app: request ids, body cap, SigV4, admin/S3 dispatch.

Handlers are synchronous (they fsync); the app runs them in worker threads. Every body is read
whole first (at most :data:`BODY_LIMIT` bytes kept) except a PutObject's: its signature is
checked on the headers, then the S3 handler runs in a thread of its own and pulls the body from
the event loop piece by piece (:class:`_BodyBridge`), so an object of any size up to the cap
streams through encryption to disk. A GetObject answer is sent the same way, piece by piece.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote

from kms_tui.embedded import authz
from kms_tui.embedded.accounts import Account, Accounts
from kms_tui.embedded.buckets import BucketStore
from kms_tui.embedded.http import (
    HttpRequest,
    HttpResponse,
    empty_response,
    json_response,
    xml_error,
)
from kms_tui.embedded.objects import DEFAULT_MAX_OBJECT_SIZE, PutBody
from kms_tui.embedded.objects_body import chunk_signer
from kms_tui.embedded.objects_common import ClientGone, S3Failure, StreamedResponse
from kms_tui.embedded.s3_routes import handle_s3, streams_body
from kms_tui.embedded.sigv4 import SigV4Error, verify_request
from kms_tui.policy import CANNED_POLICIES, Request

__all__ = ["BODY_LIMIT", "AdminHandler", "KmsAsgiApp", "new_request_id"]

BODY_LIMIT = 1 << 20
_DRAIN_LIMIT = 64 << 20  # past this we stop discarding an oversized body and close instead
_ADMIN_ROOT = "/rustfs/admin"
_ADMIN_V3 = "/rustfs/admin/v3"
_ADMIN_V4 = "/rustfs/admin/v4"
_MINIO_ADMIN_ROOT = "/minio/admin"
_INTERNAL_ERROR = "We encountered an internal error. Please try again."
_ACCESS_DENIED = "Access Denied."
_ACCOUNT_INFO = "/rustfs/admin/v3/accountinfo"
_NOT_IMPLEMENTED = "A header you provided implies functionality that is not implemented."
_BODY_IDLE_SECONDS = 120.0  # a PutObject body that stalls this long is answered RequestTimeout

logger = logging.getLogger("kms_tui.embedded.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


AdminHandler = Callable[[Any, HttpRequest], HttpResponse | None]
Answer = HttpResponse | StreamedResponse
_T = TypeVar("_T")


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
        max_object_size: int = DEFAULT_MAX_OBJECT_SIZE,
        users: tuple[Account, ...] = (),
    ) -> None:
        self._service = service
        self._buckets = buckets
        self._accounts = Accounts(access_key, secret_key, users)
        self._admin_handler = admin_handler
        self.max_object_size = max_object_size

    def __repr__(self) -> str:
        return f"KmsAsgiApp(access_key={self._accounts.root.access_key!r})"

    def _lookup_secret(self, access_key: str) -> str | None:
        return self._accounts.secret_for(access_key)

    def _gate(self, access_key: str, request: HttpRequest) -> HttpRequest | None:
        """The request to serve, or None when the account's policies refuse it (RustFS's gate).

        ListBuckets refused as a whole narrows to the buckets the account may list or locate
        (the returned request carries a ``bucket_filter``); it is refused only when none is left.
        """
        account = self._accounts.account(access_key)
        if account is None:
            return None
        policy = account.policy
        if policy is None:
            return request
        if _under(request.path, _ADMIN_ROOT):
            relative = request.path[len(_ADMIN_V3) :] if _under(request.path, _ADMIN_V3) else ""
            question = authz.admin_request(request.method, relative, request.query, request.body)
        else:
            question = authz.s3_request(request.method, request.path, (n for n, _ in request.query))
        if question is None or policy.allows(question):
            return request
        if question.action == authz.LIST_ALL_MY_BUCKETS:
            return dataclasses.replace(request, bucket_filter=authz.bucket_filter(policy))
        logger.info(
            "request %s: %s refused to %s%s",
            request.request_id,
            question.action,
            _printable(account.access_key),
            f" (key {_printable(question.key_id)})" if question.key_id else "",
        )
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
        if isinstance(response, StreamedResponse):
            await self._send_streamed(send, receive, response, request_id, close)
        else:
            await self._send(send, scope, response, request_id, close)

    async def _respond(
        self, scope: Scope, receive: Receive, request_id: str
    ) -> tuple[Answer, bool]:
        method = str(scope["method"]).upper()
        path = str(scope["path"])
        raw_path_bytes = scope.get("raw_path")
        raw_path = raw_path_bytes.decode("latin-1") if raw_path_bytes else quote(path)
        raw_query = bytes(scope.get("query_string", b"")).decode("latin-1")
        headers = tuple(
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in scope.get("headers", [])
        )
        query = tuple(parse_qsl(raw_query, keep_blank_values=True))
        is_admin = _under(path, _ADMIN_ROOT) or _under(path, _MINIO_ADMIN_ROOT)
        if not is_admin and streams_body(method, path, (name for name, _ in query), headers):
            return await self._respond_streamed(
                receive, request_id, method, path, raw_path, raw_query, query, headers
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
            query=query,
            raw_query=raw_query,
            headers=headers,
            body=body,
            request_id=request_id,
            access_key=access_key,
        )
        allowed = self._gate(access_key, request)
        if allowed is None:
            _log_answer(request, 403)
            return xml_error(403, "AccessDenied", _ACCESS_DENIED, request_id), False
        request = allowed
        try:
            response = await self._dispatch(request)
        except Exception:
            logger.exception(
                "request %s (%s %s) failed", request_id, _printable(method), _printable(path)
            )
            response = xml_error(500, "InternalError", _INTERNAL_ERROR, request_id)
        _log_answer(request, response.status)
        return response, False

    async def _respond_streamed(
        self,
        receive: Receive,
        request_id: str,
        method: str,
        path: str,
        raw_path: str,
        raw_query: str,
        query: tuple[tuple[str, str], ...],
        headers: tuple[tuple[str, str], ...],
    ) -> tuple[Answer, bool]:
        """PutObject: signature on the headers, then the body streamed to the handler."""
        bridge = _BodyBridge(receive, asyncio.get_running_loop())
        try:
            verified = verify_request(
                method=method,
                raw_path=raw_path,
                raw_query=raw_query,
                headers=headers,
                body=b"",
                lookup_secret=self._lookup_secret,
            )
            access_key = verified.access_key
        except SigV4Error as err:
            # The signature is good and only the payload hash (checked while streaming) differs.
            if err.code != "XAmzContentSHA256Mismatch":
                kept_open = await bridge.drain(headers)
                return xml_error(err.status, err.code, err.message, request_id), not kept_open
            access_key = err.access_key
        request = HttpRequest(
            method=method,
            path=path,
            raw_path=raw_path,
            query=query,
            raw_query=raw_query,
            headers=headers,
            body=b"",
            request_id=request_id,
            access_key=access_key,
        )
        if self._gate(access_key, request) is None:  # before a byte of the body is read
            kept_open = await bridge.drain(headers)
            _log_answer(request, 403)
            return xml_error(403, "AccessDenied", _ACCESS_DENIED, request_id), not kept_open
        header_map = dict(reversed(headers))
        body = PutBody(bridge.read, chunk_signer(header_map, self._lookup_secret))

        def run() -> Answer:
            return handle_s3(
                self._buckets,
                self._service,
                request,
                body=body,
                max_object_size=self.max_object_size,
            )

        try:
            response: Answer = await _in_own_thread(run, "kms-tui-object-put")
        except ClientGone:
            raise _ClientDisconnected from None
        except Exception:
            logger.exception(
                "request %s (%s %s) failed", request_id, _printable(method), _printable(path)
            )
            response = xml_error(500, "InternalError", _INTERNAL_ERROR, request_id)
        kept_open = await bridge.drain(headers)
        _log_answer(request, response.status)
        return response, not kept_open

    async def _dispatch(self, request: HttpRequest) -> Answer:
        path = request.path
        if not _under(path, _ADMIN_ROOT):
            return await asyncio.to_thread(handle_s3, self._buckets, self._service, request)
        if _under(path, _ADMIN_V4):
            return empty_response(426)
        if path == _ACCOUNT_INFO and request.method == "GET":
            return await asyncio.to_thread(self._account_info, request)
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

    def _account_info(self, request: HttpRequest) -> HttpResponse:
        """GET /rustfs/admin/v3/accountinfo: who signed, their policy, the buckets they reach.

        RustFS's shape (madmin ``AccountInfo``): ``account_name``, ``server``, ``policy`` (the
        account's combined policy as a JSON *string*; the root's is ``consoleAdmin``) and
        ``buckets`` with ``access`` ``read``/``write``. Any signed account may ask.
        """
        account = self._accounts.account(request.access_key)
        if account is None:  # not reachable: the signature named a known account
            return xml_error(403, "AccessDenied", _ACCESS_DENIED, request.request_id)
        policy = CANNED_POLICIES["consoleAdmin"] if account.policy is None else account.policy
        buckets = []
        for record in self._buckets.list_buckets():
            read = account.is_owner or authz.bucket_filter(policy)(record.name)
            write = account.is_owner or policy.allows(Request.s3("s3:PutObject", record.name))
            if read or write:
                buckets.append(
                    {
                        "name": record.name,
                        "prefix_usage": {},
                        "expiration": record.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "details": None,
                        "access": {"read": read, "write": write},
                    }
                )
        document = {
            "account_name": account.access_key,
            "server": {},
            "policy": json.dumps(policy.to_document(), separators=(",", ":")),
            "buckets": buckets,
        }
        return json_response(200, document)

    @staticmethod
    async def _send(
        send: Send, scope: Scope, response: HttpResponse, request_id: str, close: bool
    ) -> None:
        headers: list[tuple[bytes, bytes]] = [(b"x-amz-request-id", request_id.encode())]
        if response.content_type is not None:
            headers.append((b"content-type", response.content_type.encode()))
        explicit_length = any(name.lower() == "content-length" for name, _ in response.headers)
        if response.status not in (204, 304) and response.status >= 200 and not explicit_length:
            headers.append((b"content-length", str(len(response.body)).encode()))
        for name, value in response.headers:
            headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        if close:
            headers.append((b"connection", b"close"))
        body = b"" if scope["method"] == "HEAD" or response.status in (204, 304) else response.body
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    @staticmethod
    async def _send_streamed(
        send: Send, receive: Receive, response: StreamedResponse, request_id: str, close: bool
    ) -> None:
        """Send an object piece by piece; a client that goes away stops the reading."""
        headers: list[tuple[bytes, bytes]] = [
            (b"x-amz-request-id", request_id.encode()),
            (b"content-length", str(response.content_length).encode()),
        ]
        if response.content_type is not None:
            headers.append((b"content-type", response.content_type.encode("latin-1")))
        for name, value in response.headers:
            headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        if close:
            headers.append((b"connection", b"close"))
        gone = asyncio.ensure_future(receive())  # the request is read: this ends on disconnect
        try:
            await send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            while not gone.done():
                piece = await asyncio.to_thread(next, response.chunks, None)
                if piece is None:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        except Exception as err:  # a damaged block: the connection is cut, never a short 200
            logger.error("request %s: the object could not be sent whole: %s", request_id, err)
        finally:
            gone.cancel()
            await asyncio.to_thread(response.close)


def _log_answer(request: HttpRequest, status: int) -> None:
    shown = request.path + (
        "?" + "&".join(name for name, _ in request.query) if request.query else ""
    )
    logger.info(
        "%s %s -> %d [%s]",
        _printable(request.method),
        _printable(shown),
        status,
        request.request_id,
    )


async def _in_own_thread(work: Callable[[], _T], name: str) -> _T:
    """Run blocking work in a daemon thread of its own (a long upload holds no pool worker)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def run() -> None:
        outcome: Callable[[], None]
        try:
            result = work()
        except BaseException as err:  # handed to the awaiting coroutine
            failure = err
            outcome = lambda: future.set_exception(failure)  # noqa: E731
        else:
            outcome = lambda: future.set_result(result)  # noqa: E731
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await future


class _BodyBridge:
    """A request body pulled from the event loop by a worker thread, piece by piece."""

    def __init__(self, receive: Receive, loop: asyncio.AbstractEventLoop) -> None:
        self._receive = receive
        self._loop = loop
        self.started = False
        self.done = False
        self.disconnected = False

    def read(self) -> bytes:
        """The next piece of the body (``b""`` at its end); called from the worker thread."""
        while not self.done:
            self.started = True
            future = asyncio.run_coroutine_threadsafe(self._next(), self._loop)
            try:
                message = future.result(timeout=_BODY_IDLE_SECONDS)
            except concurrent.futures.CancelledError:  # the server is shutting down
                self.done = self.disconnected = True
                raise ClientGone from None
            except concurrent.futures.TimeoutError:
                future.cancel()
                self.done = self.disconnected = True  # the rest is never read: close after
                raise S3Failure(
                    400,
                    "RequestTimeout",
                    "Your socket connection to the server was not read from or written to "
                    "within the timeout period.",
                ) from None
            if message["type"] == "http.disconnect":
                self.done = self.disconnected = True
                raise ClientGone
            more = bool(message.get("more_body", False))
            self.done = not more
            piece = bytes(message.get("body", b""))
            if piece:
                return piece
        return b""

    async def _next(self) -> Message:
        return await self._receive()

    async def drain(self, headers: tuple[tuple[str, str], ...]) -> bool:
        """Discard what is left of the body; False when the connection must close instead."""
        if self.disconnected:
            return False
        if self.done:
            return True
        expects_continue = any(
            name == "expect" and value.strip().lower() == "100-continue" for name, value in headers
        )
        if expects_continue and not self.started:
            return False  # the body was never invited: answer now and close
        discarded = 0
        while not self.done:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                return False
            discarded += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
            if discarded > _DRAIN_LIMIT:
                return False
        return True


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
