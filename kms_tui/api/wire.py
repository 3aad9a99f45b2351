"""Wire enums and the field readers every model parser shares (shape errors → KmsResponseError).

Enums keep the exact wire spellings. A value the client does not know yet becomes a
pseudo-member carrying the raw string (``KeyStatus("Archived").known is False``), never an error.
"""

from __future__ import annotations

import base64
import binascii
import sys
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Self, TypeVar

from kms_tui.api.errors import KmsResponseError

__all__ = [
    "BackendHealth",
    "BackendName",
    "BackupResponsibility",
    "ConflictPolicy",
    "ImpactCompleteness",
    "KeySpec",
    "KeyState",
    "KeyStatus",
    "KeyUsage",
    "RotationDueReason",
    "ServiceBackend",
    "ServiceState",
    "VaultAuthType",
    "WireEnum",
    "parse_timestamp",
]


class WireEnum(StrEnum):
    """A wire enum that keeps values it does not know as pseudo-members instead of failing."""

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    @property
    def known(self) -> bool:
        """Whether this value is one the client was written for (not a raw server value)."""
        return type(self)._value2member_map_.get(self._value_) is self


class KeyUsage(WireEnum):
    """What a key may be used for."""

    ENCRYPT_DECRYPT = "EncryptDecrypt"
    SIGN_VERIFY = "SignVerify"


class KeyStatus(WireEnum):
    """A key's state as list items report it."""

    ACTIVE = "Active"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    DELETED = "Deleted"


class KeyState(WireEnum):
    """A key's state as describe and the metadata answers report it."""

    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    PENDING_IMPORT = "PendingImport"
    UNAVAILABLE = "Unavailable"


class KeySpec(WireEnum):
    """Data-key specs generate-data-key accepts."""

    AES_256 = "Aes256"
    AES_128 = "Aes128"
    CHACHA20 = "ChaCha20"


class RotationDueReason(WireEnum):
    """Why the server thinks a key is (or is not) due for rotation."""

    AGE = "age"
    NEVER_ROTATED = "never_rotated"
    WRAPS = "wraps"
    UNSUPPORTED = "unsupported"


class ServiceState(WireEnum):
    """The KMS service state machine; ``Error`` arrives as ``{"Error": "message"}``."""

    NOT_CONFIGURED = "NotConfigured"
    CONFIGURED = "Configured"
    RUNNING = "Running"
    ERROR = "Error"


class ServiceBackend(WireEnum):
    """Backend names of ``/kms/service-status`` (PascalCase)."""

    LOCAL = "Local"
    VAULT_KV2 = "VaultKV2"
    VAULT_TRANSIT = "VaultTransit"
    STATIC = "Static"
    AWS = "AWS"


class BackendName(WireEnum):
    """Backend names of ``/kms/status`` and ``/kms/config`` (lowercase)."""

    LOCAL = "local"
    VAULT_KV2 = "vault-kv2"
    VAULT_TRANSIT = "vault-transit"
    STATIC = "static"
    AWS = "aws"
    UNKNOWN = "unknown"


class BackendHealth(WireEnum):
    """``backend_status`` of ``/kms/status``."""

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    ERROR = "error"


class VaultAuthType(WireEnum):
    """``auth_method_type`` of a Vault backend summary."""

    TOKEN = "token"
    APPROLE = "approle"
    KUBERNETES = "kubernetes"
    TOKEN_FILE = "token_file"


class ImpactCompleteness(WireEnum):
    """How complete a key impact report is."""

    EXACT = "exact"
    OBSERVED_ONLY = "observed-only"
    UNAVAILABLE = "unavailable"


class BackupResponsibility(WireEnum):
    """What a backup of the current backend can hold."""

    FULL_MATERIAL = "full-material"
    REFERENCE_ONLY = "reference-only"
    METADATA_PLUS_EXTERNAL_ROOT = "metadata-plus-external-root"


class ConflictPolicy(WireEnum):
    """``confirm_conflict_policy`` values of a restore."""

    FAIL = "fail"
    RESTORE_INTO_EMPTY_TARGET = "restore-into-empty-target"


# --- field readers -------------------------------------------------------------------------

_MISSING: Any = object()
_E = TypeVar("_E", bound=WireEnum)


def _kind(value: object) -> str:
    if value is _MISSING:
        return "nothing (field missing)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _bad(where: str, key: str, expected: str, value: object) -> KmsResponseError:
    return KmsResponseError(
        f"unexpected answer: {where}.{key} should be {expected}, got {_kind(value)}"
    )


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise KmsResponseError(
            f"unexpected answer: {where} should be an object, got {_kind(value)}"
        )
    return value


def _str(d: Mapping[str, Any], key: str, where: str) -> str:
    value = d.get(key, _MISSING)
    if isinstance(value, str):
        return value
    raise _bad(where, key, "a string", value)


def _opt_str(d: Mapping[str, Any], key: str, where: str) -> str | None:
    value = d.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _bad(where, key, "a string or null", value)


def _bool(d: Mapping[str, Any], key: str, where: str) -> bool:
    value = d.get(key, _MISSING)
    if value is True or value is False:
        return value
    raise _bad(where, key, "a boolean", value)


