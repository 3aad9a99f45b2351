"""Failures end to end over loopback: each error family, retries, timeouts, refused and TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.backends import AwsConfig
from kms_tui.api.errors import (
    KmsAccessDenied,
    KmsBackendError,
    KmsConflict,
    KmsConnectionError,
    KmsError,
    KmsInvalidRequest,
    KmsKeyNotFound,
    KmsOperationFailed,
    KmsResponseError,
    KmsServiceUnavailable,
    KmsTimeoutError,
)
from kms_tui.api.wire import ServiceState
from tests.fakes.rustfs import Answer, FakeRustFS, json_answer, xml_error


@pytest.fixture(scope="module")
def server() -> Iterator[FakeRustFS]:
    with FakeRustFS() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeRustFS) -> FakeRustFS:
    server.reset()
    return server


def make_client(url: str, fake: FakeRustFS, **kwargs: object) -> KmsAdminClient:
    options: dict[str, object] = {"backoff_base": 0.001, "backoff_cap": 0.01}
    options.update(kwargs)
    return KmsAdminClient(url, fake.access_key, fake.secret_key, **options)  # type: ignore[arg-type]


@pytest.fixture
async def client(fake: FakeRustFS) -> AsyncIterator[KmsAdminClient]:
    async with make_client(fake.url, fake) as kms:
        yield kms


# --- the four families, end to end ---------------------------------------------------------


async def test_e1_xml_with_request_id(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.script(
        "GET",
        "/kms/status",
        Answer(403, xml_error("AccessDenied", "Access Denied", "BODY-RID-1"), "application/xml"),
    )
    with pytest.raises(KmsAccessDenied) as caught:
        await client.status()
    err = caught.value
    assert (err.status, err.code, err.message, err.request_id) == (
        403,
        "AccessDenied",
        "Access Denied",
        "BODY-RID-1",
    )


async def test_e1_xml_without_request_id_uses_header(
    fake: FakeRustFS, client: KmsAdminClient
) -> None:
    fake.script(
        "POST",
        "/kms/keys/tag",
        Answer(400, xml_error("InvalidRequest", "a request body is required"), "application/xml"),
    )
    with pytest.raises(KmsInvalidRequest) as caught:
        await client.tag_key("k", {"a": "b"})
    assert caught.value.request_id is not None and len(caught.value.request_id) == 16


async def test_e2_envelope(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.script(
        "POST",
        "/kms/keys/disable",
        json_answer(
            404,
            {
                "success": False,
                "message": "Failed to disable key: Key not found: k",
                "key_id": "k",
                "key_metadata": None,
            },
        ),
    )
    with pytest.raises(KmsKeyNotFound, match="Key not found: k"):
        await client.disable_key("k")


async def test_e3_plain_text(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.script("POST", "/kms/configure", Answer(400, "Request body is required", None))
    with pytest.raises(KmsInvalidRequest) as caught:
        await client.configure(AwsConfig(region="eu-west-1"))
    assert caught.value.message == "Request body is required"


async def test_e4_backup_json(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.script(
        "POST",
        "/kms/backup",
        json_answer(412, {"success": False, "message": "RUSTFS_KMS_BACKUP_DIR is not set"}),
    )
    with pytest.raises(KmsInvalidRequest) as caught:
        await client.create_backup()
    assert caught.value.status == 412 and "BACKUP_DIR" in caught.value.message


async def test_200_success_false_on_another_route(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.script(
        "POST",
        "/kms/keys/cancel-deletion",
        json_answer(200, {"success": False, "message": "nothing to cancel", "key_metadata": None}),
    )
    with pytest.raises(KmsOperationFailed, match="nothing to cancel"):
        await client.cancel_key_deletion("k")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html><body>Welcome to nginx</body></html>", "text/html"),
        ('{"status": "Running", "backend_type": ', None),
        ('[{"status": "Running"}]', "application/json"),
        ("", None),
    ],
)
async def test_unreadable_answers(
    fake: FakeRustFS, client: KmsAdminClient, body: str, content_type: str | None
) -> None:
    fake.script("GET", "/kms/service-status", Answer(200, body, content_type))
    with pytest.raises(KmsResponseError) as caught:
        await client.service_status()
    assert caught.value.status == 200 and caught.value.request_id


async def test_missing_field_names_it(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.script("GET", "/kms/config", json_answer(200, {"backend": "local", "cache_enabled": True}))
    with pytest.raises(KmsResponseError, match="cache_max_keys") as caught:
        await client.get_config()
    assert caught.value.status == 200 and caught.value.request_id


# --- retries -------------------------------------------------------------------------------


async def test_get_is_retried_on_503_then_succeeds(
    fake: FakeRustFS, client: KmsAdminClient
) -> None:
    unavailable = Answer(
        503, xml_error("ServiceUnavailable", "server context is not ready"), "application/xml"
    )
    fake.script("GET", "/kms/service-status", unavailable, unavailable)
    status = await client.service_status()
    assert status.state is ServiceState.NOT_CONFIGURED
    attempts = fake.requests_to("GET", "/kms/service-status")
    assert len(attempts) == 3
    assert all(a.signature_error is None for a in attempts)


@pytest.mark.parametrize(
    ("status", "cls"),
    [(502, KmsBackendError), (503, KmsServiceUnavailable), (504, KmsBackendError)],
)
async def test_get_gives_up_after_retries(
    fake: FakeRustFS, status: int, cls: type[KmsError]
) -> None:
    fake.script("GET", "/kms/status", *[Answer(status, "busy", "text/plain")] * 5)
    async with make_client(fake.url, fake, retries=2) as kms:
        with pytest.raises(cls) as caught:
            await kms.status()
    assert type(caught.value) is cls and caught.value.status == status
    assert len(fake.requests_to("GET", "/kms/status")) == 3


async def test_get_is_not_retried_on_other_errors(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running()
    with pytest.raises(KmsKeyNotFound):
        await client.describe_key("ghost")
    assert len(fake.requests_to("GET", "/kms/keys/ghost")) == 1


@pytest.mark.parametrize(
    ("method", "path", "call"),
    [
        ("POST", "/kms/start", lambda c: c.start()),
        ("POST", "/kms/keys", lambda c: c.create_key()),
        ("DELETE", "/kms/keys/delete", lambda c: c.schedule_key_deletion("k")),
    ],
)
async def test_post_and_delete_are_never_retried(
    fake: FakeRustFS, client: KmsAdminClient, method: str, path: str, call: object
) -> None:
    fake.script(method, path, *[Answer(503, "busy", "text/plain")] * 3)
    with pytest.raises(KmsServiceUnavailable):
        await call(client)  # type: ignore[operator]
    assert len(fake.requests_to(method, path)) == 1


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def count_attempts(kms: KmsAdminClient) -> list[str]:
    """Record each request the client puts on the wire (httpx's own request hook)."""
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.method)

    kms._http.event_hooks["request"].append(hook)
    return seen


