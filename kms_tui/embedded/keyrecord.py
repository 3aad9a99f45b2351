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
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
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
    result = dict(pairs)
    if len(result) != len(pairs):  # only then look for the name (the hook runs per object)
        seen: set[str] = set()
        for name, _value in pairs:
            if name in seen:
                raise ValueError(f"duplicate field {name!r}")
            seen.add(name)
    return result


# One decoder for every strict parse (json.loads with a hook builds a new one per call).
_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicates)


def load_strict_json(raw: bytes) -> Any:
    """Parse UTF-8 JSON, refusing duplicate fields and lone surrogates, as serde_json does."""
    text = raw.decode("utf-8")
    if text.startswith("\ufeff"):  # what json.loads says, as it did before the shared decoder
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    document = _STRICT_DECODER.decode(text)
    surrogate = lone_surrogate_error(text)
    if surrogate is not None:
        raise ValueError(surrogate)
    return document


def _corrupt() -> UnreadableRecord:
    return UnreadableRecord(REASON_CORRUPT)


# The form this store and RustFS write (UTC); anything else takes the general parser.
_CANONICAL_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?\+00:00\[UTC\]")


def _check_timestamp(value: str) -> None:
    """Refuse a timestamp parse_zoned would refuse (a fast path for the canonical form)."""
    try:
        if _CANONICAL_MOMENT.fullmatch(value):
            # What parse_zoned does with this form: drop "[UTC]"; fromisoformat reads 1-9
            # fraction digits alike (truncating past 6), so the verdict is the same.
            datetime.fromisoformat(value[:-5])
        else:
            parse_zoned(value)
    except ValueError:
        raise _corrupt() from None


_MARKERS = (MARKER_ENCRYPTED, MARKER_PLAINTEXT)
_INT_ONLY = frozenset({int})
_STR_ONLY = frozenset({str})


def decode_record(stem: str, raw: bytes) -> StoredRecord:
    """Decode one record file's JSON (no decryption yet), applying the reference's checks.

    This runs once per key when a store opens, so the checks are written for speed: JSON
    values are exactly ``str``/``int``/``bool``/..., so ``type(v) is int`` is "an integer and
    not a bool". The order of the checks decides the reason given for a record with several
    faults: everything after the "material missing" check is plain corruption.
    """
    try:
        doc = load_strict_json(raw)
    except (ValueError, RecursionError):
        raise _corrupt() from None
    if type(doc) is not dict:
        raise _corrupt()
    get = doc.get
    format_version = get("format_version", FORMAT_VERSION)
    if type(format_version) is not int:
        raise _corrupt()
    if format_version > FORMAT_VERSION:
        raise UnreadableRecord(REASON_VERSION)
    key_id = get("key_id")
    if type(key_id) is not str:
        raise _corrupt()
    if key_id != stem:
        raise UnreadableRecord(REASON_IDENTITY)
    marker = get("at_rest_protection")
    if marker is not None and marker not in _MARKERS:
        raise UnreadableRecord(REASON_FORMAT)
    status = get("status")
    if type(status) is not str or status not in KEY_STATUSES:
        raise _corrupt()
    metadata = get("metadata", _NO_METADATA)
    if metadata is not _NO_METADATA and (
        type(metadata) is not dict or not set(map(type, metadata.values())) <= _STR_ONLY
    ):
        raise _corrupt()
    nonce_list = get("nonce")
    if type(nonce_list) is not list or not set(map(type, nonce_list)) <= _INT_ONLY:
        raise _corrupt()
    try:
        nonce = bytes(nonce_list)  # ValueError: a value outside 0..255
    except ValueError:
        raise _corrupt() from None
    encoded = get("encrypted_key_material")
    if type(encoded) is not str:
        raise _corrupt()
    if not encoded:
        raise UnreadableRecord(REASON_MISSING)
    try:
        stored_material = binascii.a2b_base64(encoded, strict_mode=True)  # b64decode(validate)
    except ValueError:  # binascii.Error included; non-ASCII text is a ValueError
        raise _corrupt() from None
    created_at = get("created_at")
    rotated_at = get("rotated_at")
    deletion_date = get("deletion_date")
    created_by = get("created_by")
    description = get("description")
    version = get("version")
    algorithm = get("algorithm")
    usage = get("usage")
    if (
        type(created_at) is not str
        or (rotated_at is not None and type(rotated_at) is not str)
        or (deletion_date is not None and type(deletion_date) is not str)
        or (created_by is not None and type(created_by) is not str)
        or (description is not None and type(description) is not str)
        or type(version) is not int
        or type(algorithm) is not str
        or type(usage) is not str
    ):
        raise _corrupt()
    _check_timestamp(created_at)
    if rotated_at is not None:
        _check_timestamp(rotated_at)
    if deletion_date is not None:
        _check_timestamp(deletion_date)
    # Interned: 100,000 records share a handful of these values instead of a copy each.
    record = KeyRecord(
        key_id=key_id,
        material=stored_material,
        version=version,
        algorithm=sys.intern(algorithm),
        usage=sys.intern(usage),
        status=sys.intern(status),
        description=description,
        metadata=metadata,
        created_at=created_at,
        rotated_at=rotated_at,
        created_by=sys.intern(created_by) if created_by is not None else None,
        deletion_date=deletion_date,
    )
    return StoredRecord(record=record, nonce=nonce, marker=marker)


@dataclass(frozen=True, slots=True)
class WrappingKeys:
    """The keys that protect material at rest: Argon2id (current) and SHA-256 (legacy read).

    Each comes with its AES-GCM cipher, built once (a store opens thousands of records).
    """

    argon2: bytes = field(repr=False)
    legacy: bytes = field(repr=False)
    argon2_aead: AESGCM = field(init=False, repr=False, compare=False)
    legacy_aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Build the two ciphers."""
        object.__setattr__(self, "argon2_aead", AESGCM(self.argon2))
        object.__setattr__(self, "legacy_aead", AESGCM(self.legacy))


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


def _open_gcm(aead: AESGCM, nonce: bytes, sealed: bytes) -> bytes | None:
    try:
        return aead.decrypt(nonce, sealed, None)
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
        opened = _open_gcm(keys.argon2_aead, stored.nonce, sealed)
        if opened is None and stored.marker is None:
            opened = _open_gcm(keys.legacy_aead, stored.nonce, sealed)
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
