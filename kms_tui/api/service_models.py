"""Typed, immutable views of the service answers: status, configuration, cache, cluster.

The same rules as :mod:`kms_tui.api.models` hold: ``from_wire`` parses once at the client
boundary and unknown enum values become pseudo-members.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from kms_tui.api.wire import (
    _MISSING,
    BackendHealth,
    BackendName,
    ServiceBackend,
    ServiceState,
    VaultAuthType,
    _bool,
    _enum,
    _int,
    _obj,
    _obj_list,
    _opt_bool,
    _opt_enum,
    _opt_int,
    _opt_str,
    _service_state,
    _str,
)

__all__ = [
    "AccountInfo",
    "AwsBackendSummary",
    "BackendSummary",
    "CacheClearResult",
    "CacheStats",
    "CacheSummary",
    "Capabilities",
    "ClusterConfig",
    "ClusterNode",
    "ConfigSummary",
    "KmsConfigInfo",
    "KmsStatus",
    "LocalBackendSummary",
    "ServiceOperationResult",
    "ServiceStatus",
    "StaticBackendSummary",
    "UnknownBackendSummary",
    "VaultKv2BackendSummary",
    "VaultTransitBackendSummary",
]


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


# --- the signed-in account -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """``GET /rustfs/admin/v3/accountinfo``: who signed, and the policy RustFS applies to them.

    ``policy`` is the account's combined IAM policy as the JSON text RustFS sends (the root
    credential's is ``consoleAdmin``); None when the server sent none or not as text.
    """

    account_name: str
    policy: str | None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> AccountInfo:
        where = "AccountInfo"
        policy = data.get("policy")
        if isinstance(policy, Mapping):  # a server that sends the document itself
            policy = json.dumps(policy)
        return cls(
            account_name=_str(data, "account_name", where),
            policy=policy if isinstance(policy, str) and policy.strip() else None,
        )
