"""SigV4 signing: a pinned known answer, re-derived from the spec and checked by the verifier."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import httpx
import pytest

from kms_tui.api.auth import SigV4Auth
from kms_tui.embedded.sigv4 import SigV4Error, verify_request

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
FROZEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
URL = "http://127.0.0.1:9000/rustfs/admin/v3/kms/keys?marker=key-b&limit=50"
BODY = b'{"description":"kat"}'

KNOWN_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/us-east-1/s3/aws4_request, "
    "SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, "
    "Signature=38cde9a658fd299cd2bc5f47cae4b4dc7afb047c823559fcfe21f6f86cb50577"
)


def frozen_auth(**kwargs: object) -> SigV4Auth:
    return SigV4Auth(ACCESS_KEY, SECRET_KEY, clock=lambda: FROZEN, **kwargs)  # type: ignore[arg-type]


def signed(request: httpx.Request, auth: SigV4Auth | None = None) -> httpx.Request:
    flow = (auth or frozen_auth()).sync_auth_flow(request)
    sent = next(flow)
    return sent


def known_request() -> httpx.Request:
    return httpx.Request("POST", URL, content=BODY, headers={"Content-Type": "application/json"})


def spec_signature(secret: str, date: str, region: str, service: str, canonical: str) -> str:
    """SigV4 as the AWS specification spells it, with hashlib and hmac only."""

    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    key = mac(f"AWS4{secret}".encode(), date)
    key = mac(mac(mac(key, region), service), "aws4_request")
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            f"{date}T030405Z",
            f"{date}/{region}/{service}/aws4_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def verify(request: httpx.Request, secret: str = SECRET_KEY) -> object:
    return verify_request(
        method=request.method,
        raw_path=request.url.raw_path.split(b"?")[0].decode(),
        raw_query=request.url.query.decode(),
        headers=list(request.headers.items()),
        body=request.content,
        lookup_secret=lambda key: secret if key == ACCESS_KEY else None,
        now=FROZEN,
    )


def test_known_answer() -> None:
    request = signed(known_request())
    assert request.headers["authorization"] == KNOWN_AUTHORIZATION
    assert request.headers["x-amz-date"] == "20260102T030405Z"


def test_known_answer_matches_the_specification() -> None:
    body_hash = hashlib.sha256(BODY).hexdigest()
    canonical = "\n".join(
        [
            "POST",
            "/rustfs/admin/v3/kms/keys",
            "limit=50&marker=key-b",
            f"content-length:{len(BODY)}\n"
            "content-type:application/json\n"
            "host:127.0.0.1:9000\n"
            f"x-amz-content-sha256:{body_hash}\n"
            "x-amz-date:20260102T030405Z\n",
            "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
            body_hash,
        ]
    )
    signature = spec_signature(SECRET_KEY, "20260102", "us-east-1", "s3", canonical)
    assert KNOWN_AUTHORIZATION.endswith(f"Signature={signature}")


def test_server_side_verifier_accepts_the_signature() -> None:
    verified = verify(signed(known_request()))
    assert verified.access_key == ACCESS_KEY  # type: ignore[attr-defined]
    assert verified.service == "s3"  # type: ignore[attr-defined]


def test_wrong_secret_is_refused_by_the_verifier() -> None:
    with pytest.raises(SigV4Error) as caught:
        verify(signed(known_request()), secret="another-secret")
    assert caught.value.code == "SignatureDoesNotMatch"


def test_content_sha256_is_the_body_hash() -> None:
    request = signed(known_request())
    assert request.headers["x-amz-content-sha256"] == hashlib.sha256(BODY).hexdigest()
    assert request.headers["content-length"] == str(len(BODY))


@pytest.mark.parametrize("method", ["POST", "DELETE", "GET"])
def test_empty_bodies_get_content_length_zero(method: str) -> None:
    request = signed(httpx.Request(method, "http://127.0.0.1:9000/rustfs/admin/v3/kms/stop"))
    assert request.headers["content-length"] == "0"
    assert request.headers["x-amz-content-sha256"] == hashlib.sha256(b"").hexdigest()
    verify(request)


def test_session_token_is_sent_and_signed() -> None:
    request = signed(known_request(), frozen_auth(session_token="sts-token-1"))
    assert request.headers["x-amz-security-token"] == "sts-token-1"
    assert "x-amz-security-token" in request.headers["authorization"]
    assert verify(request).session_token == "sts-token-1"  # type: ignore[attr-defined]


def test_region_goes_into_the_scope() -> None:
    request = signed(known_request(), frozen_auth(region="eu-central-1"))
    assert "/20260102/eu-central-1/s3/aws4_request" in request.headers["authorization"]
    verify(request)


def test_resigning_replaces_stale_headers() -> None:
    request = known_request()
    request.headers["Authorization"] = "AWS4-HMAC-SHA256 stale"
    request.headers["X-Amz-Date"] = "19990101T000000Z"
    request.headers["x-amz-security-token"] = "old-token"
    request.headers["x-amz-content-sha256"] = "0" * 64
    auth = frozen_auth()
    auth.sign(request)
    auth.sign(request)
    assert request.headers.get_list("authorization") == [KNOWN_AUTHORIZATION]
    assert request.headers.get_list("x-amz-date") == ["20260102T030405Z"]
    assert "x-amz-security-token" not in request.headers
    verify(request)


def test_signature_follows_the_clock() -> None:
    later = datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC)
    request = signed(known_request(), SigV4Auth(ACCESS_KEY, SECRET_KEY, clock=lambda: later))
    assert request.headers["x-amz-date"] == "20260102T030406Z"
    assert request.headers["authorization"] != KNOWN_AUTHORIZATION


def test_unsigned_headers_do_not_break_the_signature() -> None:
    request = known_request()
    request.headers["User-Agent"] = "kms-tui"
    request.headers["Accept-Encoding"] = "gzip"
    request = signed(request)
    assert request.headers["authorization"] == KNOWN_AUTHORIZATION
    request.headers["Accept-Encoding"] = "br"  # a proxy may rewrite it; still valid
    verify(request)


def test_repr_has_no_secret() -> None:
    auth = SigV4Auth(ACCESS_KEY, SECRET_KEY, session_token="sts-secret-token")
    assert SECRET_KEY not in repr(auth) and "sts-secret-token" not in repr(auth)


def test_auth_reads_the_body() -> None:
    assert SigV4Auth.requires_request_body is True
