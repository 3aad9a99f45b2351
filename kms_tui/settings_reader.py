"""The settings file: its schema, and the strict reader that checks every key of it.

The file is ``KMS_TUI_CONFIG`` when that is set, else ``config.toml`` in the platform config
directory (``~/.config/kms-tui/config.toml`` on Linux); ``--config PATH`` overrides both. A
missing file is fine: the console then starts the embedded server. Every key the file may hold
is listed below; any other key, or a value of the wrong type, is an error that names the file,
the table, the key and (when it can be found) the line.

Top level:

- ``default_profile`` (string, optional): profile used when neither ``--profile`` nor
  ``--endpoint`` is given. Absent: the embedded server.
- ``poll_interval_seconds`` (number > 0, default 2.0): live statistics polling interval.
- ``request_timeout_seconds`` (number > 0, default 30.0): default timeout for every request.

``[keymap]``: binding id → key or comma-separated keys, handed to ``App.set_keymap``
(``"keys.create" = "n"``).

``[embedded]`` (the console's own server):

- ``users`` (string, optional): a users file of restricted accounts (the format of
  ``kms-tui serve --users``); must exist. A relative path is taken relative to the config file.
- ``account`` (string, optional; needs ``users``): sign the console in as this account of the
  file instead of the root credential (which still starts and sets up the server).

``[profiles.NAME]`` (NAME: letters, digits, ``_ . -``; ``embedded`` is reserved for the
built-in server):

- ``endpoint`` (string, required): ``http://`` or ``https://`` URL of the RustFS server.
- ``region`` (string, default ``us-east-1``): SigV4 signing region.
- ``access_key`` (string, required).
- ``secret_key_env`` (string): environment variable holding the secret key; or
- ``secret_key`` (string): the secret key itself, accepted only when the file is private
  (mode 0600, owned by the user). Exactly one of the two is required.
- ``session_token_env`` (string, optional): environment variable holding an STS session token.
- ``read_only`` (bool, default false): disable every action that changes anything.
- ``verify_tls`` (bool, default true): verify the server's TLS certificate.
- ``ca_bundle`` (string, optional): PEM file of CA certificates to trust; must exist. A
  relative path is taken relative to the config file's directory.
- ``timeout_seconds`` (number > 0, optional): this profile's request timeout; default
  ``request_timeout_seconds``.

:func:`load_settings` reads the file into :class:`~kms_tui.settings.Settings`; any problem is a
:class:`~kms_tui.settings.SettingsError`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from kms_tui import paths
from kms_tui.settings import (
    DEFAULT_POLL_INTERVAL_SECONDS,
    DEFAULT_REGION,
    DEFAULT_REQUEST_TIMEOUT_SECONDS,
    EMBEDDED_NAME,
    Profile,
    Settings,
    SettingsError,
    endpoint_problem,
)

__all__ = ["SettingsReader", "load_settings"]

_TOP_LEVEL_KEYS = (
    "default_profile",
    "poll_interval_seconds",
    "request_timeout_seconds",
    "keymap",
    "profiles",
    "embedded",
)
_PROFILE_KEYS = (
    "endpoint",
    "region",
    "access_key",
    "secret_key_env",
    "secret_key",
    "session_token_env",
    "read_only",
    "verify_tls",
    "ca_bundle",
    "timeout_seconds",
)
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check the config file; a missing file gives the defaults."""
    config_path = Path(path).expanduser() if path is not None else paths.config_file(environ)
    try:
        with open(config_path, "rb") as handle:
            file_stat = os.fstat(handle.fileno())
            raw = handle.read()
    except FileNotFoundError:
        return Settings()
    except IsADirectoryError:
        raise SettingsError(f"{config_path}: is a directory, not a config file") from None
    except OSError as err:
        raise SettingsError(f"{config_path}: cannot read config file: {err.strerror}") from err
    text = raw.decode("utf-8", errors="replace")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"{config_path}: not valid TOML: {err}") from err
    reader = SettingsReader(config_path, text)
    settings = reader.settings(document)
    if any(profile.has_inline_secret for profile in settings.profiles.values()):
        _refuse_exposed_secret(config_path, file_stat)
    return settings


def _refuse_exposed_secret(config_path: Path, file_stat: os.stat_result) -> None:
    """A secret written in the file is only acceptable when nobody else can read the file."""
    problem = paths.exposure_of(file_stat)
    if problem is None:
        return
    raise SettingsError(
        f"{config_path}: holds a secret_key but {problem}. Fix it with "
        f"`chmod 600 {config_path}` (as its owner), or remove secret_key and name an "
        "environment variable that holds the secret with secret_key_env instead."
    )


