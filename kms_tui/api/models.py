"""Typed, immutable views of RustFS KMS answers, parsed once at the client boundary.

Every ``from_wire`` takes the decoded JSON object and either returns a frozen model or raises
:class:`~kms_tui.api.errors.KmsResponseError`; screens never see dicts. Parsing is a few
``dict.get`` calls and ``isinstance`` checks per field so a 100,000-key listing stays cheap.

Enums keep the exact wire spellings. A value the client does not know yet becomes a
pseudo-member carrying the raw string (``KeyStatus("Archived").known is False``), never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from kms_tui.api.backup_models import (
    BackupResult,
    BackupStatus,
    ConfigComparison,
    ExternalMismatch,
    RestoreAbortResult,
    RestoreBlocker,
    RestoreConflict,
    RestoreDryRun,
    RestoreReport,
    RestoreResult,
)
from kms_tui.api.wire import (
    _MISSING,
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
    _b64,
    _bool,
    _enum,
    _int,
    _obj,
    _obj_list,
    _opt_bool,
    _opt_enum,
    _opt_int,
    _opt_str,
    _opt_time,
    _service_state,
    _str,
    _str_map,
    _str_tuple,
    _time,
    parse_timestamp,
)

__all__ = [
    "AwsBackendSummary",
    "BackendHealth",
    "BackendName",
    "BackendSummary",
    "BackupResponsibility",
    "BackupResult",
    "BackupStatus",
    "CacheClearResult",
    "CacheStats",
    "CacheSummary",
    "Capabilities",
    "ClusterConfig",
    "ClusterNode",
    "ConfigComparison",
    "ConfigSummary",
    "ConflictPolicy",
    "DataKey",
    "DecryptedDataKey",
    "ExternalMismatch",
    "ImpactCompleteness",
    "ImpactCoverage",
    "KeyDeletion",
    "KeyDescription",
    "KeyImpactReport",
    "KeyInfo",
    "KeyMetadata",
    "KeyPage",
    "KeyReference",
    "KeySpec",
    "KeyState",
    "KeyStatus",
    "KeyUsage",
    "KmsConfigInfo",
    "KmsStatus",
    "LocalBackendSummary",
    "RestoreAbortResult",
    "RestoreBlocker",
    "RestoreConflict",
    "RestoreDryRun",
    "RestoreReport",
    "RestoreResult",
    "RotationDueReason",
    "ServiceBackend",
    "ServiceOperationResult",
    "ServiceState",
    "ServiceStatus",
    "StaticBackendSummary",
    "UnknownBackendSummary",
    "VaultAuthType",
    "VaultKv2BackendSummary",
    "VaultTransitBackendSummary",
    "WireEnum",
    "parse_timestamp",
]


# --- keys ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyMetadata:
    """One key as describe, create, cancel and the lifecycle routes report it."""

    key_id: str
    key_state: KeyState
    key_usage: KeyUsage
    description: str | None
    creation_date: datetime
    deletion_date: datetime | None
    origin: str
    key_manager: str
    tags: Mapping[str, str]

    @classmethod
    def from_wire(cls, data: object) -> KeyMetadata:
        """Parse a ``key_metadata`` object."""
        d = _obj(data, "key_metadata")
        w = "key_metadata"
        return cls(
            key_id=_str(d, "key_id", w),
            key_state=_enum(KeyState, d, "key_state", w),
            key_usage=_enum(KeyUsage, d, "key_usage", w),
            description=_opt_str(d, "description", w),
            creation_date=_time(d, "creation_date", w),
            deletion_date=_opt_time(d, "deletion_date", w),
            origin=_str(d, "origin", w),
            key_manager=_str(d, "key_manager", w),
            tags=_str_map(d, "tags", w),
        )

    @property
    def name(self) -> str | None:
        """The ``name`` tag, which doubles as the key id on most backends."""
        return self.tags.get("name")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One key as a listing reports it."""

    key_id: str
    description: str | None
    algorithm: str
    usage: KeyUsage
    status: KeyStatus
    version: int
    metadata: Mapping[str, str]
    tags: Mapping[str, str]
    created_at: datetime
    rotated_at: datetime | None
    created_by: str | None
    rotation_due: bool
    rotation_due_reason: RotationDueReason | None  # None: the server gave no verdict

    @classmethod
    def from_wire(cls, data: object) -> KeyInfo:
        """Parse one item of ``keys``."""
        d = _obj(data, "keys[]")
        w = "keys[]"
        return cls(
            key_id=_str(d, "key_id", w),
            description=_opt_str(d, "description", w),
            algorithm=_str(d, "algorithm", w),
            usage=_enum(KeyUsage, d, "usage", w),
            status=_enum(KeyStatus, d, "status", w),
            version=_int(d, "version", w),
            metadata=_str_map(d, "metadata", w, required=False),
            tags=_str_map(d, "tags", w, required=False),
            created_at=_time(d, "created_at", w),
            rotated_at=_opt_time(d, "rotated_at", w),
            created_by=_opt_str(d, "created_by", w),
            rotation_due=_bool(d, "rotation_due", w),
            rotation_due_reason=_opt_enum(RotationDueReason, d, "rotation_due_reason", w),
        )

    @property
    def name(self) -> str | None:
        """The ``name`` tag, if any."""
        return self.tags.get("name")


