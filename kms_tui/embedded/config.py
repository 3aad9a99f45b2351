"""Configure/reconfigure requests: parsing, validation, secrets carry-over and persistence."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kms_tui.embedded.admin_bodies import (
    BodyError,
    FieldSpec,
    decode_json,
    describe_value,
    one_of,
    read_fields,
)
from kms_tui.paths import write_private_file

__all__ = [
    "AWS",
    "LOCAL",
    "VAULT_KV2",
    "VAULT_TRANSIT",
    "ConfigInputError",
    "ConfigValidationError",
    "KmsConfig",
    "PersistedState",
    "load_state",
    "normalize_against",
    "parse_configure_body",
    "parse_configure_document",
    "save_state",
    "validate_config",
]

LOCAL = "local"
VAULT_KV2 = "vault-kv2"
VAULT_TRANSIT = "vault-transit"
AWS = "aws"
STATIC = "static"

BACKEND_SPELLINGS: dict[str, str] = {
    "Local": LOCAL,
    "local": LOCAL,
    "VaultKV2": VAULT_KV2,
    "Vault": VAULT_KV2,
    "vault": VAULT_KV2,
    "vault-kv2": VAULT_KV2,
    "vault_kv2": VAULT_KV2,
    "VaultTransit": VAULT_TRANSIT,
    "vault-transit": VAULT_TRANSIT,
    "vault_transit": VAULT_TRANSIT,
    "Static": STATIC,
    "static": STATIC,
    "AWS": AWS,
    "AwsKms": AWS,
    "aws": AWS,
    "aws-kms": AWS,
    "aws_kms": AWS,
}
# The KmsBackend enum spelling used by /kms/service-status and in the persisted request.
WIRE_NAMES = {LOCAL: "Local", VAULT_KV2: "VaultKV2", VAULT_TRANSIT: "VaultTransit", AWS: "AWS"}

STATIC_REFUSAL = (
    "Static KMS must be configured through RUSTFS_KMS_STATIC_SECRET_KEY or "
    "RUSTFS_KMS_STATIC_SECRET_KEY_FILE"
)
DEV_HINT = "set RUSTFS_KMS_ALLOW_INSECURE_DEV_DEFAULTS=true only for development"

_COMMON = (
    FieldSpec("default_key_id", "str"),
    FieldSpec("timeout_seconds", "u64"),
    FieldSpec("retry_attempts", "u32"),
    FieldSpec("enable_cache", "bool"),
    FieldSpec("max_cached_keys", "u64"),
    FieldSpec("cache_ttl_seconds", "u64"),
    FieldSpec("allow_insecure_dev_defaults", "bool"),
)
_BACKEND_FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    LOCAL: (
        FieldSpec("key_dir", "str", required=True, nullable=False),
        FieldSpec("master_key", "str"),
        FieldSpec("file_permissions", "u32"),
    ),
    VAULT_KV2: (
        FieldSpec("address", "str", required=True, nullable=False),
        FieldSpec("auth_method", "object", required=True, nullable=False),
        FieldSpec("namespace", "str"),
        FieldSpec("mount_path", "str"),
        FieldSpec("kv_mount", "str"),
        FieldSpec("key_path_prefix", "str"),
        FieldSpec("skip_tls_verify", "bool"),
    ),
    VAULT_TRANSIT: (
        FieldSpec("address", "str", required=True, nullable=False),
        FieldSpec("auth_method", "object", required=True, nullable=False),
        FieldSpec("namespace", "str"),
        FieldSpec("mount_path", "str"),
        FieldSpec("skip_tls_verify", "bool"),
    ),
    AWS: (
        FieldSpec("region", "str", required=True, nullable=False),
        FieldSpec("endpoint_url", "str"),
    ),
}
_AUTH_FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "Token": (FieldSpec("token", "str", required=True, nullable=False),),
    "AppRole": (
        FieldSpec("role_id", "str", required=True, nullable=False),
        FieldSpec("secret_id", "str"),
        FieldSpec("secret_id_file", "str"),
        FieldSpec("mount", "str"),
        FieldSpec("refresh_safety_window_secs", "u64"),
    ),
    "Kubernetes": (
        FieldSpec("role", "str", required=True, nullable=False),
        FieldSpec("mount", "str"),
        FieldSpec("jwt_path", "str"),
        FieldSpec("refresh_safety_window_secs", "u64"),
    ),
    "TokenFile": (
        FieldSpec("path", "str", required=True, nullable=False),
        FieldSpec("poll_interval_secs", "u64"),
        FieldSpec("refresh_safety_window_secs", "u64"),
    ),
}
_AUTH_TYPES = {"Token": "token", "AppRole": "approle", "Kubernetes": "kubernetes"}
_AUTH_TYPES["TokenFile"] = "token_file"
_SECRET_AUTH_FIELDS = ("token", "secret_id")


class ConfigInputError(Exception):
    """An input error RustFS answers with a plain-text 400 (family E3)."""


class ConfigValidationError(Exception):
    """A rejected configuration; ``str()`` is the KmsError display (200, success:false)."""


@dataclass(frozen=True, slots=True)
class KmsConfig:
    """A validated configure request; ``settings`` holds the backend fields (with secrets)."""

    backend: str
    settings: Mapping[str, Any] = field(repr=False)
    default_key_id: str | None = None
    timeout_seconds: int = 30
    retry_attempts: int = 3
    enable_cache: bool = True
    max_cached_keys: int = 1000
    cache_ttl_seconds: int = 300
    allow_insecure_dev_defaults: bool = False

    @property
    def wire_backend(self) -> str:
        """``Local`` / ``VaultKV2`` / ``VaultTransit`` / ``AWS``."""
        return WIRE_NAMES[self.backend]

    @property
    def key_dir(self) -> str | None:
        """The Local key directory (None for other backends)."""
        value = self.settings.get("key_dir")
        return value if isinstance(value, str) else None

    @property
    def master_key(self) -> str | None:
        """The Local master-key passphrase, or None when unset or empty."""
        value = self.settings.get("master_key")
        return value if isinstance(value, str) and value else None

    @property
    def file_permissions(self) -> int:
        """The Local record mode (default 0o600)."""
        value = self.settings.get("file_permissions")
        return value if isinstance(value, int) else 0o600

    def to_document(self) -> dict[str, Any]:
        """The request form as persisted (includes secrets; only for the 0600 file)."""
        document: dict[str, Any] = {"backend_type": self.wire_backend}
        document.update(self.settings)
        document.update(self._common())
        return document

    def sanitized(self) -> dict[str, Any]:
        """The persisted form without secrets (fingerprint, backup comparison)."""
        document = self.to_document()
        if "master_key" in document:
            document["master_key"] = None
            document["has_master_key"] = self.master_key is not None
        auth = document.get("auth_method")
        if isinstance(auth, dict):
            cleaned: dict[str, Any] = {}
            for variant, inner in auth.items():
                cleaned[variant] = {
                    name: (None if name in _SECRET_AUTH_FIELDS else value)
                    for name, value in dict(inner).items()
                }
            document["auth_method"] = cleaned
        return document

    def fingerprint(self) -> str:
        """SHA-256 hex of the canonical sanitized configuration."""
        canonical = json.dumps(self.sanitized(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def config_summary(self) -> dict[str, Any]:
        """``config_summary`` of /kms/service-status (never secrets)."""
        return {
            "backend_type": self.wire_backend,
            "default_key_id": self.default_key_id,
            "timeout_seconds": self.timeout_seconds,
            "retry_attempts": self.retry_attempts,
            "enable_cache": self.enable_cache,
            "max_cached_keys": self.max_cached_keys,
            "cache_ttl_seconds": self.cache_ttl_seconds,
            "cache_summary": (
                {
                    "max_keys": self.max_cached_keys,
                    "ttl_seconds": self.cache_ttl_seconds,
                    "enable_metrics": True,
                }
                if self.enable_cache
                else None
            ),
            "backend_summary": self.backend_summary(),
        }

    def backend_summary(self) -> dict[str, Any]:
        """The kebab-case tagged backend summary."""
        s = self.settings
        if self.backend == LOCAL:
            return {
                "backend_type": LOCAL,
                "key_dir": self.key_dir,
                "has_master_key": self.master_key is not None,
                "file_permissions": self.file_permissions,
            }
        if self.backend == AWS:
            return {"backend_type": AWS, "region": s["region"], "endpoint_url": s["endpoint_url"]}
        summary: dict[str, Any] = {
            "backend_type": self.backend,
            "address": s["address"],
            "auth_method_type": _auth_type(s["auth_method"]),
            "has_stored_credentials": _has_credentials(s["auth_method"]),
            "namespace": s["namespace"],
            "mount_path": s["mount_path"],
        }
        if self.backend == VAULT_KV2:
            summary["kv_mount"] = s["kv_mount"]
            summary["key_path_prefix"] = s["key_path_prefix"]
        summary["skip_tls_verify"] = s["skip_tls_verify"]
        return summary

    def _common(self) -> dict[str, Any]:
        return {
            "default_key_id": self.default_key_id,
            "timeout_seconds": self.timeout_seconds,
            "retry_attempts": self.retry_attempts,
            "enable_cache": self.enable_cache,
            "max_cached_keys": self.max_cached_keys,
            "cache_ttl_seconds": self.cache_ttl_seconds,
            "allow_insecure_dev_defaults": self.allow_insecure_dev_defaults,
        }


def _auth_type(auth: Mapping[str, Any]) -> str:
    return _AUTH_TYPES[next(iter(auth))]


def _has_credentials(auth: Mapping[str, Any]) -> bool:
    variant, inner = next(iter(auth.items()))
    if variant == "Token":
        return bool(str(inner.get("token") or "").strip())
    if variant == "AppRole":
        return bool(inner.get("secret_id") or inner.get("secret_id_file"))
    return True


def parse_configure_body(body: bytes) -> KmsConfig:
    """Decode a configure/reconfigure body; serde-level failures raise ConfigInputError."""
    if not body.strip():
        raise ConfigInputError("Request body is required")
    try:
        document = decode_json(body)
    except BodyError as err:
        raise ConfigInputError(f"Invalid JSON: {err}") from err
    return parse_configure_document(document)


def parse_configure_document(document: Any) -> KmsConfig:
    """Build a KmsConfig from the request form (also used to read the persisted file)."""
    try:
        if not isinstance(document, dict):
            raise BodyError(
                f"invalid type: {describe_value(document)}, expected internally tagged enum "
                "ConfigureKmsRequest"
            )
        if "backend_type" not in document:
            raise BodyError("missing field `backend_type`")
        tag = document["backend_type"]
        if not isinstance(tag, str) or tag not in BACKEND_SPELLINGS:
            shown = tag if isinstance(tag, str) else json.dumps(tag)
            raise BodyError(f"unknown variant `{shown}`, {one_of(list(BACKEND_SPELLINGS))}")
        backend = BACKEND_SPELLINGS[tag]
        if backend == STATIC:
            raise ConfigInputError(STATIC_REFUSAL)
        specs = _BACKEND_FIELDS[backend] + _COMMON
        fields = read_fields(
            document, specs, type_name="ConfigureKmsRequest", ignore=("backend_type",)
        )
        if "auth_method" in fields:
            fields["auth_method"] = _parse_auth(fields["auth_method"])
    except BodyError as err:
        raise ConfigInputError(f"Invalid JSON: {err}") from err
    return _build(backend, fields)


def _parse_auth(value: Mapping[str, Any]) -> dict[str, Any]:
    if len(value) != 1:
        raise BodyError("invalid type: map, expected enum VaultAuthMethod with a single variant")
    variant, inner = next(iter(value.items()))
    if variant not in _AUTH_FIELDS:
        raise BodyError(f"unknown variant `{variant}`, {one_of(list(_AUTH_FIELDS))}")
    parsed = read_fields(inner, _AUTH_FIELDS[variant], type_name=variant)
    defaults: dict[str, dict[str, Any]] = {
        "Token": {},
        "AppRole": {
            "secret_id": None,
            "secret_id_file": None,
            "mount": "approle",
            "refresh_safety_window_secs": None,
        },
        "Kubernetes": {
            "mount": "kubernetes",
            "jwt_path": "/var/run/secrets/kubernetes.io/serviceaccount/token",
            "refresh_safety_window_secs": None,
        },
        "TokenFile": {"poll_interval_secs": None, "refresh_safety_window_secs": None},
    }
    merged = dict(defaults[variant])
    merged.update({k: v for k, v in parsed.items() if v is not None or k not in merged})
    return {variant: merged}


def _build(backend: str, fields: dict[str, Any]) -> KmsConfig:
    def pick(name: str, default: Any) -> Any:
        value = fields.get(name)
        return default if value is None else value

    settings: dict[str, Any]
    if backend == LOCAL:
        settings = {
            "key_dir": fields["key_dir"],
            "master_key": fields.get("master_key"),
            "file_permissions": fields.get("file_permissions"),
        }
    elif backend in (VAULT_KV2, VAULT_TRANSIT):
        settings = {
            "address": fields["address"],
            "auth_method": fields["auth_method"],
            "namespace": fields.get("namespace"),
            "mount_path": pick("mount_path", "transit"),
        }
        if backend == VAULT_KV2:
            settings["kv_mount"] = pick("kv_mount", "secret")
            settings["key_path_prefix"] = pick("key_path_prefix", "rustfs/kms/keys")
        settings["skip_tls_verify"] = pick("skip_tls_verify", False)
    else:
        settings = {"region": fields["region"], "endpoint_url": fields.get("endpoint_url")}
    return KmsConfig(
        backend=backend,
        settings=settings,
        default_key_id=fields.get("default_key_id"),
        timeout_seconds=pick("timeout_seconds", 30),
        retry_attempts=pick("retry_attempts", 3),
        enable_cache=pick("enable_cache", True),
        max_cached_keys=pick("max_cached_keys", 1000),
        cache_ttl_seconds=pick("cache_ttl_seconds", 300),
        allow_insecure_dev_defaults=pick("allow_insecure_dev_defaults", False),
    )


def normalize_against(new: KmsConfig, current: KmsConfig | None) -> KmsConfig:
    """Apply RustFS's carry-over rules (blank Vault token, frozen Local fields) or refuse (E3)."""
    settings = dict(new.settings)
    auth = settings.get("auth_method")
    if isinstance(auth, dict) and "Token" in auth and not str(auth["Token"]["token"]).strip():
        current_auth = current.settings.get("auth_method") if current is not None else None
        if not isinstance(current_auth, dict) or not _has_credentials(current_auth):
            raise ConfigInputError(
                "Vault token is required when no existing KMS credentials are available"
            )
        settings["auth_method"] = current_auth
    allow_dev = new.allow_insecure_dev_defaults
    if current is not None and current.backend == LOCAL:
        if new.backend != LOCAL:
            raise ConfigInputError("Changing from the Local KMS backend is not supported")
        if settings["key_dir"] != current.key_dir:
            raise ConfigInputError("Changing the Local KMS key directory is not supported")
        requested_mode = new.settings.get("file_permissions")
        if requested_mode is not None and requested_mode != current.file_permissions:
            raise ConfigInputError("Changing Local KMS file permissions is not supported")
        if new.master_key is not None:
            raise ConfigInputError("Changing the Local KMS master key is not supported")
        settings["master_key"] = current.settings.get("master_key")
        settings["file_permissions"] = current.file_permissions
        allow_dev = current.allow_insecure_dev_defaults
    return KmsConfig(
        backend=new.backend,
        settings=settings,
        default_key_id=new.default_key_id,
        timeout_seconds=new.timeout_seconds,
        retry_attempts=new.retry_attempts,
        enable_cache=new.enable_cache,
        max_cached_keys=new.max_cached_keys,
        cache_ttl_seconds=new.cache_ttl_seconds,
        allow_insecure_dev_defaults=allow_dev,
    )


