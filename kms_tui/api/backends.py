"""Configure/reconfigure payloads for each KMS backend, with the server's rules checked locally.

``to_wire()`` gives the exact request body RustFS expects (``backend_type`` tag, ``key_dir``,
``{"Token": {"token": …}}``, ``file_permissions`` as the decimal value of the octal mode);
optional fields are left out when unset so the server's defaults apply. ``validate()`` mirrors
the server's validation so the configure form can show each problem at its field before sending.
Secrets (master key, Vault token, AppRole secret id) never appear in ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AwsConfig",
    "BackendConfig",
    "FieldProblem",
    "LocalConfig",
    "VaultAppRoleAuth",
    "VaultAuth",
    "VaultKubernetesAuth",
    "VaultKv2Config",
    "VaultTokenAuth",
    "VaultTokenFileAuth",
    "VaultTransitConfig",
    "parse_file_mode",
]

_DEV_FLAG_HINT = "only allowed with allow_insecure_dev_defaults (development only)"


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One validation problem, named by the request field it concerns (dotted for nesting)."""

    field: str
    message: str


def parse_file_mode(text: str) -> int:
    """Read an octal mode as typed in a form (``600``, ``0600``, ``0o600``) into its int value."""
    cleaned = text.strip().lower().removeprefix("0o")
    if not cleaned or any(ch not in "01234567" for ch in cleaned):
        raise ValueError(f"file_permissions: {text!r} is not an octal mode such as 0600")
    mode = int(cleaned, 8)
    if mode > 0o777:
        raise ValueError(f"file_permissions: {text!r} is larger than 0777")
    return mode


