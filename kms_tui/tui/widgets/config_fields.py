"""The configure form's fields per backend, prefilled from the server's configuration.

Field names are the request fields of :mod:`kms_tui.api.backends` (dotted for ``auth_method``)
so each :class:`~kms_tui.api.backends.FieldProblem` lands on the input it concerns; the rules
that turn the typed values into a config live in :mod:`kms_tui.tui.dialogs.configure_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Checkbox, Input, Label, Static

from kms_tui.api.service_models import (
    ConfigSummary,
    LocalBackendSummary,
    VaultKv2BackendSummary,
    VaultTransitBackendSummary,
)
from kms_tui.tui.dialogs.configure_rules import frozen_local_dev_flag

__all__ = [
    "AUTH_METHODS",
    "BACKENDS",
    "FIELDS",
    "FieldRow",
    "FieldSpec",
    "field_dom_id",
    "group_visible",
    "prefill",
]

FieldKind = Literal["text", "secret", "int", "mode", "bool"]

# Backend choices of the form: (select value, label).
BACKENDS: tuple[tuple[str, str], ...] = (
    ("Local", "Local (key files on the server)"),
    ("VaultKV2", "Vault KV2"),
    ("VaultTransit", "Vault Transit"),
)
AUTH_METHODS: tuple[tuple[str, str], ...] = (("Token", "Token"), ("AppRole", "AppRole"))


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One input of the form: its request field, label, kind and the group that shows it."""

    name: str
    label: str
    kind: FieldKind
    group: str  # local | vault | kv2 | token | approle | common
    placeholder: str = ""


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "key_dir",
        "Key directory (absolute path on the server)",
        "text",
        "local",
        "/var/lib/rustfs/kms",
    ),
    FieldSpec("master_key", "Master key (passphrase)", "secret", "local"),
    FieldSpec("file_permissions", "File permissions (octal)", "mode", "local", "0600"),
    FieldSpec("address", "Vault address", "text", "vault", "https://vault.example.com:8200"),
    FieldSpec("namespace", "Namespace", "text", "vault"),
    FieldSpec("mount_path", "Mount path", "text", "vault", "transit"),
    FieldSpec("kv_mount", "KV mount", "text", "kv2", "secret"),
    FieldSpec("key_path_prefix", "Key path prefix", "text", "kv2", "rustfs/kms/keys"),
    FieldSpec("skip_tls_verify", "Skip TLS verification (development only)", "bool", "vault"),
    FieldSpec("auth_method.token", "Vault token", "secret", "token"),
    FieldSpec("auth_method.role_id", "AppRole role_id", "text", "approle"),
    FieldSpec("auth_method.secret_id", "AppRole secret_id", "secret", "approle"),
    FieldSpec("auth_method.secret_id_file", "secret_id file (absolute path)", "text", "approle"),
    FieldSpec("auth_method.mount", "AppRole mount", "text", "approle", "approle"),
    FieldSpec("default_key_id", "Default key id", "text", "common"),
    FieldSpec("timeout_seconds", "Timeout (seconds)", "int", "common", "30"),
    FieldSpec("retry_attempts", "Retry attempts", "int", "common", "3"),
    FieldSpec("enable_cache", "Enable the metadata cache", "bool", "common"),
    FieldSpec("max_cached_keys", "Max cached keys", "int", "common", "1000"),
    FieldSpec("cache_ttl_seconds", "Cache TTL (seconds)", "int", "common", "300"),
    FieldSpec(
        "allow_insecure_dev_defaults", "Allow insecure development defaults", "bool", "common"
    ),
)


def field_dom_id(name: str) -> str:
    """The DOM id of a field's input (``auth_method.token`` → ``field-auth_method-token``)."""
    return "field-" + name.replace(".", "-")