@dataclass(frozen=True, slots=True)
class KeyPage:
    """One page of a key listing; follow ``next_marker`` while ``truncated``."""

    keys: tuple[KeyInfo, ...]
    truncated: bool
    next_marker: str | None
    unreadable_key_ids: tuple[str, ...] = ()

    @classmethod
    def from_wire(cls, data: object) -> KeyPage:
        """Parse a ``GET /kms/keys`` answer."""
        d = _obj(data, "key listing")
        w = "key listing"
        return cls(
            keys=tuple([KeyInfo.from_wire(item) for item in _obj_list(d, "keys", w)]),
            truncated=_bool(d, "truncated", w),
            next_marker=_opt_str(d, "next_marker", w),
            unreadable_key_ids=_str_tuple(d, "unreadable_key_ids", w, required=False),
        )


@dataclass(frozen=True, slots=True)
class KeyReference:
    """Something that still names a key (a bucket's default encryption, the default key...)."""

    kind: str
    id: str
    detail: str


@dataclass(frozen=True, slots=True)
class ImpactCoverage:
    """Which scopes the impact scan looked at and which it could not."""

    scanned: tuple[str, ...]
    not_scanned: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeyImpactReport:
    """What deleting a key would break, and how sure the server is."""

    key_id: str
    completeness: ImpactCompleteness
    coverage: ImpactCoverage
    references: tuple[KeyReference, ...]

    @classmethod
    def from_wire(cls, data: object) -> KeyImpactReport:
        """Parse an ``impact`` object."""
        w = "impact"
        d = _obj(data, w)
        coverage = _obj(d.get("coverage", _MISSING), "impact.coverage")
        references = tuple(
            KeyReference(
                kind=_str(ref, "kind", "impact.references[]"),
                id=_str(ref, "id", "impact.references[]"),
                detail=_opt_str(ref, "detail", "impact.references[]") or "",
            )
            for ref in _obj_list(d, "references", w)
        )
        return cls(
            key_id=_str(d, "key_id", w),
            completeness=_enum(ImpactCompleteness, d, "completeness", w),
            coverage=ImpactCoverage(
                scanned=_str_tuple(coverage, "scanned", "impact.coverage"),
                not_scanned=_str_tuple(coverage, "not_scanned", "impact.coverage"),
            ),
            references=references,
        )


@dataclass(frozen=True, slots=True)
class KeyDescription:
    """A described key, with its impact report when one was asked for."""

    metadata: KeyMetadata
    impact: KeyImpactReport | None

    @classmethod
    def from_wire(cls, data: object) -> KeyDescription:
        """Parse a ``GET /kms/keys/{key_id}`` answer."""
        d = _obj(data, "describe answer")
        impact = d.get("impact")
        return cls(
            metadata=KeyMetadata.from_wire(d.get("key_metadata", _MISSING)),
            impact=None if impact is None else KeyImpactReport.from_wire(impact),
        )


