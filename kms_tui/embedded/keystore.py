"""RustFS-compatible local key directory: one JSON record per master key, encrypted at rest.

The directory format is RustFS's Local backend (see the shared reference), so a directory
written here opens in RustFS and the other way round. The whole directory is validated and
indexed in memory at ``open()``; reads never touch the disk afterwards.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from kms_tui.embedded.keyrecord import (
    MARKER_ENCRYPTED,
    MATERIAL_BYTES,
    REASON_AUTH,
    REASON_BAD_ID,
    REASON_IO,
    REASON_NEEDS_MASTER,
    SALT_BYTES,
    InvalidKeyIdError,
    KeyExistsError,
    KeyNotFoundError,
    KeyRecord,
    KeyStoreError,
    KeyUnreadableError,
    MasterKeyError,
    RestoreInProgressError,
    StorageError,
    StoredRecord,
    UnreadableRecord,
    WrappingKeys,
    decode_record,
    derive_wrapping_keys,
    encode_record,
    unwrap_material,
    validate_key_id,
    with_material,
)
from kms_tui.embedded.timefmt import format_zoned, utc_now
from kms_tui.paths import TEMP_MARKER, ensure_private_dir, fsync_dir, write_private_file

__all__ = ["LocalKeyStore"]

SALT_FILE = ".master-key.salt"
RESTORE_MARKER_FILE = ".restore-commit.json"
KEY_SUFFIX = ".key"
_NAME_MAX = 255
_TEMP_SUFFIX_LEN = len(TEMP_MARKER) + 36  # write_private_file's temp names: <key id>.tmp-<uuid4>
_HEX = "[0-9A-Fa-f]"
_TEMP_NAME = re.compile(
    rf"{re.escape(TEMP_MARKER)}{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}$"
)
_DIR_MODE = 0o700
_OPEN_AT = os.open in os.supports_dir_fd
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_READ_CHUNK = 1 << 16


def _read_at(name: str, dir_fd: int | None) -> bytes:
    """A whole file with plain system calls (open, read to EOF, close): one per record."""
    fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    try:
        data = os.read(fd, _READ_CHUNK)
        if not data:
            return data
        chunks = [data]
        while chunk := os.read(fd, _READ_CHUNK):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return data if len(chunks) == 1 else b"".join(chunks)


class _Opening:
    """What ``open()`` gathers record by record: the index, unreadable ids, tombstones."""

    __slots__ = ("attempted", "failed", "keys", "records", "tombstones", "unreadable")

    def __init__(self, keys: WrappingKeys | None) -> None:
        self.keys = keys
        self.records: dict[str, KeyRecord] = {}
        self.unreadable: dict[str, str] = {}
        self.tombstones: list[str] = []
        self.attempted = 0
        self.failed = 0

    def admit(self, item: StoredRecord) -> None:
        """Decrypt one decoded record into the index (or note it as a tombstone/unreadable)."""
        record = item.record
        if record.status == "Deleted":
            self.tombstones.append(record.key_id)
            return
        try:
            material, tried = unwrap_material(item, self.keys)
        except UnreadableRecord as problem:
            self.unreadable[record.key_id] = problem.reason
            if problem.reason in (REASON_AUTH, REASON_NEEDS_MASTER):
                self.attempted += 1
                self.failed += 1
            return
        self.attempted += tried
        # Keyed by the record's own id string (equal to the file stem): one copy each.
        self.records[record.key_id] = with_material(record, material)


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
        self._keys: WrappingKeys | None = None
        self._opened = False

    def __repr__(self) -> str:
        return f"LocalKeyStore(key_dir={str(self._dir)!r}, open={self._opened})"

    @property
    def key_dir(self) -> Path:
        """Where the records live."""
        return self._dir

    # ----------------------------------------------------------------------------- open/close

    def open(self) -> None:
        """Validate and index the whole directory; idempotent.

        One pass over the directory when the salt exists (the usual start): each record is
        read, checked, decrypted and indexed before the next is read.
        """
        with self._write_lock:
            if self._opened:
                return
            if self._master_key is None and not self._allow_plaintext:
                raise MasterKeyError("no master key configured and plaintext storage not allowed")
            self._prepare_directory()
            names = self._scan_directory()
            # With a salt already on disk, derive first: Argon2id's 19 MiB are freed again before
            # the records are read, instead of adding to the peak of a large store.
            keys = self._existing_wrapping_keys() if self._master_key else None
            opening = _Opening(keys)
            if self._master_key and keys is None:
                # No salt yet: every record is decoded before one may be created.
                stored = self._read_records(names, opening.unreadable)
                keys = opening.keys = self._load_wrapping_keys(stored, opening.unreadable)
                while stored:
                    # Popped as it goes: the decoded record is freed as soon as the final exists.
                    opening.admit(stored.popitem()[1])
            else:
                self._read_records(names, opening.unreadable, opening.admit)
            if opening.attempted and opening.failed == opening.attempted:
                raise MasterKeyError("the master key does not decrypt any stored key")
            for key_id in opening.tombstones:
                self._remove_file(self._record_path(key_id))
            records = opening.records
            ids = sorted(records)
            with self._index_lock:
                self._records = records
                self._ids = ids
                self._unreadable = opening.unreadable
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
            ensure_private_dir(self._dir, narrow=False)
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

    def _scan_directory(self) -> list[str]:
        """Remove leftover temp files and name the record files, in one listing."""
        names: list[str] = []
        leftovers: list[str] = []
        try:
            with os.scandir(self._dir) as entries:
                for entry in entries:
                    name = entry.name
                    if name.endswith(KEY_SUFFIX):
                        if name != KEY_SUFFIX and entry.is_file():
                            names.append(name)
                    elif TEMP_MARKER in name and _TEMP_NAME.search(name) and entry.is_file():
                        leftovers.append(entry.path)
        except OSError as err:
            raise StorageError(f"cannot list key directory: {err.strerror}") from err
        try:
            for path in leftovers:
                os.remove(path)
            if leftovers:
                fsync_dir(self._dir)
        except OSError as err:
            raise StorageError(f"cannot remove temp files: {err.strerror}") from err
        return names

    def _read_records(
        self,
        names: list[str],
        unreadable: dict[str, str],
        admit: Callable[[StoredRecord], None] | None = None,
    ) -> dict[str, StoredRecord]:
        """Decode each record file; each goes to ``admit``, or is kept when it is None."""
        stored: dict[str, StoredRecord] = {}
        try:
            dir_fd = os.open(self._dir, _DIR_FLAGS) if _OPEN_AT else None
        except OSError as err:
            raise StorageError(f"cannot list key directory: {err.strerror}") from err
        prefix = f"{self._dir}{os.sep}"
        try:
            for name in names:
                stem = name[: -len(KEY_SUFFIX)]
                try:
                    validate_key_id(stem)
                    if dir_fd is not None:
                        raw = _read_at(name, dir_fd)
                    else:
                        raw = _read_at(prefix + name, None)
                    item = decode_record(stem, raw)
                except InvalidKeyIdError:
                    unreadable[stem] = REASON_BAD_ID
                    continue
                except IsADirectoryError:
                    continue
                except OSError:
                    unreadable[stem] = REASON_IO
                    continue
                except UnreadableRecord as problem:
                    unreadable[stem] = problem.reason
                    continue
                if admit is None:
                    stored[stem] = item
                else:
                    admit(item)
        finally:
            if dir_fd is not None:
                os.close(dir_fd)
        return stored

    def _existing_wrapping_keys(self) -> WrappingKeys | None:
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
        self, stored: Mapping[str, StoredRecord], unreadable: Mapping[str, str]
    ) -> WrappingKeys:
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
            self._write(SALT_FILE, salt, create_only=False)
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
            self._write(record.key_id + KEY_SUFFIX, data, create_only=True)
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
            self._write(record.key_id + KEY_SUFFIX, data, create_only=False)
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
                self._write(path.name, self._encode(tombstone), create_only=False)
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
                    self._write(name, data, create_only=True, durable=False)
                    pending.add(record.key_id)
                    published.append(record)
            finally:
                with self._index_lock:
                    for record in published:
                        self._records[record.key_id] = record
                    self._ids = sorted(self._records)
                if published:
                    os.sync()
                    fsync_dir(self._dir)

    # ------------------------------------------------------------------------------- plumbing

    def _check_new_id(self, key_id: str) -> None:
        validate_key_id(key_id)
        if len(key_id.encode("utf-8")) + _TEMP_SUFFIX_LEN > _NAME_MAX:
            raise InvalidKeyIdError(f"key id {key_id!r} is too long for a file name")

    def _encode(self, record: KeyRecord) -> bytes:
        return encode_record(record, self._keys.argon2 if self._keys else None)

    def _record_path(self, key_id: str) -> Path:
        return self._dir / (key_id + KEY_SUFFIX)

    def _write(self, name: str, data: bytes, *, create_only: bool, durable: bool = True) -> None:
        """Publish ``name`` atomically; create-only never overwrites a taken name."""
        try:
            write_private_file(
                self._dir / name,
                data,
                mode=self._file_permissions,
                create_only=create_only,
                durable=durable,
                temp_stem=name.removesuffix(KEY_SUFFIX),  # <key id>.tmp-<uuid4>
                make_parents=False,
            )
        except FileExistsError as err:
            raise KeyExistsError(f"{name!r} already exists") from err
        except OSError as err:
            raise StorageError(f"cannot write {name!r}: {err.strerror}") from err

    def _remove_file(self, path: Path) -> None:
        try:
            os.remove(path)
            fsync_dir(self._dir)
        except FileNotFoundError:
            return
        except OSError as err:
            raise StorageError(f"cannot remove {path.name!r}: {err.strerror}") from err


def _now() -> str:
    return format_zoned(utc_now())
