"""The configure form's rules: typed fields in, a backend config or per-field problems out.

Field names are the request fields of :mod:`kms_tui.api.backends` (dotted for ``auth_method``)
so each :class:`~kms_tui.api.backends.FieldProblem` lands on the input it concerns. On top of
the client's ``validate()`` the form refuses what the server refuses during normalisation
(the frozen Local fields, a blank Vault token with nothing to carry over), file modes without
owner read/write, numbers the server would clamp or cannot parse, and text it cannot show.
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Mapping
from urllib.parse import urlsplit

from kms_tui.api.admin import validate_key_id
from kms_tui.api.backends import (
    BackendConfig,
    FieldProblem,
    LocalConfig,
    VaultAppRoleAuth,
    VaultAuth,
    VaultKv2Config,
    VaultTokenAuth,
    VaultTransitConfig,
    parse_file_mode,
)
from kms_tui.api.service_models import (
    ConfigSummary,
    LocalBackendSummary,
    VaultKv2BackendSummary,
    VaultTransitBackendSummary,
)
from kms_tui.tui.dialogs.form_rules import unusable_character

__all__ = [
    "DEFAULT_FILE_MODE",
    "NUMBER_LIMITS",
    "FormValues",
    "build_config",
    "frozen_local_dev_flag",
]

FormValues = Mapping[str, str | bool]

DEFAULT_FILE_MODE = 0o600
# The server clamps larger values (or cannot parse them); the form refuses them so that what
# the form shows is what the server runs with.
NUMBER_LIMITS: dict[str, int] = {
    "timeout_seconds": 300,
    "retry_attempts": 10,
    "max_cached_keys": 2**32 - 1,
    "cache_ttl_seconds": 86_400,
}
_MAX_TEXT_CHARS = 1024
_MAX_PATH_CHARS = 4095
_FROZEN = "is fixed once the Local backend is configured"


def frozen_local_dev_flag(key_dir: str) -> bool:
    """The development flag an existing Local config must have: set iff its key_dir is in tmp.

    The server only accepted a key directory under a temp dir with the flag, and freezes the
    flag for Local, so the form ticks it exactly then.
    """
    return _under_temp(key_dir)


def _temp_roots() -> set[str]:
    gettemp = tempfile.gettempdir().rstrip("/") or "/"
    return {"/tmp", "/var/tmp", gettemp, posixpath.realpath(gettemp)}


def _normalized(path: str) -> str:
    return posixpath.normpath("/" + path.lstrip("/"))


def _under_temp(path: str) -> bool:
    normal = _normalized(path)
    return any(normal == root or normal.startswith(root + "/") for root in _temp_roots())


class _Reader:
    """Reads typed text into optional values, keeping the first problem found per field."""

    def __init__(self, values: FormValues) -> None:
        self.values = values
        self.problems: dict[str, str] = {}

    def note(self, name: str, message: str) -> None:
        self.problems.setdefault(name, message)

    def _string(self, name: str) -> str:
        value = self.values.get(name, "")
        return "" if isinstance(value, bool) else value

    def _visible(self, name: str, text: str, max_chars: int) -> bool:
        bad = unusable_character(text)
        if bad is not None:
            self.note(name, f"{name} contains an invisible or control character ({bad})")
            return False
        if len(text) > max_chars:
            self.note(name, f"{name} is {len(text)} characters long; at most {max_chars}")
            return False
        return True

    def text(self, name: str, *, max_chars: int = _MAX_TEXT_CHARS) -> str | None:
        """Trimmed text, or None when blank (the server's default applies)."""
        raw = self._string(name)
        self._visible(name, raw, max_chars)
        return raw.strip() or None

    def required(self, name: str, *, max_chars: int = _MAX_TEXT_CHARS) -> str:
        """Trimmed text; blank stays "" so the client's rules say it is required."""
        return self.text(name, max_chars=max_chars) or ""

    def secret(self, name: str) -> str | None:
        """A secret exactly as typed (never trimmed: that would change it), or None when blank."""
        raw = self._string(name)
        if not raw.strip():
            return None
        if self._visible(name, raw, _MAX_TEXT_CHARS) and raw != raw.strip():
            self.note(name, f"{name} must not start or end with spaces")
        return raw

    def segments(self, name: str) -> str | None:
        """A Vault path such as ``transit`` or ``rustfs/kms/keys``: no spaces or stray '/'."""
        value = self.text(name)
        if value is None:
            return None
        if any(char.isspace() for char in value):
            self.note(name, f"{name} must not contain spaces")
        elif value.startswith("/") or value.endswith("/"):
            self.note(name, f"{name} is written without a leading or trailing '/'")
        elif "//" in value:
            self.note(name, f"{name} has an empty part ('//')")
        return value

    def key_id(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None:
            try:
                validate_key_id(value, name)
            except ValueError as err:
                self.note(name, str(err))
        return value

    def flag(self, name: str) -> bool:
        return self.values.get(name) is True

    def number(self, name: str) -> int | None:
        text = self.text(name)
        if text is None:
            return None
        limit = NUMBER_LIMITS[name]
        if not (text.isascii() and text.isdigit()):
            self.note(name, f"{name} must be a whole number")
            return None
        if len(text) > len(str(limit)) or int(text) > limit:
            self.note(name, f"{name} must be at most {limit}")
            return None
        return int(text)

    def mode(self, name: str) -> int | None:
        text = self.text(name)
        if text is None:
            return None
        try:
            mode = parse_file_mode(text)
        except ValueError as err:
            self.note(name, str(err))
            return None
        if mode & 0o600 != 0o600:
            self.note(name, f"{name} must give the owner read and write (e.g. 0600)")
            return None
        return mode


def _auth(read: _Reader, auth: str) -> VaultAuth:
    if auth == "AppRole":
        return VaultAppRoleAuth(
            role_id=read.required("auth_method.role_id"),
            secret_id=read.secret("auth_method.secret_id"),
            secret_id_file=read.text("auth_method.secret_id_file", max_chars=_MAX_PATH_CHARS),
            mount=read.segments("auth_method.mount"),
        )
    return VaultTokenAuth(token=read.secret("auth_method.token") or "")


def _address(read: _Reader, name: str) -> str:
    address = read.required(name)
    if not address.startswith(("http://", "https://")):
        return address  # the client's rule says what is missing
    if any(char.isspace() for char in address):
        read.note(name, f"{name} must not contain spaces")
        return address
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 - reading it is the check: it raises on a bad port
    except ValueError as err:
        read.note(name, f"{name} is not a valid URL ({err})")
        return address
    if not parts.hostname:
        read.note(name, f"{name} needs a host, e.g. https://vault.example.com:8200")
    return address


def _local(
    read: _Reader, common: dict[str, object], current: LocalBackendSummary | None
) -> LocalConfig:
    key_dir = read.required("key_dir", max_chars=_MAX_PATH_CHARS)
    master_key = read.secret("master_key")
    mode = read.mode("file_permissions")
    if current is not None:
        if key_dir.startswith("/") and key_dir != current.key_dir:
            read.note("key_dir", f"key_dir {_FROZEN} (it is {current.key_dir})")
        if master_key is not None:
            read.note("master_key", f"the master key {_FROZEN}; leave it blank to keep it")
        current_mode = current.file_permissions
        current_mode = DEFAULT_FILE_MODE if current_mode is None else current_mode
        if mode is not None and mode != current_mode:
            read.note("file_permissions", f"file_permissions {_FROZEN} (it is 0{current_mode:o})")
        if common["allow_insecure_dev_defaults"] != frozen_local_dev_flag(current.key_dir):
            read.note("allow_insecure_dev_defaults", f"the development flag {_FROZEN}")
    elif (
        key_dir.startswith("/")
        and not common["allow_insecure_dev_defaults"]
        and _under_temp(key_dir)
    ):
        read.note(
            "key_dir",
            "key_dir inside the temporary directory is only allowed with "
            "allow_insecure_dev_defaults (development only)",
        )
    return LocalConfig(
        key_dir=key_dir,
        master_key=master_key,
        file_permissions=mode,
        **common,  # type: ignore[arg-type]
    )


def build_config(
    backend: str, auth: str, values: FormValues, *, current: ConfigSummary | None = None
) -> tuple[BackendConfig | None, list[FieldProblem]]:
    """The config the form describes, or None and one problem per field the server would refuse.

    ``current`` is the server's configuration summary, if it has one: Local fields freeze once
    Local is configured, and a blank Vault token keeps the current Vault credentials only when
    the server holds some.
    """
    read = _Reader(values)
    summary = current.backend_summary if current is not None else None
    local_now = summary if isinstance(summary, LocalBackendSummary) else None
    vault_credentials = (
        isinstance(summary, VaultKv2BackendSummary | VaultTransitBackendSummary)
        and summary.has_stored_credentials
    )
    common: dict[str, object] = {
        "default_key_id": read.key_id("default_key_id"),
        "timeout_seconds": read.number("timeout_seconds"),
        "retry_attempts": read.number("retry_attempts"),
        "enable_cache": read.flag("enable_cache"),
        "max_cached_keys": read.number("max_cached_keys"),
        "cache_ttl_seconds": read.number("cache_ttl_seconds"),
        "allow_insecure_dev_defaults": read.flag("allow_insecure_dev_defaults"),
    }
    config: BackendConfig
    if backend == "Local":
        config = _local(read, common, local_now)
        client_problems = config.validate(reconfigure=local_now is not None)
    elif backend in ("VaultKV2", "VaultTransit"):
        if local_now is not None:
            read.note(
                "backend_type",
                "the server uses the Local backend, which cannot be changed to another backend",
            )
        vault: dict[str, object] = {
            "address": _address(read, "address"),
            "auth_method": _auth(read, auth),
            "namespace": read.segments("namespace"),
            "mount_path": read.segments("mount_path"),
            "skip_tls_verify": read.flag("skip_tls_verify") or None,
        }
        if backend == "VaultKV2":
            config = VaultKv2Config(
                kv_mount=read.segments("kv_mount"),
                key_path_prefix=read.segments("key_path_prefix"),
                **vault,  # type: ignore[arg-type]
                **common,  # type: ignore[arg-type]
            )
        else:
            config = VaultTransitConfig(**vault, **common)  # type: ignore[arg-type]
        client_problems = config.validate(reconfigure=vault_credentials)
    else:
        return None, [FieldProblem("backend_type", f"unsupported backend {backend!r}")]
    for problem in client_problems:
        read.note(problem.field, problem.message)
    problems = [FieldProblem(name, message) for name, message in read.problems.items()]
    return (None if problems else config), problems