class SettingsReader:
    """Checks one parsed document against the schema, naming file, table, key and line."""

    def __init__(self, config_path: Path, text: str) -> None:
        self.config_path = config_path
        self.lines = text.splitlines()

    # -- errors ---------------------------------------------------------------------------

    def error(self, table: tuple[str, ...], key: str | None, problem: str) -> SettingsError:
        where = f"[{_dotted(table)}]" if table else "the top-level table"
        line = self.find_line(table, key)
        location = f"{self.config_path}" + (f", line {line}" if line else "")
        if key is None:
            return SettingsError(f"{location}: {where}: {problem}")
        return SettingsError(f"{location}: key {key!r} in {where}: {problem}")

    def find_line(self, table: tuple[str, ...], key: str | None) -> int | None:
        """Best-effort line number of ``key`` in ``table`` (or of the table header)."""
        current: tuple[str, ...] = ()
        header_line: int | None = None
        for number, raw_line in enumerate(self.lines, start=1):
            stripped = raw_line.strip()
            header = _parse_header(stripped)
            if header is not None:
                current = header
                if current == table and header_line is None:
                    header_line = number
                continue
            if key is None or "=" not in stripped:
                continue
            left = stripped.split("=", 1)[0].strip()
            dotted = _split_dotted(left)
            if dotted is None:
                continue
            if current + dotted == (*table, key):
                return number
        return header_line

    # -- value readers ----------------------------------------------------------------------

    def check_keys(
        self, table: tuple[str, ...], values: Mapping[str, Any], allowed: tuple[str, ...]
    ) -> None:
        for key in values:
            if key not in allowed:
                raise self.error(
                    table, key, f"unknown key (allowed keys: {', '.join(sorted(allowed))})"
                )

    def string(self, table: tuple[str, ...], values: Mapping[str, Any], key: str) -> str | None:
        """A non-empty string; messages never quote values, so secrets cannot leak."""
        if key not in values:
            return None
        value = values[key]
        if not isinstance(value, str):
            raise self.error(table, key, f"must be a string, not {_type_name(value)}")
        if not value.strip():
            raise self.error(table, key, "must not be empty")
        return value

    def boolean(
        self, table: tuple[str, ...], values: Mapping[str, Any], key: str, default: bool
    ) -> bool:
        if key not in values:
            return default
        value = values[key]
        if not isinstance(value, bool):
            raise self.error(table, key, f"must be true or false, not {_type_name(value)}")
        return value

    def seconds(self, table: tuple[str, ...], values: Mapping[str, Any], key: str) -> float | None:
        if key not in values:
            return None
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(table, key, f"must be a number of seconds, not {_type_name(value)}")
        if not value > 0 or value != value or value == float("inf"):
            raise self.error(table, key, f"must be greater than 0 and finite (got {value})")
        return float(value)

    def table(self, parent: tuple[str, ...], values: Mapping[str, Any], key: str) -> dict[str, Any]:
        if key not in values:
            return {}
        value = values[key]
        if not isinstance(value, dict):
            raise self.error(parent, key, f"must be a table, not {_type_name(value)}")
        return value

    # -- the schema -------------------------------------------------------------------------

    def settings(self, document: Mapping[str, Any]) -> Settings:
        top: tuple[str, ...] = ()
        self.check_keys(top, document, _TOP_LEVEL_KEYS)
        poll = self.seconds(top, document, "poll_interval_seconds")
        timeout = self.seconds(top, document, "request_timeout_seconds")
        keymap = self.keymap(self.table(top, document, "keymap"))
        profiles_table = self.table(top, document, "profiles")
        profiles: dict[str, Profile] = {}
        for name, body in profiles_table.items():
            profiles[name] = self.profile(name, body)
        embedded_users, embedded_account = self.embedded(self.table(top, document, "embedded"))
        default_profile = self.string(top, document, "default_profile")
        if default_profile is not None and default_profile not in profiles:
            known = ", ".join(sorted(profiles)) or "none are defined"
            raise self.error(
                top, "default_profile", f"names no profile {default_profile!r} (known: {known})"
            )
        return Settings(
            profiles=MappingProxyType(profiles),
            default_profile=default_profile,
            keymap=MappingProxyType(keymap),
            poll_interval_seconds=poll if poll is not None else DEFAULT_POLL_INTERVAL_SECONDS,
            request_timeout_seconds=(
                timeout if timeout is not None else DEFAULT_REQUEST_TIMEOUT_SECONDS
            ),
            source=self.config_path,
            embedded_users=embedded_users,
            embedded_account=embedded_account,
        )

    def embedded(self, values: Mapping[str, Any]) -> tuple[Path | None, str | None]:
        table = ("embedded",)
        self.check_keys(table, values, ("users", "account"))
        users = self.string(table, values, "users")
        account = self.string(table, values, "account")
        if account is not None and users is None:
            raise self.error(table, "account", "needs users (the file that defines the account)")
        if users is None:
            return None, None
        path = Path(users).expanduser()
        if not path.is_absolute():
            path = self.config_path.parent / path
        if not path.is_file():
            raise self.error(table, "users", f"no such file: {path}")
        return path, account

    def keymap(self, values: Mapping[str, Any]) -> dict[str, str]:
        table = ("keymap",)
        keymap: dict[str, str] = {}
        for binding_id in values:
            keys = self.string(table, values, binding_id)
            if not binding_id.strip():
                raise self.error(table, binding_id, "binding id must not be empty")
            assert keys is not None
            keymap[binding_id] = keys
        return keymap

    def profile(self, name: str, body: object) -> Profile:
        table = ("profiles", name)
        if not isinstance(body, dict):
            raise self.error(("profiles",), name, f"must be a table, not {_type_name(body)}")
        if not _PROFILE_NAME.match(name):
            raise self.error(
                table, None, "profile names may use only letters, digits, '_', '.' and '-'"
            )
        if name == EMBEDDED_NAME:
            raise self.error(table, None, f"the name {EMBEDDED_NAME!r} is reserved")
        self.check_keys(table, body, _PROFILE_KEYS)
        endpoint = self.string(table, body, "endpoint")
        if endpoint is None:
            raise self.error(table, None, "missing required key 'endpoint'")
        problem = endpoint_problem(endpoint)
        if problem:
            raise self.error(table, "endpoint", problem)
        access_key = self.string(table, body, "access_key")
        if access_key is None:
            raise self.error(table, None, "missing required key 'access_key'")
        secret_key_env = self.string(table, body, "secret_key_env")
        secret_key = self.string(table, body, "secret_key")
        if secret_key_env is not None and secret_key is not None:
            raise self.error(table, "secret_key", "give secret_key_env or secret_key, not both")
        if secret_key_env is None and secret_key is None:
            raise self.error(
                table,
                None,
                "missing the secret key: set secret_key_env to the name of an environment "
                "variable that holds it (or secret_key, in a file only you can read)",
            )
        verify_tls = self.boolean(table, body, "verify_tls", True)
        ca_bundle = self.ca_bundle(table, body)
        if ca_bundle is not None and not verify_tls:
            raise self.error(table, "ca_bundle", "has no effect when verify_tls = false")
        return Profile(
            name=name,
            endpoint=endpoint.rstrip("/"),
            access_key=access_key,
            region=self.string(table, body, "region") or DEFAULT_REGION,
            secret_key_env=secret_key_env,
            secret_key=secret_key,
            session_token_env=self.string(table, body, "session_token_env"),
            read_only=self.boolean(table, body, "read_only", False),
            verify_tls=verify_tls,
            ca_bundle=ca_bundle,
            timeout_seconds=self.seconds(table, body, "timeout_seconds"),
        )

    def ca_bundle(self, table: tuple[str, ...], body: Mapping[str, Any]) -> Path | None:
        value = self.string(table, body, "ca_bundle")
        if value is None:
            return None
        bundle = Path(value).expanduser()
        if not bundle.is_absolute():
            bundle = self.config_path.parent / bundle
        if not bundle.is_file():
            raise self.error(table, "ca_bundle", f"no such file: {bundle}")
        return bundle


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    for kind, label in names.items():
        if type(value) is kind:
            return label
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


def _dotted(parts: tuple[str, ...]) -> str:
    return ".".join(part if _BARE_KEY.match(part) else f'"{part}"' for part in parts)


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_KEY_PART = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([A-Za-z0-9_-]+))\s*')


def _split_dotted(text: str) -> tuple[str, ...] | None:
    """Split a TOML dotted key (``a."b.c".d``) into its parts; None when it is not one."""
    parts: list[str] = []
    position = 0
    while True:
        match = _KEY_PART.match(text, position)
        if not match:
            return None
        basic, literal, bare = match.groups()
        parts.append(basic if basic is not None else literal if literal is not None else bare)
        position = match.end()
        if position == len(text):
            return tuple(parts)
        if text[position] != ".":
            return None
        position += 1


def _parse_header(line: str) -> tuple[str, ...] | None:
    """The table path of a ``[a.b]`` or ``[[a.b]]`` header line; None for other lines."""
    if not line.startswith("["):
        return None
    inner = line.split("#", 1)[0].strip()
    if inner.startswith("[[") and inner.endswith("]]"):
        return _split_dotted(inner[2:-2])
    if inner.endswith("]"):
        return _split_dotted(inner[1:-1])
    return None
