"""BucketEncryptionClient: error mapping, the no-configuration rule, names, and its plumbing.

Server answers come from a scripted S3 server on a real loopback socket, so the client reads
RustFS-shaped XML through the same HTTP stack as in production.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kms_tui.api.buckets import (
    Bucket,
    BucketEncryption,
    BucketEncryptionClient,
    validate_bucket_name,
)
from kms_tui.api.errors import (
    KmsAccessDenied,
    KmsBackendError,
    KmsBucketNotFound,
    KmsClockSkewError,
    KmsConflict,
    KmsConnectionError,
    KmsError,
    KmsInvalidRequest,
    KmsNotFound,
    KmsNotSupported,
    KmsServiceUnavailable,
    KmsTimeoutError,
)

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


# ---------------------------------------------------------------------------------------------
# A scripted S3 server on loopback


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedS3:
    """Answers requests in order from a script and records what it was sent."""

    def __init__(self, tls_context: ssl.SSLContext | None = None) -> None:
        self.answers: list[Answer] = []
        self.seen: list[Seen] = []
        self.release = threading.Event()
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Keep test output quiet."""

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                scripted.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                answer = scripted.answers.pop(0) if scripted.answers else Answer(599, b"unscripted")
                if answer.delay_seconds:
                    scripted.release.wait(answer.delay_seconds)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            do_GET = do_PUT = do_DELETE = do_POST = do_HEAD = _answer  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls_context is not None else "http"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def client(self, **kwargs: Any) -> BucketEncryptionClient:
        kwargs.setdefault("retries", 0)
        return BucketEncryptionClient(self.endpoint, "test-access", "test-secret", **kwargs)


def s3_error(code: str, message: str, request_id: str | None = "REQ123") -> bytes:
    rid = f"<RequestId>{request_id}</RequestId>" if request_id else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>{message}</Message><Resource>/b</Resource>{rid}</Error>"
    ).encode()


def xml(status: int, body: bytes, **headers: str) -> Answer:
    return Answer(status, body, {"Content-Type": "application/xml", **headers})


def encryption_xml(algorithm: str, key_id: str | None = None) -> bytes:
    key = f"<KMSMasterKeyID>{key_id}</KMSMasterKeyID>" if key_id else ""
    return (
        f'<ServerSideEncryptionConfiguration xmlns="{S3_NS}"><Rule>'
        f"<ApplyServerSideEncryptionByDefault><SSEAlgorithm>{algorithm}</SSEAlgorithm>{key}"
        "</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
    ).encode()


def list_xml(names: list[str], token: str | None = None) -> bytes:
    items = "".join(
        f"<Bucket><Name>{name}</Name><CreationDate>2026-01-02T03:04:05.000Z</CreationDate></Bucket>"
        for name in names
    )
    cont = f"<ContinuationToken>{token}</ContinuationToken>" if token else ""
    return (
        f'<ListAllMyBucketsResult xmlns="{S3_NS}"><Owner><ID>o</ID></Owner>'
        f"<Buckets>{items}</Buckets>{cont}</ListAllMyBucketsResult>"
    ).encode()


@pytest.fixture
def s3() -> Iterator[ScriptedS3]:
    server = ScriptedS3()
    yield server
    server.close()


# ---------------------------------------------------------------------------------------------
# GetBucketEncryption: the no-configuration rule


@pytest.mark.parametrize("status", [400, 404])
async def test_missing_configuration_is_none_for_400_and_404(s3: ScriptedS3, status: int) -> None:
    s3.answers.append(
        xml(status, s3_error("ServerSideEncryptionConfigurationNotFoundError", "none here"))
    )
    async with s3.client() as client:
        assert await client.get_bucket_encryption("photos") is None
    assert s3.seen[0].method == "GET"
    assert s3.seen[0].path == "/photos?encryption"


async def test_other_400_is_not_mistaken_for_missing_configuration(s3: ScriptedS3) -> None:
    s3.answers.append(xml(400, s3_error("InvalidArgument", "bad bucket state")))
    async with s3.client() as client:
        with pytest.raises(KmsInvalidRequest) as caught:
            await client.get_bucket_encryption("photos")
    assert caught.value.code == "InvalidArgument"
    assert caught.value.status == 400


