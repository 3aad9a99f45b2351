"""The impact scan's lean bulk-HEAD path (kms_tui.api.s3_heads) against the embedded server.

It must answer exactly as ``BucketEncryptionClient.head_object`` does: the same ObjectHead for
every kind of object and key, the same errors (through the client itself), and it must survive
a server that closes idle keep-alive connections.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from kms_tui.api.auth import SigV4Auth
from kms_tui.api.buckets import SSE_KMS, SSE_S3, BucketEncryptionClient
from kms_tui.api.errors import KmsAccessDenied, KmsNotFound
from kms_tui.api.s3_heads import BulkHeads, parse_head_answer
from kms_tui.api.s3_http import object_path
from kms_tui.api.s3_models import ObjectHead
from kms_tui.embedded.server import EmbeddedServer
from tests.fakes.embedded import (
    ACCESS_KEY,
    SECRET_KEY,
    admin_client,
    local_config,
    running_server,
)

DEFAULT_KEY = "heads-default-key"
OBJECT_KEY = "heads-kms-key"
ODD_KEYS = ["a b+c.txt", "ünï/ß", "100%", "q?x#y&z=1", "x/../y", "tab\there", "plus+plus"]


async def _prepare(server: EmbeddedServer, key_dir: Path) -> None:
    async with admin_client(server.endpoint) as admin:
        await admin.configure(local_config(key_dir, default_key_id=DEFAULT_KEY))
        await admin.start()
        await admin.create_key(name=DEFAULT_KEY, description="the service default key")
        await admin.create_key(name=OBJECT_KEY, description="SSE-KMS objects")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    base = tmp_path_factory.mktemp("heads-embedded")
    with running_server(base / "data") as running:
        asyncio.run(_prepare(running, base / "keys"))
        yield running


@pytest.fixture
async def client(server: EmbeddedServer) -> AsyncIterator[BucketEncryptionClient]:
    async with BucketEncryptionClient(server.endpoint, ACCESS_KEY, SECRET_KEY, retries=0) as c:
        yield c


@pytest.fixture
async def bucket(client: BucketEncryptionClient) -> str:
    name = f"heads-{uuid.uuid4().hex[:12]}"
    await client.create_bucket(name)
    return name


class _NoFallback:
    """Fails the test when the lean path hands an object to the client."""

    def __init__(self, client: BucketEncryptionClient) -> None:
        self.client = client
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, bucket: str, key: str) -> ObjectHead:
        self.calls.append((bucket, key))
        return await self.client.head_object(bucket, key)


def _lean(client: BucketEncryptionClient) -> tuple[BulkHeads, _NoFallback]:
    heads = client.bulk_heads()
    spy = _NoFallback(client)
    heads._fallback = spy  # noqa: SLF001 - observe which objects took the slow path
    return heads, spy


# ---------------------------------------------------------------------------------------------
# Same answers as head_object


async def test_same_heads_as_head_object_for_every_kind_of_object(
    client: BucketEncryptionClient, bucket: str
) -> None:
    await client.put_object(bucket, "kms.bin", b"k" * 300, sse=SSE_KMS, kms_key_id=OBJECT_KEY)
    await client.put_object(bucket, "s3.bin", b"s" * 200, sse=SSE_S3)
    await client.put_object(bucket, "plain.bin", b"p" * 100)
    for key in ODD_KEYS:
        await client.put_object(bucket, key, key.encode(), sse=SSE_KMS, kms_key_id=OBJECT_KEY)
    keys = ["kms.bin", "s3.bin", "plain.bin", *ODD_KEYS]
    heads, spy = _lean(client)
    assert heads.direct
    try:
        for _ in range(2):  # the second round reuses the kept-alive connections
            lean = await asyncio.gather(*(heads.head(bucket, key) for key in keys))
            expected = [await client.head_object(bucket, key) for key in keys]
            assert lean == expected
            assert [dict(h.metadata) for h in lean] == [dict(h.metadata) for h in expected]
    finally:
        await heads.aclose()
    assert spy.calls == []
    by_key = {head.key: head for head in lean}
    assert by_key["kms.bin"].encryption.kms_key_id == OBJECT_KEY
    assert by_key["s3.bin"].encryption.algorithm == SSE_S3
    assert by_key["plain.bin"].encryption.algorithm is None


async def test_a_missing_object_is_the_clients_no_such_key(
    client: BucketEncryptionClient, bucket: str
) -> None:
    heads, spy = _lean(client)
    try:
        with pytest.raises(KmsNotFound) as lean:
            await heads.head(bucket, "missing.txt")
        with pytest.raises(KmsNotFound) as direct:
            await client.head_object(bucket, "missing.txt")
        with pytest.raises(KmsNotFound):
            await heads.head("no-such-bucket-here", "k")
    finally:
        await heads.aclose()
    assert type(lean.value) is type(direct.value)
    assert (lean.value.message, lean.value.status, lean.value.code) == (
        direct.value.message,
        direct.value.status,
        direct.value.code,
    )
    assert spy.calls == [(bucket, "missing.txt"), ("no-such-bucket-here", "k")]


async def test_a_wrong_secret_is_the_clients_access_denied(
    server: EmbeddedServer, client: BucketEncryptionClient, bucket: str
) -> None:
    await client.put_object(bucket, "there", b"x")
    async with BucketEncryptionClient(
        server.endpoint, ACCESS_KEY, "not-the-secret", retries=0
    ) as stranger:
        heads = stranger.bulk_heads()
        try:
            with pytest.raises(KmsAccessDenied) as lean:
                await heads.head(bucket, "there")
        finally:
            await heads.aclose()
        with pytest.raises(KmsAccessDenied) as direct:
            await stranger.head_object(bucket, "there")
    assert (lean.value.message, lean.value.status) == (direct.value.message, 403)


async def test_names_the_client_refuses_raise_its_value_error(
    client: BucketEncryptionClient,
) -> None:
    heads = client.bulk_heads()
    try:
        with pytest.raises(ValueError, match="bucket"):
            await heads.head("Bad_Bucket", "k")
        with pytest.raises(ValueError, match="1024 bytes"):
            await heads.head("fine-bucket", "k" * 1025)
    finally:
        await heads.aclose()


async def test_signing_matches_the_http_clients() -> None:
    moment = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)
    auth = SigV4Auth(ACCESS_KEY, SECRET_KEY, session_token="tok", clock=lambda: moment)
    path = object_path("bucket", "a b+c/ünï/../100%")
    request = httpx.Request("HEAD", "http://127.0.0.1:9000" + path)
    auth.sign(request)
    lean = auth.sign_bodiless("HEAD", "http://127.0.0.1:9000" + path, "127.0.0.1:9000")
    sent = {name: value for name, value in request.headers.items() if name in lean}
    assert lean == sent
    assert set(lean) == {
        "host",
        "content-length",
        "x-amz-content-sha256",
        "x-amz-date",
        "x-amz-security-token",
        "authorization",
    }


# ---------------------------------------------------------------------------------------------
# Connections


class _OneRequestServer:
    """Answers one HEAD per connection with a fixed 200, then closes it without saying so."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            writer.write(
                b'HTTP/1.1 200 OK\r\nContent-Length: 7\r\nETag: "abc"\r\n'
                b"x-amz-server-side-encryption: AES256\r\nX-Amz-Meta-Tag: one\r\n"
                b"x-amz-meta-tag: two\r\n\r\n"
            )
            await writer.drain()
            await asyncio.sleep(0.05)  # idle long enough for the client to pool it
        finally:
            writer.close()


