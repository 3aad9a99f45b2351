"""KmsAdminClient key and data-key methods against a real EmbeddedServer over loopback."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kms_tui.api.errors import (
    KmsBackendError,
    KmsConflict,
    KmsInvalidRequest,
    KmsKeyNotFound,
    KmsNotSupported,
)
from kms_tui.api.wire import ImpactCompleteness, KeySpec, KeyState, KeyStatus
from kms_tui.embedded.server import EmbeddedServer
from tests.fakes.embedded import admin_client, local_config, running_server, signed_http

DEFAULT_KEY = "svc-default"
BUCKET = "h5-sse-bucket"


async def _prepare(server: EmbeddedServer, key_dir: Path) -> None:
    async with admin_client(server.endpoint) as client:
        await client.configure(local_config(key_dir, default_key_id=DEFAULT_KEY))
        await client.start()
        await client.create_key(name=DEFAULT_KEY, description="the service default key")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """One running Local server for the module; each test uses its own key names."""
    base = tmp_path_factory.mktemp("h5-keys")
    with running_server(base / "data") as running:
        asyncio.run(_prepare(running, base / "keys"))
        yield running


@pytest.fixture(scope="module")
def immediate_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A running server started with allow_immediate_deletion."""
    base = tmp_path_factory.mktemp("h5-immediate")
    with running_server(base / "data", allow_immediate_deletion=True) as running:
        asyncio.run(_prepare(running, base / "keys"))
        yield running


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_create_key_with_name_description_and_tags(server: EmbeddedServer) -> None:
    name = _name("created")
    async with admin_client(server.endpoint) as client:
        before = datetime.now(UTC) - timedelta(seconds=5)
        created = await client.create_key(name=name, description="payroll", tags={"team": "ops"})
        described = await client.describe_key(name)
    assert created.key_id == name
    assert created.key_state is KeyState.ENABLED
    assert created.description == "payroll"
    assert dict(created.tags) == {"team": "ops", "name": name}
    assert (created.origin, created.key_manager) == ("KMS", "CUSTOMER")
    assert created.creation_date >= before
    assert described.metadata.key_id == name
    assert described.metadata.description == "payroll"
    assert described.impact is None


async def test_create_key_without_name_gets_a_uuid(server: EmbeddedServer) -> None:
    async with admin_client(server.endpoint) as client:
        created = await client.create_key(description="anonymous")
        described = await client.describe_key(created.key_id)
    assert str(uuid.UUID(created.key_id)) == created.key_id
    assert described.metadata.description == "anonymous"


async def test_duplicate_name_is_a_conflict(server: EmbeddedServer) -> None:
    name = _name("dup")
    async with admin_client(server.endpoint) as client:
        await client.create_key(name=name)
        with pytest.raises(KmsConflict) as caught:
            await client.create_key(name=name)
    assert f"Key already exists: {name}" in caught.value.message


async def test_describe_missing_key_is_key_not_found(server: EmbeddedServer) -> None:
    async with admin_client(server.endpoint) as client:
        with pytest.raises(KmsKeyNotFound) as caught:
            await client.describe_key("no-such-key")
    assert caught.value.status == 404
    assert "Key not found: no-such-key" in caught.value.message


async def test_describe_with_impact_reports_bucket_and_default_key_references(
    server: EmbeddedServer,
) -> None:
    name = _name("impact")
    sse = (
        '<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm>"
        f"<KMSMasterKeyID>{name}</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule>"
        "</ServerSideEncryptionConfiguration>"
    ).encode()
    bucket = f"{BUCKET}-{uuid.uuid4().hex[:6]}"
    async with admin_client(server.endpoint) as client, signed_http(server.endpoint) as http:
        await client.create_key(name=name)
        assert (await http.put(f"/{bucket}")).status_code == 200
        put = await http.put(f"/{bucket}?encryption", content=sse)
        assert put.status_code == 200, put.text
        report = (await client.describe_key(name, impact=True)).impact
        default_report = (await client.describe_key(DEFAULT_KEY, impact=True)).impact
    assert report is not None and default_report is not None
    assert report.key_id == name
    assert report.completeness is ImpactCompleteness.EXACT
    assert "bucket-default-encryption" in report.coverage.scanned
    assert [(r.kind, r.id) for r in report.references] == [("bucket-default-encryption", bucket)]
    assert [r.kind for r in default_report.references] == ["service-default-key"]