async def test_missing_bucket_on_get_is_bucket_not_found(s3: ScriptedS3) -> None:
    s3.answers.append(xml(404, s3_error("NoSuchBucket", "The specified bucket does not exist")))
    async with s3.client() as client:
        with pytest.raises(KmsBucketNotFound) as caught:
            await client.get_bucket_encryption("photos")
    error = caught.value
    assert (error.status, error.code, error.request_id) == (404, "NoSuchBucket", "REQ123")
    assert error.message == "The specified bucket does not exist"


async def test_configuration_is_parsed(s3: ScriptedS3) -> None:
    s3.answers += [
        xml(200, encryption_xml("aws:kms", "key-1")),
        xml(200, encryption_xml("AES256")),
        xml(200, encryption_xml("aws:kms:dsse")),
        xml(200, f'<ServerSideEncryptionConfiguration xmlns="{S3_NS}"/>'.encode()),
    ]
    async with s3.client() as client:
        kms = await client.get_bucket_encryption("b-1")
        sse_s3 = await client.get_bucket_encryption("b-1")
        other = await client.get_bucket_encryption("b-1")
        empty = await client.get_bucket_encryption("b-1")
    assert kms == BucketEncryption("aws:kms", "key-1")
    assert kms.is_sse_kms and not kms.is_sse_s3 and kms.label == "SSE-KMS"
    assert sse_s3 == BucketEncryption("AES256", None)
    assert sse_s3.is_sse_s3 and not sse_s3.is_sse_kms and sse_s3.label == "SSE-S3"
    assert other == BucketEncryption("aws:kms:dsse", None)
    assert other.label == "aws:kms:dsse" and not other.is_sse_kms
    assert empty is None


# ---------------------------------------------------------------------------------------------
# Error mapping over the wire


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (403, "SignatureDoesNotMatch", "signature mismatch", KmsAccessDenied),
        (403, "AccessDenied", "Access Denied.", KmsAccessDenied),
        (403, "InvalidAccessKeyId", "unknown key", KmsAccessDenied),
        (403, "RequestTimeTooSkewed", "clock skew", KmsClockSkewError),
        (404, "NoSuchBucket", "no bucket", KmsBucketNotFound),
        (409, "BucketAlreadyOwnedByYou", "yours already", KmsConflict),
        (409, "BucketAlreadyExists", "taken", KmsConflict),
        (500, "InternalError", "KMS service not initialized", KmsServiceUnavailable),
        (500, "InternalError", "KMS default key not configured", KmsServiceUnavailable),
        (500, "InternalError", "disk on fire", KmsBackendError),
        (501, "NotImplemented", "nope", KmsNotSupported),
        (503, "SlowDown", "slow down", KmsServiceUnavailable),
    ],
)
async def test_server_errors_map_onto_the_tree(
    s3: ScriptedS3, status: int, code: str, message: str, expected: type[KmsError]
) -> None:
    s3.answers.append(xml(status, s3_error(code, message)))
    async with s3.client() as client:
        with pytest.raises(KmsError) as caught:
            await client.put_bucket_encryption("bucket-a", algorithm="aws:kms")
    assert type(caught.value) is expected
    assert caught.value.status == status
    assert caught.value.code == code
    assert caught.value.message == message
    assert caught.value.request_id == "REQ123"


async def test_request_id_from_header_when_body_has_none(s3: ScriptedS3) -> None:
    body = s3_error("AccessDenied", "Access Denied.", request_id=None)
    s3.answers.append(xml(403, body, **{"x-amz-request-id": "HDR-9"}))
    async with s3.client() as client:
        with pytest.raises(KmsAccessDenied) as caught:
            await client.list_buckets()
    assert caught.value.request_id == "HDR-9"


async def test_html_from_a_proxy_is_a_backend_error_without_a_fake_code(s3: ScriptedS3) -> None:
    s3.answers.append(
        Answer(502, b"<html><body>Bad Gateway</body></html>", {"Content-Type": "text/html"})
    )
    async with s3.client() as client:
        with pytest.raises(KmsBackendError) as caught:
            await client.list_buckets()
    assert caught.value.status == 502
    assert caught.value.code == "InternalError"  # the class default, not a made-up "502"