def _put(body: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        body[key] = value


def _positive(problems: list[FieldProblem], name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        problems.append(FieldProblem(name, f"{name} must be a whole number greater than 0"))


def _is_absolute(path: str) -> bool:
    return path.startswith("/")


def _under(path: str, directory: str) -> bool:
    directory = directory.rstrip("/") or "/"
    return path == directory or path.startswith(directory + "/")


def _server_temp_dirs() -> tuple[str, ...]:
    """Where the server's temp dir most likely is: ``/tmp`` and this machine's own temp dir."""
    import tempfile  # only needed while validating a form; keeps import of this module cheap

    return tuple(dict.fromkeys(("/tmp", tempfile.gettempdir())))


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


# --- Vault authentication ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VaultTokenAuth:
    """Vault token auth; a blank token on reconfigure keeps the server's current credentials."""

    token: str = field(repr=False)

    def to_wire(self) -> dict[str, Any]:
        """``{"Token": {"token": …}}``."""
        return {"Token": {"token": self.token}}

    def validate(self, *, allow_insecure: bool, reconfigure: bool = False) -> list[FieldProblem]:
        """Token present (unless reconfiguring) and not the dev token outside dev mode."""
        problems: list[FieldProblem] = []
        if _blank(self.token) and not reconfigure:
            problems.append(FieldProblem("auth_method.token", "a Vault token is required"))
        if self.token.strip() == "dev-token" and not allow_insecure:
            problems.append(
                FieldProblem("auth_method.token", f"the token 'dev-token' is {_DEV_FLAG_HINT}")
            )
        return problems


@dataclass(frozen=True, slots=True)
class VaultAppRoleAuth:
    """Vault AppRole auth: a role id with a secret id or a file holding one."""

    role_id: str
    secret_id: str | None = field(default=None, repr=False)
    secret_id_file: str | None = None
    mount: str | None = None
    refresh_safety_window_secs: int | None = None

    def to_wire(self) -> dict[str, Any]:
        """``{"AppRole": {...}}`` with unset optional fields left out."""
        inner: dict[str, Any] = {"role_id": self.role_id}
        _put(inner, "secret_id", self.secret_id)
        _put(inner, "secret_id_file", self.secret_id_file)
        _put(inner, "mount", self.mount)
        _put(inner, "refresh_safety_window_secs", self.refresh_safety_window_secs)
        return {"AppRole": inner}

    def validate(self, *, allow_insecure: bool, reconfigure: bool = False) -> list[FieldProblem]:
        """Role id present; a secret id or a secret id file; sane mount and window."""
        problems: list[FieldProblem] = []
        if _blank(self.role_id):
            problems.append(FieldProblem("auth_method.role_id", "an AppRole role_id is required"))
        if _blank(self.secret_id) and _blank(self.secret_id_file):
            problems.append(
                FieldProblem(
                    "auth_method.secret_id",
                    "AppRole needs a secret_id or a secret_id_file",
                )
            )
        if self.secret_id_file is not None and not _is_absolute(self.secret_id_file):
            problems.append(
                FieldProblem(
                    "auth_method.secret_id_file", "secret_id_file must be an absolute path"
                )
            )
        if self.mount is not None and not self.mount.strip():
            problems.append(FieldProblem("auth_method.mount", "mount must not be empty"))
        _positive(
            problems, "auth_method.refresh_safety_window_secs", self.refresh_safety_window_secs
        )
        return problems


@dataclass(frozen=True, slots=True)
class VaultKubernetesAuth:
    """Vault Kubernetes auth with the pod's service-account token."""

    role: str
    mount: str | None = None
    jwt_path: str | None = None
    refresh_safety_window_secs: int | None = None

    def to_wire(self) -> dict[str, Any]:
        """``{"Kubernetes": {...}}`` with unset optional fields left out."""
        inner: dict[str, Any] = {"role": self.role}
        _put(inner, "mount", self.mount)
        _put(inner, "jwt_path", self.jwt_path)
        _put(inner, "refresh_safety_window_secs", self.refresh_safety_window_secs)
        return {"Kubernetes": inner}

    def validate(self, *, allow_insecure: bool, reconfigure: bool = False) -> list[FieldProblem]:
        """Role present; absolute JWT path; sane mount and window."""
        problems: list[FieldProblem] = []
        if _blank(self.role):
            problems.append(FieldProblem("auth_method.role", "a Kubernetes role is required"))
        if self.mount is not None and not self.mount.strip():
            problems.append(FieldProblem("auth_method.mount", "mount must not be empty"))
        if self.jwt_path is not None and not _is_absolute(self.jwt_path):
            problems.append(
                FieldProblem("auth_method.jwt_path", "jwt_path must be an absolute path")
            )
        _positive(
            problems, "auth_method.refresh_safety_window_secs", self.refresh_safety_window_secs
        )
        return problems


@dataclass(frozen=True, slots=True)
class VaultTokenFileAuth:
    """Vault token read (and re-read) from a file the server can see."""

    path: str
    poll_interval_secs: int | None = None
    refresh_safety_window_secs: int | None = None

    def to_wire(self) -> dict[str, Any]:
        """``{"TokenFile": {...}}`` with unset optional fields left out."""
        inner: dict[str, Any] = {"path": self.path}
        _put(inner, "poll_interval_secs", self.poll_interval_secs)
        _put(inner, "refresh_safety_window_secs", self.refresh_safety_window_secs)
        return {"TokenFile": inner}

    def validate(self, *, allow_insecure: bool, reconfigure: bool = False) -> list[FieldProblem]:
        """Absolute path; a poll interval that is not 0."""
        problems: list[FieldProblem] = []
        if _blank(self.path):
            problems.append(FieldProblem("auth_method.path", "a token file path is required"))
        elif not _is_absolute(self.path):
            problems.append(FieldProblem("auth_method.path", "path must be an absolute path"))
        _positive(problems, "auth_method.poll_interval_secs", self.poll_interval_secs)
        _positive(
            problems, "auth_method.refresh_safety_window_secs", self.refresh_safety_window_secs
        )
        return problems


VaultAuth = VaultTokenAuth | VaultAppRoleAuth | VaultKubernetesAuth | VaultTokenFileAuth


# --- backends ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _CommonOptions:
    """Options every backend shares; ``None`` leaves the server default in place."""

    default_key_id: str | None = None
    timeout_seconds: int | None = None
    retry_attempts: int | None = None
    enable_cache: bool | None = None
    max_cached_keys: int | None = None
    cache_ttl_seconds: int | None = None
    allow_insecure_dev_defaults: bool = False

    def _common_wire(self, body: dict[str, Any]) -> dict[str, Any]:
        _put(body, "default_key_id", self.default_key_id)
        _put(body, "timeout_seconds", self.timeout_seconds)
        _put(body, "retry_attempts", self.retry_attempts)
        _put(body, "enable_cache", self.enable_cache)
        _put(body, "max_cached_keys", self.max_cached_keys)
        _put(body, "cache_ttl_seconds", self.cache_ttl_seconds)
        if self.allow_insecure_dev_defaults:
            body["allow_insecure_dev_defaults"] = True
        return body

    def _common_problems(self) -> list[FieldProblem]:
        problems: list[FieldProblem] = []
        if self.default_key_id is not None and not self.default_key_id.strip():
            problems.append(
                FieldProblem("default_key_id", "default_key_id must not be blank (leave it unset)")
            )
        _positive(problems, "timeout_seconds", self.timeout_seconds)
        _positive(problems, "retry_attempts", self.retry_attempts)
        if self.enable_cache is not False:
            _positive(problems, "max_cached_keys", self.max_cached_keys)
            _positive(problems, "cache_ttl_seconds", self.cache_ttl_seconds)
        return problems


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalConfig(_CommonOptions):
    """The Local backend: key files in a directory on the server, wrapped by a master key."""

    key_dir: str
    master_key: str | None = field(default=None, repr=False)
    file_permissions: int | None = None  # the mode itself, e.g. 0o600 (sent as 384)

    def to_wire(self) -> dict[str, Any]:
        """The configure body for Local."""
        body: dict[str, Any] = {"backend_type": "Local", "key_dir": self.key_dir}
        if self.master_key:
            body["master_key"] = self.master_key
        _put(body, "file_permissions", self.file_permissions)
        return self._common_wire(body)

    def validate(self, *, reconfigure: bool = False) -> list[FieldProblem]:
        """The server's Local rules (master key need not be resent on reconfigure)."""
        problems: list[FieldProblem] = []
        dev = self.allow_insecure_dev_defaults
        if _blank(self.key_dir):
            problems.append(FieldProblem("key_dir", "key_dir is required"))
        elif not _is_absolute(self.key_dir):
            problems.append(FieldProblem("key_dir", "key_dir must be an absolute path"))
        elif not dev and any(_under(self.key_dir, tmp) for tmp in _server_temp_dirs()):
            problems.append(
                FieldProblem(
                    "key_dir", f"key_dir inside the temporary directory is {_DEV_FLAG_HINT}"
                )
            )
        if not dev and not reconfigure and _blank(self.master_key):
            problems.append(
                FieldProblem(
                    "master_key",
                    "a master_key is required outside development mode "
                    "(allow_insecure_dev_defaults)",
                )
            )
        mode = self.file_permissions
        if mode is not None and (isinstance(mode, bool) or not 0 <= mode <= 0o777):
            problems.append(
                FieldProblem(
                    "file_permissions", "file_permissions must be a mode from 0000 to 0777"
                )
            )
        return problems + self._common_problems()


def _vault_problems(
    address: str, auth: VaultAuth, skip_tls_verify: bool | None, dev: bool, reconfigure: bool
) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if _blank(address):
        problems.append(FieldProblem("address", "the Vault address is required"))
    elif not address.startswith(("http://", "https://")):
        problems.append(FieldProblem("address", "address must start with https:// (or http://)"))
    elif address.startswith("http://") and not dev:
        problems.append(FieldProblem("address", f"a plain http:// address is {_DEV_FLAG_HINT}"))
    if skip_tls_verify and not dev:
        problems.append(FieldProblem("skip_tls_verify", f"skip_tls_verify is {_DEV_FLAG_HINT}"))
    return problems + auth.validate(allow_insecure=dev, reconfigure=reconfigure)


@dataclass(frozen=True, slots=True, kw_only=True)
class _VaultOptions(_CommonOptions):
    """Fields and rules both Vault backends share."""

    address: str
    auth_method: VaultAuth
    namespace: str | None = None
    mount_path: str | None = None
    skip_tls_verify: bool | None = None

    def _vault_wire(self, backend_type: str, **extra: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "backend_type": backend_type,
            "address": self.address,
            "auth_method": self.auth_method.to_wire(),
        }
        _put(body, "namespace", self.namespace)
        _put(body, "mount_path", self.mount_path)
        for name, value in extra.items():
            _put(body, name, value)
        _put(body, "skip_tls_verify", self.skip_tls_verify)
        return self._common_wire(body)

    def _vault_problems(self, reconfigure: bool) -> list[FieldProblem]:
        return _vault_problems(
            self.address,
            self.auth_method,
            self.skip_tls_verify,
            self.allow_insecure_dev_defaults,
            reconfigure,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class VaultKv2Config(_VaultOptions):
    """Vault KV v2: key material stored as secrets under a KV mount."""

    kv_mount: str | None = None
    key_path_prefix: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The configure body for Vault KV2."""
        return self._vault_wire(
            "VaultKV2", kv_mount=self.kv_mount, key_path_prefix=self.key_path_prefix
        )

    def validate(self, *, reconfigure: bool = False) -> list[FieldProblem]:
        """The server's Vault KV2 rules."""
        problems = self._vault_problems(reconfigure)
        if self.kv_mount is not None and not self.kv_mount.strip():
            problems.append(FieldProblem("kv_mount", "kv_mount must not be empty"))
        return problems + self._common_problems()


@dataclass(frozen=True, slots=True, kw_only=True)
class VaultTransitConfig(_VaultOptions):
    """Vault Transit: the key material never leaves Vault."""

    def to_wire(self) -> dict[str, Any]:
        """The configure body for Vault Transit (no ``kv_mount``: the server refuses it)."""
        return self._vault_wire("VaultTransit")

    def validate(self, *, reconfigure: bool = False) -> list[FieldProblem]:
        """The server's Vault Transit rules."""
        problems = self._vault_problems(reconfigure)
        if self.mount_path is not None and not self.mount_path.strip():
            problems.append(FieldProblem("mount_path", "mount_path must not be empty"))
        return problems + self._common_problems()


@dataclass(frozen=True, slots=True, kw_only=True)
class AwsConfig(_CommonOptions):
    """AWS KMS; the server finds credentials through its own provider chain."""

    region: str
    endpoint_url: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The configure body for AWS."""
        body: dict[str, Any] = {"backend_type": "AWS", "region": self.region}
        _put(body, "endpoint_url", self.endpoint_url)
        return self._common_wire(body)

    def validate(self, *, reconfigure: bool = False) -> list[FieldProblem]:
        """The server's AWS rules."""
        problems: list[FieldProblem] = []
        if _blank(self.region):
            problems.append(FieldProblem("region", "an AWS region is required"))
        url = self.endpoint_url
        if url is not None:
            if not url.startswith(("http://", "https://")):
                problems.append(
                    FieldProblem(
                        "endpoint_url", "endpoint_url must start with https:// (or http://)"
                    )
                )
            elif url.startswith("http://") and not self.allow_insecure_dev_defaults:
                problems.append(
                    FieldProblem(
                        "endpoint_url", f"a plain http:// endpoint_url is {_DEV_FLAG_HINT}"
                    )
                )
        return problems + self._common_problems()


BackendConfig = LocalConfig | VaultKv2Config | VaultTransitConfig | AwsConfig
