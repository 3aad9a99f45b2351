"""Authentication, limits and routing of `kms-tui serve`, with raw httpx requests."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from botocore.auth import SigV4Auth

from kms_tui.embedded.buckets import BucketStore
from kms_tui.embedded.http import HttpRequest, HttpResponse
from kms_tui.embedded.server import BODY_LIMIT, KmsAsgiApp
from tests.fakes.serve import (
    ServeProcess,
    admin_call,
    running_serve,
    signed_headers,
)

REQUEST_ID = re.compile(r"^[0-9A-F]{16}$")
ENCRYPTION_XML = (
    b'<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>"
    b"</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One server for the module (start-up is the slow part); env isolated by hand."""
    base = tmp_path_factory.mktemp("serve-auth")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RUSTFS_", "AWS_", "XDG_"))
    }
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(base / var.lower())
    with running_serve(base / "data", env=env) as server:
        yield server


def send(
    served: ServeProcess,
    method: str,
    target: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    sign: bool = True,
    **sign_options: object,
) -> httpx.Response:
    """One request to the server, signed with botocore unless ``sign`` is False."""
    url = served.endpoint + target
    all_headers = dict(headers or {})
    if sign:
        all_headers = signed_headers(
            method,
            url,
            access_key=access_key or served.access_key,
            secret_key=secret_key or served.secret_key,
            body=body,
            headers=all_headers,
            **sign_options,  # type: ignore[arg-type]
        )
    response = httpx.request(method, url, content=body, headers=all_headers, timeout=30)
    assert REQUEST_ID.match(response.headers.get("x-amz-request-id", "")), response.headers
    return response


def xml_error(response: httpx.Response) -> tuple[str, str]:
    assert response.headers["content-type"] == "application/xml"
    root = ET.fromstring(response.content)
    assert root.tag == "Error"
    assert root.findtext("RequestId") == response.headers["x-amz-request-id"]
    return root.findtext("Code") or "", root.findtext("Message") or ""


@pytest.mark.parametrize("target", ["/rustfs/admin/v3/kms/service-status", "/", "/bucket"])
def test_unsigned_is_access_denied(served: ServeProcess, target: str) -> None:
    response = send(served, "GET", target, sign=False)
    assert response.status_code == 403
    assert xml_error(response) == ("AccessDenied", "Signature is required")


def test_unknown_access_key(served: ServeProcess) -> None:
    response = send(served, "GET", "/", access_key="someone-else")
    assert response.status_code == 403
    assert xml_error(response)[0] == "InvalidAccessKeyId"


def test_wrong_secret(served: ServeProcess) -> None:
    response = send(served, "GET", "/rustfs/admin/v3/kms/service-status", secret_key="wrong")
    assert response.status_code == 403
    code, message = xml_error(response)
    assert code == "SignatureDoesNotMatch"
    assert message.startswith("The request signature we calculated does not match")


@pytest.mark.parametrize("offset_minutes", [-16, 16])
def test_skewed_clock(served: ServeProcess, offset_minutes: int) -> None:
    moment = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=offset_minutes)
    response = send(served, "GET", "/", signed_at=moment)
    assert response.status_code == 403
    assert xml_error(response)[0] == "RequestTimeTooSkewed"


def test_small_skew_accepted(served: ServeProcess) -> None:
    moment = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=5)
    assert send(served, "GET", "/", signed_at=moment).status_code == 200


def test_other_service_not_implemented(served: ServeProcess) -> None:
    response = send(served, "GET", "/rustfs/admin/v3/kms/service-status", service="execute-api")
    assert response.status_code == 501
    code, message = xml_error(response)
    assert code == "NotImplemented" and "execute-api" in message


def test_missing_content_sha256(served: ServeProcess) -> None:
    response = send(served, "GET", "/", auth_class=SigV4Auth)
    assert response.status_code == 400
    assert xml_error(response) == ("InvalidRequest", "missing header: x-amz-content-sha256")