async def test_bare_404_without_code_is_plain_not_found(s3: ScriptedS3) -> None:
    s3.answers.append(Answer(404, b""))
    async with s3.client() as client:
        with pytest.raises(KmsNotFound) as caught:
            await client.delete_bucket_encryption("bucket-a")
    assert type(caught.value) is KmsNotFound


async def test_read_timeout_is_timeout_error(s3: ScriptedS3) -> None:
    s3.answers.append(Answer(200, list_xml([]), delay_seconds=10))
    async with s3.client(timeout=0.3) as client:
        with pytest.raises(KmsTimeoutError) as caught:
            await client.list_buckets()
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


async def test_closed_port_is_connection_error() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with BucketEncryptionClient(f"http://127.0.0.1:{port}", "a", "s", retries=0) as client:
        with pytest.raises(KmsConnectionError) as caught:
            await client.list_buckets()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


# ---------------------------------------------------------------------------------------------
# Requests the client sends


async def test_list_buckets_follows_continuation_tokens(s3: ScriptedS3) -> None:
    s3.answers += [xml(200, list_xml(["a-1", "a-2"], token="next")), xml(200, list_xml(["a-3"]))]
    async with s3.client() as client:
        buckets = await client.list_buckets()
    created = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert buckets == (Bucket("a-1", created), Bucket("a-2", created), Bucket("a-3", created))
    assert buckets[0].creation_date is not None
    assert buckets[0].creation_date.utcoffset() == dt.timedelta(0)
    assert "continuation-token=next" in s3.seen[1].path


async def test_requests_are_path_style_and_signed_for_s3(s3: ScriptedS3) -> None:
    s3.answers += [xml(200, b""), xml(200, b""), Answer(204)]
    async with s3.client(region="eu-west-2") as client:
        await client.create_bucket("bucket-a")
        await client.put_bucket_encryption("bucket-a", algorithm="aws:kms", kms_key_id="k-7")
        await client.delete_bucket_encryption("bucket-a")
    create, put, delete = s3.seen
    assert (create.method, create.path) == ("PUT", "/bucket-a")
    assert b"<LocationConstraint>eu-west-2</LocationConstraint>" in create.body
    assert (put.method, put.path) == ("PUT", "/bucket-a?encryption")
    assert b"<SSEAlgorithm>aws:kms</SSEAlgorithm>" in put.body
    assert b"<KMSMasterKeyID>k-7</KMSMasterKeyID>" in put.body
    assert (delete.method, delete.path) == ("DELETE", "/bucket-a?encryption")
    for seen in s3.seen:
        authorization = seen.headers["authorization"]
        assert authorization.startswith("AWS4-HMAC-SHA256 Credential=test-access/")
        assert "/eu-west-2/s3/aws4_request" in authorization
        assert "x-amz-content-sha256" in seen.headers
        assert "x-amz-security-token" not in seen.headers


async def test_us_east_1_create_has_no_location_constraint(s3: ScriptedS3) -> None:
    s3.answers.append(xml(200, b""))
    async with s3.client() as client:
        await client.create_bucket("bucket-a")
    assert b"LocationConstraint" not in s3.seen[0].body


async def test_sse_s3_put_sends_no_key_id(s3: ScriptedS3) -> None:
    s3.answers.append(xml(200, b""))
    async with s3.client() as client:
        await client.put_bucket_encryption("bucket-a", algorithm="AES256")
    assert b"<SSEAlgorithm>AES256</SSEAlgorithm>" in s3.seen[0].body
    assert b"KMSMasterKeyID" not in s3.seen[0].body


async def test_session_token_is_sent(s3: ScriptedS3) -> None:
    s3.answers.append(xml(200, list_xml([])))
    async with s3.client(session_token="sts-token") as client:
        await client.list_buckets()
    assert s3.seen[0].headers["x-amz-security-token"] == "sts-token"


