"""KmsAdminClient service methods, §5 state rules, error families, aliases and persistence,
against a real EmbeddedServer over loopback."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.errors import (
    KmsAccessDenied,
    KmsConflict,
    KmsInvalidRequest,
    KmsOperationFailed,
    KmsServiceUnavailable,
)
from kms_tui.api.service_models import LocalBackendSummary
from kms_tui.api.wire import BackendName, ServiceBackend, ServiceState
from kms_tui.embedded.server import EmbeddedServer
from tests.fakes.embedded import (
    admin_client,
    local_config,
    running_server,
    signed_http,
)

ClientCall = Callable[[KmsAdminClient], Awaitable[Any]]

# Routes that answer 500 XML "KMS service not initialized" unless Running (§5).
MANAGEMENT_CALLS: dict[str, ClientCall] = {
    "status": lambda c: c.status(),
    "get_config": lambda c: c.get_config(),
    "clear_cache": lambda c: c.clear_cache(),
    "generate_data_key": lambda c: c.generate_data_key("any-key"),
}
# Modern key routes: 503 JSON envelope "kms service is not running" unless Running (§5).
KEY_CALLS: dict[str, ClientCall] = {
    "create_key": lambda c: c.create_key(name="k1"),
    "list_keys": lambda c: c.list_keys(),
    "describe_key": lambda c: c.describe_key("k1"),
    "schedule_key_deletion": lambda c: c.schedule_key_deletion("k1"),
    "cancel_key_deletion": lambda c: c.cancel_key_deletion("k1"),
    "enable_key": lambda c: c.enable_key("k1"),
    "disable_key": lambda c: c.disable_key("k1"),
    "rotate_key": lambda c: c.rotate_key("k1"),
    "update_key_description": lambda c: c.update_key_description("k1", "d"),
    "tag_key": lambda c: c.tag_key("k1", {"a": "b"}),
    "untag_key": lambda c: c.untag_key("k1", ["a"]),
}
LEGACY_NOT_INITIALIZED = [
    ("POST", "/kms/create-key"),
    ("POST", "/kms/key/create"),
    ("GET", "/kms/describe-key?keyId=k1"),
    ("GET", "/kms/key/status?keyId=k1"),
    ("GET", "/kms/list-keys"),
]


@pytest.fixture
def paths(tmp_path: Path) -> tuple[Path, Path]:
    """(data dir, key dir) under this test's tmp dir."""
    return tmp_path / "data", tmp_path / "keys"


@pytest.fixture
def fresh(paths: tuple[Path, Path]) -> Iterator[EmbeddedServer]:
    """A NotConfigured server over a fresh data dir."""
    with running_server(paths[0]) as server:
        yield server


async def _assert_not_running_rules(client: KmsAdminClient, endpoint: str) -> None:
    for name, call in MANAGEMENT_CALLS.items():
        with pytest.raises(KmsServiceUnavailable) as caught:
            await call(client)
        assert caught.value.status == 500, name
        assert caught.value.code == "InternalError", name
        assert "not initialized" in caught.value.message, name
    for name, call in KEY_CALLS.items():
        with pytest.raises(KmsServiceUnavailable) as caught:
            await call(client)
        assert caught.value.status == 503, name
        assert caught.value.message == "kms service is not running", name
    async with signed_http(endpoint) as http:
        for method, route in LEGACY_NOT_INITIALIZED:
            answer = await http.request(method, f"/rustfs/admin/v3{route}")
            assert answer.status_code == 500, route
            assert answer.headers["content-type"] == "application/xml", route
            assert "kms service is not initialized" in answer.text, route


