"""The bucket store: bucket names and their default encryption, one JSON file per bucket.

The bucket store also owns the object store (``objects``, under ``<data_dir>/objects``): it
tells it which buckets exist, and refuses to delete a bucket that still holds objects. The KMS
service asks it which keys a bucket's default encryption still names.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import re
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from kms_tui.embedded.objects_store import ObjectStore
from kms_tui.embedded.timefmt import format_zoned, parse_zoned, utc_now
from kms_tui.paths import TEMP_MARKER, ensure_private_dir, fsync_dir, write_private_file

__all__ = [
    "SSE_AES256",
    "SSE_KMS",
    "BucketExistsError",
    "BucketNotEmptyError",
    "BucketNotFoundError",
    "BucketRecord",
    "BucketStore",
    "BucketStoreError",
    "is_valid_bucket_name",
]

SSE_AES256 = "AES256"
SSE_KMS = "aws:kms"
_DIR_MODE = 0o700
_SUFFIX = ".json"
_NAME_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")

logger = logging.getLogger("kms_tui.embedded.buckets")


class BucketStoreError(Exception):
    """A bucket operation that cannot be done (base class)."""


class BucketNotFoundError(BucketStoreError):
    """The bucket does not exist."""


class BucketExistsError(BucketStoreError):
    """A bucket of that name already exists (and, with one owner, is ours)."""


class BucketNotEmptyError(BucketStoreError):
    """The bucket still holds objects."""


@dataclass(frozen=True, slots=True)
class BucketRecord:
    """One bucket and its default encryption (algorithm None: no configuration)."""

    name: str
    created_at: datetime
    sse_algorithm: str | None = None
    kms_key_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The persisted form."""
        return {
            "name": self.name,
            "created_at": format_zoned(self.created_at),
            "sse_algorithm": self.sse_algorithm,
            "kms_key_id": self.kms_key_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BucketRecord:
        """Read the persisted form; raises ValueError/KeyError/TypeError on a damaged file."""
        name = data["name"]
        algorithm = data.get("sse_algorithm")
        key_id = data.get("kms_key_id")
        if not isinstance(name, str) or not is_valid_bucket_name(name):
            raise ValueError("invalid bucket name in record")
        if algorithm not in (None, SSE_AES256, SSE_KMS):
            raise ValueError("invalid sse_algorithm in record")
        if key_id is not None and not isinstance(key_id, str):
            raise ValueError("invalid kms_key_id in record")
        return cls(name, parse_zoned(str(data["created_at"])), algorithm, key_id)


def is_valid_bucket_name(name: str) -> bool:
    """Whether S3 accepts this as a (general purpose) bucket name."""
    if not _NAME_CHARS.match(name) or ".." in name or ".-" in name or "-." in name:
        return False
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return False
    with contextlib.suppress(ValueError):
        ipaddress.IPv4Address(name)
        return False
    return True


class BucketStore:
    """Thread-safe bucket index in memory, written through to ``<data_dir>/buckets``."""

    def __init__(self, data_dir: Path) -> None:
        self._dir = Path(data_dir) / "buckets"
        self.objects = ObjectStore(Path(data_dir) / "objects")
        self._lock = threading.RLock()
        self._records: dict[str, BucketRecord] = {}
        self._loaded = False

    @property
    def directory(self) -> Path:
        """Where the bucket files live."""
        return self._dir

    def load(self) -> None:
        """Create the directory if needed, drop stale temp files and read every bucket file."""
        with self._lock:
            ensure_private_dir(self._dir, narrow=False)
            os.chmod(self._dir, _DIR_MODE)
            records: dict[str, BucketRecord] = {}
            for entry in sorted(self._dir.iterdir()):
                if TEMP_MARKER in entry.name:
                    with contextlib.suppress(FileNotFoundError):
                        entry.unlink()
                    continue
                if not entry.name.endswith(_SUFFIX):
                    continue
                try:
                    record = BucketRecord.from_json(json.loads(entry.read_text("utf-8")))
                except (OSError, ValueError, KeyError, TypeError) as err:
                    logger.error("ignoring unreadable bucket file %s: %s", entry.name, err)
                    continue
                if entry.name != record.name + _SUFFIX:
                    logger.error("ignoring bucket file %s: name does not match", entry.name)
                    continue
                records[record.name] = record
            self._records = records
            self.objects.load(records)
            self._loaded = True

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self.load()

    def list_buckets(self) -> list[BucketRecord]:
        """Every bucket, sorted by name."""
        with self._lock:
            self._ensure_loaded()
            return [self._records[name] for name in sorted(self._records)]

    def get(self, name: str) -> BucketRecord | None:
        """The bucket, or None when it does not exist."""
        with self._lock:
            self._ensure_loaded()
            return self._records.get(name)

    def require(self, name: str) -> BucketRecord:
        """The bucket, or BucketNotFoundError."""
        record = self.get(name)
        if record is None:
            raise BucketNotFoundError(name)
        return record

    def create(self, name: str) -> BucketRecord:
        """Create an empty bucket with no default encryption."""
        if not is_valid_bucket_name(name):
            raise ValueError(f"invalid bucket name: {name!r}")
        with self._lock:
            self._ensure_loaded()
            if name in self._records:
                raise BucketExistsError(name)
            record = BucketRecord(name, utc_now().replace(microsecond=0))
            self._write(record)
            self._records[name] = record
            self.objects.open_bucket(name)
            return record

    def delete(self, name: str) -> None:
        """Remove an empty bucket; BucketNotEmptyError while it holds objects."""
        with self._lock:
            self.require(name)
            if not self.objects.close_bucket(name):
                raise BucketNotEmptyError(name)
            path = self._path(name)
            try:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                fsync_dir(self._dir)
            except BaseException:
                self.objects.open_bucket(name)  # the bucket is still there: keep it usable
                raise
            del self._records[name]

    def set_encryption(self, name: str, algorithm: str, kms_key_id: str | None) -> BucketRecord:
        """Set the bucket's default encryption (SSE-S3, or SSE-KMS naming a key)."""
        if algorithm not in (SSE_AES256, SSE_KMS):
            raise ValueError(f"unsupported algorithm: {algorithm!r}")
        with self._lock:
            updated = replace(self.require(name), sse_algorithm=algorithm, kms_key_id=kms_key_id)
            return self._store(updated)

    def clear_encryption(self, name: str) -> BucketRecord:
        """Remove the default encryption; a bucket that has none is left as it is."""
        with self._lock:
            updated = replace(self.require(name), sse_algorithm=None, kms_key_id=None)
            return self._store(updated)

    def buckets_naming_key(self, key_id: str) -> list[str]:
        """Buckets whose default encryption names this KMS key (for the deletion impact)."""
        with self._lock:
            self._ensure_loaded()
            return sorted(
                record.name
                for record in self._records.values()
                if record.sse_algorithm == SSE_KMS and record.kms_key_id == key_id
            )

    def _store(self, record: BucketRecord) -> BucketRecord:
        if self._records.get(record.name) != record:
            self._write(record)
            self._records[record.name] = record
        return record

    def _path(self, name: str) -> Path:
        return self._dir / (name + _SUFFIX)

    def _write(self, record: BucketRecord) -> None:
        """Atomic replace: exclusive temp file (0600), fsync, rename, fsync the directory."""
        data = json.dumps(record.to_json(), indent=2).encode() + b"\n"
        write_private_file(self._path(record.name), data)