async def test_user_aws_configuration_is_ignored(
    s3: ScriptedS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "aws-config"
    broken.write_text("[default]\nregion = ap-south-9\n[[[not an ini file\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(broken))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(broken))
    monkeypatch.setenv("AWS_PROFILE", "does-not-exist")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-9")
    s3.answers.append(xml(200, list_xml([])))
    async with s3.client() as client:
        assert await client.list_buckets() == ()
    authorization = s3.seen[0].headers["authorization"]
    assert "Credential=test-access/" in authorization
    assert "/us-east-1/s3/" in authorization


# ---------------------------------------------------------------------------------------------
# Client-side validation and lifecycle


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"algorithm": "aws:kms:dsse"}, "algorithm"),
        ({"algorithm": "aes256"}, "algorithm"),
        ({"algorithm": "AES256", "kms_key_id": "k"}, "kms_key_id"),
        ({"algorithm": "aws:kms", "kms_key_id": "  "}, "kms_key_id"),
    ],
)
async def test_put_rejects_bad_arguments_before_sending(
    s3: ScriptedS3, kwargs: dict[str, Any], field_name: str
) -> None:
    async with s3.client() as client:
        with pytest.raises(ValueError, match=f"^{field_name}:"):
            await client.put_bucket_encryption("bucket-a", **kwargs)
    assert s3.seen == []


@pytest.mark.parametrize(
    "method", ["create_bucket", "get_bucket_encryption", "delete_bucket_encryption"]
)
async def test_bad_bucket_names_rejected_before_sending(s3: ScriptedS3, method: str) -> None:
    async with s3.client() as client:
        with pytest.raises(ValueError, match=r"^bucket: the name 'Bad_Name'"):
            await getattr(client, method)("Bad_Name")
    assert s3.seen == []


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"endpoint": "rustfs:9000"}, "endpoint"),
        ({"access_key": ""}, "access_key"),
        ({"secret_key": ""}, "secret_key"),
        ({"timeout": 0}, "timeout"),
        ({"retries": -1}, "retries"),
    ],
)
def test_constructor_validates(kwargs: dict[str, Any], field_name: str) -> None:
    arguments: dict[str, Any] = {"endpoint": "http://h", "access_key": "a", "secret_key": "s"}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=f"^{field_name}:"):
        BucketEncryptionClient(**arguments)


def test_repr_hides_the_secret() -> None:
    client = BucketEncryptionClient("http://h:1", "visible-key", "hidden-secret-value")
    assert "visible-key" in repr(client)
    assert "hidden-secret-value" not in repr(client)


async def test_closed_client_refuses_calls(s3: ScriptedS3) -> None:
    client = s3.client()
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.list_buckets()
    await client.aclose()  # closing twice is harmless


# ---------------------------------------------------------------------------------------------
# TLS: an untrusted certificate names the ca_bundle setting; the bundle fixes it


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kms-tui test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = tmp_path / "cert.pem"
    key_path = tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_s3(tmp_path: Path) -> Iterator[tuple[ScriptedS3, Path]]:
    cert_path, key_path = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server = ScriptedS3(tls_context=context)
    yield server, cert_path
    server.close()


async def test_untrusted_certificate_names_ca_bundle(tls_s3: tuple[ScriptedS3, Path]) -> None:
    server, _cert = tls_s3
    async with server.client() as client:
        with pytest.raises(KmsConnectionError) as caught:
            await client.list_buckets()
    assert "not trusted" in str(caught.value)
    assert "ca_bundle" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_ca_bundle_makes_the_certificate_trusted(tls_s3: tuple[ScriptedS3, Path]) -> None:
    server, cert = tls_s3
    server.answers.append(xml(200, list_xml(["tls-bucket"])))
    async with server.client(verify=str(cert)) as client:
        assert [bucket.name for bucket in await client.list_buckets()] == ["tls-bucket"]


async def test_verify_false_skips_verification(tls_s3: tuple[ScriptedS3, Path]) -> None:
    server, _cert = tls_s3
    server.answers.append(xml(200, list_xml([])))
    async with server.client(verify=False) as client:
        assert await client.list_buckets() == ()