async def test_a_server_closing_idle_connections_is_retried_on_a_fresh_one() -> None:
    fake = _OneRequestServer()
    listener = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener, BucketEncryptionClient(f"http://127.0.0.1:{port}", "a", "b") as client:
        heads, spy = _lean(client)
        try:
            first = await heads.head("bucket", "one")
            await asyncio.sleep(0.2)  # the server has closed the pooled connection by now
            second = await heads.head("bucket", "two")
        finally:
            await heads.aclose()
    assert spy.calls == []
    assert (first.size, first.etag, first.encryption.algorithm) == (7, "abc", SSE_S3)
    assert dict(first.metadata) == {"tag": "one, two"}
    assert second.key == "two"
    assert fake.requests == 2


def test_answers_are_parsed_as_httpx_reads_them() -> None:
    status, headers, keep_alive = parse_head_answer(
        b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nX-A: 1\r\nx-a:  2 "
    )
    assert (status, headers, keep_alive) == (404, {"connection": "close", "x-a": "1, 2"}, False)
    assert parse_head_answer(b"HTTP/1.0 200 OK\r\nContent-Length: 0")[2] is False
    assert parse_head_answer(b"HTTP/1.1 204")[:2] == (204, {})
    for bad in (b"SPDY/3 200 OK", b"HTTP/1.1 2x0 OK", b"HTTP/1.1 200 OK\r\n folded: x"):
        with pytest.raises(ValueError):
            parse_head_answer(bad)


async def test_a_custom_transport_or_proxy_uses_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-length": "3"})

    transport = httpx.MockTransport(answer)
    async with BucketEncryptionClient(
        "http://127.0.0.1:1", "a", "b", transport=transport
    ) as client:
        heads = client.bulk_heads()
        assert not heads.direct
        assert (await heads.head("bucket", "k")).size == 3
        await heads.aclose()
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with BucketEncryptionClient("http://s3.example.test:9000", "a", "b") as client:
        assert not client.bulk_heads().direct