def validate_config(config: KmsConfig) -> KmsConfig:
    """Check RustFS's rules and clamp the common fields; raises ConfigValidationError."""
    if config.timeout_seconds == 0:
        _invalid("timeout_seconds must be greater than 0")
    if config.retry_attempts == 0:
        _invalid("retry_attempts must be greater than 0")
    if config.enable_cache and config.max_cached_keys == 0:
        _invalid("max_cached_keys must be greater than 0 when the cache is enabled")
    if config.enable_cache and config.cache_ttl_seconds == 0:
        _invalid("cache_ttl_seconds must be greater than 0 when the cache is enabled")
    dev = config.allow_insecure_dev_defaults
    if config.backend == LOCAL:
        _validate_local(config, dev)
    elif config.backend in (VAULT_KV2, VAULT_TRANSIT):
        _validate_vault(config, dev)
    else:
        _validate_aws(config, dev)
    return KmsConfig(
        backend=config.backend,
        settings=config.settings,
        default_key_id=config.default_key_id,
        timeout_seconds=min(config.timeout_seconds, 300),
        retry_attempts=min(config.retry_attempts, 10),
        enable_cache=config.enable_cache,
        max_cached_keys=config.max_cached_keys,
        cache_ttl_seconds=min(config.cache_ttl_seconds, 86400),
        allow_insecure_dev_defaults=dev,
    )