def _opt_bool(d: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = d.get(key)
    if value is None or value is True or value is False:
        return value
    raise _bad(where, key, "a boolean or null", value)


def _int(d: Mapping[str, Any], key: str, where: str) -> int:
    value = d.get(key, _MISSING)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _bad(where, key, "an integer", value)


def _opt_int(d: Mapping[str, Any], key: str, where: str) -> int | None:
    value = d.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise _bad(where, key, "an integer or null", value)


def _member(cls: type[_E], value: str) -> _E:
    """``cls(value)`` without the enum machinery for known spellings (100,000 keys a listing)."""
    found = cls._value2member_map_.get(value)
    return found if found is not None else cls(value)  # type: ignore[return-value]


def _enum(cls: type[_E], d: Mapping[str, Any], key: str, where: str) -> _E:
    value = d.get(key, _MISSING)
    if isinstance(value, str):
        return _member(cls, value)
    raise _bad(where, key, f"a {cls.__name__} string", value)


def _opt_enum(cls: type[_E], d: Mapping[str, Any], key: str, where: str) -> _E | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return _member(cls, value)
    raise _bad(where, key, f"a {cls.__name__} string or null", value)


_EMPTY_MAP: Mapping[str, str] = MappingProxyType({})


def _str_map(
    d: Mapping[str, Any], key: str, where: str, *, required: bool = True
) -> Mapping[str, str]:
    value = d.get(key, _MISSING)
    if not isinstance(value, dict):
        if not required and (value is None or value is _MISSING):
            return _EMPTY_MAP
        raise _bad(where, key, "an object of strings", value)
    if not value:
        return _EMPTY_MAP
    for name, item in value.items():
        if not isinstance(item, str):
            raise _bad(where, f"{key}.{name}", "a string", item)
    # Tags repeat across keys (env=prod, team=...): interned, 100,000 listed keys share them.
    return MappingProxyType({sys.intern(name): sys.intern(item) for name, item in value.items()})


# Equal string maps parsed on the fast path share one mapping: a listing repeats a few tag sets
# over thousands of keys. Keyed by ``tuple(value.items())``; cleared when full.
_MAP_CACHE: dict[tuple[tuple[str, str], ...], Mapping[str, str]] = {}
_MAP_CACHE_LIMIT = 1024


def _cached_str_map(
    value: dict[str, Any], items: tuple[tuple[str, str], ...]
) -> Mapping[str, str] | None:
    """After ``items`` (``tuple(value.items())``) missed ``_MAP_CACHE``: cache and return
    ``_str_map``'s result for ``value``, a ``dict`` decoded from JSON (its names are ``str``).

    None (a value that is not a string) sends the caller to the careful ``_str_map``, which
    says what is wrong.
    """
    if not value:
        return _EMPTY_MAP
    for item in value.values():
        if type(item) is not str:
            return None
    intern = sys.intern
    mapping = MappingProxyType({intern(name): intern(item) for name, item in items})
    if len(_MAP_CACHE) >= _MAP_CACHE_LIMIT:
        _MAP_CACHE.clear()
    _MAP_CACHE[items] = mapping
    return mapping


def _str_tuple(
    d: Mapping[str, Any], key: str, where: str, *, required: bool = True
) -> tuple[str, ...]:
    value = d.get(key, _MISSING)
    if not isinstance(value, list):
        if not required and (value is None or value is _MISSING):
            return ()
        raise _bad(where, key, "a list of strings", value)
    for item in value:
        if not isinstance(item, str):
            raise _bad(where, key, "a list of strings", item)
    return tuple(value)


def _obj_list(d: Mapping[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    value = d.get(key, _MISSING)
    if not isinstance(value, list):
        raise _bad(where, key, "a list", value)
    return [_obj(item, f"{where}.{key}[]") for item in value]


def parse_timestamp(text: str) -> datetime:
    """RFC 9557 (``…+00:00[UTC]``), ``Z`` or plain RFC 3339 → aware datetime; ValueError if not."""
    core = text
    if core.endswith("]"):
        core = core[: core.rfind("[")]
    if len(core) < 20 or core[10] not in "Tt":
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    if core[-1] in "Zz":
        core = core[:-1] + "+00:00"
    moment = datetime.fromisoformat(core[:10] + "T" + core[11:])
    if moment.tzinfo is None:
        raise ValueError(f"timestamp has no UTC offset: {text!r}")
    return moment


_fromisoformat = datetime.fromisoformat


def _fast_timestamp(text: str) -> datetime | None:
    """:func:`parse_timestamp` for the spellings servers send, in fewer steps; None otherwise.

    Takes ``…+00:00[UTC]``, ``…Z`` and a plain offset, with a capital ``T`` and with or without
    fractional seconds. Anything else (another zone name, lower case, no offset, a bad date)
    gives None and the caller falls back to :func:`parse_timestamp`, which parses it or says
    why not. Whenever this returns a value it is the one :func:`parse_timestamp` returns.
    """
    core = text[:-5] if text[-5:] == "[UTC]" else text
    if len(core) < 20 or core[10] != "T":
        return None
    last = core[-1]
    if last == "Z":
        core = core[:-1] + "+00:00"
    elif last == "]" or last == "z":
        return None
    try:
        moment = _fromisoformat(core)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _time(d: Mapping[str, Any], key: str, where: str) -> datetime:
    value = d.get(key, _MISSING)
    if isinstance(value, str):
        try:
            return parse_timestamp(value)
        except ValueError:
            pass
    raise _bad(where, key, "an RFC 3339 timestamp", value)


def _opt_time(d: Mapping[str, Any], key: str, where: str) -> datetime | None:
    if d.get(key) is None:
        return None
    return _time(d, key, where)


def _b64(d: Mapping[str, Any], key: str, where: str) -> bytes:
    value = d.get(key, _MISSING)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise _bad(where, key, "base64 text", value)


def _service_state(value: object, where: str) -> tuple[ServiceState, str | None]:
    if isinstance(value, str):
        return ServiceState(value), None
    if isinstance(value, dict) and len(value) == 1:
        ((name, detail),) = value.items()
        if isinstance(name, str) and (detail is None or isinstance(detail, str)):
            return ServiceState(name), detail
    raise _bad(where, "status", 'a service state ("Running" or {"Error": "…"})', value)