async def test_not_configured_state_rules(fresh: EmbeddedServer) -> None:
    async with admin_client(fresh.endpoint) as client:
        status = await client.service_status()
        await _assert_not_running_rules(client, fresh.endpoint)
        stopped = await client.stop()
        backup = await client.backup_status()
        with pytest.raises(KmsOperationFailed) as start_failed:
            await client.start()
        after_start = await client.service_status()
    assert status.state is ServiceState.NOT_CONFIGURED
    assert (status.backend_type, status.healthy, status.config_summary) == (None, None, None)
    assert stopped.success and stopped.state is ServiceState.NOT_CONFIGURED
    assert backup.unavailable_reason == "kms is not configured"
    assert backup.service_status == "NotConfigured" and backup.export_supported is False
    assert "Cannot start KMS: no configuration provided" in start_failed.value.message
    assert start_failed.value.status == 200
    assert after_start.state is ServiceState.ERROR
    assert after_start.error_message == "Cannot start KMS: no configuration provided"


async def test_configured_state_rules(fresh: EmbeddedServer, paths: tuple[Path, Path]) -> None:
    key_dir = paths[1]
    async with admin_client(fresh.endpoint) as client:
        configured = await client.configure(local_config(key_dir, default_key_id="dflt"))
        status = await client.service_status()
        await _assert_not_running_rules(client, fresh.endpoint)
        backup = await client.backup_status()
    assert configured.success and configured.message == "KMS configured successfully"
    assert configured.state is ServiceState.CONFIGURED
    assert status.state is ServiceState.CONFIGURED
    assert status.backend_type is ServiceBackend.LOCAL and status.healthy is None
    summary = status.config_summary
    assert summary is not None and summary.default_key_id == "dflt"
    assert isinstance(summary.backend_summary, LocalBackendSummary)
    assert summary.backend_summary.key_dir == str(key_dir)
    assert summary.backend_summary.has_master_key is True
    assert backup.service_status == "Configured" and backup.target_key_dir == str(key_dir)


async def test_running_state_service_routes(
    fresh: EmbeddedServer, paths: tuple[Path, Path]
) -> None:
    key_dir = paths[1]
    async with admin_client(fresh.endpoint) as client:
        await client.configure(local_config(key_dir, default_key_id="dflt", max_cached_keys=50))
        started = await client.start()
        status = await client.service_status()
        kms_status = await client.status()
        config = await client.get_config()
        created = await client.create_key(name="cached")
        await client.describe_key("cached")
        await client.describe_key("cached")
        counters = (await client.status()).cache_stats
        cleared = await client.clear_cache()
        after_clear = (await client.status()).cache_stats
        with pytest.raises(KmsOperationFailed) as already:
            await client.start()
        restarted = await client.start(force=True)
        with pytest.raises(KmsOperationFailed) as configure_running:
            await client.configure(local_config(key_dir))
        still = await client.describe_key(created.key_id)
    assert started.success and started.state is ServiceState.RUNNING
    assert started.message == "KMS service started successfully"
    assert status.state is ServiceState.RUNNING and status.healthy is True
    assert kms_status.backend_type is BackendName.LOCAL and kms_status.default_key_id == "dflt"
    assert kms_status.capabilities is not None and kms_status.capabilities.rotate is False
    assert kms_status.cluster_config is not None and kms_status.cluster_config.consistent
    assert config.backend is BackendName.LOCAL and config.cache_max_keys == 50
    assert counters is not None and counters.hit_count >= 1 and counters.miss_count >= 1
    assert cleared.status == "success" and cleared.message == "cache cleared successfully"
    assert after_clear is not None and after_clear.hit_count == counters.hit_count
    assert "already running" in already.value.message and already.value.status == 200
    assert restarted.success and restarted.message == "KMS service restarted successfully"
    assert "Cannot configure KMS while it is running" in configure_running.value.message
    assert still.metadata.key_id == "cached"