def _invalid(message: str) -> None:
    raise ConfigValidationError(f"Configuration error: {message}")


def _validate_local(config: KmsConfig, dev: bool) -> None:
    key_dir = config.key_dir or ""
    if not key_dir or not os.path.isabs(key_dir):
        _invalid(f"Local KMS key_dir must be an absolute path, got '{key_dir}'")
    if not 0 < config.file_permissions <= 0o777 or config.file_permissions & 0o600 != 0o600:
        _invalid(
            "Local KMS file_permissions must be an octal mode (as decimal) granting the "
            "owner read and write, e.g. 384 for 0o600"
        )
    if dev:
        return
    if config.master_key is None:
        _invalid(f"Local KMS requires a master key outside explicit development mode; {DEV_HINT}")
    temp_root = Path(os.path.realpath(tempfile.gettempdir()))
    resolved = Path(os.path.realpath(key_dir))
    if resolved == temp_root or temp_root in resolved.parents:
        _invalid(
            "Local KMS key_dir must not be under the temporary directory outside explicit "
            f"development mode; {DEV_HINT}"
        )


def _validate_vault(config: KmsConfig, dev: bool) -> None:
    s = config.settings
    address = str(s["address"])
    if not address.startswith(("http://", "https://")):
        _invalid(f"Vault address must be an http:// or https:// URL, got '{address}'")
    if config.backend == VAULT_KV2 and not str(s["kv_mount"]).strip():
        _invalid("Vault kv_mount must not be empty")
    if config.backend == VAULT_TRANSIT and not str(s["mount_path"]).strip():
        _invalid("Vault Transit mount_path must not be empty")
    variant, inner = next(iter(s["auth_method"].items()))
    if variant == "AppRole" and not (inner.get("secret_id") or inner.get("secret_id_file")):
        _invalid("Vault AppRole auth requires secret_id or secret_id_file")
    if variant == "TokenFile" and inner.get("poll_interval_secs") == 0:
        _invalid("Vault TokenFile poll_interval_secs must be greater than 0")
    if dev:
        return
    if address.startswith("http://"):
        _invalid(f"Vault address must use https outside explicit development mode; {DEV_HINT}")
    if variant == "Token" and inner.get("token") == "dev-token":
        _invalid(f"Vault dev-token is refused outside explicit development mode; {DEV_HINT}")
    if s["skip_tls_verify"]:
        _invalid(f"skip_tls_verify is refused outside explicit development mode; {DEV_HINT}")


