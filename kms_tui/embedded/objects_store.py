"""The object store: one file per object under ``<data_dir>/objects/<bucket>/``, and an index.

A PUT streams into a temp file (``.<name>.tmp-<uuid4>``, 0600) in the bucket's directory; the
metadata trailer is appended, the file fsynced and renamed over the object's name, then the
directory is fsynced, so a crash (even SIGKILL) leaves the old object or the new one, never a
torn one, and at most a temp file, which :meth:`ObjectStore.load` removes at start-up. The
file layout and the block cipher are in :mod:`kms_tui.embedded.objects_format`.

The metadata (JSON, in the trailer)::

    {"format": 1, "key": ..., "size": <plaintext bytes>, "etag": <MD5 of the plaintext, hex>,
     "last_modified": "2026-01-02T03:04:05.678Z", "content_type": ...,
     "headers": {"cache-control": ...}, "user_metadata": {"<name>": ...},
     "checksums": {"x-amz-checksum-crc32": ...},
     "encryption": null | {"x-amz-server-side-encryption": ..., "x-rustfs-encryption-key": ...,
                           ...RustFS's names (§2.3)...},
     "cipher": null | {"name": "AES-256-GCM", "block_size": 65536}}

The index (bucket -> sorted keys with size, ETag and date) is built at start-up from the
trailers and kept in step by every commit and delete; a listing reads only the index. Lock
order: the bucket store's lock, then this store's; this store never calls the bucket store.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

from kms_tui.embedded.objects_format import END, MAGIC, TRAILER_BYTES, object_file_name
from kms_tui.paths import TEMP_MARKER, ensure_private_dir, fsync_dir

__all__ = [
    "ObjectMeta",
    "ObjectStore",
    "ObjectSummary",
    "StoredObject",
    "Upload",
    "UploadBucketGone",
]

_DIR_MODE = 0o700
_FILE_MODE = 0o600
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_FORMAT = 1
_MAX_METADATA_BYTES = 1 << 20
_PAGE = 1000

logger = logging.getLogger("kms_tui.embedded.objects")


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


def format_timestamp(moment: datetime) -> str:
    """``2026-01-02T03:04:05.678Z`` (S3's listing form, millisecond precision)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _string_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"metadata field {name!r} must map strings to strings")
    return value


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """Everything stored about one object besides its body."""

    key: str
    size: int
    etag: str  # MD5 of the plaintext, hex, no quotes
    last_modified: datetime
    content_type: str
    headers: Mapping[str, str] = field(default_factory=lambda: _frozen(None))
    user_metadata: Mapping[str, str] = field(default_factory=lambda: _frozen(None))
    checksums: Mapping[str, str] = field(default_factory=lambda: _frozen(None))
    encryption: Mapping[str, str] | None = None  # RustFS's internal metadata names (§2.3)
    block_size: int | None = None  # set when the body is encrypted blocks

    def __post_init__(self) -> None:
        """Keep the mappings read-only."""
        for name in ("headers", "user_metadata", "checksums"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        if self.encryption is not None:
            object.__setattr__(self, "encryption", _frozen(self.encryption))

    @property
    def encrypted(self) -> bool:
        """Whether the body is ciphertext."""
        return self.encryption is not None

    def to_json(self) -> dict[str, Any]:
        """The persisted form."""
        return {
            "format": _FORMAT,
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "last_modified": format_timestamp(self.last_modified),
            "content_type": self.content_type,
            "headers": dict(self.headers),
            "user_metadata": dict(self.user_metadata),
            "checksums": dict(self.checksums),
            "encryption": dict(self.encryption) if self.encryption is not None else None,
            "cipher": (
                {"name": "AES-256-GCM", "block_size": self.block_size}
                if self.block_size is not None
                else None
            ),
        }

    @classmethod
    def from_json(cls, data: Any) -> ObjectMeta:
        """Read the persisted form; ValueError on anything damaged."""
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError("unknown object metadata format")
        key, size, etag = data.get("key"), data.get("size"), data.get("etag")
        content_type = data.get("content_type")
        if not isinstance(key, str) or not key:
            raise ValueError("metadata field 'key' must be a non-empty string")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError("metadata field 'size' must be a non-negative integer")
        if not isinstance(etag, str) or not isinstance(content_type, str):
            raise ValueError("metadata fields 'etag' and 'content_type' must be strings")
        encryption = data.get("encryption")
        cipher = data.get("cipher")
        block_size: int | None = None
        if encryption is not None:
            encryption = _string_map(encryption, "encryption")
            if not isinstance(cipher, dict) or cipher.get("name") != "AES-256-GCM":
                raise ValueError("an encrypted object must name its cipher")
            block_size = cipher.get("block_size")
            if not isinstance(block_size, int) or block_size <= 0:
                raise ValueError("metadata field 'cipher.block_size' must be positive")
        return cls(
            key=key,
            size=size,
            etag=etag,
            last_modified=_parse_timestamp(str(data.get("last_modified"))),
            content_type=content_type,
            headers=_string_map(data.get("headers"), "headers"),
            user_metadata=_string_map(data.get("user_metadata"), "user_metadata"),
            checksums=_string_map(data.get("checksums"), "checksums"),
            encryption=encryption,
            block_size=block_size,
        )


@dataclass(frozen=True, slots=True)
class ObjectSummary:
    """What a listing shows of an object."""

    key: str
    size: int
    etag: str
    last_modified: datetime


@dataclass
class StoredObject:
    """An object opened for reading: its metadata and its file (the caller closes it)."""

    meta: ObjectMeta
    file: IO[bytes]
    body_offset: int
    body_length: int

    def read_body(self, offset: int, length: int) -> bytes:
        """``length`` bytes of the stored body from ``offset`` (short only if the file is)."""
        self.file.seek(self.body_offset + offset)
        data = self.file.read(length)
        return data if isinstance(data, bytes) else bytes(data)

    def close(self) -> None:
        """Close the file."""
        self.file.close()


class UploadBucketGone(Exception):
    """The bucket was deleted while an upload into it was under way."""


class Upload:
    """A temp file being written for one PUT; commit or abort it."""

    def __init__(self, directory: Path, fd: int, temp_path: Path) -> None:
        self.directory = directory
        self.temp_path = temp_path
        self._fd: int | None = fd
        self.written = 0

    def write(self, data: bytes) -> None:
        """Append bytes (short writes continued)."""
        if self._fd is None:
            raise ValueError("the upload is closed")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self.written += len(data)

    def seal(self, trailer: bytes) -> None:
        """Append the trailer, fsync and close the file (it is complete, not yet published)."""
        self.write(trailer)
        assert self._fd is not None
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def abort(self) -> None:
        """Close and remove the temp file; nothing is left behind."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(self.temp_path)


class _BucketIndex:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.items: dict[str, ObjectSummary] = {}

    def put(self, summary: ObjectSummary) -> None:
        if summary.key not in self.items:
            bisect.insort(self.keys, summary.key)
        self.items[summary.key] = summary

    def remove(self, key: str) -> None:
        if self.items.pop(key, None) is not None:
            index = bisect.bisect_left(self.keys, key)
            del self.keys[index]


def encode_trailer(meta: ObjectMeta) -> bytes:
    """The metadata JSON, its length and the end marker."""
    document = json.dumps(meta.to_json(), separators=(",", ":"), ensure_ascii=False).encode()
    return document + len(document).to_bytes(8, "big") + END


def _read_meta(handle: IO[bytes], file_size: int) -> tuple[ObjectMeta, int]:
    """(metadata, body length) from an object file; ValueError when it is not one."""
    if file_size < len(MAGIC) + TRAILER_BYTES:
        raise ValueError("file too short to be an object")
    handle.seek(0)
    if handle.read(len(MAGIC)) != MAGIC:
        raise ValueError("not an object file (bad magic)")
    handle.seek(file_size - TRAILER_BYTES)
    tail = handle.read(TRAILER_BYTES)
    if tail[8:] != END:
        raise ValueError("object file has no end marker")
    length = int.from_bytes(tail[:8], "big")
    body_length = file_size - TRAILER_BYTES - length - len(MAGIC)
    if length > _MAX_METADATA_BYTES or body_length < 0:
        raise ValueError("object metadata length out of range")
    handle.seek(file_size - TRAILER_BYTES - length)
    document = handle.read(length)
    try:
        meta = ObjectMeta.from_json(json.loads(document.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"object metadata is not JSON: {err}") from None
    return meta, body_length


class ObjectStore:
    """Objects of every bucket, one file each, with an in-memory listing index."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._lock = threading.RLock()
        self._index: dict[str, _BucketIndex] = {}
        self._live: set[str] = set()

    @property
    def root(self) -> Path:
        """``<data_dir>/objects``."""
        return self._root

    def bucket_dir(self, bucket: str) -> Path:
        """Where one bucket's object files live."""
        return self._root / bucket

    def load(self, buckets: Iterable[str]) -> None:
        """Remove stray temp files and index every readable object of the given buckets."""
        with self._lock:
            ensure_private_dir(self._root, narrow=False)
            os.chmod(self._root, _DIR_MODE)
            self._live = set(buckets)
            self._index = {name: _BucketIndex() for name in self._live}
            for directory in sorted(self._root.iterdir()):
                if not directory.is_dir() or directory.is_symlink():
                    continue
                index = self._index.get(directory.name)
                if index is None:
                    logger.warning("object directory %s belongs to no bucket; ignored", directory)
                for entry in sorted(directory.iterdir()):
                    if TEMP_MARKER in entry.name:
                        with contextlib.suppress(FileNotFoundError):
                            entry.unlink()
                        continue
                    if index is not None:
                        self._index_file(index, entry)

    def _index_file(self, index: _BucketIndex, entry: Path) -> None:
        try:
            with entry.open("rb") as handle:
                meta, _ = _read_meta(handle, os.fstat(handle.fileno()).st_size)
        except (OSError, ValueError) as err:
            logger.error("ignoring unreadable object file %s: %s", entry, err)
            return
        if entry.name != object_file_name(meta.key):
            logger.error("ignoring object file %s: its name does not match its key", entry)
            return
        index.put(ObjectSummary(meta.key, meta.size, meta.etag, meta.last_modified))

    # ------------------------------------------------------------------ buckets

    def open_bucket(self, bucket: str) -> None:
        """A bucket now exists (CreateBucket): uploads into it may commit."""
        with self._lock:
            self._live.add(bucket)
            self._index.setdefault(bucket, _BucketIndex())

    def close_bucket(self, bucket: str) -> bool:
        """Forget an empty bucket and remove its directory; False (nothing done) if not empty."""
        with self._lock:
            index = self._index.get(bucket)
            if index is not None and index.keys:
                return False
            directory = self.bucket_dir(bucket)
            if directory.is_dir() and any(
                TEMP_MARKER not in entry.name for entry in directory.iterdir()
            ):
                return False  # an unreadable object file still counts as content
            self._live.discard(bucket)
            self._index.pop(bucket, None)
            if directory.is_dir():
                shutil.rmtree(directory)
                fsync_dir(self._root)
            return True

    def has_objects(self, bucket: str) -> bool:
        """Whether the bucket holds any object."""
        with self._lock:
            index = self._index.get(bucket)
            return bool(index is not None and index.keys)

    # ------------------------------------------------------------------ writes

    def begin_upload(self, bucket: str) -> Upload:
        """A fresh 0600 temp file in the bucket's directory."""
        with self._lock:
            if bucket not in self._live:
                raise UploadBucketGone(bucket)
            directory = self.bucket_dir(bucket)
            if not directory.is_dir():
                directory.mkdir(mode=_DIR_MODE)
                os.chmod(directory, _DIR_MODE)
                fsync_dir(self._root)
        temp_path = directory / f".upload{TEMP_MARKER}{uuid.uuid4()}"
        fd = os.open(temp_path, _TEMP_FLAGS, _FILE_MODE)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, _FILE_MODE)
            upload = Upload(directory, fd, temp_path)
            upload.write(MAGIC)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp_path)
            raise
        return upload

    def commit(self, bucket: str, upload: Upload, meta: ObjectMeta) -> None:
        """Seal the upload with its metadata and publish it as the object (atomic replace)."""
        try:
            upload.seal(encode_trailer(meta))
            with self._lock:
                if bucket not in self._live:
                    raise UploadBucketGone(bucket)
                os.replace(upload.temp_path, upload.directory / object_file_name(meta.key))
                self._index.setdefault(bucket, _BucketIndex()).put(
                    ObjectSummary(meta.key, meta.size, meta.etag, meta.last_modified)
                )
        except BaseException:
            upload.abort()
            raise
        fsync_dir(upload.directory)

    def delete(self, bucket: str, key: str) -> None:
        """Remove an object; a missing one is not an error."""
        directory = self.bucket_dir(bucket)
        with self._lock:
            try:
                os.unlink(directory / object_file_name(key))
            except FileNotFoundError:
                pass
            else:
                fsync_dir(directory)
            index = self._index.get(bucket)
            if index is not None:
                index.remove(key)

    # ------------------------------------------------------------------ reads

    def open_object(self, bucket: str, key: str) -> StoredObject | None:
        """The object opened for reading, or None when there is none."""
        path = self.bucket_dir(bucket) / object_file_name(key)
        try:
            handle = path.open("rb")
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            meta, body_length = _read_meta(handle, os.fstat(handle.fileno()).st_size)
            if meta.key != key:
                raise ValueError("the object file holds another key")
        except BaseException:
            handle.close()
            raise
        return StoredObject(meta, handle, len(MAGIC), body_length)

    def iter_objects(
        self, bucket: str, *, after: str | None, at_least: str
    ) -> Iterator[ObjectSummary]:
        """Objects in key order: keys greater than ``after`` and not less than ``at_least``."""
        marker = after
        first = True
        while True:
            with self._lock:
                index = self._index.get(bucket)
                if index is None:
                    return
                start = bisect.bisect_left(index.keys, at_least) if first else 0
                if marker is not None:
                    start = max(start, bisect.bisect_right(index.keys, marker))
                chunk = [index.items[key] for key in index.keys[start : start + _PAGE]]
            if not chunk:
                return
            yield from chunk
            marker = chunk[-1].key
            first = False
