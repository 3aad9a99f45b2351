"""Pilot-test fixtures: a real, seeded embedded server and apps built through the factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.backends import LocalConfig
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.factory import build_app
from kms_tui.settings import Connection, Settings
from kms_tui.tui.app import KmsTuiApp

# Fixed values so assertions (and snapshots) do not depend on the wall clock or the port.
FIXED_NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
TEST_MASTER_KEY = "tui-tests-master-key-0123456789"
TEST_ENDPOINT_LABEL = "http://127.0.0.1:test"
TEST_PROFILE = "test"
APP_SIZE = (120, 36)
# (name, description, tags) of the keys every kms_server starts with, in id order.
SEEDED_KEYS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("alpha-key", "Alpha application data", {"team": "red"}),
    ("beta-key", "Beta backups", {"team": "blue", "env": "prod"}),
    ("gamma-key", "Gamma analytics", {}),
)
SEEDED_KEY_IDS = tuple(name for name, _, _ in SEEDED_KEYS)


def fixed_clock() -> datetime:
    """The clock every test app gets."""
    return FIXED_NOW


def admin_client_for(server: EmbeddedServer) -> KmsAdminClient:
    """A client for asserting on the server's state (close it, or use ``async with``)."""
    return KmsAdminClient(server.endpoint, server.access_key, server.secret_key, retries=0)


async def configure_local(server: EmbeddedServer, key_dir: Path) -> None:
    """Configure the Local backend with the test master key (dev mode: key dir under tmp)."""
    async with admin_client_for(server) as admin:
        config = LocalConfig(
            key_dir=str(key_dir), master_key=TEST_MASTER_KEY, allow_insecure_dev_defaults=True
        )
        await admin.configure(config)
        await admin.start()


@pytest.fixture
async def kms_server(tmp_path: Path) -> AsyncIterator[EmbeddedServer]:
    """An embedded server on 127.0.0.1: Local backend configured, Running, keys seeded."""
    server = EmbeddedServer(tmp_path / "server", log_file=tmp_path / "server.log")
    server.start()
    try:
        await configure_local(server, tmp_path / "keys")
        async with admin_client_for(server) as admin:
            for name, description, tags in SEEDED_KEYS:
                await admin.create_key(description=description, tags=tags, name=name)
        yield server
    finally:
        server.stop()


@pytest.fixture
def connection_for() -> Callable[..., Connection]:
    """Build the remote Connection the console would resolve for a running test server."""

    def build(server: EmbeddedServer, *, read_only: bool = False) -> Connection:
        return Connection(
            name=TEST_PROFILE,
            endpoint=server.endpoint,
            region="us-east-1",
            access_key=server.access_key,
            secret_key=server.secret_key,
            read_only=read_only,
            timeout_seconds=10.0,
        )

    return build


@pytest.fixture
def make_app(
    connection_for: Callable[..., Connection],
) -> Iterator[Callable[..., KmsTuiApp]]:
    """``make_app(kms_server, *, read_only=False, settings=None)`` -> app built by the factory."""

    def build(
        server: EmbeddedServer,
        *,
        read_only: bool = False,
        settings: Settings | None = None,
    ) -> KmsTuiApp:
        return build_app(
            connection_for(server, read_only=read_only),
            settings or Settings(),
            clock=fixed_clock,
            endpoint_label=TEST_ENDPOINT_LABEL,
        )

    yield build