def group_visible(group: str, backend: str, auth: str) -> bool:
    """Whether a field group belongs to the chosen backend and Vault auth method."""
    vault = backend in ("VaultKV2", "VaultTransit")
    return {
        "local": backend == "Local",
        "vault": vault,
        "kv2": backend == "VaultKV2",
        "token": vault and auth == "Token",
        "approle": vault and auth == "AppRole",
        "common": True,
    }.get(group, False)


def prefill(summary: ConfigSummary | None) -> tuple[str, str, dict[str, str | bool]]:
    """Backend, auth method and field values from the running config; secrets stay blank."""
    values: dict[str, str | bool] = {"enable_cache": True}
    if summary is None:
        return "Local", "Token", values
    values.update(
        {
            "default_key_id": summary.default_key_id or "",
            "timeout_seconds": str(summary.timeout_seconds),
            "retry_attempts": str(summary.retry_attempts),
            "enable_cache": summary.enable_cache,
            "max_cached_keys": str(summary.max_cached_keys),
            "cache_ttl_seconds": str(summary.cache_ttl_seconds),
        }
    )
    backend_summary = summary.backend_summary
    backend, auth = "Local", "Token"
    if isinstance(backend_summary, LocalBackendSummary):
        values["key_dir"] = backend_summary.key_dir
        if backend_summary.file_permissions is not None:
            values["file_permissions"] = f"0{backend_summary.file_permissions:o}"
        # The flag is frozen for Local; tick it as the server must have it (see the rule).
        values["allow_insecure_dev_defaults"] = frozen_local_dev_flag(backend_summary.key_dir)
    elif isinstance(backend_summary, VaultKv2BackendSummary | VaultTransitBackendSummary):
        backend = (
            "VaultKV2" if isinstance(backend_summary, VaultKv2BackendSummary) else "VaultTransit"
        )
        auth = "AppRole" if backend_summary.auth_method_type == "approle" else "Token"
        values.update(
            {
                "address": backend_summary.address,
                "namespace": backend_summary.namespace or "",
                "mount_path": backend_summary.mount_path or "",
                "skip_tls_verify": backend_summary.skip_tls_verify,
            }
        )
        if isinstance(backend_summary, VaultKv2BackendSummary):
            values["kv_mount"] = backend_summary.kv_mount or ""
            values["key_path_prefix"] = backend_summary.key_path_prefix or ""
    return backend, auth, values


class FieldRow(Vertical):
    """A label, its input (masked for secrets) and the reason it is invalid, if it is."""

    DEFAULT_CSS = """
    FieldRow { height: auto; }
    FieldRow > .field-problem { color: $error; display: none; }
    FieldRow.-invalid > .field-problem { display: block; }
    """

    def __init__(self, spec: FieldSpec, value: str | bool) -> None:
        super().__init__(classes=f"field-row group-{spec.group}")
        self.spec = spec
        self.initial = value

    def compose(self) -> ComposeResult:
        spec = self.spec
        dom_id = field_dom_id(spec.name)
        if spec.kind == "bool":
            yield Checkbox(spec.label, value=self.initial is True, id=dom_id)
        else:
            yield Label(spec.label, classes="field-label")
            yield Input(
                value=self.initial if isinstance(self.initial, str) else "",
                placeholder=spec.placeholder,
                password=spec.kind == "secret",
                id=dom_id,
            )
        yield Static("", classes="field-problem", markup=False)

    def value(self) -> str | bool:
        """What the field holds now."""
        if self.spec.kind == "bool":
            return self.query_one(Checkbox).value
        return self.query_one(Input).value

    def show_problem(self, message: str | None) -> None:
        """Mark the field invalid with ``message``, or clear the mark."""
        self.set_class(message is not None, "-invalid")
        self.query_one(".field-problem", Static).update(message or "")
        control = self.query_one(Checkbox if self.spec.kind == "bool" else Input)
        control.set_class(message is not None, "-invalid")
        control.tooltip = message

    @property
    def problem(self) -> str | None:
        """The reason shown, if the field is marked invalid."""
        if not self.has_class("-invalid"):
            return None
        return str(self.query_one(".field-problem", Static).content)