async def test_enable_and_disable_change_state_and_are_idempotent(server: EmbeddedServer) -> None:
    name = _name("toggle")
    async with admin_client(server.endpoint) as client:
        await client.create_key(name=name)
        disabled = await client.disable_key(name)
        again = await client.disable_key(name)
        listed_state = (await client.describe_key(name)).metadata.key_state
        enabled = await client.enable_key(name)
    assert disabled is not None and disabled.key_state is KeyState.DISABLED
    assert again is not None and again.key_state is KeyState.DISABLED
    assert listed_state is KeyState.DISABLED
    assert enabled is not None and enabled.key_state is KeyState.ENABLED


async def test_enable_missing_key_is_key_not_found(server: EmbeddedServer) -> None:
    async with admin_client(server.endpoint) as client:
        with pytest.raises(KmsKeyNotFound):
            await client.enable_key("absent-key")
        with pytest.raises(KmsKeyNotFound):
            await client.disable_key("absent-key")


async def test_rotate_is_not_supported_on_local(server: EmbeddedServer) -> None:
    name = _name("rotate")
    async with admin_client(server.endpoint) as client:
        await client.create_key(name=name)
        with pytest.raises(KmsNotSupported) as caught:
            await client.rotate_key(name)
    assert caught.value.status == 501
    assert "'rotate' is not supported by KMS backend 'local'" in caught.value.message


async def test_update_description_tag_and_untag(server: EmbeddedServer) -> None:
    name = _name("meta")
    async with admin_client(server.endpoint) as client:
        await client.create_key(name=name, description="old", tags={"keep": "1", "drop": "2"})
        described = await client.update_key_description(name, "new text")
        tagged = await client.tag_key(name, {"env": "prod", "keep": "one"})
        untagged = await client.untag_key(name, ["drop", "never-set"])
        cleared = await client.update_key_description(name, "")
        final = (await client.describe_key(name)).metadata
    assert described is not None and described.description == "new text"
    assert tagged is not None
    assert dict(tagged.tags) == {"keep": "one", "drop": "2", "env": "prod", "name": name}
    assert untagged is not None and dict(untagged.tags) == {
        "keep": "one",
        "env": "prod",
        "name": name,
    }
    assert cleared is not None and cleared.description is None
    assert final.description is None and "drop" not in final.tags


async def test_metadata_updates_on_missing_key_are_key_not_found(server: EmbeddedServer) -> None:
    async with admin_client(server.endpoint) as client:
        with pytest.raises(KmsKeyNotFound):
            await client.update_key_description("absent-key", "x")
        with pytest.raises(KmsKeyNotFound):
            await client.tag_key("absent-key", {"a": "b"})
        with pytest.raises(KmsKeyNotFound):
            await client.untag_key("absent-key", ["a"])


async def test_server_refuses_the_reserved_name_tag(server: EmbeddedServer) -> None:
    name = _name("reserved")
    async with admin_client(server.endpoint) as client, signed_http(server.endpoint) as http:
        await client.create_key(name=name)
        answer = await http.post(
            "/rustfs/admin/v3/kms/keys/tag", json={"key_id": name, "tags": {"name": "other"}}
        )
    assert answer.status_code == 400
    body = answer.json()
    assert body["success"] is False
    assert "Tag 'name' identifies the key" in body["message"]