@dataclass(frozen=True, slots=True)
class KeyDeletion:
    """A scheduled (or immediate, ``deletion_date`` None) deletion and its impact."""

    key_id: str
    deletion_date: datetime | None
    impact: KeyImpactReport | None

    @classmethod
    def from_wire(cls, data: object) -> KeyDeletion:
        """Parse a ``DELETE /kms/keys/delete`` answer."""
        d = _obj(data, "delete answer")
        impact = d.get("impact")
        return cls(
            key_id=_str(d, "key_id", "delete answer"),
            deletion_date=_opt_time(d, "deletion_date", "delete answer"),
            impact=None if impact is None else KeyImpactReport.from_wire(impact),
        )


@dataclass(frozen=True, slots=True)
class DataKey:
    """A fresh data key: the plaintext is secret and never shown by ``repr``."""

    key_id: str
    plaintext: bytes = field(repr=False)
    ciphertext_blob: bytes

    @classmethod
    def from_wire(cls, data: object) -> DataKey:
        """Parse a generate-data-key answer (base64 fields decoded)."""
        d = _obj(data, "data key")
        return cls(
            key_id=_str(d, "key_id", "data key"),
            plaintext=_b64(d, "plaintext_key", "data key"),
            ciphertext_blob=_b64(d, "ciphertext_blob", "data key"),
        )


@dataclass(frozen=True, slots=True)
class DecryptedDataKey:
    """The plaintext of a decrypted data key; never shown by ``repr``."""

    key_id: str
    plaintext: bytes = field(repr=False)

    @classmethod
    def from_wire(cls, data: object) -> DecryptedDataKey:
        """Parse a decrypt answer."""
        d = _obj(data, "decrypt answer")
        return cls(
            key_id=_str(d, "key_id", "decrypt answer"),
            plaintext=_b64(d, "plaintext", "decrypt answer"),
        )


# --- service -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheSummary:
    """The configured metadata cache."""

    max_keys: int
    ttl_seconds: int
    enable_metrics: bool


@dataclass(frozen=True, slots=True)
class LocalBackendSummary:
    """Summary of a Local backend (no secrets)."""

    key_dir: str
    has_master_key: bool
    file_permissions: int | None


@dataclass(frozen=True, slots=True)
class VaultKv2BackendSummary:
    """Summary of a Vault KV2 backend (no secrets)."""

    address: str
    auth_method_type: VaultAuthType
    has_stored_credentials: bool
    namespace: str | None
    mount_path: str | None
    kv_mount: str | None
    key_path_prefix: str | None
    skip_tls_verify: bool


@dataclass(frozen=True, slots=True)
class VaultTransitBackendSummary:
    """Summary of a Vault Transit backend (no secrets)."""

    address: str
    auth_method_type: VaultAuthType
    has_stored_credentials: bool
    namespace: str | None
    mount_path: str | None
    skip_tls_verify: bool


@dataclass(frozen=True, slots=True)
class StaticBackendSummary:
    """Summary of a Static backend."""

    key_id: str


@dataclass(frozen=True, slots=True)
class AwsBackendSummary:
    """Summary of an AWS KMS backend."""

    region: str
    endpoint_url: str | None


@dataclass(frozen=True, slots=True)
class UnknownBackendSummary:
    """A backend variant this client does not know; its fields are kept as sent."""

    backend_type: str
    fields: Mapping[str, Any]


BackendSummary = (
    LocalBackendSummary
    | VaultKv2BackendSummary
    | VaultTransitBackendSummary
    | StaticBackendSummary
    | AwsBackendSummary
    | UnknownBackendSummary
)


