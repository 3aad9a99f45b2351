"""AWS Signature Version 4 verification, answering failures the way RustFS (s3s) does.

Framework-free: it takes the parts of a request and either returns the caller's access key or
raises :class:`SigV4Error` with the HTTP status, S3 error code and message the real server
would send.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote, unquote_to_bytes

__all__ = [
    "ALLOWED_SKEW_SECONDS",
    "UNSIGNED_PAYLOAD",
    "SigV4Error",
    "VerifiedRequest",
    "derive_signing_key",
    "verify_request",
]

ALLOWED_SKEW_SECONDS = 900
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_STREAMING_PREFIX = "STREAMING-"
_ALGORITHM = "AWS4-HMAC-SHA256"
_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_AUTH_PARAM = re.compile(r"(Credential|SignedHeaders|Signature)\s*=\s*([^,\s]+)")


class SigV4Error(Exception):
    """A request that fails verification, with the answer RustFS gives."""

    def __init__(self, status: int, code: str, message: str, access_key: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.access_key = access_key  # who signed, when only the payload hash failed


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """Who signed a request that passed verification."""

    access_key: str
    region: str
    service: str
    session_token: str | None


def derive_signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key for one day, region and service."""
    key = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _uri_encode(value: str | bytes) -> str:
    return quote(value, safe="-_.~")


def _canonical_query(raw_query: str) -> str:
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        # Decode to bytes, not text: an escape that is not UTF-8 must survive re-encoding as the
        # client signed it (decoding to text would turn it into U+FFFD and break the signature).
        pairs.append((_uri_encode(unquote_to_bytes(name)), _uri_encode(unquote_to_bytes(value))))
    pairs.sort()
    return "&".join(f"{name}={value}" for name, value in pairs)


def _canonical_uri_candidates(raw_path: str) -> list[str]:
    """The paths a correct signer may have used: as sent, re-encoded once, or encoded twice."""
    path = raw_path or "/"
    decoded = unquote(path)
    candidates = [path, quote(decoded, safe="/~"), quote(path, safe="/~")]
    seen: list[str] = []
    for candidate in candidates:
        if candidate not in seen:
            seen.append(candidate)
    return seen


def _header_map(headers: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, value in headers:
        result.setdefault(name.lower(), []).append(value)
    return result


def _parse_authorization(value: str) -> tuple[str, list[str], str]:
    if not value.startswith(_ALGORITHM + " "):
        raise SigV4Error(400, "InvalidRequest", "unsupported or malformed authorization header")
    params = dict(_AUTH_PARAM.findall(value[len(_ALGORITHM) :]))
    try:
        credential = params["Credential"]
        signed_headers = params["SignedHeaders"].split(";")
        signature = params["Signature"]
    except KeyError as missing:
        raise SigV4Error(
            400, "AuthorizationHeaderMalformed", f"authorization header lacks {missing.args[0]}"
        ) from None
    return credential, signed_headers, signature


def verify_request(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    lookup_secret: Callable[[str], str | None],
    now: datetime | None = None,
) -> VerifiedRequest:
    """Check one header-signed SigV4 request; raise :class:`SigV4Error` as RustFS would."""
    header_map = _header_map(headers)
    authorization = header_map.get("authorization", [""])[0].strip()
    if not authorization:
        raise SigV4Error(403, "AccessDenied", "Signature is required")
    credential, signed_headers, signature = _parse_authorization(authorization)

    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not scope[0]:
        raise SigV4Error(400, "AuthorizationHeaderMalformed", "malformed credential scope")
    access_key, scope_date, region, service, _ = scope
    if service not in ("s3", "sts"):
        raise SigV4Error(
            501,
            "NotImplemented",
            f"unknown service '{service}' in credential scope; expected 's3' or 'sts'",
        )

    amz_date = header_map.get("x-amz-date", [""])[0].strip()
    if not amz_date:
        raise SigV4Error(400, "InvalidRequest", "missing header: x-amz-date")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise SigV4Error(400, "InvalidRequest", "invalid header: x-amz-date") from None
    if scope_date != amz_date[:8]:
        raise SigV4Error(403, "SignatureDoesNotMatch", _MISMATCH_MESSAGE)
    current = now or datetime.now(UTC)
    if abs((current - signed_at).total_seconds()) > ALLOWED_SKEW_SECONDS:
        raise SigV4Error(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the server's time is too large.",
        )

    content_sha = header_map.get("x-amz-content-sha256", [""])[0].strip()
    body_hash = hashlib.sha256(body).hexdigest()
    if service == "s3":
        if not content_sha:
            raise SigV4Error(400, "InvalidRequest", "missing header: x-amz-content-sha256")
        if content_sha == UNSIGNED_PAYLOAD or content_sha.startswith(_STREAMING_PREFIX):
            if "content-length" not in header_map and body:
                raise SigV4Error(411, "MissingContentLength", "missing Content-Length")
            payload_hash = content_sha
        elif _HEX64.match(content_sha):
            payload_hash = content_sha
        else:
            raise SigV4Error(400, "InvalidRequest", "invalid header: x-amz-content-sha256")
    else:
        payload_hash = content_sha or body_hash

    if "host" not in signed_headers:
        raise SigV4Error(403, "SignatureDoesNotMatch", _MISMATCH_MESSAGE)
    canonical_headers = ""
    for name in signed_headers:
        values = header_map.get(name)
        if values is None:
            raise SigV4Error(403, "SignatureDoesNotMatch", _MISMATCH_MESSAGE)
        joined = ",".join(" ".join(v.split()) for v in values)
        canonical_headers += f"{name}:{joined}\n"

    secret = lookup_secret(access_key)
    if secret is None:
        raise SigV4Error(
            403,
            "InvalidAccessKeyId",
            "The Access Key Id you provided does not exist in our records.",
        )

    signing_key = derive_signing_key(secret, scope_date, region, service)
    credential_scope = "/".join(scope[1:])
    query = _canonical_query(raw_query)
    matched = False
    for uri in _canonical_uri_candidates(raw_path):
        canonical_request = "\n".join(
            [method.upper(), uri, query, canonical_headers, ";".join(signed_headers), payload_hash]
        )
        string_to_sign = "\n".join(
            [
                _ALGORITHM,
                amz_date,
                credential_scope,
                hashlib.sha256(canonical_request.encode()).hexdigest(),
            ]
        )
        expected = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, signature):
            matched = True
    if not matched:
        raise SigV4Error(403, "SignatureDoesNotMatch", _MISMATCH_MESSAGE)

    if _HEX64.match(payload_hash) and not hmac.compare_digest(payload_hash, body_hash):
        raise SigV4Error(
            400,
            "XAmzContentSHA256Mismatch",
            "failed to read request body: the body does not match x-amz-content-sha256",
            access_key,
        )
    token = header_map.get("x-amz-security-token", [None])[0]
    return VerifiedRequest(access_key, region, service, token)