def _validate_aws(config: KmsConfig, dev: bool) -> None:
    region = str(config.settings["region"])
    if not region.strip():
        _invalid("AWS KMS region must not be empty")
    endpoint = config.settings.get("endpoint_url")
    if isinstance(endpoint, str) and endpoint.startswith("http://") and not dev:
        _invalid(
            f"AWS KMS endpoint_url must use https outside explicit development mode; {DEV_HINT}"
        )


# --------------------------------------------------------------------------------------------
# Persistence: <data_dir>/kms_config.json, 0600, atomic.

CONFIG_FILE = "kms_config.json"


@dataclass(frozen=True, slots=True)
class PersistedState:
    """What survives a restart: the configuration, whether it ran, and the deployment id."""

    config: KmsConfig | None
    running: bool
    deployment_id: str


def save_state(data_dir: Path, state: PersistedState) -> None:
    """Write the state atomically (temp + fsync + rename + dir fsync), mode 0600."""
    document = {
        "format_version": 1,
        "deployment_id": state.deployment_id,
        "running": state.running,
        "config": state.config.to_document() if state.config is not None else None,
    }
    payload = json.dumps(document, indent=2).encode() + b"\n"
    write_private_file(data_dir / CONFIG_FILE, payload)


def load_state(data_dir: Path) -> PersistedState | None:
    """Read the persisted state, or None when the file does not exist."""
    path = data_dir / CONFIG_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    document = json.loads(raw)
    config_doc = document.get("config")
    config = parse_configure_document(config_doc) if config_doc is not None else None
    return PersistedState(
        config=config,
        running=bool(document.get("running")),
        deployment_id=str(document.get("deployment_id") or ""),
    )