def _backend_summary(data: object) -> BackendSummary:
    w = "backend_summary"
    d = _obj(data, w)
    tag = _str(d, "backend_type", w)
    if tag == "local":
        return LocalBackendSummary(
            _str(d, "key_dir", w), _bool(d, "has_master_key", w), _opt_int(d, "file_permissions", w)
        )
    if tag in ("vault-kv2", "vault-transit"):
        common = (
            _str(d, "address", w),
            _enum(VaultAuthType, d, "auth_method_type", w),
            _bool(d, "has_stored_credentials", w),
            _opt_str(d, "namespace", w),
            _opt_str(d, "mount_path", w),
        )
        if tag == "vault-transit":
            return VaultTransitBackendSummary(*common, _bool(d, "skip_tls_verify", w))
        return VaultKv2BackendSummary(
            *common,
            _opt_str(d, "kv_mount", w),
            _opt_str(d, "key_path_prefix", w),
            _bool(d, "skip_tls_verify", w),
        )
    if tag == "static":
        return StaticBackendSummary(_str(d, "key_id", w))
    if tag == "aws":
        return AwsBackendSummary(_str(d, "region", w), _opt_str(d, "endpoint_url", w))
    rest = {k: v for k, v in d.items() if k != "backend_type"}
    return UnknownBackendSummary(tag, MappingProxyType(rest))


@dataclass(frozen=True, slots=True)
class ConfigSummary:
    """The running configuration as ``/kms/service-status`` summarises it."""

    backend_type: ServiceBackend
    default_key_id: str | None
    timeout_seconds: int
    retry_attempts: int
    enable_cache: bool
    max_cached_keys: int
    cache_ttl_seconds: int
    cache_summary: CacheSummary | None
    backend_summary: BackendSummary | None

    @classmethod
    def from_wire(cls, data: object) -> ConfigSummary:
        """Parse a ``config_summary`` object."""
        w = "config_summary"
        d = _obj(data, w)
        cache = d.get("cache_summary")
        cache_summary = None
        if cache is not None:
            c = _obj(cache, "cache_summary")
            cache_summary = CacheSummary(
                _int(c, "max_keys", "cache_summary"),
                _int(c, "ttl_seconds", "cache_summary"),
                _bool(c, "enable_metrics", "cache_summary"),
            )
        backend = d.get("backend_summary")
        return cls(
            backend_type=_enum(ServiceBackend, d, "backend_type", w),
            default_key_id=_opt_str(d, "default_key_id", w),
            timeout_seconds=_int(d, "timeout_seconds", w),
            retry_attempts=_int(d, "retry_attempts", w),
            enable_cache=_bool(d, "enable_cache", w),
            max_cached_keys=_int(d, "max_cached_keys", w),
            cache_ttl_seconds=_int(d, "cache_ttl_seconds", w),
            cache_summary=cache_summary,
            backend_summary=None if backend is None else _backend_summary(backend),
        )


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """``GET /kms/service-status``: the state machine, backend, health and config summary."""

    state: ServiceState
    error_message: str | None  # set when state is Error
    backend_type: ServiceBackend | None
    healthy: bool | None
    config_summary: ConfigSummary | None

    @classmethod
    def from_wire(cls, data: object) -> ServiceStatus:
        """Parse a service-status answer."""
        w = "service status"
        d = _obj(data, w)
        state, error_message = _service_state(d.get("status", _MISSING), w)
        summary = d.get("config_summary")
        return cls(
            state=state,
            error_message=error_message,
            backend_type=_opt_enum(ServiceBackend, d, "backend_type", w),
            healthy=_opt_bool(d, "healthy", w),
            config_summary=None if summary is None else ConfigSummary.from_wire(summary),
        )


@dataclass(frozen=True, slots=True)
class ServiceOperationResult:
    """What configure, reconfigure, start and stop answered."""

    success: bool
    message: str
    state: ServiceState
    error_message: str | None

    @classmethod
    def from_wire(cls, data: object) -> ServiceOperationResult:
        """Parse a ``{success, message, status}`` answer."""
        w = "service operation answer"
        d = _obj(data, w)
        state, error_message = _service_state(d.get("status", _MISSING), w)
        return cls(_bool(d, "success", w), _str(d, "message", w), state, error_message)


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Process-lifetime cache counters (``clear-cache`` does not reset them)."""

    hit_count: int
    miss_count: int
    entry_count: int
    eviction_count: int

    @property
    def hit_ratio(self) -> float | None:
        """Hits over lookups, or None before the first lookup."""
        lookups = self.hit_count + self.miss_count
        return self.hit_count / lookups if lookups else None


_CAPABILITY_FIELDS = (
    "encrypt",
    "decrypt",
    "generate_data_key",
    "rotate",
    "enable_disable",
    "schedule_deletion",
    "versioning",
    "physical_delete",
    "update_key_metadata",
    "rewrap",
)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the configured backend can do; the console hides actions it cannot."""

    encrypt: bool
    decrypt: bool
    generate_data_key: bool
    rotate: bool
    enable_disable: bool
    schedule_deletion: bool
    versioning: bool
    physical_delete: bool
    update_key_metadata: bool
    rewrap: bool

    @classmethod
    def from_wire(cls, data: object) -> Capabilities:
        """Parse a ``capabilities`` object (unknown extra flags are ignored)."""
        d = _obj(data, "capabilities")
        return cls(*(_bool(d, name, "capabilities") for name in _CAPABILITY_FIELDS))


