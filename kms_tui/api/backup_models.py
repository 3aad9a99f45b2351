"""Models of the KMS backup and restore answers (``/kms/backup``, ``/kms/restore*``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = [
    "BackupResult",
    "BackupStatus",
    "ConfigComparison",
    "ExternalMismatch",
    "RestoreAbortResult",
    "RestoreBlocker",
    "RestoreConflict",
    "RestoreDryRun",
    "RestoreReport",
    "RestoreResult",
]

from kms_tui.api.wire import (
    _MISSING,
    BackupResponsibility,
    _bool,
    _int,
    _obj,
    _obj_list,
    _opt_enum,
    _opt_int,
    _opt_str,
    _str,
    _str_tuple,
)

# --- backup and restore --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupStatus:
    """``GET /kms/backup``: whether a backup can be taken and where it would go."""

    service_status: str  # the server's Debug rendering, e.g. ``Running`` or ``Error("…")``
    backend: str | None
    responsibility: BackupResponsibility | None
    export_supported: bool
    deployment_identity: str | None
    backup_root: str | None
    backup_kek_configured: bool
    backup_kek_id: str | None
    backup_kek_version: int | None
    target_key_dir: str | None
    unavailable_reason: str | None

    @classmethod
    def from_wire(cls, data: object) -> BackupStatus:
        """Parse a backup status answer."""
        w = "backup status"
        d = _obj(data, w)
        return cls(
            service_status=_str(d, "service_status", w),
            backend=_opt_str(d, "backend", w),
            responsibility=_opt_enum(BackupResponsibility, d, "responsibility", w),
            export_supported=_bool(d, "export_supported", w),
            deployment_identity=_opt_str(d, "deployment_identity", w),
            backup_root=_opt_str(d, "backup_root", w),
            backup_kek_configured=_bool(d, "backup_kek_configured", w),
            backup_kek_id=_opt_str(d, "backup_kek_id", w),
            backup_kek_version=_opt_int(d, "backup_kek_version", w),
            target_key_dir=_opt_str(d, "target_key_dir", w),
            unavailable_reason=_opt_str(d, "unavailable_reason", w),
        )


@dataclass(frozen=True, slots=True)
class BackupResult:
    """A backup the server just wrote."""

    backup_id: str
    snapshot_generation: int
    deployment_identity: str
    artifact_count: int
    manifest_digest: str
    backup_kek_id: str
    backup_kek_version: int
    sanitized_config_included: bool

    @classmethod
    def from_wire(cls, data: object) -> BackupResult:
        """Parse a ``POST /kms/backup`` answer."""
        w = "backup answer"
        d = _obj(data, w)
        return cls(
            backup_id=_str(d, "backup_id", w),
            snapshot_generation=_int(d, "snapshot_generation", w),
            deployment_identity=_str(d, "deployment_identity", w),
            artifact_count=_int(d, "artifact_count", w),
            manifest_digest=_str(d, "manifest_digest", w),
            backup_kek_id=_str(d, "backup_kek_id", w),
            backup_kek_version=_int(d, "backup_kek_version", w),
            sanitized_config_included=_bool(d, "sanitized_config_included", w),
        )


@dataclass(frozen=True, slots=True)
class RestoreBlocker:
    """Something that stops a restore outright (``bundle-corrupted``, ``wrong-backup-kek``...)."""

    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class RestoreConflict:
    """A key the restore would overwrite or regress."""

    key_id: str
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class ExternalMismatch:
    """An external dependency that differs from what the bundle expects."""

    dependency: str
    expected: str | None
    observed: str | None


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """The dry-run verdict on a bundle."""

    backup_id: str
    target_deployment_identity: str | None
    blockers: tuple[RestoreBlocker, ...]
    conflicts: tuple[RestoreConflict, ...]
    external_mismatches: tuple[ExternalMismatch, ...]


@dataclass(frozen=True, slots=True)
class ConfigComparison:
    """The bundle's sanitized KMS configuration next to the current one (kept as sent)."""

    bundle: Mapping[str, Any]
    current: Mapping[str, Any]
    identical: bool


@dataclass(frozen=True, slots=True)
class RestoreDryRun:
    """What a restore would do, without doing it."""

    report: RestoreReport
    config_comparison: ConfigComparison | None

    @classmethod
    def from_wire(cls, data: object) -> RestoreDryRun:
        """Parse a ``POST /kms/restore/dry-run`` answer."""
        d = _obj(data, "dry-run answer")
        w = "report"
        r = _obj(d.get("report", _MISSING), w)
        report = RestoreReport(
            backup_id=_str(r, "backup_id", w),
            target_deployment_identity=_opt_str(r, "target_deployment_identity", w),
            blockers=tuple(
                RestoreBlocker(
                    _str(b, "code", "blockers[]"), _opt_str(b, "detail", "blockers[]") or ""
                )
                for b in _obj_list(r, "blockers", w)
            ),
            conflicts=tuple(
                RestoreConflict(
                    _str(c, "key_id", "conflicts[]"),
                    _str(c, "kind", "conflicts[]"),
                    _opt_str(c, "detail", "conflicts[]") or "",
                )
                for c in _obj_list(r, "conflicts", w)
            ),
            external_mismatches=tuple(
                ExternalMismatch(
                    _str(m, "dependency", "external_mismatches[]"),
                    _opt_str(m, "expected", "external_mismatches[]"),
                    _opt_str(m, "observed", "external_mismatches[]"),
                )
                for m in _obj_list(r, "external_mismatches", w)
            ),
        )
        comparison = d.get("config_comparison")
        config_comparison = None
        if comparison is not None:
            c = _obj(comparison, "config_comparison")
            config_comparison = ConfigComparison(
                bundle=MappingProxyType(
                    _obj(c.get("bundle", _MISSING), "config_comparison.bundle")
                ),
                current=MappingProxyType(
                    _obj(c.get("current", _MISSING), "config_comparison.current")
                ),
                identical=_bool(c, "identical", "config_comparison"),
            )
        return cls(report, config_comparison)


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """A completed restore."""

    backup_id: str
    snapshot_generation: int
    restored_key_ids: tuple[str, ...]
    salt_restored: bool
    resumed: bool

    @classmethod
    def from_wire(cls, data: object) -> RestoreResult:
        """Parse a ``POST /kms/restore`` answer."""
        w = "restore answer"
        d = _obj(data, w)
        return cls(
            backup_id=_str(d, "backup_id", w),
            snapshot_generation=_int(d, "snapshot_generation", w),
            restored_key_ids=_str_tuple(d, "restored_key_ids", w),
            salt_restored=_bool(d, "salt_restored", w),
            resumed=_bool(d, "resumed", w),
        )


@dataclass(frozen=True, slots=True)
class RestoreAbortResult:
    """An aborted, half-finished restore."""

    target_key_dir: str
    aborted: bool

    @classmethod
    def from_wire(cls, data: object) -> RestoreAbortResult:
        """Parse a ``POST /kms/restore/abort`` answer."""
        w = "restore abort answer"
        d = _obj(data, w)
        return cls(_str(d, "target_key_dir", w), _bool(d, "aborted", w))