async def test_stop_returns_to_configured_and_reconfigure_restarts(
    fresh: EmbeddedServer, paths: tuple[Path, Path]
) -> None:
    key_dir = paths[1]
    async with admin_client(fresh.endpoint) as client:
        await client.configure(local_config(key_dir))
        await client.start()
        await client.create_key(name="survivor")
        stopped = await client.stop()
        await _assert_not_running_rules(client, fresh.endpoint)
        # Reconfigure on Local: master key omitted (carried over); the result is Running.
        again = await client.reconfigure(
            local_config(key_dir, master_key=None, default_key_id="survivor")
        )
        config = await client.get_config()
        described = await client.describe_key("survivor")
    assert stopped.success and stopped.state is ServiceState.CONFIGURED
    assert stopped.message == "KMS service stopped successfully"
    assert again.success and again.state is ServiceState.RUNNING
    assert again.message == "KMS reconfigured and restarted successfully"
    assert config.default_key_id == "survivor"
    assert described.metadata.key_id == "survivor"


async def test_reconfigure_input_errors_are_plain_text_400(
    fresh: EmbeddedServer, paths: tuple[Path, Path]
) -> None:
    key_dir = paths[1]
    async with admin_client(fresh.endpoint) as client:
        await client.configure(local_config(key_dir))
        await client.start()
        with pytest.raises(KmsInvalidRequest) as master:
            await client.reconfigure(local_config(key_dir))
        with pytest.raises(KmsInvalidRequest) as moved:
            await client.reconfigure(local_config(key_dir.parent / "elsewhere", master_key=None))
        still_running = await client.service_status()
    assert master.value.status == 400
    assert master.value.message == "Changing the Local KMS master key is not supported"
    assert moved.value.message == "Changing the Local KMS key directory is not supported"
    assert still_running.state is ServiceState.RUNNING


async def test_configure_validation_failure_is_operation_failed(
    fresh: EmbeddedServer, paths: tuple[Path, Path]
) -> None:
    async with admin_client(fresh.endpoint) as client:
        with pytest.raises(KmsOperationFailed) as no_master:
            await client.configure(
                local_config(paths[1], master_key=None, allow_insecure_dev_defaults=False)
            )
        status = await client.service_status()
    assert no_master.value.status == 200
    assert "Local KMS requires a master key" in no_master.value.message
    assert status.state is ServiceState.NOT_CONFIGURED


async def test_configure_body_errors_are_plain_text(fresh: EmbeddedServer) -> None:
    async with signed_http(fresh.endpoint) as http:
        empty = await http.post("/rustfs/admin/v3/kms/configure")
        unknown = await http.post(
            "/rustfs/admin/v3/kms/configure",
            json={"backend_type": "Local", "key_dir": "/x", "key_directory": "/y"},
        )
        static = await http.post(
            "/rustfs/admin/v3/kms/configure", json={"backend_type": "Static", "key_id": "k"}
        )
    assert (empty.status_code, empty.text) == (400, "Request body is required")
    assert "content-type" not in empty.headers
    assert unknown.status_code == 400
    assert unknown.text.startswith("Invalid JSON: unknown field `key_directory`")
    assert static.status_code == 400 and static.text.startswith("Static KMS must be configured")


async def test_wrong_secret_is_access_denied(fresh: EmbeddedServer) -> None:
    async with admin_client(fresh.endpoint, secret_key="not-the-secret") as client:
        with pytest.raises(KmsAccessDenied) as caught:
            await client.service_status()
    assert caught.value.status == 403
    assert caught.value.code == "SignatureDoesNotMatch"
    assert "not-the-secret" not in str(caught.value)