async def test_schedule_cancel_and_state_rules_of_deletion(server: EmbeddedServer) -> None:
    name = _name("doomed")
    async with admin_client(server.endpoint) as client:
        await client.create_key(name=name)
        before = datetime.now(UTC)
        deletion = await client.schedule_key_deletion(name, pending_window_in_days=7)
        pending = (await client.describe_key(name)).metadata
        with pytest.raises(KmsInvalidRequest) as twice:
            await client.schedule_key_deletion(name)
        with pytest.raises(KmsInvalidRequest):
            await client.enable_key(name)
        with pytest.raises(KmsBackendError) as gdk:
            await client.generate_data_key(name)
        restored = await client.cancel_key_deletion(name)
        with pytest.raises(KmsBackendError) as not_pending:
            await client.cancel_key_deletion(name)
    assert deletion.key_id == name and deletion.deletion_date is not None
    assert timedelta(days=7) - timedelta(minutes=1) <= deletion.deletion_date - before
    assert deletion.deletion_date - before <= timedelta(days=7, minutes=1)
    assert deletion.impact is not None and deletion.impact.references == ()
    assert pending.key_state is KeyState.PENDING_DELETION and pending.deletion_date is not None
    assert twice.value.status == 400 and "already pending deletion" in twice.value.message
    assert gdk.value.status == 500 and "failed to generate data key" in gdk.value.message
    assert restored.key_state is KeyState.ENABLED and restored.deletion_date is None
    assert not_pending.value.status == 500
    assert "Failed to cancel key deletion" in not_pending.value.message


async def test_schedule_deletion_default_window_is_thirty_days(server: EmbeddedServer) -> None:
    name = _name("thirty")
    async with admin_client(server.endpoint) as client:
        await client.create_key(name=name)
        before = datetime.now(UTC)
        deletion = await client.schedule_key_deletion(name)
    assert deletion.deletion_date is not None
    assert abs(deletion.deletion_date - before - timedelta(days=30)) < timedelta(minutes=1)


async def test_deletion_calls_on_missing_keys(server: EmbeddedServer) -> None:
    async with admin_client(server.endpoint) as client:
        with pytest.raises(KmsKeyNotFound) as scheduled:
            await client.schedule_key_deletion("absent-key")
        with pytest.raises(KmsKeyNotFound) as cancelled:
            await client.cancel_key_deletion("absent-key")
    assert scheduled.value.status == 404
    assert cancelled.value.status == 500  # RustFS maps no cancel-deletion error; message decides


async def test_immediate_deletion_refused_without_the_server_switch(
    server: EmbeddedServer,
) -> None:
    name = _name("keep")
    async with admin_client(server.endpoint) as client:
        await client.create_key(name=name)
        with pytest.raises(KmsInvalidRequest) as caught:
            await client.delete_key_immediately(name)
        still = (await client.describe_key(name)).metadata
    assert "immediate deletion is disabled" in caught.value.message
    assert still.key_state is KeyState.ENABLED


async def test_immediate_deletion_destroys_the_key_when_allowed(
    immediate_server: EmbeddedServer,
) -> None:
    name = _name("gone")
    async with admin_client(immediate_server.endpoint) as client:
        await client.create_key(name=name)
        deletion = await client.delete_key_immediately(name)
        with pytest.raises(KmsKeyNotFound):
            await client.describe_key(name)
    assert deletion.key_id == name and deletion.deletion_date is None
    assert not (immediate_server.service.keys.require_store().contains(name))


async def test_immediate_deletion_of_a_referenced_key_is_a_conflict(
    immediate_server: EmbeddedServer,
) -> None:
    async with admin_client(immediate_server.endpoint) as client:
        with pytest.raises(KmsConflict) as caught:
            await client.delete_key_immediately(DEFAULT_KEY)
        still = (await client.describe_key(DEFAULT_KEY)).metadata
    assert caught.value.status == 409
    assert "still referenced" in caught.value.message
    assert still.key_state is KeyState.ENABLED


