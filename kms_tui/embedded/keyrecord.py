"""One key record of RustFS's Local backend: its model, its JSON, and its encryption at rest.

The format (field names, Argon2id parameters, AES-256-GCM, the two at-rest markers, the legacy
SHA-256 key) is RustFS's, from the shared reference; :mod:`kms_tui.embedded.keystore` keeps a
directory of these records.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from kms_tui.embedded.admin_bodies import lone_surrogate_error
from kms_tui.embedded.timefmt import parse_zoned

KEY_STATUSES = ("Active", "Disabled", "PendingDeletion", "Deleted")
FORMAT_VERSION = 1
MARKER_ENCRYPTED = "encrypted-master-key"
MARKER_PLAINTEXT = "plaintext-dev-only"
MATERIAL_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12
_LEGACY_KDF_SUFFIX = b"rustfs-kms-local"
_ARGON2_MEMORY_KIB = 19456
_ARGON2_ITERATIONS = 2
_ARGON2_LANES = 1

# Reasons a record is listed as unreadable (kept short and free of key material).
REASON_CORRUPT = "corrupt"
REASON_IDENTITY = "identity-mismatch"
REASON_VERSION = "unsupported-format-version"
REASON_FORMAT = "unsupported-format"
REASON_MISSING = "material-missing"
REASON_AUTH = "authentication-failed"
REASON_NEEDS_MASTER = "master-key-required"
REASON_BAD_ID = "invalid-key-id"
REASON_IO = "io-error"


class KeyStoreError(Exception):
    """Base of every key-store failure; messages never contain key material."""


class KeyNotFoundError(KeyStoreError):
    """No readable record with that id."""


class KeyExistsError(KeyStoreError):
    """A record with that id already exists."""


class KeyUnreadableError(KeyStoreError):
    """The record is present but cannot be decoded or decrypted."""


class InvalidKeyIdError(KeyStoreError, ValueError):
    """The id cannot be a single plain file name."""


class InvalidRecordError(KeyStoreError, ValueError):
    """A record handed in for writing cannot be stored (material size, unencodable text)."""


class StorageError(KeyStoreError):
    """An I/O failure; the previous state is left intact."""


class MasterKeyError(KeyStoreError):
    """Wrong master key or a salt problem at open()."""


class RestoreInProgressError(KeyStoreError):
    """An interrupted backup restore left its commit marker; RustFS refuses to start too."""


def validate_key_id(key_id: str) -> None:
    """Reject ids that are not a single plain file name, as RustFS does."""
    if not key_id:
        raise InvalidKeyIdError("key id must not be empty")
    if key_id in (".", ".."):
        raise InvalidKeyIdError(f"key id {key_id!r} is not a plain file name")
    for forbidden in ("/", "\\", "\x00"):
        if forbidden in key_id:
            raise InvalidKeyIdError(f"key id {key_id!r} contains a forbidden character")
    try:
        key_id.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKeyIdError(f"key id {key_id!r} is not valid Unicode") from None


_NO_METADATA: Mapping[str, str] = MappingProxyType({})


def _frozen_metadata(metadata: Mapping[str, str]) -> Mapping[str, str]:
    if not metadata:
        return _NO_METADATA  # one shared empty mapping: most keys of a large store have no tags
    if isinstance(metadata, MappingProxyType):
        return metadata  # already a private read-only copy (a record made from a record)
    return MappingProxyType(
        {sys.intern(name): sys.intern(value) for name, value in metadata.items()}
    )


def _empty_metadata() -> Mapping[str, str]:
    return _NO_METADATA


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One master key as held in memory; material never appears in repr."""

    key_id: str
    material: bytes = field(repr=False)
    version: int = 1
    algorithm: str = "AES_256"
    usage: str = "EncryptDecrypt"
    status: str = "Active"
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=_empty_metadata)
    created_at: str = ""
    rotated_at: str | None = None
    created_by: str | None = "local-kms"
    deletion_date: str | None = None

    def __post_init__(self) -> None:
        """Copy the tags into a read-only mapping so a shared record cannot be changed."""
        object.__setattr__(self, "metadata", _frozen_metadata(self.metadata))
        object.__setattr__(self, "material", bytes(self.material))

    def __hash__(self) -> int:
        """Hash by identity fields; the tag mapping itself is not hashable."""
        return hash((self.key_id, self.version, self.status, self.created_at))