def test_body_not_matching_its_hash(served: ServeProcess) -> None:
    url = served.endpoint + "/hash-bucket"
    assert send(served, "PUT", "/hash-bucket").status_code == 200
    signed = signed_headers(
        "PUT",
        url + "?encryption",
        access_key=served.access_key,
        secret_key=served.secret_key,
        body=ENCRYPTION_XML,
    )
    tampered = ENCRYPTION_XML.replace(b"AES256", b"aws:km")
    response = httpx.put(url + "?encryption", content=tampered, headers=signed, timeout=30)
    assert response.status_code == 400
    code, message = xml_error(response)
    assert code == "XAmzContentSHA256Mismatch"
    assert message.startswith("failed to read request body")
    assert "x-amz-content-sha256" in {name.lower() for name in signed}
    assert send(served, "GET", "/hash-bucket?encryption").status_code == 400


def test_unsigned_payload_accepted(served: ServeProcess) -> None:
    assert send(served, "PUT", "/unsigned-payload").status_code == 200
    response = send(
        served,
        "PUT",
        "/unsigned-payload?encryption",
        body=ENCRYPTION_XML,
        headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
        auth_class=SigV4Auth,
    )
    assert response.status_code == 200, response.text
    assert send(served, "GET", "/unsigned-payload?encryption").status_code == 200


def test_body_at_the_limit_accepted(served: ServeProcess) -> None:
    assert send(served, "PUT", "/limit-bucket").status_code == 200
    body = ENCRYPTION_XML + b" " * (BODY_LIMIT - len(ENCRYPTION_XML))
    assert len(body) == BODY_LIMIT
    response = send(served, "PUT", "/limit-bucket?encryption", body=body)
    assert response.status_code == 200, response.text


def test_body_over_the_limit(served: ServeProcess) -> None:
    body = b"{" + b" " * BODY_LIMIT + b"}"
    response = send(served, "POST", "/rustfs/admin/v3/kms/keys", body=body)
    assert response.status_code == 400
    code, message = xml_error(response)
    assert code == "InvalidRequest" and message.startswith("failed to read request body: ")


def test_chunked_body_over_the_limit(served: ServeProcess) -> None:
    """A body with no Content-Length is cut off at the limit as well."""
    url = served.endpoint + "/rustfs/admin/v3/kms/keys"
    payload = b"x" * (BODY_LIMIT + 4096)
    headers = signed_headers(
        "POST",
        url,
        access_key=served.access_key,
        secret_key=served.secret_key,
        headers={"X-Amz-Content-SHA256": hashlib.sha256(payload).hexdigest()},
        auth_class=SigV4Auth,
    )

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 65536):
            yield payload[start : start + 65536]

    response = httpx.post(url, content=chunks(), headers=headers, timeout=30)
    assert response.status_code == 400
    assert xml_error(response)[0] == "InvalidRequest"


def test_oversized_expect_continue_answered_without_the_body(served: ServeProcess) -> None:
    """With Expect: 100-continue the server refuses before the client sends a byte."""
    host_port = served.endpoint.removeprefix("http://")
    url = served.endpoint + "/rustfs/admin/v3/kms/keys"
    length = 4 * BODY_LIMIT
    headers = signed_headers(
        "POST",
        url,
        access_key=served.access_key,
        secret_key=served.secret_key,
        headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "Content-Length": str(length)},
        auth_class=SigV4Auth,
    )
    headers["Expect"] = "100-continue"
    head = f"POST /rustfs/admin/v3/kms/keys HTTP/1.1\r\nHost: {host_port}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items() if name.lower() != "host"
    )
    host, port = host_port.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall((head + "\r\n").encode())
        received = b""
        while b"</Error>" not in received:
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
    status_line = received.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 400 Bad Request", received[:200]
    assert b"<Code>InvalidRequest</Code>" in received
    assert b"100 Continue" not in received


def test_over_limit_with_bad_signature_is_403(served: ServeProcess) -> None:
    body = b" " * (BODY_LIMIT + 1)
    response = send(served, "POST", "/rustfs/admin/v3/kms/keys", body=body, secret_key="bad")
    assert response.status_code == 403
    assert xml_error(response)[0] == "SignatureDoesNotMatch"


