"""Every RustFS error family, and every unreadable answer, becomes the right KmsError."""

from __future__ import annotations

import httpx
import pytest

from kms_tui.api.admin import decode_answer
from kms_tui.api.errors import (
    KmsAccessDenied,
    KmsBackendError,
    KmsClockSkewError,
    KmsConflict,
    KmsError,
    KmsInvalidRequest,
    KmsKeyNotFound,
    KmsNotSupported,
    KmsOperationFailed,
    KmsResponseError,
    KmsServiceUnavailable,
)

XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def answer(
    status: int,
    body: bytes | str,
    content_type: str | None = None,
    request_id: str | None = "HDRREQ1",
) -> httpx.Response:
    headers = {}
    if content_type:
        headers["content-type"] = content_type
    if request_id:
        headers["x-amz-request-id"] = request_id
    content = body.encode() if isinstance(body, str) else body
    return httpx.Response(status, headers=headers, content=content)


def failure(response: httpx.Response) -> KmsError:
    with pytest.raises(KmsError) as caught:
        decode_answer(response)
    return caught.value


# --- E1: S3 XML ----------------------------------------------------------------------------


def test_s3_xml_with_request_id_prefers_the_body_id() -> None:
    body = (
        f"{XML_HEAD}<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we "
        "calculated does not match the signature you provided. Check your key and signing "
        "method.</Message><RequestId>BODYREQ9</RequestId></Error>"
    )
    err = failure(answer(403, body, "application/xml"))
    assert type(err) is KmsAccessDenied
    assert (err.status, err.code, err.request_id) == (403, "SignatureDoesNotMatch", "BODYREQ9")
    assert err.message.startswith("The request signature we calculated")


def test_s3_xml_without_request_id_uses_the_header() -> None:
    body = (
        f"{XML_HEAD}<Error><Code>InternalError</Code>"
        "<Message>KMS service not initialized</Message></Error>"
    )
    err = failure(answer(500, body, "application/xml"))
    assert type(err) is KmsServiceUnavailable
    assert err.request_id == "HDRREQ1"
    assert err.message == "KMS service not initialized"


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (403, "RequestTimeTooSkewed", KmsClockSkewError),
        (403, "AccessDenied", KmsAccessDenied),
        (403, "InvalidAccessKeyId", KmsAccessDenied),
        (401, "UnauthorizedAccess", KmsAccessDenied),
        (400, "InvalidRequest", KmsInvalidRequest),
        (411, "MissingContentLength", KmsInvalidRequest),
        (501, "NotImplemented", KmsNotSupported),
        (503, "ServiceUnavailable", KmsServiceUnavailable),
        (500, "InternalError", KmsBackendError),
    ],
)
def test_s3_xml_codes(status: int, code: str, cls: type[KmsError]) -> None:
    body = f"{XML_HEAD}<Error><Code>{code}</Code><Message>m &amp; n</Message></Error>"
    err = failure(answer(status, body, "application/xml"))
    assert type(err) is cls
    assert err.code == code and err.message == "m & n"


# --- E2: JSON envelopes --------------------------------------------------------------------


def test_e2_not_found() -> None:
    body = (
        '{"success":false,"message":"Failed to describe key: Key not found: k9",'
        '"key_metadata":null,"impact":null}'
    )
    err = failure(answer(404, body, "application/json"))
    assert type(err) is KmsKeyNotFound
    assert err.message == "Failed to describe key: Key not found: k9"
    assert err.status == 404 and err.request_id == "HDRREQ1"


def test_e2_not_running() -> None:
    body = (
        '{"success":false,"message":"kms service is not running","key_id":"k","key_metadata":null}'
    )
    assert type(failure(answer(503, body, "application/json"))) is KmsServiceUnavailable


def test_e2_already_exists_on_500_is_a_conflict() -> None:
    body = '{"success":false,"message":"failed to create key: Key already exists: k","key_id":""}'
    assert type(failure(answer(500, body, "application/json"))) is KmsConflict


def test_e2_unsupported_rotate() -> None:
    body = (
        '{"success":false,"message":"Failed to rotate key: Operation \'rotate\' is not supported '
        'by KMS backend \'local\'","key_id":"k","key_metadata":null}'
    )
    assert type(failure(answer(501, body, "application/json"))) is KmsNotSupported


# --- E3: plain text ------------------------------------------------------------------------


def test_e3_plain_text_without_content_type() -> None:
    err = failure(answer(400, "Changing the Local KMS key directory is not supported", None))
    assert type(err) is KmsInvalidRequest
    assert err.message == "Changing the Local KMS key directory is not supported"
    assert err.status == 400


# --- E4: backup JSON -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [(409, KmsConflict), (412, KmsInvalidRequest), (503, KmsServiceUnavailable)],
)
def test_e4_backup_json(status: int, cls: type[KmsError]) -> None:
    err = failure(
        answer(status, '{"success": false, "message": "kms is not configured"}', "application/json")
    )
    assert type(err) is cls
    assert err.message == "kms is not configured"


# --- 200 with success:false ----------------------------------------------------------------


def test_200_success_false_without_content_type() -> None:
    body = (
        '{"success":false,"message":"KMS service is already running. Use force=true to '
        'restart.","status":"Running"}'
    )
    err = failure(answer(200, body, None))
    assert type(err) is KmsOperationFailed
    assert err.status == 200
    assert "already running" in err.message
    assert err.request_id == "HDRREQ1"


def test_200_success_true_without_content_type_is_parsed_by_shape() -> None:
    data = decode_answer(answer(200, '{"success":true,"message":"ok","status":"Configured"}'))
    assert data["status"] == "Configured"


# --- unreadable answers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        ("<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html", "HTML"),
        ("", "application/json", "empty"),
        ("   ", None, "empty"),
        ('{"success": true, "keys": [', "application/json", "truncated"),
        ("[1, 2, 3]", "application/json", "list"),
        ('"just a string"', "application/json", "str"),
        (b"\xff\xfe\x00bad", None, "UTF-8"),
    ],
)
def test_unreadable_2xx_answers(body: bytes | str, content_type: str | None, reason: str) -> None:
    err = failure(answer(200, body, content_type))
    assert type(err) is KmsResponseError
    assert reason in err.message
    assert err.status == 200 and err.request_id == "HDRREQ1"


def test_html_error_page() -> None:
    body = "<!DOCTYPE html><html><head><title>Bad Gateway</title></head><body>nginx</body></html>"
    err = failure(answer(502, body, "text/html"))
    assert isinstance(err, KmsBackendError)
    assert err.status == 502
    assert "Bad Gateway" in err.message


def test_empty_error_body() -> None:
    err = failure(answer(426, b"", None))
    assert type(err) is KmsInvalidRequest
    assert err.message == "HTTP 426 with no error message"


def test_non_utf8_error_body() -> None:
    err = failure(answer(500, b"\xff\xfe broken \x80", None))
    assert type(err) is KmsBackendError
    assert "broken" in err.message


def test_redirect_is_not_success() -> None:
    response = httpx.Response(302, headers={"location": "https://sso.example/login"})
    err = failure(response)
    assert type(err) is KmsResponseError
    assert err.status == 302 and "https://sso.example/login" in err.message


def test_error_str_carries_request_id_but_never_headers() -> None:
    err = failure(answer(404, '{"success":false,"message":"Key not found: k"}', None))
    text = str(err)
    assert "request id HDRREQ1" in text and "HTTP 404" in text
