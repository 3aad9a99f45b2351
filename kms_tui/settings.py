"""Connection profiles and console settings, and how the console picks the server to use.

The types here are what the config file is read into; the file's schema and its strict reader
(``load_settings``) are in :mod:`kms_tui.settings_reader`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

__all__ = [
    "EMBEDDED_NAME",
    "ENDPOINT_NAME",
    "Connection",
    "Profile",
    "Settings",
    "SettingsError",
    "endpoint_problem",
    "resolve_connection",
]

EMBEDDED_NAME = "embedded"
ENDPOINT_NAME = "endpoint"
DEFAULT_REGION = "us-east-1"
DEFAULT_POLL_INTERVAL_SECONDS = 2.0
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0
ACCESS_KEY_ENV = "RUSTFS_ACCESS_KEY"
SECRET_KEY_ENV = "RUSTFS_SECRET_KEY"


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
    # [embedded]: restricted accounts for the console's own server, and which one to sign in as
    embedded_users: Path | None = None
    embedded_account: str | None = None


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
    # The embedded server only: its users file, and the account the console signs in as (the
    # root credential above starts and sets up the server either way).
    users_file: Path | None = None
    account: str | None = None

    @property
    def is_embedded(self) -> bool:
        """Whether the console must start the embedded server (no endpoint given)."""
        return self.endpoint is None


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
        users_file=settings.embedded_users,
        account=settings.embedded_account,
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