async def test_backup_route_preconditions(
    fresh: EmbeddedServer, paths: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    key_dir = paths[1]
    async with admin_client(fresh.endpoint) as client:
        with pytest.raises(KmsInvalidRequest) as no_env:
            await client.create_backup()
        with pytest.raises(KmsInvalidRequest) as dry_no_env:
            await client.restore_dry_run("some-backup")
        monkeypatch.setenv("RUSTFS_KMS_BACKUP_DIR", str(paths[0].parent / "backups"))
        monkeypatch.setenv("RUSTFS_KMS_BACKUP_KEK", base64.b64encode(bytes(range(32))).decode())
        monkeypatch.setenv("RUSTFS_KMS_BACKUP_KEK_ID", "kek-1")
        with pytest.raises(KmsConflict) as not_configured:
            await client.create_backup()
        await client.configure(local_config(key_dir))
        with pytest.raises(KmsServiceUnavailable) as not_running:
            await client.create_backup("b-1")
        with pytest.raises(KmsInvalidRequest) as wrong_dir:
            await client.abort_restore("/not/the/key/dir")
        await client.start()
        status = await client.backup_status()
        with pytest.raises(KmsConflict) as restore_running:
            await client.restore("b-1", confirm_backup_id="b-1", confirm_conflict_policy="fail")
    assert no_env.value.status == 412 and "RUSTFS_KMS_BACKUP_DIR" in no_env.value.message
    assert dry_no_env.value.status == 412
    assert not_configured.value.status == 409
    assert not_configured.value.message == "kms is not configured"
    assert not_running.value.status == 503
    assert wrong_dir.value.status == 400
    assert status.backup_kek_configured and status.backup_kek_id == "kek-1"
    assert status.unavailable_reason is None and status.service_status == "Running"
    assert restore_running.value.status == 409


async def test_state_and_keys_survive_a_restart(paths: tuple[Path, Path]) -> None:
    data_dir, key_dir = paths
    with running_server(data_dir) as first:
        async with admin_client(first.endpoint) as client:
            await client.configure(local_config(key_dir, default_key_id="persisted"))
            await client.start()
            await client.create_key(name="persisted", description="kept", tags={"t": "1"})
            await client.disable_key((await client.create_key(name="off")).key_id)
            data_key = await client.generate_data_key("persisted", encryption_context={"c": "1"})
    with running_server(data_dir) as second:
        async with admin_client(second.endpoint) as client:
            status = await client.service_status()
            ids = {k.key_id: k for page in [await client.list_keys()] for k in page.keys}
            described = (await client.describe_key("persisted")).metadata
            opened = await client.decrypt(data_key.ciphertext_blob, encryption_context={"c": "1"})
    assert status.state is ServiceState.RUNNING and status.healthy is True
    assert sorted(ids) == ["off", "persisted"]
    assert ids["off"].status.value == "Disabled"
    assert described.description == "kept" and dict(described.tags) == {
        "t": "1",
        "name": "persisted",
    }
    assert opened.plaintext == data_key.plaintext


async def test_stopped_state_survives_a_restart(paths: tuple[Path, Path]) -> None:
    data_dir, key_dir = paths
    with running_server(data_dir) as first:
        async with admin_client(first.endpoint) as client:
            await client.configure(local_config(key_dir))
            await client.start()
            await client.stop()
    with running_server(data_dir) as second:
        async with admin_client(second.endpoint) as client:
            status = await client.service_status()
    assert status.state is ServiceState.CONFIGURED


# --------------------------------------------------------------------------- raw aliases


@pytest.fixture
def running(fresh: EmbeddedServer, paths: tuple[Path, Path]) -> EmbeddedServer:
    """The fresh server, configured and started, with key 'alias-key'."""

    async def prepare() -> None:
        async with admin_client(fresh.endpoint) as client:
            await client.configure(local_config(paths[1]))
            await client.start()
            await client.create_key(name="alias-key", description="via alias")

    asyncio.run(prepare())  # a sync fixture: no event loop is running here yet
    return fresh


async def test_minio_prefix_reaches_the_same_handlers(running: EmbeddedServer) -> None:
    async with signed_http(running.endpoint) as http:
        rustfs = await http.get("/rustfs/admin/v3/kms/service-status")
        minio = await http.get("/minio/admin/v3/kms/service-status")
        described = await http.get("/minio/admin/v3/kms/keys/alias-key")
        listed = await http.get("/minio/admin/v3/kms/keys", params={"limit": "5"})
        created = await http.post("/minio/admin/v3/kms/keys", json={"tags": {"name": "via-minio"}})
        v4 = await http.get("/rustfs/admin/v4/kms/status")
        unknown = await http.get("/rustfs/admin/v3/kms/no-such-route")
    assert rustfs.status_code == minio.status_code == 200
    assert rustfs.json() == minio.json()
    assert described.json()["key_metadata"]["description"] == "via alias"
    assert [k["key_id"] for k in listed.json()["keys"]] == ["alias-key"]
    assert created.status_code == 200 and created.json()["key_id"] == "via-minio"
    assert v4.status_code == 426 and v4.content == b""
    assert unknown.status_code == 501 and "<Code>NotImplemented</Code>" in unknown.text


@pytest.mark.parametrize("prefix", ["/rustfs/admin/v3", "/minio/admin/v3"])
async def test_legacy_routes(running: EmbeddedServer, prefix: str) -> None:
    async with signed_http(running.endpoint) as http:
        created = await http.post(f"{prefix}/kms/create-key", json={"description": "legacy"})
        mc_created = await http.post(f"{prefix}/kms/key/create?key-id=ignored")
        by_key_id = await http.get(f"{prefix}/kms/describe-key", params={"keyId": "alias-key"})
        by_dash = await http.get(f"{prefix}/kms/key/status", params={"key-id": "alias-key"})
        by_key = await http.get(f"{prefix}/kms/describe-key", params={"key": "alias-key"})
        missing_param = await http.get(f"{prefix}/kms/describe-key")
        missing_key = await http.get(f"{prefix}/kms/describe-key", params={"keyId": "nope"})
        listed = await http.get(f"{prefix}/kms/list-keys", params={"limit": "1000"})
    assert created.status_code == 200 and set(created.json()) == {"key_id", "key_metadata"}
    assert created.json()["key_metadata"]["description"] == "legacy"
    assert mc_created.status_code == 200 and mc_created.json()["key_id"] != "ignored"
    for answer in (by_key_id, by_dash, by_key):
        assert answer.status_code == 200
        assert answer.json()["key_metadata"]["key_id"] == "alias-key"
    assert missing_param.status_code == 400
    assert "missing required parameter: 'keyId'" in missing_param.text
    assert missing_key.status_code == 500 and "failed to describe key" in missing_key.text
    body = listed.json()
    assert "success" not in body and body["truncated"] is False
    ids = {k["key_id"] for k in body["keys"]}
    assert {"alias-key", created.json()["key_id"], mc_created.json()["key_id"]} <= ids


async def test_legacy_bodies_and_query_form_deletion(running: EmbeddedServer) -> None:
    async with signed_http(running.endpoint) as http:
        bad = await http.post(
            "/rustfs/admin/v3/kms/create-key", json={"KeyUsage": "ENCRYPT_DECRYPT"}
        )
        by_query = await http.request(
            "DELETE", "/rustfs/admin/v3/kms/keys/delete", params={"keyId": "alias-key"}
        )
        immediate_query = await http.request(
            "DELETE",
            "/rustfs/admin/v3/kms/keys/delete",
            params={"keyId": "alias-key", "force_immediate": "true"},
        )
        cancelled = await http.post(
            "/rustfs/admin/v3/kms/keys/cancel-deletion", params={"keyId": "alias-key"}
        )
    assert bad.status_code == 400 and "unknown field `KeyUsage`" in bad.text
    assert by_query.status_code == 200 and by_query.json()["deletion_date"] is not None
    assert immediate_query.status_code == 400
    assert "no longer accepted as a query parameter" in immediate_query.json()["message"]
    assert cancelled.status_code == 200
    assert cancelled.json()["key_metadata"]["key_state"] == "Enabled"