# ---------------------------------------------------------------------------------------------
# More answers over the wire: codes of other calls, a code without a message, TLS mismatch


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "InvalidBucketName", KmsInvalidRequest),
        (404, "ServerSideEncryptionConfigurationNotFoundError", KmsNotFound),
        (404, "NoSuchKey", KmsNotFound),
    ],
)
async def test_other_codes_map_onto_the_tree(
    s3: ScriptedS3, status: int, code: str, expected: type[KmsError]
) -> None:
    s3.answers.append(xml(status, s3_error(code, "said the server", request_id="R1")))
    async with s3.client() as client:
        with pytest.raises(KmsError) as caught:
            await client.put_bucket_encryption("bucket-a", algorithm="AES256")
    error = caught.value
    assert type(error) is expected
    assert (error.status, error.code, error.message, error.request_id) == (
        status,
        code,
        "said the server",
        "R1",
    )


async def test_error_without_message_names_the_operation(s3: ScriptedS3) -> None:
    s3.answers.append(xml(403, s3_error("AccessDenied", "")))
    async with s3.client() as client:
        with pytest.raises(KmsAccessDenied) as caught:
            await client.get_bucket_encryption("bucket-a")
    assert "GetBucketEncryption" in caught.value.message


async def test_tls_to_a_plain_http_port_does_not_blame_trust(s3: ScriptedS3) -> None:
    port = s3.server.server_address[1]
    async with BucketEncryptionClient(f"https://127.0.0.1:{port}", "a", "s", retries=0) as client:
        with pytest.raises(KmsConnectionError) as caught:
            await client.list_buckets()
    assert "not trusted" not in caught.value.message


# ---------------------------------------------------------------------------------------------
# Bucket names


def follows_s3_rules(name: str) -> bool:
    """The S3 naming rules, written out independently of the validator."""
    return (
        3 <= len(name) <= 63
        and all(ch in "abcdefghijklmnopqrstuvwxyz0123456789.-" for ch in name)
        and name[0] not in ".-"
        and name[-1] not in ".-"
        and ".." not in name
        and not (name.count(".") == 3 and all(part.isdigit() for part in name.split(".")))
        and not name.startswith("xn--")
        and not name.endswith("-s3alias")
    )


_NAME_ALPHABET = "abcxyz0129.-_AZ é"
names = st.one_of(
    st.text(alphabet=_NAME_ALPHABET, max_size=70),
    st.from_regex(r"\A[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z"),
    st.from_regex(r"\A(xn--)?[a-z0-9]{1,10}(-s3alias)?\Z"),
    st.from_regex(r"\A[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\Z"),
)


@settings(max_examples=400, deadline=None)
@given(names)
def test_validator_agrees_with_the_rules(name: str) -> None:
    problem = validate_bucket_name(name)
    assert (problem is None) == follows_s3_rules(name), (name, problem)
    if problem is not None:
        assert problem.strip()


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("ab", "3 to 63"),
        ("a" * 64, "3 to 63"),
        ("", "3 to 63"),
        ("My-Bucket", "lowercase"),
        ("under_score", "lowercase"),
        ("space here", "lowercase"),
        ("-leading", "start and end"),
        ("trailing-", "start and end"),
        (".dot", "start and end"),
        ("dot.", "start and end"),
        ("two..dots", "two periods"),
        ("192.168.5.4", "IP address"),
        ("10.0.0.1", "IP address"),
        ("xn--bucket", "xn--"),
        ("data-s3alias", "-s3alias"),
    ],
)
def test_known_bad_names(name: str, fragment: str) -> None:
    problem = validate_bucket_name(name)
    assert problem is not None
    assert fragment in problem


@pytest.mark.parametrize(
    "name", ["abc", "a" * 63, "my.bucket.name", "b-1", "192.168.5", "1.2.3.4.5", "xn-ok", "s3alias"]
)
def test_known_good_names(name: str) -> None:
    assert validate_bucket_name(name) is None


def test_problem_text_reads_after_the_name() -> None:
    problem = validate_bucket_name("ab")
    assert problem is not None
    assert re.match(r"^must ", problem)
