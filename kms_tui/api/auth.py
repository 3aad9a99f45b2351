"""SigV4 request signing for httpx, done by botocore's signer (service ``s3``, as RustFS wants).

The auth flow does no I/O: it hashes the body already in memory, signs a botocore
``AWSRequest`` built from the httpx request and copies the signed headers back. The clock is
injectable so a known-answer test can freeze it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import httpx
from botocore.auth import SIGV4_TIMESTAMP
from botocore.auth import SigV4Auth as _BotocoreSigV4Auth
from botocore.awsrequest import AWSRequest

__all__ = ["EMPTY_SHA256", "SigV4Auth"]

# Headers that go into the signature: only those no proxy or HTTP stack rewrites in transit.
_SIGNED_HEADERS = ("host", "content-type", "content-length", "content-md5")
# Headers the signer writes; stale copies from an earlier attempt are dropped before re-signing.
_SIGNER_OUTPUT = ("authorization", "x-amz-date", "x-amz-security-token")
# ... and the body hash, recomputed on every signing. Other x-amz-* headers (SSE, user metadata)
# belong to the request: they are kept and signed.
_STALE_ON_RESIGN = (*_SIGNER_OUTPUT, "x-amz-content-sha256")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True, slots=True)
class _Credentials:
    """What botocore's SigV4 signer reads of its credentials (``access_key``, ``secret_key``,
    ``token``); botocore's own ``Credentials`` class would import its whole credential-provider
    chain (config files, SSO, endpoints: ~12 ms of start-up) for three strings."""

    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)


class _ClockedSigner(_BotocoreSigV4Auth):
    """botocore's SigV4 signer, reading the time from our clock instead of the system's."""

    def __init__(
        self, credentials: _Credentials, service: str, region: str, clock: Callable[[], datetime]
    ) -> None:
        # The stubs name botocore's classes; the signer reads only the three attributes.
        super().__init__(credentials, service, region)  # type: ignore[arg-type]
        self._clock = clock

    def _normalize_url_path(self, path: str) -> str:
        # S3's rule, not botocore's generic one: the path encoded once (an object key with a
        # space is signed as %20, not %2520) and never normalised ("a//b" and "a/../b" are keys).
        return quote(unquote(path), safe="/~")

    def add_auth(self, request: AWSRequest) -> None:
        timestamp = self._clock().astimezone(UTC).strftime(SIGV4_TIMESTAMP)
        request.context["timestamp"] = timestamp
        request.headers["X-Amz-Date"] = timestamp
        if self.credentials.token:
            request.headers["X-Amz-Security-Token"] = self.credentials.token
        canonical_request = self.canonical_request(request)
        signature = self.signature(self.string_to_sign(request, canonical_request), request)
        signed_headers = self.signed_headers(self.headers_to_sign(request))
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.scope(request)}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        )


def _system_clock() -> datetime:
    return datetime.now(UTC)


class SigV4Auth(httpx.Auth):
    """Sign every request with AWS SigV4 for service ``s3`` and set ``x-amz-content-sha256``."""

    requires_request_body = True

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        region: str = "us-east-1",
        session_token: str | None = None,
        service: str = "s3",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.region = region
        self.service = service
        self._signer = _ClockedSigner(
            _Credentials(access_key, secret_key, session_token),
            service,
            region,
            clock or _system_clock,
        )

    def __repr__(self) -> str:
        return f"SigV4Auth(region={self.region!r}, service={self.service!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign the request in place, then send it."""
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> None:
        """Replace any earlier signature on ``request`` with a fresh one."""
        body = request.content
        for name in list(request.headers.keys()):
            lowered = name.lower()
            if lowered in _STALE_ON_RESIGN:
                del request.headers[name]
        request.headers["Content-Length"] = str(len(body))
        request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()

        to_sign = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in _SIGNED_HEADERS or name.lower().startswith("x-amz-")
        }
        for name, value in self._signer_output(
            request.method, str(request.url), body, to_sign
        ).items():
            request.headers[name] = value

    def sign_bodiless(self, method: str, url: str, host: str) -> dict[str, str]:
        """Every header of a signed request with no body (a HEAD), as :meth:`sign` would set
        them on an httpx request for ``url`` whose ``Host`` header is ``host``."""
        headers = {"host": host, "content-length": "0", "x-amz-content-sha256": EMPTY_SHA256}
        headers.update(self._signer_output(method, url, b"", headers))
        return headers

    def _signer_output(
        self, method: str, url: str, body: bytes, to_sign: dict[str, str]
    ) -> dict[str, str]:
        aws_request = AWSRequest(method=method, url=url, data=body, headers=to_sign)
        self._signer.add_auth(aws_request)
        return {
            name.lower(): value
            for name, value in aws_request.headers.items()
            if name.lower() in _SIGNER_OUTPUT or name.lower().startswith("x-amz-")
        }
