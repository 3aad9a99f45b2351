"""Every KmsAdminClient method against the fake RustFS over a real loopback socket.

Each test checks what went over the wire (method, path, query, body field names, a valid
signature with ``x-amz-content-sha256`` equal to the body hash and a Content-Length) and that
the answer parsed into the right model.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.backends import LocalConfig, VaultKv2Config, VaultTokenAuth
from kms_tui.api.errors import (
    KmsAccessDenied,
    KmsBackendError,
    KmsConflict,
    KmsInvalidRequest,
    KmsKeyNotFound,
    KmsNotSupported,
    KmsOperationFailed,
    KmsServiceUnavailable,
)
from kms_tui.api.service_models import LocalBackendSummary
from kms_tui.api.wire import (
    BackendName,
    ConflictPolicy,
    KeySpec,
    KeyState,
    KeyStatus,
    ServiceBackend,
    ServiceState,
)
from tests.fakes.rustfs import Answer, FakeRustFS, RecordedRequest, json_answer


@pytest.fixture(scope="module")
def server() -> Iterator[FakeRustFS]:
    with FakeRustFS() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeRustFS) -> FakeRustFS:
    server.reset()
    return server


@pytest.fixture
async def client(fake: FakeRustFS) -> AsyncIterator[KmsAdminClient]:
    async with KmsAdminClient(
        fake.url, fake.access_key, fake.secret_key, backoff_base=0.001
    ) as kms:
        yield kms


def only(fake: FakeRustFS, method: str, path: str) -> RecordedRequest:
    (request,) = fake.requests_to(method, path)
    return request


def assert_signed(
    request: RecordedRequest,
    *,
    query: dict[str, str] | None = None,
    body_fields: set[str] | None = None,
) -> None:
    assert request.signature_error is None
    headers = request.headers
    assert headers["x-amz-content-sha256"] == hashlib.sha256(request.body).hexdigest()
    assert headers["content-length"] == str(len(request.body))
    assert "/us-east-1/s3/aws4_request" in headers["authorization"]
    assert request.params == (query or {})
    if body_fields is None:
        assert request.body == b""
    else:
        assert headers["content-type"] == "application/json"
        assert isinstance(request.json, dict)
        assert set(request.json) == body_fields


# --- service -------------------------------------------------------------------------------


async def test_service_status_not_configured(fake: FakeRustFS, client: KmsAdminClient) -> None:
    status = await client.service_status()
    assert status.state is ServiceState.NOT_CONFIGURED
    assert status.backend_type is None and status.config_summary is None
    assert_signed(only(fake, "GET", "/kms/service-status"))


async def test_service_status_running(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running()
    status = await client.service_status()
    assert status.state is ServiceState.RUNNING and status.healthy is True
    assert status.backend_type is ServiceBackend.LOCAL
    assert status.config_summary is not None
    assert status.config_summary.backend_summary == LocalBackendSummary(
        "/var/lib/rustfs/kms", False, 384
    )


async def test_configure_start_stop(fake: FakeRustFS, client: KmsAdminClient) -> None:
    config = LocalConfig(
        key_dir="/var/lib/rustfs/kms",
        master_key="correct horse",
        file_permissions=0o600,
        default_key_id="rustfs-default",
    )
    configured = await client.configure(config)
    assert configured.success and configured.state is ServiceState.CONFIGURED
    request = only(fake, "POST", "/kms/configure")
    assert_signed(
        request,
        body_fields={"backend_type", "key_dir", "master_key", "file_permissions", "default_key_id"},
    )
    assert request.json["backend_type"] == "Local"
    assert request.json["file_permissions"] == 384

    started = await client.start()
    assert started.state is ServiceState.RUNNING
    assert only(fake, "POST", "/kms/start").json == {"force": False}

    with pytest.raises(KmsOperationFailed) as caught:
        await client.start()
    assert caught.value.status == 200 and "already running" in caught.value.message
    assert caught.value.request_id

    restarted = await client.start(force=True)
    assert restarted.message == "KMS service restarted successfully"

    stopped = await client.stop()
    assert stopped.state is ServiceState.CONFIGURED
    assert_signed(only(fake, "POST", "/kms/stop"))


async def test_configure_while_running_is_a_200_failure(
    fake: FakeRustFS, client: KmsAdminClient
) -> None:
    fake.seed_running()
    with pytest.raises(KmsOperationFailed, match="use reconfigure instead"):
        await client.configure(LocalConfig(key_dir="/k", master_key="m"))


async def test_configure_refusal_from_the_server(fake: FakeRustFS, client: KmsAdminClient) -> None:
    with pytest.raises(KmsOperationFailed, match="requires a master key"):
        await client.configure(LocalConfig(key_dir="/var/lib/kms"))


async def test_start_without_configuration(fake: FakeRustFS, client: KmsAdminClient) -> None:
    with pytest.raises(KmsOperationFailed):
        await client.start()
    status = await client.service_status()
    assert status.state is ServiceState.ERROR
    assert status.error_message == "Cannot start KMS: no configuration provided"


async def test_reconfigure(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running()
    config = VaultKv2Config(
        address="https://vault.example.com:8200",
        auth_method=VaultTokenAuth("hvs.token"),
        kv_mount="secret",
    )
    result = await client.reconfigure(config)
    assert result.state is ServiceState.RUNNING
    request = only(fake, "POST", "/kms/reconfigure")
    assert_signed(request, body_fields={"backend_type", "address", "auth_method", "kv_mount"})
    assert request.json["auth_method"] == {"Token": {"token": "hvs.token"}}


async def test_reconfigure_plain_text_refusal(fake: FakeRustFS, client: KmsAdminClient) -> None:
    text = "Changing the Local KMS key directory is not supported"
    fake.script("POST", "/kms/reconfigure", Answer(400, text, content_type=None))
    with pytest.raises(KmsInvalidRequest) as caught:
        await client.reconfigure(LocalConfig(key_dir="/elsewhere"))
    assert caught.value.status == 400 and caught.value.message == text


async def test_status_config_and_clear_cache(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running(("k1",))
    status = await client.status()
    assert status.backend_type is BackendName.LOCAL
    assert status.capabilities is not None and not status.capabilities.rotate
    assert status.cluster_config is not None and status.cluster_config.consistent
    assert_signed(only(fake, "GET", "/kms/status"))

    config = await client.get_config()
    assert config.backend is BackendName.LOCAL and config.default_key_id == "rustfs-default"
    assert_signed(only(fake, "GET", "/kms/config"))

    cleared = await client.clear_cache()
    assert cleared.status == "success"
    assert_signed(only(fake, "POST", "/kms/clear-cache"))


@pytest.mark.parametrize("method", ["status", "get_config", "clear_cache"])
async def test_not_initialized_xml(fake: FakeRustFS, client: KmsAdminClient, method: str) -> None:
    with pytest.raises(KmsServiceUnavailable) as caught:
        await getattr(client, method)()
    assert caught.value.status == 500
    assert caught.value.code == "InternalError"
    assert caught.value.message == "KMS service not initialized"
    assert caught.value.request_id and len(caught.value.request_id) == 16


# --- keys ----------------------------------------------------------------------------------


async def test_create_key(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running()
    key = await client.create_key(description="orders", tags={"team": "a"}, name="orders-key")
    assert key.key_id == "orders-key" and key.key_state is KeyState.ENABLED
    assert key.tags == {"team": "a", "name": "orders-key"}
    assert key.creation_date.tzinfo is not None
    request = only(fake, "POST", "/kms/keys")
    assert_signed(request, body_fields={"key_usage", "description", "tags"})
    assert request.json["key_usage"] == "EncryptDecrypt"

    anonymous = await client.create_key()
    assert len(anonymous.key_id) == 36


async def test_create_duplicate_is_a_conflict(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running(("dup",))
    with pytest.raises(KmsConflict) as caught:
        await client.create_key(name="dup")
    assert caught.value.status == 500


async def test_keys_need_a_running_service(fake: FakeRustFS, client: KmsAdminClient) -> None:
    with pytest.raises(KmsServiceUnavailable) as caught:
        await client.create_key(name="k")
    assert caught.value.status == 503
    assert caught.value.message == "kms service is not running"


async def test_list_keys_one_page(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running(("a", "b", "c"))
    page = await client.list_keys(limit=2, marker="a")
    assert [k.key_id for k in page.keys] == ["b", "c"]
    assert not page.truncated and page.next_marker is None
    assert page.unreadable_key_ids == ()
    assert page.keys[0].status is KeyStatus.ACTIVE
    assert page.keys[0].rotation_due_reason is None
    assert_signed(only(fake, "GET", "/kms/keys"), query={"limit": "2", "marker": "a"})


async def test_list_keys_reports_unreadable_ids(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running(("a",))
    fake.state.unreadable_key_ids.append("broken")
    page = await client.list_keys()
    assert [k.key_id for k in page.keys] == ["a"]
    assert page.unreadable_key_ids == ("broken",)
    assert_signed(only(fake, "GET", "/kms/keys"))


async def test_iter_keys_over_the_wire(fake: FakeRustFS, client: KmsAdminClient) -> None:
    ids = tuple(f"key-{n:02d}" for n in range(7))
    fake.seed_running(ids)
    pages = [p async for p in client.iter_keys(page_size=3)]
    assert [len(p.keys) for p in pages] == [3, 3, 1]
    assert tuple(k.key_id for p in pages for k in p.keys) == ids
    markers = [r.params.get("marker") for r in fake.requests_to("GET", "/kms/keys")]
    assert markers == [None, "key-02", "key-05"]


async def test_describe_key(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running(("k1",))
    described = await client.describe_key("k1")
    assert described.metadata.key_id == "k1" and described.impact is None
    assert_signed(only(fake, "GET", "/kms/keys/k1"))

    with_impact = await client.describe_key("k1", impact=True)
    assert with_impact.impact is not None
    assert "service-default-key" in with_impact.impact.coverage.scanned
    assert fake.requests_to("GET", "/kms/keys/k1")[1].params == {"impact": "true"}


async def test_describe_missing_key(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running()
    with pytest.raises(KmsKeyNotFound) as caught:
        await client.describe_key("ghost")
    assert caught.value.status == 404
    assert caught.value.message == "Failed to describe key: Key not found: ghost"


async def test_schedule_and_cancel_deletion(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running(("rustfs-default",))
    before = datetime.now(UTC)
    deletion = await client.schedule_key_deletion("rustfs-default", pending_window_in_days=7)
    assert deletion.key_id == "rustfs-default"
    assert deletion.deletion_date is not None
    assert timedelta(days=6) < deletion.deletion_date - before < timedelta(days=8)
    assert deletion.impact is not None
    assert [r.kind for r in deletion.impact.references] == ["service-default-key"]
    request = only(fake, "DELETE", "/kms/keys/delete")
    assert_signed(request, body_fields={"key_id", "pending_window_in_days"})
    assert request.json == {"key_id": "rustfs-default", "pending_window_in_days": 7}

    with pytest.raises(KmsInvalidRequest, match="already pending"):
        await client.schedule_key_deletion("rustfs-default")

    restored = await client.cancel_key_deletion("rustfs-default")
    assert restored.key_state is KeyState.ENABLED and restored.deletion_date is None
    assert_signed(only(fake, "POST", "/kms/keys/cancel-deletion"), body_fields={"key_id"})

    with pytest.raises(KmsBackendError, match="not pending deletion") as caught:
        await client.cancel_key_deletion("rustfs-default")
    assert caught.value.status == 500
    with pytest.raises(KmsKeyNotFound):
        await client.cancel_key_deletion("ghost")


async def test_delete_immediately(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running(("k1",))
    with pytest.raises(KmsInvalidRequest, match="immediate deletion"):
        await client.delete_key_immediately("k1")
    fake.state.allow_immediate_deletion = True
    deletion = await client.delete_key_immediately("k1")
    assert deletion.deletion_date is None
    requests = fake.requests_to("DELETE", "/kms/keys/delete")
    for request in requests:
        assert_signed(request, body_fields={"key_id", "force_immediate", "confirm_key_id"})
        assert request.json == {"key_id": "k1", "force_immediate": True, "confirm_key_id": "k1"}
    with pytest.raises(KmsKeyNotFound):
        await client.describe_key("k1")


async def test_enable_disable(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running(("k1",))
    disabled = await client.disable_key("k1")
    assert disabled is not None and disabled.key_state is KeyState.DISABLED
    enabled = await client.enable_key("k1")
    assert enabled is not None and enabled.key_state is KeyState.ENABLED
    for route in ("/kms/keys/disable", "/kms/keys/enable"):
        assert_signed(only(fake, "POST", route), body_fields={"key_id"})


async def test_enable_can_answer_without_metadata(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running(("k1",))
    fake.script(
        "POST",
        "/kms/keys/enable",
        json_answer(
            200,
            {
                "success": True,
                "message": "key enabled successfully",
                "key_id": "k1",
                "key_metadata": None,
            },
        ),
    )
    assert await client.enable_key("k1") is None


async def test_rotate_is_not_supported_on_local(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running(("k1",))
    with pytest.raises(KmsNotSupported) as caught:
        await client.rotate_key("k1")
    assert caught.value.status == 501
    assert_signed(only(fake, "POST", "/kms/keys/rotate"), body_fields={"key_id"})


async def test_description_and_tags(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running(("k1",))
    described = await client.update_key_description("k1", "payments")
    assert described is not None and described.description == "payments"
    assert_signed(
        only(fake, "POST", "/kms/keys/update-description"), body_fields={"key_id", "description"}
    )

    tagged = await client.tag_key("k1", {"env": "prod", "team": "pay"})
    assert tagged is not None and tagged.tags == {"name": "k1", "env": "prod", "team": "pay"}
    assert_signed(only(fake, "POST", "/kms/keys/tag"), body_fields={"key_id", "tags"})

    untagged = await client.untag_key("k1", ["team"])
    assert untagged is not None and untagged.tags == {"name": "k1", "env": "prod"}
    request = only(fake, "POST", "/kms/keys/untag")
    assert_signed(request, body_fields={"key_id", "tag_keys"})
    assert request.json["tag_keys"] == ["team"]


@pytest.mark.parametrize(
    ("spec", "size"), [(KeySpec.AES_256, 32), ("Aes128", 16), ("ChaCha20", 32)]
)
async def test_generate_data_key(
    fake: FakeRustFS, client: KmsAdminClient, spec: Any, size: int
) -> None:
    fake.seed_running(("k1",))
    data_key = await client.generate_data_key(
        "k1", key_spec=spec, encryption_context={"bucket": "b1"}
    )
    assert data_key.key_id == "k1" and len(data_key.plaintext) == size
    assert data_key.ciphertext_blob.startswith(b'{"key_id": "k1"')
    request = only(fake, "POST", "/kms/generate-data-key")
    assert_signed(request, body_fields={"key_id", "key_spec", "encryption_context"})
    assert request.json["key_spec"] == str(spec)


async def test_generate_data_key_for_disabled_key(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running(("k1",))
    await client.disable_key("k1")
    with pytest.raises(KmsBackendError) as caught:
        await client.generate_data_key("k1")
    assert caught.value.status == 500 and caught.value.code == "InternalError"
    assert caught.value.message.startswith("failed to generate data key")


async def test_decrypt_is_501_on_rustfs(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running(("k1",))
    with pytest.raises(KmsNotSupported) as caught:
        await client.decrypt(b"\x00blob", encryption_context={"a": "b"})
    assert caught.value.status == 501 and caught.value.code == "NotImplemented"
    request = only(fake, "POST", "/kms/decrypt")
    assert_signed(request, body_fields={"ciphertext_blob", "encryption_context"})
    assert request.json["ciphertext_blob"] == "AGJsb2I="


async def test_decrypt_where_a_server_has_it(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.script("POST", "/kms/decrypt", json_answer(200, {"key_id": "k1", "plaintext": "AAECAw=="}))
    decrypted = await client.decrypt(b"blob")
    assert decrypted.key_id == "k1" and decrypted.plaintext == b"\x00\x01\x02\x03"
    assert_signed(only(fake, "POST", "/kms/decrypt"), body_fields={"ciphertext_blob"})


# --- backup and restore --------------------------------------------------------------------


async def test_backup_flow(fake: FakeRustFS, client: KmsAdminClient) -> None:
    status = await client.backup_status()
    assert status.service_status == "NotConfigured" and not status.export_supported
    assert_signed(only(fake, "GET", "/kms/backup"))

    with pytest.raises(KmsConflict, match="not configured"):
        await client.create_backup()

    fake.seed_running(("k1",))
    named = await client.create_backup("nightly-1")
    assert named.backup_id == "nightly-1" and named.artifact_count == 2
    anonymous = await client.create_backup()
    assert anonymous.backup_id.startswith("backup-")
    first, second = fake.requests_to("POST", "/kms/backup")[1:]
    assert_signed(first, body_fields={"backup_id"})
    assert_signed(second)


async def test_restore_flow(fake: FakeRustFS, client: KmsAdminClient) -> None:
    fake.seed_running(("k1",))
    dry = await client.restore_dry_run("BUNDLE", observed_generation=3)
    assert dry.report.conflicts[0].kind == "key-already-exists"
    assert dry.config_comparison is not None and dry.config_comparison.identical
    request = only(fake, "POST", "/kms/restore/dry-run")
    assert_signed(request, body_fields={"bundle", "observed_generation"})

    with pytest.raises(KmsConflict, match="stop the KMS service"):
        await client.restore("BUNDLE", confirm_backup_id="backup-1", confirm_conflict_policy="fail")
    await client.stop()
    with pytest.raises(KmsInvalidRequest, match="confirm_backup_id"):
        await client.restore("BUNDLE", confirm_backup_id="other", confirm_conflict_policy="fail")
    restored = await client.restore(
        "BUNDLE",
        confirm_backup_id="backup-1",
        confirm_conflict_policy=ConflictPolicy.RESTORE_INTO_EMPTY_TARGET,
    )
    assert restored.restored_key_ids == ("k1", "k2")
    last = fake.requests_to("POST", "/kms/restore")[-1]
    assert_signed(last, body_fields={"bundle", "confirm_backup_id", "confirm_conflict_policy"})
    assert last.json["confirm_conflict_policy"] == "restore-into-empty-target"

    aborted = await client.abort_restore("/var/lib/rustfs/kms")
    assert aborted.aborted and aborted.target_key_dir == "/var/lib/rustfs/kms"
    assert_signed(only(fake, "POST", "/kms/restore/abort"), body_fields={"confirm_target_key_dir"})


# --- credentials ---------------------------------------------------------------------------


async def test_wrong_secret_is_refused(fake: FakeRustFS) -> None:
    async with KmsAdminClient(fake.url, fake.access_key, "wrong-secret", retries=0) as kms:
        with pytest.raises(KmsAccessDenied) as caught:
            await kms.service_status()
    assert caught.value.status == 403 and caught.value.code == "SignatureDoesNotMatch"
    assert caught.value.request_id
    assert fake.requests[-1].signature_error is not None


async def test_unknown_access_key_is_refused(fake: FakeRustFS) -> None:
    async with KmsAdminClient(fake.url, "nobody", fake.secret_key, retries=0) as kms:
        with pytest.raises(KmsAccessDenied) as caught:
            await kms.status()
    assert caught.value.code == "InvalidAccessKeyId"


async def test_minio_prefix_is_not_used(fake: FakeRustFS, client: KmsAdminClient) -> None:
    await client.service_status()
    assert fake.requests[-1].raw_path == "/rustfs/admin/v3/kms/service-status"