@dataclass(frozen=True, slots=True)
class ClusterNode:
    """One node's view of the KMS configuration."""

    host: str
    fingerprint: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """Whether every node runs the same KMS configuration."""

    consistent: bool
    nodes: tuple[ClusterNode, ...]


@dataclass(frozen=True, slots=True)
class KmsStatus:
    """``GET /kms/status``: backend health, cache counters, capabilities, cluster consistency."""

    backend_type: BackendName
    backend_status: BackendHealth
    cache_enabled: bool
    cache_stats: CacheStats | None
    default_key_id: str | None
    capabilities: Capabilities | None  # None: an older server that does not report them
    cluster_config: ClusterConfig | None

    @classmethod
    def from_wire(cls, data: object) -> KmsStatus:
        """Parse a status answer, accepting the older minimal shape."""
        w = "status"
        d = _obj(data, w)
        stats = d.get("cache_stats")
        cache_stats = None
        if stats is not None:
            s = _obj(stats, "cache_stats")
            cache_stats = CacheStats(
                *(
                    _int(s, name, "cache_stats")
                    for name in ("hit_count", "miss_count", "entry_count", "eviction_count")
                )
            )
        capabilities = d.get("capabilities")
        cluster = d.get("cluster_config")
        cluster_config = None
        if cluster is not None:
            c = _obj(cluster, "cluster_config")
            nodes = tuple(
                ClusterNode(
                    host=_str(node, "host", "cluster_config.nodes[]"),
                    fingerprint=_opt_str(node, "config_fingerprint", "cluster_config.nodes[]"),
                    error=_opt_str(node, "error", "cluster_config.nodes[]"),
                )
                for node in _obj_list(c, "nodes", "cluster_config")
            )
            cluster_config = ClusterConfig(_bool(c, "consistent", "cluster_config"), nodes)
        return cls(
            backend_type=_enum(BackendName, d, "backend_type", w),
            backend_status=_enum(BackendHealth, d, "backend_status", w),
            cache_enabled=_bool(d, "cache_enabled", w),
            cache_stats=cache_stats,
            default_key_id=_opt_str(d, "default_key_id", w),
            capabilities=None if capabilities is None else Capabilities.from_wire(capabilities),
            cluster_config=cluster_config,
        )


@dataclass(frozen=True, slots=True)
class KmsConfigInfo:
    """``GET /kms/config``: the running backend and cache settings."""

    backend: BackendName
    cache_enabled: bool
    cache_max_keys: int
    cache_ttl_seconds: int
    default_key_id: str | None

    @classmethod
    def from_wire(cls, data: object) -> KmsConfigInfo:
        """Parse a config answer."""
        w = "config"
        d = _obj(data, w)
        return cls(
            backend=_enum(BackendName, d, "backend", w),
            cache_enabled=_bool(d, "cache_enabled", w),
            cache_max_keys=_int(d, "cache_max_keys", w),
            cache_ttl_seconds=_int(d, "cache_ttl_seconds", w),
            default_key_id=_opt_str(d, "default_key_id", w),
        )


@dataclass(frozen=True, slots=True)
class CacheClearResult:
    """What clear-cache answered."""

    status: str
    message: str

    @classmethod
    def from_wire(cls, data: object) -> CacheClearResult:
        """Parse a clear-cache answer."""
        d = _obj(data, "clear-cache answer")
        return cls(_str(d, "status", "clear-cache"), _str(d, "message", "clear-cache"))
