"""Connection profiles and console settings, read strictly from one TOML file.

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
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from kms_tui import paths

__all__ = [
    "EMBEDDED_NAME",
    "ENDPOINT_NAME",
    "Connection",
    "Profile",
    "Settings",
    "SettingsError",
    "endpoint_problem",
    "load_settings",
    "resolve_connection",
]

EMBEDDED_NAME = "embedded"
ENDPOINT_NAME = "endpoint"
DEFAULT_REGION = "us-east-1"
DEFAULT_POLL_INTERVAL_SECONDS = 2.0
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0
ACCESS_KEY_ENV = "RUSTFS_ACCESS_KEY"
SECRET_KEY_ENV = "RUSTFS_SECRET_KEY"

_TOP_LEVEL_KEYS = (
    "default_profile",
    "poll_interval_seconds",
    "request_timeout_seconds",
    "keymap",
    "profiles",
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


class SettingsError(Exception):
    """The config file or the command line cannot give a usable connection; never holds a secret."""


@dataclass(frozen=True, slots=True)
class Profile:
    """One ``[profiles.NAME]`` table; the inline secret, if any, is kept out of ``repr``."""

    name: str
    endpoint: str
    access_key: str
    region: str = DEFAULT_REGION
    secret_key_env: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    session_token_env: str | None = None
    read_only: bool = False
    verify_tls: bool = True
    ca_bundle: Path | None = None
    timeout_seconds: float | None = None

    @property
    def has_inline_secret(self) -> bool:
        """Whether the secret key is written in the config file itself."""
        return self.secret_key is not None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the config file says; defaults when there is no file."""

    profiles: Mapping[str, Profile] = field(default_factory=lambda: MappingProxyType({}))
    default_profile: str | None = None
    keymap: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS
    source: Path | None = None


@dataclass(frozen=True, slots=True)
class Connection:
    """What the console needs to build its clients for one server; secrets stay out of repr."""

    name: str
    endpoint: str | None
    region: str
    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    read_only: bool = False
    verify: bool | str = True
    timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS

    @property
    def is_embedded(self) -> bool:
        """Whether the console must start the embedded server (no endpoint given)."""
        return self.endpoint is None


# ---------------------------------------------------------------------------------------------
# Loading


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
    reader = _Reader(config_path, text)
    settings = reader.settings(document)
    if any(profile.has_inline_secret for profile in settings.profiles.values()):
        _refuse_exposed_secret(config_path, file_stat)
    return settings


def _refuse_exposed_secret(config_path: Path, file_stat: os.stat_result) -> None:
    """A secret written in the file is only acceptable when nobody else can read the file."""
    if os.name == "nt":
        return
    mode = stat.S_IMODE(file_stat.st_mode)
    exposed = mode & (stat.S_IRWXG | stat.S_IRWXO)
    foreign_owner = file_stat.st_uid != os.getuid()
    if not exposed and not foreign_owner:
        return
    problem = f"is readable by others (mode {mode:04o})" if exposed else "is owned by another user"
    raise SettingsError(
        f"{config_path}: holds a secret_key but {problem}. Fix it with "
        f"`chmod 600 {config_path}` (as its owner), or remove secret_key and name an "
        "environment variable that holds the secret with secret_key_env instead."
    )


class _Reader:
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
        )

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


def endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` is not a usable server URL, or None when it is."""
    if "@" in endpoint:
        # Before any parsing: a password holding '/' or '#' would hide the userinfo from it.
        return "must not carry credentials; use access_key and secret_key_env"
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return "is not a valid URL (check the port)"
    if port == 0:
        return "must not use port 0"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host name"
    if parts.query or parts.fragment:
        return "must not have a query string or fragment"
    return None


def _without_userinfo(endpoint: str) -> str:
    """``endpoint`` fit for a message: anything up to the last ``@`` after the scheme is hidden.

    A password may itself hold ``/``, ``?``, ``#`` or ``@``, so no URL parsing decides where it
    ends; a path holding ``@`` is hidden too, which costs nothing in an error message.
    """
    scheme, separator, rest = endpoint.partition("://")
    if not separator:
        scheme, rest = "", endpoint
    if "@" not in rest:
        return endpoint
    return f"{scheme}{separator}***@{rest.rsplit('@', 1)[1]}"


# ---------------------------------------------------------------------------------------------
# Choosing the connection


def resolve_connection(
    settings: Settings,
    *,
    profile: str | None = None,
    endpoint: str | None = None,
    read_only: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Connection:
    """Pick the server from ``--endpoint``, ``--profile``, ``default_profile`` or embedded."""
    env = os.environ if environ is None else environ
    if profile is not None and endpoint is not None:
        raise SettingsError("give --profile or --endpoint, not both")
    if endpoint is not None:
        return _endpoint_connection(settings, endpoint, read_only, env)
    name = profile if profile is not None else settings.default_profile
    if name is None or name == EMBEDDED_NAME:
        return _embedded_connection(settings, read_only)
    chosen = settings.profiles.get(name)
    if chosen is None:
        known = ", ".join([EMBEDDED_NAME, *sorted(settings.profiles)])
        where = f" in {settings.source}" if settings.source else " (no config file was found)"
        raise SettingsError(f"no profile named {name!r}{where}; known profiles: {known}")
    return _profile_connection(settings, chosen, read_only, env)


def _endpoint_connection(
    settings: Settings, endpoint: str, read_only: bool, env: Mapping[str, str]
) -> Connection:
    problem = endpoint_problem(endpoint)
    if problem:
        raise SettingsError(f"--endpoint {_without_userinfo(endpoint)!r} {problem}")
    missing = [var for var in (ACCESS_KEY_ENV, SECRET_KEY_ENV) if not env.get(var)]
    if missing:
        raise SettingsError(
            f"--endpoint needs credentials from the environment: set {' and '.join(missing)}"
        )
    return Connection(
        name=ENDPOINT_NAME,
        endpoint=endpoint.rstrip("/"),
        region=DEFAULT_REGION,
        access_key=env[ACCESS_KEY_ENV],
        secret_key=env[SECRET_KEY_ENV],
        read_only=read_only,
        verify=True,
        timeout_seconds=settings.request_timeout_seconds,
    )


def _embedded_connection(settings: Settings, read_only: bool) -> Connection:
    """Fresh random credentials: the embedded server is started with exactly these."""
    return Connection(
        name=EMBEDDED_NAME,
        endpoint=None,
        region=DEFAULT_REGION,
        access_key=f"kmstui{secrets.token_hex(7)}",
        secret_key=secrets.token_urlsafe(30),
        read_only=read_only,
        verify=True,
        timeout_seconds=settings.request_timeout_seconds,
    )


def _profile_connection(
    settings: Settings, chosen: Profile, read_only: bool, env: Mapping[str, str]
) -> Connection:
    if chosen.secret_key_env is not None:
        secret_key = env.get(chosen.secret_key_env, "")
        if not secret_key:
            raise SettingsError(
                f"profile {chosen.name!r} takes its secret key from the environment variable "
                f"{chosen.secret_key_env}, which is not set"
            )
    else:
        assert chosen.secret_key is not None
        secret_key = chosen.secret_key
    session_token: str | None = None
    if chosen.session_token_env is not None:
        session_token = env.get(chosen.session_token_env, "")
        if not session_token:
            raise SettingsError(
                f"profile {chosen.name!r} takes its session token from the environment "
                f"variable {chosen.session_token_env}, which is not set"
            )
    verify: bool | str = str(chosen.ca_bundle) if chosen.ca_bundle else chosen.verify_tls
    timeout = chosen.timeout_seconds or settings.request_timeout_seconds
    return Connection(
        name=chosen.name,
        endpoint=chosen.endpoint,
        region=chosen.region,
        access_key=chosen.access_key,
        secret_key=secret_key,
        session_token=session_token,
        read_only=read_only or chosen.read_only,
        verify=verify,
        timeout_seconds=timeout,
    )