@pytest.mark.parametrize(
    ("spec", "length"), [(KeySpec.AES_256, 32), (KeySpec.AES_128, 16), (KeySpec.CHACHA20, 32)]
)
async def test_generate_data_key_each_spec_round_trips_through_decrypt(
    server: EmbeddedServer, spec: KeySpec, length: int
) -> None:
    name = _name("dek")
    context = {"bucket": "b1", "object": "o/1"}
    async with admin_client(server.endpoint) as client:
        await client.create_key(name=name)
        data_key = await client.generate_data_key(name, key_spec=spec, encryption_context=context)
        opened = await client.decrypt(data_key.ciphertext_blob, encryption_context=context)
    assert data_key.key_id == name
    assert len(data_key.plaintext) == length
    assert data_key.plaintext not in data_key.ciphertext_blob
    assert opened.key_id == name
    assert hashlib.sha256(opened.plaintext).digest() == hashlib.sha256(data_key.plaintext).digest()


async def test_decrypt_with_a_different_context_is_refused(server: EmbeddedServer) -> None:
    name = _name("ctx")
    async with admin_client(server.endpoint) as client:
        await client.create_key(name=name)
        data_key = await client.generate_data_key(name, encryption_context={"a": "1"})
        with pytest.raises(KmsInvalidRequest) as wrong:
            await client.decrypt(data_key.ciphertext_blob, encryption_context={"a": "2"})
        with pytest.raises(KmsInvalidRequest) as missing:
            await client.decrypt(data_key.ciphertext_blob, encryption_context={"b": "1"})
        # RustFS skips the check for an empty request context, and ignores extra keys.
        unchecked = await client.decrypt(data_key.ciphertext_blob)
        extra = await client.decrypt(
            data_key.ciphertext_blob, encryption_context={"a": "1", "z": "9"}
        )
        with pytest.raises(KmsInvalidRequest) as garbage:
            await client.decrypt(b"not an envelope")
    assert wrong.value.status == 400 and "Encryption context mismatch" in wrong.value.message
    assert missing.value.status == 400 and "Encryption context mismatch" in missing.value.message
    assert unchecked.plaintext == extra.plaintext == data_key.plaintext
    assert garbage.value.status == 400


async def test_generate_data_key_failures(server: EmbeddedServer) -> None:
    name = _name("off")
    async with admin_client(server.endpoint) as client:
        await client.create_key(name=name)
        await client.disable_key(name)
        with pytest.raises(KmsBackendError) as disabled:
            await client.generate_data_key(name)
        with pytest.raises(KmsKeyNotFound) as missing:
            await client.generate_data_key("absent-key")
    assert disabled.value.status == 500 and disabled.value.code == "InternalError"
    assert "is disabled" in disabled.value.message
    assert missing.value.status == 500 and "Key not found: absent-key" in missing.value.message


async def test_list_keys_reports_created_keys(server: EmbeddedServer) -> None:
    name = _name("listed")
    async with admin_client(server.endpoint) as client:
        await client.create_key(name=name, description="in the list", tags={"t": "v"})
        await client.disable_key(name)
        found = [
            info
            async for page in client.iter_keys(page_size=7)
            for info in page.keys
            if info.key_id == name
        ]
        empty = await client.list_keys(limit=0)
    assert len(found) == 1
    info = found[0]
    assert info.status is KeyStatus.DISABLED and info.description == "in the list"
    assert info.algorithm == "AES_256" and info.created_by == "local-kms"
    assert dict(info.tags) == {"t": "v", "name": name}
    assert empty.keys == () and empty.truncated is False and empty.next_marker is None


async def test_iter_keys_pages_past_a_key_id_with_a_space(tmp_path: Path) -> None:
    """Local allows spaces in ids; the marker must still be signed the way the server reads it."""
    with running_server(tmp_path / "data") as fresh:
        async with admin_client(fresh.endpoint) as client:
            await client.configure(local_config(tmp_path / "keys"))
            await client.start()
            for name in ("a b", "c", "d e f"):
                await client.create_key(name=name)
            pages = [page async for page in client.iter_keys(page_size=1)]
    assert [info.key_id for page in pages for info in page.keys] == ["a b", "c", "d e f"]
