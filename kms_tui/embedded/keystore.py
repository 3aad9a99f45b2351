"""RustFS-compatible local key directory: one JSON record per master key, encrypted at rest.

The directory format is RustFS's Local backend (see the shared reference), so a directory
written here opens in RustFS and the other way round. The whole directory is validated and
indexed in memory at ``open()``; reads never touch the disk afterwards.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import stat
import sys
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from kms_tui.embedded.admin_bodies import lone_surrogate_error
from kms_tui.embedded.fsutil import make_private_dirs
from kms_tui.embedded.timefmt import format_zoned, parse_zoned, utc_now

__all__ = [
    "KEY_STATUSES",
    "InvalidKeyIdError",
    "InvalidRecordError",
    "KeyExistsError",
    "KeyNotFoundError",
    "KeyRecord",
    "KeyStoreError",
    "KeyUnreadableError",
    "LocalKeyStore",
    "MasterKeyError",
    "RestoreInProgressError",
    "StorageError",
    "validate_key_id",
]

KEY_STATUSES = ("Active", "Disabled", "PendingDeletion", "Deleted")
FORMAT_VERSION = 1
MARKER_ENCRYPTED = "encrypted-master-key"
MARKER_PLAINTEXT = "plaintext-dev-only"
SALT_FILE = ".master-key.salt"
RESTORE_MARKER_FILE = ".restore-commit.json"
KEY_SUFFIX = ".key"
MATERIAL_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12
_LEGACY_KDF_SUFFIX = b"rustfs-kms-local"
_ARGON2_MEMORY_KIB = 19456
_ARGON2_ITERATIONS = 2
_ARGON2_LANES = 1
_NAME_MAX = 255
_TEMP_SUFFIX_LEN = len(".tmp-") + 36
_HEX = "[0-9A-Fa-f]"
_TEMP_NAME = re.compile(rf"\.tmp-{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}$")
_DIR_MODE = 0o700

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


class _UnreadableRecord(Exception):
    """Internal: why one record file could not be turned into a KeyRecord."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _StoredRecord:
    """A record file decoded from JSON but not yet decrypted."""

    record: KeyRecord  # material holds the stored (possibly encrypted) bytes
    nonce: bytes
    marker: str | None


def _with_material(record: KeyRecord, material: bytes) -> KeyRecord:
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
        raise _UnreadableRecord(REASON_CORRUPT)
    return value


