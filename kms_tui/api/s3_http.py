"""The S3 client's transport: path-style requests over httpx, signed like the admin client.

Every request carries SigV4 (service ``s3``) and ``x-amz-content-sha256`` from
:class:`~kms_tui.api.auth.SigV4Auth`. Nothing is read from ``~/.aws`` or ``AWS_*`` variables:
the credentials are the ones passed in.

Connections are spread over a few small httpx clients used in turn ("lanes"). One httpx pool
rescans all of its connections, with a system call per idle one, at every request start and
end; at 16-32 requests in flight that costs more CPU than the requests themselves, while a
lane of 4 connections keeps the scan short (``python -m benchmarks --only s3`` measures it).

Failures become the :mod:`kms_tui.api.errors` tree here: S3 XML errors (and the HTML, JSON or
plain text a proxy answers instead), a HEAD's bare status, and transport failures.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Mapping
from types import TracebackType
from typing import Self
from urllib.parse import quote

import httpx

from kms_tui.api.admin import _ca_context, _transport_error
from kms_tui.api.auth import SigV4Auth
from kms_tui.api.errors import (
    KmsError,
    KmsKeyNotFound,
    KmsNotFound,
    KmsResponseError,
    describe_body,
    error_class_for,
    is_html,
    parse_error_body,
)

__all__ = [
    "S3Http",
    "bucket_path",
    "object_path",
    "request_id_of",
    "s3_error",
    "transport_failure",
    "with_query",
]

LANES = 8
CONNECTIONS_PER_LANE = 4
_RETRIED_METHODS = frozenset({"GET", "HEAD"})
_RETRY_STATUSES = frozenset({502, 503, 504})
# httpx's words for a body that stopped before its Content-Length.
_CUT_SHORT = re.compile(r"received (\d+) bytes, expected (\d+)")
# Code-less 404s on S3 calls are about a bucket or an object, never a KMS key; these codes are.
_KMS_KEY_CODES = frozenset({"KMS.NotFoundException", "NotFoundException"})


def bucket_path(bucket: str) -> str:
    """``/bucket`` (names are validated before this: they need no escaping)."""
    return "/" + bucket


def object_path(bucket: str, key: str) -> str:
    """``/bucket/key`` with the key encoded once; ``.``/``..`` segments escaped so no HTTP stack
    resolves them away (``a/../b`` is a key of its own in S3)."""
    segments = []
    for segment in key.split("/"):
        if segment in (".", ".."):
            segments.append(segment.replace(".", "%2E"))
        else:
            segments.append(quote(segment, safe="~"))
    return f"/{bucket}/" + "/".join(segments)


def with_query(path: str, params: Mapping[str, str | None] | None) -> str:
    """Append a query as SigV4 canonicalises it; a None value is a bare sub-resource name."""
    if not params:
        return path
    parts = [
        quote(name, safe="-_.~")
        if value is None
        else f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}"
        for name, value in params.items()
    ]
    return f"{path}?{'&'.join(parts)}"


def request_id_of(response: httpx.Response) -> str | None:
    """The request id S3 (x-amz-request-id) or moto (x-amzn-requestid) put in the headers."""
    headers = response.headers
    return headers.get("x-amz-request-id") or headers.get("x-amzn-requestid") or None


def _class_for(status: int, code: str | None, message: str) -> type[KmsError]:
    if code in _KMS_KEY_CODES:
        return KmsKeyNotFound
    cls = error_class_for(status, code, message)
    if cls is KmsKeyNotFound and status == 404:
        return KmsNotFound  # NoSuchKey, NoSuchUpload, a bare 404: not a KMS key
    return cls


def s3_error(response: httpx.Response, what: str) -> KmsError:
    """The error for one failed S3 answer; ``what`` names the call for code-less answers."""
    status = response.status_code
    request_id = request_id_of(response)
    is_head = response.request.method == "HEAD"
    body = b"" if is_head else response.content
    if 300 <= status < 400:
        where = response.headers.get("location")
        code, message, body_id = parse_error_body(body) if body.strip() else (None, "", None)
        detail = f" to {where}" if where else ""
        return KmsResponseError(
            f"{what}: unexpected HTTP {status} redirect{detail}"
            + (f" ({message})" if message else "")
            + "; is the endpoint the S3 API of the server, with path-style addressing?",
            status=status,
            code=code,
            request_id=body_id or request_id,
        )
    if not body.strip():
        # HEAD never has a body: the status alone decides (404 is NoSuchKey for an object).
        if status == 404:
            code = "NoSuchKey" if is_head else None
            return KmsNotFound(
                f"{what}: not found", status=status, code=code, request_id=request_id
            )
        cls = error_class_for(status, None, "")
        return cls(
            f"{what}: HTTP {status} with no error message", status=status, request_id=request_id
        )
    text = body.lstrip()
    if is_html(body):
        code, body_id = None, None
        message = (
            f"the server answered {describe_body(body)} instead of S3 XML "
            "(a proxy or web server in front of the server?)"
        )
    elif text.startswith(b"<"):
        code, message, body_id = parse_error_body(body)
        message = message or f"{what}: HTTP {status}"
    elif text.startswith((b"{", b"[")):
        code, body_id = None, None
        message = f"the server answered {describe_body(body)} instead of S3 XML"
    else:
        code, message, body_id = parse_error_body(body)  # plain text: its own words
    cls = _class_for(status, code, message)
    return cls(message, status=status, code=code, request_id=body_id or request_id)


def transport_failure(
    err: httpx.TransportError, method: str, path: str, timeout: float
) -> KmsError:
    """A transport failure as the admin client reports it; a body cut short says how much came."""
    if isinstance(err, httpx.RemoteProtocolError):
        match = _CUT_SHORT.search(str(err))
        if match:
            return KmsResponseError(
                f"{method} {path}: the server's answer was cut short: {match[1]} of {match[2]} "
                "bytes arrived before the connection closed"
            )
    return _transport_error(err, method, path, timeout)


class S3Http:
    """Signed path-style S3 requests to one endpoint; GET and HEAD are retried, nothing else."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        region: str,
        session_token: str | None,
        timeout: float,
        retries: int,
        verify: bool | str,
        transport: httpx.AsyncBaseTransport | None = None,
        lanes: int = LANES,
        backoff_base: float = 0.1,
        backoff_cap: float = 2.0,
    ) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        auth = SigV4Auth(access_key, secret_key, region=region, session_token=session_token)
        if endpoint.startswith("http://"):
            tls: bool | str = False
        else:
            tls = verify
        # One TLS context for every lane: loading the CA store once, not once per lane.
        context = _ca_context(tls) if isinstance(tls, str) else httpx.create_ssl_context(tls)
        # What the bulk-HEAD path (kms_tui.api.s3_heads) needs to sign and connect the same way.
        self.endpoint = endpoint
        self.auth = auth
        self.ssl_context = None if endpoint.startswith("http://") else context
        self.custom_transport = transport is not None
        count = 1 if transport is not None else max(1, lanes)
        limits = httpx.Limits(
            max_connections=CONNECTIONS_PER_LANE, max_keepalive_connections=CONNECTIONS_PER_LANE
        )
        self._lanes = tuple(
            httpx.AsyncClient(
                base_url=endpoint,
                auth=auth,
                timeout=timeout,
                verify=context,
                limits=limits,
                transport=transport,
                follow_redirects=False,
            )
            for _ in range(count)
        )
        self._turn = 0

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
        """Close every lane's connections."""
        for lane in self._lanes:
            await lane.aclose()

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2.0**attempt))
        return ceiling * (0.5 + random.random() / 2)

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | None] | None = None,
        content: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request (read in full); transport failures raise, HTTP errors are returned."""
        url = with_query(path, query)
        attempts = 1 + self.retries if method in _RETRIED_METHODS else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            lane = self._lanes[self._turn % len(self._lanes)]
            self._turn += 1
            try:
                response = await lane.request(method, url, content=content, headers=headers)
            except httpx.TransportError as err:
                if last:
                    raise transport_failure(err, method, path, self.timeout) from err
            else:
                if last or response.status_code not in _RETRY_STATUSES:
                    return response
            await asyncio.sleep(self._backoff(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")