def test_minio_prefix_reaches_admin_routes(served: ServeProcess) -> None:
    minio = send(served, "GET", "/minio/admin/v3/kms/service-status")
    rustfs = send(served, "GET", "/rustfs/admin/v3/kms/service-status")
    assert minio.status_code == rustfs.status_code == 200
    assert minio.json()["status"] == rustfs.json()["status"]


@pytest.mark.parametrize("target", ["/rustfs/admin/v4/x", "/rustfs/admin/v4/kms/keys"])
def test_admin_v4_upgrade_required(served: ServeProcess, target: str) -> None:
    response = send(served, "GET", target)
    assert response.status_code == 426
    assert response.content == b""


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/rustfs/admin/v3/kms/no-such-route"),
        ("POST", "/rustfs/admin/v3/kms/decrypt-everything"),
        ("GET", "/rustfs/admin/v2/info"),
        ("GET", "/minio/admin/v3/unknown"),
    ],
)
def test_unknown_admin_route(served: ServeProcess, method: str, target: str) -> None:
    response = send(served, method, target)
    assert response.status_code == 501
    assert xml_error(response)[0] == "NotImplemented"


def test_request_ids_are_fresh(served: ServeProcess) -> None:
    ids = {send(served, "GET", "/").headers["x-amz-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_admin_call_through_helper(served: ServeProcess) -> None:
    response = admin_call(
        served.endpoint, served.access_key, served.secret_key, "GET", "/kms/service-status"
    )
    assert response.status_code == 200
    assert REQUEST_ID.match(response.headers["x-amz-request-id"])


def test_secret_never_in_server_log(served: ServeProcess) -> None:
    send(served, "GET", "/")
    assert served.secret_key not in served.stderr_text()


# ------------------------------------------------------------------ the ASGI app in-process


class FailingService:
    """A KMS lookup whose every answer blows up, to reach the server's last-resort 500."""

    @property
    def is_running(self) -> bool:
        raise RuntimeError("secret-internal-detail")

    def default_key_id(self) -> str | None:
        raise RuntimeError("secret-internal-detail")

    def key_exists(self, key_id: str) -> bool:
        raise RuntimeError("secret-internal-detail")


def failing_admin(service: object, request: HttpRequest) -> HttpResponse | None:
    raise RuntimeError("secret-internal-detail")


@pytest.fixture
def in_process_app(tmp_path: Path) -> KmsAsgiApp:
    buckets = BucketStore(tmp_path / "data")
    buckets.load()
    return KmsAsgiApp(
        service=FailingService(),
        buckets=buckets,
        access_key="app-access",
        secret_key="app-secret",
        admin_handler=failing_admin,
    )


async def asgi_request(
    app: KmsAsgiApp, method: str, target: str, body: bytes = b""
) -> httpx.Response:
    url = "http://testserver" + target
    headers = signed_headers(
        method, url, access_key="app-access", secret_key="app-secret", body=body
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport) as client:
        return await client.request(method, url, content=body, headers=headers)


async def test_unexpected_failure_is_generic_500(
    in_process_app: KmsAsgiApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="kms_tui.embedded.server")
    response = await asgi_request(in_process_app, "GET", "/rustfs/admin/v3/kms/status")
    assert response.status_code == 500
    assert REQUEST_ID.match(response.headers["x-amz-request-id"])
    code, message = xml_error(response)
    assert code == "InternalError"
    assert "secret-internal-detail" not in response.text
    assert "secret-internal-detail" in caplog.text  # the traceback went to the log


async def test_s3_handler_failure_is_generic_500(in_process_app: KmsAsgiApp) -> None:
    assert (await asgi_request(in_process_app, "PUT", "/fail-bucket")).status_code == 200
    response = await asgi_request(
        in_process_app,
        "PUT",
        "/fail-bucket?encryption",
        ENCRYPTION_XML.replace(b"AES256", b"aws:kms"),
    )
    assert response.status_code == 500
    assert xml_error(response)[0] == "InternalError"
    assert "secret-internal-detail" not in response.text


async def test_app_repr_hides_secret(in_process_app: KmsAsgiApp) -> None:
    assert "app-secret" not in repr(in_process_app)
