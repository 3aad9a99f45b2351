"""Models parse the reference's wire shapes, keep unknown enum values and refuse bad shapes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest

from kms_tui.api.backup_models import (
    BackupResult,
    BackupStatus,
    RestoreAbortResult,
    RestoreDryRun,
    RestoreResult,
)
from kms_tui.api.errors import KmsResponseError
from kms_tui.api.models import (
    DataKey,
    DecryptedDataKey,
    KeyDeletion,
    KeyDescription,
    KeyInfo,
    KeyMetadata,
    KeyPage,
)
from kms_tui.api.service_models import (
    AwsBackendSummary,
    CacheStats,
    KmsConfigInfo,
    KmsStatus,
    LocalBackendSummary,
    ServiceOperationResult,
    ServiceStatus,
    StaticBackendSummary,
    UnknownBackendSummary,
    VaultKv2BackendSummary,
    VaultTransitBackendSummary,
)
from kms_tui.api.wire import (
    BackendHealth,
    BackendName,
    BackupResponsibility,
    ConflictPolicy,
    ImpactCompleteness,
    KeySpec,
    KeyState,
    KeyStatus,
    KeyUsage,
    RotationDueReason,
    ServiceBackend,
    ServiceState,
    VaultAuthType,
    WireEnum,
    parse_timestamp,
)

METADATA: dict[str, Any] = {
    "creation_date": "2026-01-01T00:00:00+00:00[UTC]",
    "deletion_date": "2026-02-01T00:00:00+00:00[UTC]",
    "description": "snapshot key",
    "key_id": "key-a",
    "key_manager": "RUSTFS",
    "key_state": "Enabled",
    "key_usage": "EncryptDecrypt",
    "origin": "RUSTFS_KMS",
    "tags": {"name": "key-a"},
}
LIST_ITEM: dict[str, Any] = {
    "algorithm": "AES_256",
    "created_at": "2026-01-01T00:00:00+00:00[UTC]",
    "created_by": "admin",
    "description": "snapshot key",
    "key_id": "key-a",
    "metadata": {"origin": "RUSTFS_KMS"},
    "rotated_at": "2026-01-15T00:00:00+00:00[UTC]",
    "rotation_due": True,
    "rotation_due_reason": "age",
    "status": "Active",
    "tags": {"name": "key-a"},
    "usage": "EncryptDecrypt",
    "version": 1,
}
IMPACT: dict[str, Any] = {
    "completeness": "exact",
    "coverage": {
        "not_scanned": ["object-envelopes", "in-progress-multipart-uploads"],
        "scanned": ["bucket-default-encryption", "service-default-key"],
    },
    "key_id": "key-a",
    "references": [
        {
            "detail": "bucket default encryption names this key",
            "id": "sse-bucket",
            "kind": "bucket-default-encryption",
        }
    ],
}


# --- enums ---------------------------------------------------------------------------------

KNOWN_VALUES = [
    (KeyUsage, ["EncryptDecrypt", "SignVerify"]),
    (KeyStatus, ["Active", "Disabled", "PendingDeletion", "Deleted"]),
    (KeyState, ["Enabled", "Disabled", "PendingDeletion", "PendingImport", "Unavailable"]),
    (KeySpec, ["Aes256", "Aes128", "ChaCha20"]),
    (RotationDueReason, ["age", "never_rotated", "wraps", "unsupported"]),
    (ServiceState, ["NotConfigured", "Configured", "Running", "Error"]),
    (ServiceBackend, ["Local", "VaultKV2", "VaultTransit", "Static", "AWS"]),
    (BackendName, ["local", "vault-kv2", "vault-transit", "static", "aws", "unknown"]),
    (BackendHealth, ["healthy", "unhealthy", "error"]),
    (VaultAuthType, ["token", "approle", "kubernetes", "token_file"]),
    (ImpactCompleteness, ["exact", "observed-only", "unavailable"]),
    (BackupResponsibility, ["full-material", "reference-only", "metadata-plus-external-root"]),
    (ConflictPolicy, ["fail", "restore-into-empty-target"]),
]


@pytest.mark.parametrize(("enum", "values"), KNOWN_VALUES, ids=lambda v: getattr(v, "__name__", ""))
def test_enum_has_exactly_the_wire_spellings(enum: type[WireEnum], values: list[str]) -> None:
    assert [member.value for member in enum] == values
    for value in values:
        member = enum(value)
        assert member.known
        assert member is enum(value)


@pytest.mark.parametrize(("enum", "values"), KNOWN_VALUES, ids=lambda v: getattr(v, "__name__", ""))
def test_enum_keeps_unknown_values(enum: type[WireEnum], values: list[str]) -> None:
    member = enum("SomethingNew")
    assert isinstance(member, enum)
    assert not member.known
    assert member == "SomethingNew"
    assert member.value == "SomethingNew"
    assert str(member) == "SomethingNew"
    assert member not in list(enum)


def test_aws_spellings_are_not_known_members() -> None:
    assert not KeySpec("AES_256").known
    assert not KeyUsage("ENCRYPT_DECRYPT").known


def test_enum_refuses_non_strings() -> None:
    with pytest.raises(ValueError):
        KeyStatus(3)  # type: ignore[arg-type]


def test_unknown_enum_value_in_a_listing_is_kept() -> None:
    item = dict(LIST_ITEM, status="Archived", usage="WrapUnwrap", rotation_due_reason="hsm")
    info = KeyInfo.from_wire(item)
    assert info.status == "Archived" and not info.status.known
    assert info.usage == "WrapUnwrap"
    assert info.rotation_due_reason == "hsm"


# --- timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00+00:00[UTC]", datetime(2026, 1, 1, tzinfo=UTC)),
        (
            "2026-09-22T04:24:48.5+00:00[UTC]",
            datetime(2026, 9, 22, 4, 24, 48, 500000, tzinfo=UTC),
        ),
        (
            "2026-09-22T04:24:48.123456789+00:00[UTC]",
            datetime(2026, 9, 22, 4, 24, 48, 123456, tzinfo=UTC),
        ),
        (
            "2026-01-01T08:00:00+08:00[Asia/Shanghai]",
            datetime(2026, 1, 1, tzinfo=UTC),
        ),
        ("2026-01-01T00:00:00+00:00[Etc/Unknown]", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-02-01T00:00:00Z", datetime(2026, 2, 1, tzinfo=UTC)),
        ("2026-02-01t00:00:00z", datetime(2026, 2, 1, tzinfo=UTC)),
        ("2026-02-01T01:30:00.25-01:30", datetime(2026, 2, 1, 3, 0, 0, 250000, tzinfo=UTC)),
        ("2026-02-01 00:00:00+00:00", None),
    ],
)
def test_timestamps(text: str, expected: datetime | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            parse_timestamp(text)
        return
    parsed = parse_timestamp(text)
    assert parsed.tzinfo is not None
    assert parsed == expected


def test_zone_offset_is_kept() -> None:
    parsed = parse_timestamp("2026-01-01T08:00:00+08:00[Asia/Shanghai]")
    assert parsed.utcoffset() == timedelta(hours=8)
    assert parsed.tzinfo == timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    "text", ["2026-01-01T00:00:00", "yesterday", "2026-01-01", "", "2026-13-01T00:00:00Z"]
)
def test_bad_timestamps_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


def test_bad_timestamp_in_an_answer_is_a_response_error() -> None:
    with pytest.raises(KmsResponseError, match="creation_date"):
        KeyMetadata.from_wire(dict(METADATA, creation_date="soon"))


# --- keys ----------------------------------------------------------------------------------


def test_key_metadata_snapshot() -> None:
    meta = KeyMetadata.from_wire(METADATA)
    assert meta.key_id == "key-a"
    assert meta.key_state is KeyState.ENABLED
    assert meta.key_usage is KeyUsage.ENCRYPT_DECRYPT
    assert meta.creation_date == datetime(2026, 1, 1, tzinfo=UTC)
    assert meta.deletion_date == datetime(2026, 2, 1, tzinfo=UTC)
    assert meta.tags == {"name": "key-a"}
    assert meta.name == "key-a"
    assert isinstance(meta.tags, MappingProxyType)
    with pytest.raises(TypeError):
        meta.tags["x"] = "y"  # type: ignore[index]


def test_tags_are_a_copy() -> None:
    wire = dict(METADATA, tags={"a": "1"})
    meta = KeyMetadata.from_wire(wire)
    wire["tags"]["a"] = "changed"
    assert meta.tags == {"a": "1"}


def test_key_info_snapshot_and_omitted_reason() -> None:
    info = KeyInfo.from_wire(LIST_ITEM)
    assert info.status is KeyStatus.ACTIVE
    assert info.rotation_due_reason is RotationDueReason.AGE
    assert info.rotated_at == datetime(2026, 1, 15, tzinfo=UTC)
    assert info.metadata == {"origin": "RUSTFS_KMS"}
    bare = {k: v for k, v in LIST_ITEM.items() if k != "rotation_due_reason"}
    assert KeyInfo.from_wire(bare).rotation_due_reason is None


def test_key_page_with_and_without_unreadable_ids() -> None:
    wire = {"success": True, "message": "keys listed", "keys": [LIST_ITEM], "truncated": True}
    page = KeyPage.from_wire(dict(wire, next_marker="key-b"))
    assert page.truncated and page.next_marker == "key-b"
    assert page.unreadable_key_ids == ()
    assert [k.key_id for k in page.keys] == ["key-a"]
    damaged = KeyPage.from_wire(
        dict(wire, truncated=False, next_marker=None, unreadable_key_ids=["key-c"])
    )
    assert damaged.unreadable_key_ids == ("key-c",)


def test_describe_with_impact() -> None:
    described = KeyDescription.from_wire(
        {"success": True, "key_metadata": METADATA, "impact": IMPACT}
    )
    assert described.impact is not None
    assert described.impact.completeness is ImpactCompleteness.EXACT
    assert described.impact.coverage.scanned == (
        "bucket-default-encryption",
        "service-default-key",
    )
    (reference,) = described.impact.references
    assert (reference.kind, reference.id) == ("bucket-default-encryption", "sse-bucket")
    plain = KeyDescription.from_wire({"key_metadata": METADATA, "impact": None})
    assert plain.impact is None


def test_key_deletion_forms() -> None:
    scheduled = KeyDeletion.from_wire(
        {"key_id": "key-a", "deletion_date": "2026-02-01T00:00:00Z", "impact": IMPACT}
    )
    assert scheduled.deletion_date == datetime(2026, 2, 1, tzinfo=UTC)
    assert scheduled.impact is not None and scheduled.impact.key_id == "key-a"
    immediate = KeyDeletion.from_wire({"key_id": "key-a", "deletion_date": None, "impact": None})
    assert immediate.deletion_date is None and immediate.impact is None


def test_data_key_decodes_and_hides_plaintext() -> None:
    secret = b"\x01" * 32
    key = DataKey.from_wire(
        {
            "key_id": "key-a",
            "plaintext_key": base64.b64encode(secret).decode(),
            "ciphertext_blob": "Y2lwaGVydGV4dC1wbGFjZWhvbGRlcg==",
        }
    )
    assert key.plaintext == secret
    assert key.ciphertext_blob == b"ciphertext-placeholder"
    assert "plaintext" not in repr(key)
    assert base64.b64encode(secret).decode() not in repr(key)
    assert repr(secret) not in repr(key)


def test_decrypted_data_key_hides_plaintext() -> None:
    key = DecryptedDataKey.from_wire({"key_id": "k", "plaintext": "c2VjcmV0LWJ5dGVz"})
    assert key.plaintext == b"secret-bytes"
    assert "secret-bytes" not in repr(key) and "c2VjcmV0" not in repr(key)


def test_bad_base64_is_a_response_error() -> None:
    with pytest.raises(KmsResponseError, match="plaintext_key"):
        DataKey.from_wire({"key_id": "k", "plaintext_key": "**", "ciphertext_blob": ""})


# --- service -------------------------------------------------------------------------------


LOCAL_SERVICE_STATUS: dict[str, Any] = {
    "status": "Running",
    "backend_type": "Local",
    "healthy": True,
    "config_summary": {
        "backend_type": "Local",
        "default_key_id": "rustfs-default",
        "timeout_seconds": 30,
        "retry_attempts": 3,
        "enable_cache": True,
        "max_cached_keys": 1000,
        "cache_ttl_seconds": 300,
        "cache_summary": {"max_keys": 1000, "ttl_seconds": 300, "enable_metrics": True},
        "backend_summary": {
            "backend_type": "local",
            "key_dir": "/data/kms",
            "has_master_key": True,
            "file_permissions": 384,
        },
    },
}


def test_service_status_local() -> None:
    status = ServiceStatus.from_wire(LOCAL_SERVICE_STATUS)
    assert status.state is ServiceState.RUNNING and status.error_message is None
    assert status.backend_type is ServiceBackend.LOCAL
    assert status.healthy is True
    summary = status.config_summary
    assert summary is not None and summary.cache_summary is not None
    assert summary.cache_summary.max_keys == 1000
    assert summary.backend_summary == LocalBackendSummary("/data/kms", True, 384)


def test_service_status_error_state_and_nulls() -> None:
    status = ServiceStatus.from_wire(
        {
            "status": {"Error": "Failed to create KMS backend: boom"},
            "backend_type": None,
            "healthy": None,
            "config_summary": None,
        }
    )
    assert status.state is ServiceState.ERROR
    assert status.error_message == "Failed to create KMS backend: boom"
    assert status.backend_type is None and status.config_summary is None


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        (
            {
                "address": "http://127.0.0.1:8200",
                "auth_method_type": "token",
                "backend_type": "vault-transit",
                "has_stored_credentials": True,
                "mount_path": "transit",
                "namespace": "tenant-a",
                "skip_tls_verify": False,
            },
            VaultTransitBackendSummary(
                "http://127.0.0.1:8200", VaultAuthType.TOKEN, True, "tenant-a", "transit", False
            ),
        ),
        (
            {
                "backend_type": "vault-kv2",
                "address": "https://v:8200",
                "auth_method_type": "approle",
                "has_stored_credentials": False,
                "namespace": None,
                "mount_path": "transit",
                "kv_mount": "secret",
                "key_path_prefix": "rustfs/kms/keys",
                "skip_tls_verify": False,
            },
            VaultKv2BackendSummary(
                "https://v:8200",
                VaultAuthType.APPROLE,
                False,
                None,
                "transit",
                "secret",
                "rustfs/kms/keys",
                False,
            ),
        ),
        ({"backend_type": "static", "key_id": "s"}, StaticBackendSummary("s")),
        (
            {"backend_type": "aws", "region": "eu-central-1", "endpoint_url": None},
            AwsBackendSummary("eu-central-1", None),
        ),
        (
            {"backend_type": "hsm", "slot": 3},
            UnknownBackendSummary("hsm", MappingProxyType({"slot": 3})),
        ),
    ],
)
def test_backend_summary_variants(summary: dict[str, Any], expected: object) -> None:
    wire = dict(LOCAL_SERVICE_STATUS)
    wire["config_summary"] = dict(LOCAL_SERVICE_STATUS["config_summary"], backend_summary=summary)
    status = ServiceStatus.from_wire(wire)
    assert status.config_summary is not None
    assert status.config_summary.backend_summary == expected


def test_service_operation_results() -> None:
    ok = ServiceOperationResult.from_wire(
        {"success": True, "message": "KMS configured successfully", "status": "Configured"}
    )
    assert ok.success and ok.state is ServiceState.CONFIGURED
    failed = ServiceOperationResult.from_wire(
        {
            "success": False,
            "message": "Failed to start",
            "status": {"Error": "Cannot start KMS: no configuration provided"},
        }
    )
    assert failed.state is ServiceState.ERROR
    assert failed.error_message == "Cannot start KMS: no configuration provided"


FULL_STATUS: dict[str, Any] = {
    "backend_type": "local",
    "backend_status": "healthy",
    "cache_enabled": True,
    "cache_stats": {"hit_count": 12, "miss_count": 3, "entry_count": 2, "eviction_count": 0},
    "default_key_id": "rustfs-default",
    "capabilities": {
        "encrypt": True,
        "decrypt": True,
        "generate_data_key": True,
        "rotate": False,
        "enable_disable": True,
        "schedule_deletion": True,
        "versioning": False,
        "physical_delete": True,
        "update_key_metadata": True,
        "rewrap": False,
    },
    "cluster_config": {
        "consistent": False,
        "nodes": [
            {"host": "local", "config_fingerprint": "3f" * 32},
            {"host": "10.0.0.2:9000", "config_fingerprint": None, "error": "timed out"},
        ],
    },
}


def test_kms_status_full() -> None:
    status = KmsStatus.from_wire(FULL_STATUS)
    assert status.backend_type is BackendName.LOCAL
    assert status.backend_status is BackendHealth.HEALTHY
    assert status.cache_stats == CacheStats(12, 3, 2, 0)
    assert status.cache_stats.hit_ratio == pytest.approx(0.8)
    assert status.capabilities is not None
    assert not status.capabilities.rotate and status.capabilities.enable_disable
    assert status.cluster_config is not None and not status.cluster_config.consistent
    local, peer = status.cluster_config.nodes
    assert local.error is None and local.fingerprint == "3f" * 32
    assert peer.error == "timed out" and peer.fingerprint is None


def test_kms_status_minimal_legacy_shape() -> None:
    status = KmsStatus.from_wire(
        {
            "backend_type": "local",
            "backend_status": "healthy",
            "cache_enabled": True,
            "cache_stats": None,
            "default_key_id": None,
        }
    )
    assert status.capabilities is None and status.cluster_config is None
    assert status.cache_stats is None


def test_hit_ratio_before_any_lookup() -> None:
    assert CacheStats(0, 0, 0, 0).hit_ratio is None


def test_kms_config_info() -> None:
    info = KmsConfigInfo.from_wire(
        {
            "backend": "vault-transit",
            "cache_enabled": True,
            "cache_max_keys": 1000,
            "cache_ttl_seconds": 300,
            "default_key_id": None,
        }
    )
    assert info.backend is BackendName.VAULT_TRANSIT and info.cache_max_keys == 1000


# --- backup --------------------------------------------------------------------------------


def test_backup_models() -> None:
    status = BackupStatus.from_wire(
        {
            "service_status": 'Error("boom")',
            "backend": "local",
            "responsibility": "full-material",
            "export_supported": True,
            "deployment_identity": "d",
            "backup_root": "/b",
            "backup_kek_configured": True,
            "backup_kek_id": "kek",
            "backup_kek_version": 1,
            "target_key_dir": "/k",
            "unavailable_reason": "nope",
        }
    )
    assert status.responsibility is BackupResponsibility.FULL_MATERIAL
    assert status.unavailable_reason == "nope"
    result = BackupResult.from_wire(
        {
            "backup_id": "b1",
            "snapshot_generation": 4,
            "deployment_identity": "d",
            "artifact_count": 3,
            "manifest_digest": "ab" * 32,
            "backup_kek_id": "kek",
            "backup_kek_version": 2,
            "sanitized_config_included": False,
        }
    )
    assert result.snapshot_generation == 4 and result.backup_kek_version == 2
    dry = RestoreDryRun.from_wire(
        {
            "report": {
                "backup_id": "b1",
                "target_deployment_identity": None,
                "blockers": [{"code": "wrong-backup-kek", "detail": "kek differs"}],
                "conflicts": [{"key_id": "k", "kind": "version-regression", "detail": "v2<v3"}],
                "external_mismatches": [{"dependency": "vault", "expected": "a", "observed": None}],
            },
            "config_comparison": None,
        }
    )
    assert dry.report.blockers[0].code == "wrong-backup-kek"
    assert dry.report.conflicts[0].kind == "version-regression"
    assert dry.report.external_mismatches[0].observed is None
    assert dry.config_comparison is None
    restored = RestoreResult.from_wire(
        {
            "backup_id": "b1",
            "snapshot_generation": 4,
            "restored_key_ids": ["a", "b"],
            "salt_restored": True,
            "resumed": False,
        }
    )
    assert restored.restored_key_ids == ("a", "b")
    assert RestoreAbortResult.from_wire({"target_key_dir": "/k", "aborted": True}).aborted


# --- bad shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "wire", "field"),
    [
        (KeyMetadata, {k: v for k, v in METADATA.items() if k != "key_id"}, "key_id"),
        (KeyMetadata, dict(METADATA, key_state=3), "key_state"),
        (KeyMetadata, dict(METADATA, tags=["name"]), "tags"),
        (KeyMetadata, dict(METADATA, tags={"name": 1}), "tags.name"),
        (KeyMetadata, [METADATA], "key_metadata"),
        (KeyMetadata, None, "key_metadata"),
        (KeyInfo, dict(LIST_ITEM, version="1"), "version"),
        (KeyInfo, dict(LIST_ITEM, version=True), "version"),
        (KeyInfo, dict(LIST_ITEM, rotation_due="yes"), "rotation_due"),
        (KeyPage, {"keys": {}, "truncated": False}, "keys"),
        (KeyPage, {"keys": [], "truncated": False, "next_marker": 5}, "next_marker"),
        (KeyPage, {"keys": [1], "truncated": False}, "keys[]"),
        (KeyPage, {"keys": []}, "truncated"),
        (ServiceStatus, {"status": ["Running"]}, "status"),
        (ServiceStatus, {"status": {"Error": 1}}, "status"),
        (ServiceOperationResult, {"success": True, "status": "Running"}, "message"),
        (KmsStatus, dict(FULL_STATUS, cache_stats={"hit_count": 1}), "miss_count"),
        (KmsStatus, dict(FULL_STATUS, capabilities={"encrypt": True}), "decrypt"),
        (KmsConfigInfo, {"backend": "local"}, "cache_enabled"),
        (KeyDescription, {"impact": None}, "key_metadata"),
        (KeyDeletion, {"key_id": "k", "impact": {"key_id": "k"}}, "impact.coverage"),
    ],
)
def test_bad_shapes_raise_response_error(model: Any, wire: Any, field: str) -> None:
    with pytest.raises(KmsResponseError) as caught:
        model.from_wire(wire)
    assert field in caught.value.message
    assert caught.value.code == "InvalidResponse"


def test_models_are_frozen() -> None:
    meta = KeyMetadata.from_wire(METADATA)
    with pytest.raises(AttributeError):
        meta.key_id = "other"  # type: ignore[misc]
    assert not hasattr(meta, "__dict__")