async def test_connection_refused_get_is_retried(fake: FakeRustFS) -> None:
    async with make_client(f"http://127.0.0.1:{unused_port()}", fake, retries=2) as kms:
        attempts = count_attempts(kms)
        with pytest.raises(KmsConnectionError) as caught:
            await kms.service_status()
    assert attempts == ["GET", "GET", "GET"]
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert "could not reach the server" in caught.value.message


async def test_connection_refused_post_is_not_retried(fake: FakeRustFS) -> None:
    async with make_client(f"http://127.0.0.1:{unused_port()}", fake, retries=3) as kms:
        attempts = count_attempts(kms)
        with pytest.raises(KmsConnectionError):
            await kms.stop()
    assert attempts == ["POST"]


async def test_get_recovers_after_a_refused_connection(fake: FakeRustFS) -> None:
    async with make_client(fake.url, fake, retries=1) as kms:
        first = [True]

        async def refuse_once(request: httpx.Request) -> None:
            if first.pop() if first else False:
                raise httpx.ConnectError("connection refused", request=request)

        kms._http.event_hooks["request"].append(refuse_once)
        status = await kms.service_status()
    assert status.state is ServiceState.NOT_CONFIGURED
    assert len(fake.requests_to("GET", "/kms/service-status")) == 1


# --- timeouts ------------------------------------------------------------------------------


async def test_get_timeout(fake: FakeRustFS) -> None:
    slow = Answer(200, {"status": "Running"}, None, delay=1.0)
    fake.script("GET", "/kms/service-status", slow, slow)
    async with make_client(fake.url, fake, timeout=0.2, retries=1) as kms:
        with pytest.raises(KmsTimeoutError) as caught:
            await kms.service_status()
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)
    assert "did not answer in time" in caught.value.message
    assert len(fake.requests_to("GET", "/kms/service-status")) == 2


async def test_post_timeout_is_not_retried(fake: FakeRustFS) -> None:
    fake.script("POST", "/kms/stop", Answer(200, {}, None, delay=1.0))
    async with make_client(fake.url, fake, timeout=0.2, retries=3) as kms:
        with pytest.raises(KmsTimeoutError):
            await kms.stop()
    assert len(fake.requests_to("POST", "/kms/stop")) == 1


# --- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kms-tui test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(tls_files: tuple[Path, Path]) -> Iterator[FakeRustFS]:
    cert_path, key_path = tls_files
    with FakeRustFS(ssl_certfile=str(cert_path), ssl_keyfile=str(key_path)) as fake:
        yield fake


async def test_untrusted_certificate_names_the_settings(tls_server: FakeRustFS) -> None:
    assert tls_server.url.startswith("https://127.0.0.1:")
    async with make_client(tls_server.url, tls_server, retries=0) as kms:
        with pytest.raises(KmsConnectionError) as caught:
            await kms.service_status()
    message = caught.value.message
    assert "not trusted" in message
    assert "ca_bundle" in message and "verify_tls = false" in message
    assert caught.value.__cause__ is not None


async def test_ca_bundle_makes_the_certificate_trusted(
    tls_server: FakeRustFS, tls_files: tuple[Path, Path]
) -> None:
    tls_server.reset()
    async with make_client(tls_server.url, tls_server, verify=str(tls_files[0])) as kms:
        status = await kms.service_status()
    assert status.state is ServiceState.NOT_CONFIGURED


async def test_verify_false_skips_verification(tls_server: FakeRustFS) -> None:
    tls_server.reset()
    async with make_client(tls_server.url, tls_server, verify=False) as kms:
        status = await kms.service_status()
    assert status.state is ServiceState.NOT_CONFIGURED


async def test_conflict_family_from_409(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.script(
        "DELETE",
        "/kms/keys/delete",
        json_answer(
            409,
            {
                "success": False,
                "message": "Failed to delete key: Key k is still referenced by configuration",
                "key_id": "k",
                "deletion_date": None,
                "impact": None,
            },
        ),
    )
    with pytest.raises(KmsConflict):
        await client.delete_key_immediately("k")