def _optional_str(doc: Mapping[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None or isinstance(value, str):
        return value
    raise _UnreadableRecord(REASON_CORRUPT)


def _check_timestamp(value: str | None) -> None:
    if value is None:
        return
    try:
        parse_zoned(value)
    except ValueError:
        raise _UnreadableRecord(REASON_CORRUPT) from None


def _decode_record(stem: str, raw: bytes) -> _StoredRecord:
    """Decode one record file's JSON (no decryption yet), applying the reference's checks."""
    try:
        doc = load_strict_json(raw)
    except (ValueError, RecursionError):
        raise _UnreadableRecord(REASON_CORRUPT) from None
    if not isinstance(doc, dict):
        raise _UnreadableRecord(REASON_CORRUPT)
    format_version = doc.get("format_version", FORMAT_VERSION)
    if not isinstance(format_version, int) or isinstance(format_version, bool):
        raise _UnreadableRecord(REASON_CORRUPT)
    if format_version > FORMAT_VERSION:
        raise _UnreadableRecord(REASON_VERSION)
    key_id = _require(doc, "key_id", str)
    if key_id != stem:
        raise _UnreadableRecord(REASON_IDENTITY)
    marker = doc.get("at_rest_protection")
    if marker is not None and marker not in (MARKER_ENCRYPTED, MARKER_PLAINTEXT):
        raise _UnreadableRecord(REASON_FORMAT)
    status = _require(doc, "status", str)
    if status not in KEY_STATUSES:
        raise _UnreadableRecord(REASON_CORRUPT)
    metadata = doc.get("metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _UnreadableRecord(REASON_CORRUPT)
    nonce_list = _require(doc, "nonce", list)
    if not all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in nonce_list
    ):
        raise _UnreadableRecord(REASON_CORRUPT)
    encoded = _require(doc, "encrypted_key_material", str)
    if not encoded:
        raise _UnreadableRecord(REASON_MISSING)
    try:
        stored_material = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _UnreadableRecord(REASON_CORRUPT) from None
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
    return _StoredRecord(record=record, nonce=bytes(nonce_list), marker=marker)


@dataclass(frozen=True, slots=True)
class _WrappingKeys:
    """The keys that protect material at rest: Argon2id (current) and SHA-256 (legacy read)."""

    argon2: bytes
    legacy: bytes


def derive_wrapping_keys(master_key: str, salt: bytes) -> _WrappingKeys:
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
    return _WrappingKeys(argon2=kdf.derive(password), legacy=legacy)


def _open_gcm(key: bytes, nonce: bytes, sealed: bytes) -> bytes | None:
    try:
        return AESGCM(key).decrypt(nonce, sealed, None)
    except InvalidTag:
        return None


def _unwrap_material(stored: _StoredRecord, keys: _WrappingKeys | None) -> tuple[bytes, bool]:
    """The §2.2 decision table: (raw material, whether decryption was attempted)."""
    sealed = stored.record.material
    if stored.marker == MARKER_PLAINTEXT or (stored.marker is None and not stored.nonce):
        material, attempted = sealed, False
    else:
        if len(stored.nonce) != NONCE_BYTES:
            raise _UnreadableRecord(REASON_CORRUPT)
        if keys is None:
            raise _UnreadableRecord(REASON_NEEDS_MASTER)
        opened = _open_gcm(keys.argon2, stored.nonce, sealed)
        if opened is None and stored.marker is None:
            opened = _open_gcm(keys.legacy, stored.nonce, sealed)
        if opened is None:
            raise _UnreadableRecord(REASON_AUTH)
        material, attempted = opened, True
    if len(material) != MATERIAL_BYTES:
        raise _UnreadableRecord(REASON_CORRUPT)
    return material, attempted


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


class LocalKeyStore:
    """The key directory plus a sorted in-memory index; safe to share between threads.

    ``contains()`` is true for unreadable records too (the name is taken on disk), while
    ``get()``, ``page()``, ``key_ids()`` and ``len()`` cover readable records only.
    """

    def __init__(
        self,
        key_dir: Path,
        master_key: str | None,
        *,
        file_permissions: int = 0o600,
        allow_plaintext: bool = False,
    ) -> None:
        self._dir = Path(key_dir)
        self._master_key = master_key
        self._file_permissions = file_permissions
        self._allow_plaintext = allow_plaintext
        self._write_lock = threading.RLock()
        self._index_lock = threading.Lock()
        self._ids: list[str] = []
        self._records: dict[str, KeyRecord] = {}
        self._unreadable: dict[str, str] = {}
        self._keys: _WrappingKeys | None = None
        self._opened = False

    def __repr__(self) -> str:
        return f"LocalKeyStore(key_dir={str(self._dir)!r}, open={self._opened})"

    @property
    def key_dir(self) -> Path:
        """Where the records live."""
        return self._dir

    @property
    def encrypts_at_rest(self) -> bool:
        """Whether new writes are encrypted (a master key is configured)."""
        return self._master_key is not None

    # ----------------------------------------------------------------------------- open/close

    def open(self) -> None:
        """Validate and index the whole directory; idempotent."""
        with self._write_lock:
            if self._opened:
                return
            if self._master_key is None and not self._allow_plaintext:
                raise MasterKeyError("no master key configured and plaintext storage not allowed")
            self._prepare_directory()
            self._remove_temp_files()
            # With a salt already on disk, derive first: Argon2id's 19 MiB are freed again before
            # the records are read, instead of adding to the peak of a large store.
            keys = self._existing_wrapping_keys() if self._master_key else None
            stored, unreadable = self._read_all_records()
            if self._master_key and keys is None:
                keys = self._load_wrapping_keys(stored, unreadable)
            records: dict[str, KeyRecord] = {}
            tombstones: list[str] = []
            attempted = failed = 0
            while stored:
                # Popped as it goes: the decoded record is freed as soon as the final one exists.
                key_id, item = stored.popitem()
                if item.record.status == "Deleted":
                    tombstones.append(key_id)
                    continue
                try:
                    material, tried = _unwrap_material(item, keys)
                except _UnreadableRecord as problem:
                    unreadable[key_id] = problem.reason
                    if problem.reason in (REASON_AUTH, REASON_NEEDS_MASTER):
                        attempted += 1
                        failed += 1
                    continue
                attempted += int(tried)
                # Keyed by the record's own id string (equal to the file stem): one copy each.
                records[item.record.key_id] = _with_material(item.record, material)
            if attempted and failed == attempted:
                raise MasterKeyError("the master key does not decrypt any stored key")
            for key_id in tombstones:
                self._remove_file(self._record_path(key_id))
            with self._index_lock:
                self._records = records
                self._ids = sorted(records)
                self._unreadable = unreadable
                self._keys = keys
                self._opened = True

    def close(self) -> None:
        """Forget the index and the wrapping key."""
        with self._write_lock, self._index_lock:
            self._records = {}
            self._ids = []
            self._unreadable = {}
            self._keys = None
            self._opened = False

    def _prepare_directory(self) -> None:
        try:
            make_private_dirs(self._dir)
            if stat.S_IMODE(self._dir.stat().st_mode) != _DIR_MODE:
                os.chmod(self._dir, _DIR_MODE)
            if stat.S_IMODE(self._dir.stat().st_mode) != _DIR_MODE:
                raise StorageError(f"cannot restrict {self._dir} to mode 0700")
        except OSError as err:
            raise StorageError(f"cannot prepare key directory {self._dir}: {err.strerror}") from err
        if (self._dir / RESTORE_MARKER_FILE).exists():
            raise RestoreInProgressError(
                f"{RESTORE_MARKER_FILE} present: an interrupted restore must be finished first"
            )

    def _remove_temp_files(self) -> None:
        try:
            with os.scandir(self._dir) as entries:
                leftovers = [e.path for e in entries if _TEMP_NAME.search(e.name) and e.is_file()]
            for path in leftovers:
                os.remove(path)
            if leftovers:
                self._fsync_dir()
        except OSError as err:
            raise StorageError(f"cannot remove temp files: {err.strerror}") from err

    def _read_all_records(self) -> tuple[dict[str, _StoredRecord], dict[str, str]]:
        stored: dict[str, _StoredRecord] = {}
        unreadable: dict[str, str] = {}
        try:
            with os.scandir(self._dir) as entries:
                names = [
                    e.name
                    for e in entries
                    if e.name.endswith(KEY_SUFFIX) and e.name != KEY_SUFFIX and e.is_file()
                ]
        except OSError as err:
            raise StorageError(f"cannot list key directory: {err.strerror}") from err
        for name in names:
            stem = name[: -len(KEY_SUFFIX)]
            try:
                validate_key_id(stem)
                raw = (self._dir / name).read_bytes()
                stored[stem] = _decode_record(stem, raw)
            except InvalidKeyIdError:
                unreadable[stem] = REASON_BAD_ID
            except IsADirectoryError:
                continue
            except OSError:
                unreadable[stem] = REASON_IO
            except _UnreadableRecord as problem:
                unreadable[stem] = problem.reason
        return stored, unreadable

    def _existing_wrapping_keys(self) -> _WrappingKeys | None:
        """The wrapping keys from the salt on disk, or None when there is no salt file yet."""
        assert self._master_key is not None
        try:
            salt = (self._dir / SALT_FILE).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise MasterKeyError(f"cannot read {SALT_FILE}: {err.strerror}") from err
        if len(salt) != SALT_BYTES:
            raise MasterKeyError(f"{SALT_FILE} must hold exactly {SALT_BYTES} bytes")
        return derive_wrapping_keys(self._master_key, salt)

    def _load_wrapping_keys(
        self, stored: Mapping[str, _StoredRecord], unreadable: Mapping[str, str]
    ) -> _WrappingKeys:
        assert self._master_key is not None
        salt_path = self._dir / SALT_FILE
        try:
            salt: bytes | None = salt_path.read_bytes()
        except FileNotFoundError:
            salt = None
        except OSError as err:
            raise MasterKeyError(f"cannot read {SALT_FILE}: {err.strerror}") from err
        if salt is None:
            if unreadable or any(s.marker == MARKER_ENCRYPTED for s in stored.values()):
                raise MasterKeyError(
                    f"{SALT_FILE} is missing but encrypted or unreadable records exist; "
                    "refusing to create a new salt"
                )
            salt = os.urandom(SALT_BYTES)
            self._write_file(SALT_FILE, SALT_FILE, salt, publish="replace")
        if len(salt) != SALT_BYTES:
            raise MasterKeyError(f"{SALT_FILE} must hold exactly {SALT_BYTES} bytes")
        return derive_wrapping_keys(self._master_key, salt)

    # ---------------------------------------------------------------------------------- reads

    def _require_open(self) -> None:
        if not self._opened:
            raise KeyStoreError("key store is not open")

    @property
    def unreadable_key_ids(self) -> list[str]:
        """Ids whose record exists but cannot be decoded or decrypted, sorted."""
        with self._index_lock:
            return sorted(self._unreadable)

    @property
    def unreadable_reasons(self) -> dict[str, str]:
        """Why each unreadable record failed (e.g. ``authentication-failed``)."""
        with self._index_lock:
            return dict(self._unreadable)

    def __len__(self) -> int:
        with self._index_lock:
            return len(self._ids)

    def key_ids(self) -> list[str]:
        """Readable ids in UTF-8 byte order (equal to code-point order for valid ids)."""
        with self._index_lock:
            return list(self._ids)

    def page(self, marker: str | None, limit: int) -> tuple[list[KeyRecord], bool]:
        """Up to ``limit`` records with id > marker, and whether more remain after them."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        with self._index_lock:
            self._require_open()
            start = 0 if marker is None else bisect.bisect_right(self._ids, marker)
            chosen = self._ids[start : start + limit]
            records = [self._records[key_id] for key_id in chosen]
            return records, start + len(chosen) < len(self._ids)

    def get(self, key_id: str) -> KeyRecord:
        """The record, from memory."""
        with self._index_lock:
            self._require_open()
            record = self._records.get(key_id)
            if record is not None:
                return record
            reason = self._unreadable.get(key_id)
        if reason is not None:
            raise KeyUnreadableError(f"key {key_id!r} is unreadable ({reason})")
        raise KeyNotFoundError(f"key {key_id!r} not found")

    def contains(self, key_id: str) -> bool:
        """Whether the id is taken, by a readable or an unreadable record."""
        with self._index_lock:
            return key_id in self._records or key_id in self._unreadable

    # --------------------------------------------------------------------------------- writes

    def generate_material(self) -> bytes:
        """Fresh 32-byte key material from the OS CSPRNG."""
        return os.urandom(MATERIAL_BYTES)

    def create(self, record: KeyRecord) -> None:
        """Publish a new record with a hard link, so a taken name is never overwritten."""
        self._check_new_id(record.key_id)
        with self._write_lock:
            self._require_open()
            if self.contains(record.key_id):
                raise KeyExistsError(f"key {record.key_id!r} already exists")
            data = self._encode(record)
            self._write_file(record.key_id, record.key_id + KEY_SUFFIX, data, publish="link")
            with self._index_lock:
                bisect.insort(self._ids, record.key_id)
                self._records[record.key_id] = record

    def replace(self, record: KeyRecord) -> None:
        """Rewrite an existing record under a fresh nonce; unchanged records are left alone."""
        with self._write_lock:
            current = self.get(record.key_id)
            if current == record:
                return
            data = self._encode(record)
            self._write_file(record.key_id, record.key_id + KEY_SUFFIX, data, publish="replace")
            with self._index_lock:
                self._records[record.key_id] = record

    def destroy(self, key_id: str) -> None:
        """Tombstone then remove; an unreadable record (no material to re-seal) is just removed."""
        with self._write_lock:
            self._require_open()
            path = self._record_path(key_id)
            with self._index_lock:
                current = self._records.get(key_id)
                damaged = key_id in self._unreadable
            if current is None and not damaged:
                raise KeyNotFoundError(f"key {key_id!r} not found")
            if current is not None:
                tombstone = dataclasses.replace(current, status="Deleted", deletion_date=_now())
                self._write_file(key_id, path.name, self._encode(tombstone), publish="replace")
            with self._index_lock:
                if current is not None:
                    del self._records[key_id]
                    del self._ids[bisect.bisect_left(self._ids, key_id)]
                self._unreadable.pop(key_id, None)
            self._remove_file(path)

    def create_many(self, records: Iterable[KeyRecord]) -> None:
        """Bulk seeding: same files, but one sync and one directory fsync at the end."""
        with self._write_lock:
            self._require_open()
            published: list[KeyRecord] = []
            pending: set[str] = set()
            try:
                for record in records:
                    self._check_new_id(record.key_id)
                    if record.key_id in pending or self.contains(record.key_id):
                        raise KeyExistsError(f"key {record.key_id!r} already exists")
                    data = self._encode(record)
                    name = record.key_id + KEY_SUFFIX
                    self._write_file(record.key_id, name, data, publish="link", durable=False)
                    pending.add(record.key_id)
                    published.append(record)
            finally:
                with self._index_lock:
                    for record in published:
                        self._records[record.key_id] = record
                    self._ids = sorted(self._records)
                if published:
                    os.sync()
                    self._fsync_dir()

    # ------------------------------------------------------------------------------- plumbing

    def _check_new_id(self, key_id: str) -> None:
        validate_key_id(key_id)
        if len(key_id.encode("utf-8")) + _TEMP_SUFFIX_LEN > _NAME_MAX:
            raise InvalidKeyIdError(f"key id {key_id!r} is too long for a file name")

    def _encode(self, record: KeyRecord) -> bytes:
        return encode_record(record, self._keys.argon2 if self._keys else None)

    def _record_path(self, key_id: str) -> Path:
        return self._dir / (key_id + KEY_SUFFIX)

    def _fsync_dir(self) -> None:
        fd = os.open(self._dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _write_file(
        self,
        temp_stem: str,
        final_name: str,
        data: bytes,
        *,
        publish: Literal["link", "replace"],
        durable: bool = True,
    ) -> None:
        """Temp file (mode set before any byte), write, fsync, publish, directory fsync."""
        temp_path = self._dir / f"{temp_stem}.tmp-{uuid.uuid4()}"
        final_path = self._dir / final_name
        published = False
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
            fd = os.open(temp_path, flags, self._file_permissions)
            try:
                os.fchmod(fd, self._file_permissions)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if publish == "link":
                os.link(temp_path, final_path)
            else:
                os.replace(temp_path, final_path)
            published = True
        except FileExistsError as err:
            raise KeyExistsError(f"{final_name!r} already exists") from err
        except OSError as err:
            raise StorageError(f"cannot write {final_name!r}: {err.strerror}") from err
        finally:
            if not published or publish == "link":
                _unlink_quietly(temp_path)
        if durable:
            try:
                self._fsync_dir()
            except OSError as err:
                raise StorageError(f"cannot sync key directory: {err.strerror}") from err

    def _remove_file(self, path: Path) -> None:
        try:
            os.remove(path)
            self._fsync_dir()
        except FileNotFoundError:
            return
        except OSError as err:
            raise StorageError(f"cannot remove {path.name!r}: {err.strerror}") from err


def _unlink_quietly(path: Path) -> None:
    """Best effort: a temp file that cannot be removed now is removed by the next open()."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def _now() -> str:
    return format_zoned(utc_now())
