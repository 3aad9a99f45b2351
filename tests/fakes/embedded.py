"""Helpers for driving the real embedded server with the real admin client.

Two ways in: an :class:`EmbeddedServer` on a loopback socket (``running_server``), or the same
ASGI app built over a data directory and driven in-process through ``httpx.ASGITransport``
(``InProcessServer``). Both sign with :class:`kms_tui.api.auth.SigV4Auth`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.auth import SigV4Auth
from kms_tui.api.backends import LocalConfig
from kms_tui.embedded.admin_routes import handle_admin
from kms_tui.embedded.buckets import BucketStore
from kms_tui.embedded.server import EmbeddedServer, KmsAsgiApp
from kms_tui.embedded.service import KmsService

__all__ = [
    "ACCESS_KEY",
    "MASTER_KEY",
    "SECRET_KEY",
    "InProcessServer",
    "admin_client",
    "local_config",
    "running_server",
    "signed_http",
]

ACCESS_KEY = "h5-access-key"
SECRET_KEY = "h5-secret-key-0123456789abcdef"
MASTER_KEY = "h5 test master key passphrase"
ADMIN_V3 = "/rustfs/admin/v3"
MINIO_V3 = "/minio/admin/v3"


def local_config(key_dir: Path, **options: Any) -> LocalConfig:
    """A Local backend under a temp dir: master key set, dev flag on (tmp is refused without)."""
    settings: dict[str, Any] = {
        "key_dir": str(key_dir),
        "master_key": MASTER_KEY,
        "allow_insecure_dev_defaults": True,
    }
    settings.update(options)
    return LocalConfig(**settings)


@contextlib.contextmanager
def running_server(
    data_dir: Path, *, allow_immediate_deletion: bool = False, log_file: Path | None = None
) -> Iterator[EmbeddedServer]:
    """An EmbeddedServer on 127.0.0.1 with fixed test credentials, stopped on exit."""
    server = EmbeddedServer(
        data_dir,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        allow_immediate_deletion=allow_immediate_deletion,
        log_file=log_file or data_dir.parent / f"{data_dir.name}.log",
        sweep_interval=3600.0,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def admin_client(
    endpoint: str,
    *,
    secret_key: str = SECRET_KEY,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[KmsAdminClient]:
    """The real client, no retries (a 503 must surface at once)."""
    client = KmsAdminClient(
        endpoint, ACCESS_KEY, secret_key, retries=0, timeout=30.0, transport=transport
    )
    try:
        yield client
    finally:
        await client.aclose()


def signed_http(
    endpoint: str, *, transport: httpx.AsyncBaseTransport | None = None, timeout: float = 30.0
) -> httpx.AsyncClient:
    """A raw httpx client whose every request is SigV4-signed with the test credentials."""
    return httpx.AsyncClient(
        base_url=endpoint,
        auth=SigV4Auth(ACCESS_KEY, SECRET_KEY),
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
    )


@dataclass
class InProcessServer:
    """The server's own ASGI app over one data directory, with no socket (for fast fuzzing)."""

    data_dir: Path
    service: KmsService
    buckets: BucketStore
    app: KmsAsgiApp

    @classmethod
    def build(cls, data_dir: Path, *, allow_immediate_deletion: bool = False) -> InProcessServer:
        """Wire store, service and app the way EmbeddedServer does."""
        data_dir.mkdir(parents=True, exist_ok=True)
        buckets = BucketStore(data_dir)
        buckets.load()
        service = KmsService(
            data_dir, references=buckets, allow_immediate_deletion=allow_immediate_deletion
        )
        service.load()
        app = KmsAsgiApp(
            service=service,
            buckets=buckets,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            admin_handler=handle_admin,
        )
        return cls(data_dir, service, buckets, app)

    def transport(self) -> httpx.ASGITransport:
        """An httpx transport that calls the app directly."""
        return httpx.ASGITransport(app=self.app)

    def close(self) -> None:
        """Close the key store."""
        self.service.close()