class UnreadableRecord(Exception):
    """Internal: why one record file could not be turned into a KeyRecord."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record file decoded from JSON but not yet decrypted."""

    record: KeyRecord  # material holds the stored (possibly encrypted) bytes
    nonce: bytes
    marker: str | None


def with_material(record: KeyRecord, material: bytes) -> KeyRecord:
    """Put the unwrapped material into a just-decoded record that nothing else holds yet.

    Opening 100,000 keys, a second record per key (``dataclasses.replace``) doubled the peak
    memory of the store for no benefit: the decoded record is thrown away right after.
    """
    object.__setattr__(record, "material", bytes(material))
    return record


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json object hook: RustFS rejects a record or envelope with a repeated field."""
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate field {name!r}")
        result[name] = value
    return result


def load_strict_json(raw: bytes) -> Any:
    """Parse UTF-8 JSON, refusing duplicate fields and lone surrogates, as serde_json does."""
    text = raw.decode("utf-8")
    document = json.loads(text, object_pairs_hook=_reject_duplicates)
    surrogate = lone_surrogate_error(text)
    if surrogate is not None:
        raise ValueError(surrogate)
    return document


def _require(doc: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise UnreadableRecord(REASON_CORRUPT)
    return value


def _optional_str(doc: Mapping[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None or isinstance(value, str):
        return value
    raise UnreadableRecord(REASON_CORRUPT)


def _check_timestamp(value: str | None) -> None:
    if value is None:
        return
    try:
        parse_zoned(value)
    except ValueError:
        raise UnreadableRecord(REASON_CORRUPT) from None


def decode_record(stem: str, raw: bytes) -> StoredRecord:
    """Decode one record file's JSON (no decryption yet), applying the reference's checks."""
    try:
        doc = load_strict_json(raw)
    except (ValueError, RecursionError):
        raise UnreadableRecord(REASON_CORRUPT) from None
    if not isinstance(doc, dict):
        raise UnreadableRecord(REASON_CORRUPT)
    format_version = doc.get("format_version", FORMAT_VERSION)
    if not isinstance(format_version, int) or isinstance(format_version, bool):
        raise UnreadableRecord(REASON_CORRUPT)
    if format_version > FORMAT_VERSION:
        raise UnreadableRecord(REASON_VERSION)
    key_id = _require(doc, "key_id", str)
    if key_id != stem:
        raise UnreadableRecord(REASON_IDENTITY)
    marker = doc.get("at_rest_protection")
    if marker is not None and marker not in (MARKER_ENCRYPTED, MARKER_PLAINTEXT):
        raise UnreadableRecord(REASON_FORMAT)
    status = _require(doc, "status", str)
    if status not in KEY_STATUSES:
        raise UnreadableRecord(REASON_CORRUPT)
    metadata = doc.get("metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise UnreadableRecord(REASON_CORRUPT)
    nonce_list = _require(doc, "nonce", list)
    if not all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in nonce_list
    ):
        raise UnreadableRecord(REASON_CORRUPT)
    encoded = _require(doc, "encrypted_key_material", str)
    if not encoded:
        raise UnreadableRecord(REASON_MISSING)
    try:
        stored_material = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise UnreadableRecord(REASON_CORRUPT) from None
    created_at = _require(doc, "created_at", str)
    rotated_at = _optional_str(doc, "rotated_at")
    deletion_date = _optional_str(doc, "deletion_date")
    for moment in (created_at, rotated_at, deletion_date):
        _check_timestamp(moment)
    created_by = _optional_str(doc, "created_by")
    # Interned: 100,000 records share a handful of these values instead of a copy each.
    record = KeyRecord(
        key_id=key_id,
        material=stored_material,
        version=_require(doc, "version", int),
        algorithm=sys.intern(_require(doc, "algorithm", str)),
        usage=sys.intern(_require(doc, "usage", str)),
        status=sys.intern(status),
        description=_optional_str(doc, "description"),
        metadata=metadata,
        created_at=created_at,
        rotated_at=rotated_at,
        created_by=sys.intern(created_by) if created_by is not None else None,
        deletion_date=deletion_date,
    )
    return StoredRecord(record=record, nonce=bytes(nonce_list), marker=marker)


@dataclass(frozen=True, slots=True)
class WrappingKeys:
    """The keys that protect material at rest: Argon2id (current) and SHA-256 (legacy read)."""

    argon2: bytes
    legacy: bytes


def derive_wrapping_keys(master_key: str, salt: bytes) -> WrappingKeys:
    """RustFS's KDFs: Argon2id v0x13 m=19456 KiB t=2 p=1, and the pre-beta.9 SHA-256 one."""
    password = master_key.encode("utf-8")
    kdf = Argon2id(
        salt=salt,
        length=32,
        iterations=_ARGON2_ITERATIONS,
        lanes=_ARGON2_LANES,
        memory_cost=_ARGON2_MEMORY_KIB,
    )
    legacy = hashlib.sha256(password + _LEGACY_KDF_SUFFIX).digest()
    return WrappingKeys(argon2=kdf.derive(password), legacy=legacy)


def _open_gcm(key: bytes, nonce: bytes, sealed: bytes) -> bytes | None:
    try:
        return AESGCM(key).decrypt(nonce, sealed, None)
    except InvalidTag:
        return None


def unwrap_material(stored: StoredRecord, keys: WrappingKeys | None) -> tuple[bytes, bool]:
    """The §2.2 decision table: (raw material, whether decryption was attempted)."""
    sealed = stored.record.material
    if stored.marker == MARKER_PLAINTEXT or (stored.marker is None and not stored.nonce):
        material, attempted = sealed, False
    else:
        if len(stored.nonce) != NONCE_BYTES:
            raise UnreadableRecord(REASON_CORRUPT)
        if keys is None:
            raise UnreadableRecord(REASON_NEEDS_MASTER)
        opened = _open_gcm(keys.argon2, stored.nonce, sealed)
        if opened is None and stored.marker is None:
            opened = _open_gcm(keys.legacy, stored.nonce, sealed)
        if opened is None:
            raise UnreadableRecord(REASON_AUTH)
        material, attempted = opened, True
    if len(material) != MATERIAL_BYTES:
        raise UnreadableRecord(REASON_CORRUPT)
    return material, attempted


def record_fields(record: KeyRecord) -> dict[str, Any]:
    """A record's fields other than its id and material, in the reference's order."""
    return {
        "version": record.version,
        "algorithm": record.algorithm,
        "usage": record.usage,
        "status": record.status,
        "description": record.description,
        "metadata": dict(record.metadata),
        "created_at": record.created_at,
        "rotated_at": record.rotated_at,
        "created_by": record.created_by,
        "deletion_date": record.deletion_date,
    }


def encode_record(record: KeyRecord, wrapping_key: bytes | None) -> bytes:
    """Serialise a record exactly as RustFS does (serde pretty JSON, reference field order)."""
    if len(record.material) != MATERIAL_BYTES:
        raise InvalidRecordError(f"key material must be {MATERIAL_BYTES} bytes")
    if wrapping_key is None:
        sealed, nonce, marker = record.material, b"", MARKER_PLAINTEXT
    else:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(wrapping_key).encrypt(nonce, record.material, None)
        marker = MARKER_ENCRYPTED
    document = {
        "format_version": FORMAT_VERSION,
        "key_id": record.key_id,
        **record_fields(record),
        "encrypted_key_material": base64.b64encode(sealed).decode("ascii"),
        "nonce": list(nonce),
        "at_rest_protection": marker,
    }
    try:
        return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRecordError(
            f"record {record.key_id!r} holds text that is not valid Unicode"
        ) from None
