"""The key operations of the embedded KMS service, and the types they answer with.

:class:`KeyOperations` works on the keys of the running store (create, list, describe, impact,
deletion, enable, rotate, tags, data keys, the deletion sweep). The service
(:class:`kms_tui.embedded.service.KmsService`) builds one over its lock, clock, cache and
configuration and holds it as ``service.keys``; the state machine stays in ``service.py``.
Every public method holds the service lock.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol

from kms_tui.embedded import envelope as envelopes
from kms_tui.embedded import timefmt
from kms_tui.embedded.cache import MetadataCache
from kms_tui.embedded.config import KmsConfig
from kms_tui.embedded.keyrecord import (
    InvalidKeyIdError,
    KeyExistsError,
    KeyNotFoundError,
    KeyRecord,
    KeyStoreError,
    KeyUnreadableError,
    validate_key_id,
)
from kms_tui.embedded.keystore import LocalKeyStore

__all__ = [
    "DEFAULT_WINDOW_DAYS",
    "BucketReferences",
    "KeyOperations",
    "KeyView",
    "KmsOpError",
]

log = logging.getLogger("kms_tui.embedded")

MIN_WINDOW_DAYS = 7
MAX_WINDOW_DAYS = 30
DEFAULT_WINDOW_DAYS = 30

SCOPE_BUCKETS = "bucket-default-encryption"
SCOPE_DEFAULT_KEY = "service-default-key"
NOT_SCANNED = ("object-envelopes", "in-progress-multipart-uploads")


class BucketReferences(Protocol):
    """What the bucket store tells the service about keys that buckets still name."""

    def buckets_naming_key(self, key_id: str) -> list[str]: ...


class KmsOpError(Exception):
    """A key operation failure; ``kind`` picks the HTTP status, ``str()`` is KmsError's display."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # not_running | not_found | invalid | exists | referenced |
        # unsupported | context | bad_blob | internal


@dataclass(frozen=True, slots=True)
class KeyView:
    """A key's metadata without its material (what the cache holds and routes render)."""

    key_id: str
    status: str
    usage: str
    description: str | None
    tags: Mapping[str, str]
    created_at: str
    deletion_date: str | None
    algorithm: str
    version: int
    rotated_at: str | None
    created_by: str | None

    @classmethod
    def of(cls, record: KeyRecord) -> KeyView:
        """Strip the material from a record."""
        return cls(
            key_id=record.key_id,
            status=record.status,
            usage=record.usage,
            description=record.description,
            tags=MappingProxyType(dict(record.metadata)),
            created_at=record.created_at,
            deletion_date=record.deletion_date,
            algorithm=record.algorithm,
            version=record.version,
            rotated_at=record.rotated_at,
            created_by=record.created_by,
        )


class KeyOperations:
    """Key operations on the service's running store, under the service's lock.

    ``running_store`` and ``config`` read the service's current state (None when it is not
    running or not configured); ``references`` may be replaced once the bucket store exists.
    """

    def __init__(
        self,
        *,
        lock: threading.RLock,
        running_store: Callable[[], LocalKeyStore | None],
        config: Callable[[], KmsConfig | None],
        cache: MetadataCache[KeyView],
        clock: Callable[[], datetime],
        references: BucketReferences | None,
        allow_immediate_deletion: bool,
    ) -> None:
        self._lock = lock
        self._running_store = running_store
        self._config = config
        self._cache = cache
        self._clock = clock
        self.references = references
        self._allow_immediate_deletion = allow_immediate_deletion

    def require_store(self) -> LocalKeyStore:
        """The open store, or KmsOpError(not_running)."""
        store = self._running_store()
        if store is None:
            raise KmsOpError("not_running", "kms service is not running")
        return store

    def _get(self, store: LocalKeyStore, key_id: str) -> KeyRecord:
        try:
            return store.get(key_id)
        except KeyNotFoundError as err:
            raise KmsOpError("not_found", f"Key not found: {key_id}") from err
        except KeyUnreadableError as err:
            reason = store.unreadable_reasons.get(key_id, "unreadable")
            raise KmsOpError(
                "internal",
                f"Key material missing/corrupt/authentication failed for {key_id}: "
                f"the record on disk is unreadable ({reason})",
            ) from err

    def _replace(self, store: LocalKeyStore, record: KeyRecord) -> None:
        try:
            store.replace(record)
        except KeyNotFoundError as err:
            raise KmsOpError("not_found", f"Key not found: {record.key_id}") from err
        except KeyStoreError as err:
            raise KmsOpError("internal", f"Backend error: {err}") from err
        finally:
            self._cache.invalidate(record.key_id)

    def create_key(self, description: str | None, tags: Mapping[str, str]) -> KeyView:
        """Create a key named by ``tags.name`` or a fresh UUID v4."""
        with self._lock:
            store = self.require_store()
            key_id = tags.get("name") if "name" in tags else str(uuid.uuid4())
            assert key_id is not None
            try:
                validate_key_id(key_id)
            except (InvalidKeyIdError, ValueError) as err:
                raise KmsOpError("invalid", f"Invalid operation: invalid key id: {err}") from err
            record = KeyRecord(
                key_id=key_id,
                material=store.generate_material(),
                description=description,
                metadata=MappingProxyType(dict(tags)),
                created_at=timefmt.format_zoned(self._clock()),
            )
            try:
                store.create(record)
            except KeyExistsError as err:
                raise KmsOpError("exists", f"Key already exists: {key_id}") from err
            except KeyStoreError as err:
                raise KmsOpError("internal", f"Backend error: {err}") from err
            self._cache.invalidate(key_id)
            log.info("key created: %r", key_id)
            return KeyView.of(record)

    def list_keys(self, marker: str | None, limit: int) -> tuple[list[KeyView], bool, list[str]]:
        """One page (marker exclusive), whether truncated, and unreadable ids in its range."""
        records, truncated, unreadable = self.list_records(marker, limit)
        return [KeyView.of(r) for r in records], truncated, unreadable

    def list_records(
        self, marker: str | None, limit: int
    ) -> tuple[list[KeyRecord], bool, list[str]]:
        """:meth:`list_keys` with the store's own records instead of views.

        For the listing route, which renders each record straight to JSON: records are
        immutable, so they may be read after the lock is released. They hold the key material;
        a renderer must read the metadata fields only.
        """
        with self._lock:
            store = self.require_store()
            if limit == 0:
                return [], False, []
            records, truncated = store.page(marker or None, limit)
            upper = records[-1].key_id if truncated and records else None

            def in_range(key_id: str) -> bool:
                lower_ok = not marker or key_id.encode() > marker.encode()
                return lower_ok and (upper is None or key_id.encode() <= upper.encode())

            unreadable = [k for k in store.unreadable_key_ids if in_range(k)]
            return records, truncated, unreadable

    def describe_key(self, key_id: str) -> KeyView:
        """Key metadata, served from the cache when it holds the key."""
        with self._lock:
            store = self.require_store()
            config = self._config()
            use_cache = config is not None and config.enable_cache
            if use_cache:
                cached = self._cache.get(key_id)
                if cached is not None:
                    return cached
            view = KeyView.of(self._get(store, key_id))
            if use_cache:
                self._cache.put(key_id, view)
            return view

    def impact(self, key_id: str) -> dict[str, Any]:
        """The KeyImpactReport for a key (bucket references and the service default key)."""
        references: list[dict[str, str]] = []
        scanned = [SCOPE_BUCKETS, SCOPE_DEFAULT_KEY]
        not_scanned = list(NOT_SCANNED)
        completeness = "exact"
        refs = self.references
        if refs is not None:
            try:
                buckets = sorted(refs.buckets_naming_key(key_id))
            except Exception as err:  # the bucket store failing must not fail the key route
                log.warning("bucket references unavailable for %r: %s", key_id, err)
                completeness = "observed-only"
                scanned.remove(SCOPE_BUCKETS)
                not_scanned.insert(0, SCOPE_BUCKETS)
                references.append(
                    {
                        "kind": "unreadable-source",
                        "id": SCOPE_BUCKETS,
                        "detail": "bucket default encryption could not be scanned",
                    }
                )
                buckets = []
            for bucket in buckets:
                references.append(
                    {
                        "kind": SCOPE_BUCKETS,
                        "id": bucket,
                        "detail": "bucket default encryption names this key",
                    }
                )
        config = self._config()
        if config is not None and config.default_key_id == key_id:
            references.append(
                {
                    "kind": SCOPE_DEFAULT_KEY,
                    "id": "default_key_id",
                    "detail": "the KMS service configuration names this key as its default key",
                }
            )
        return {
            "key_id": key_id,
            "completeness": completeness,
            "coverage": {"scanned": scanned, "not_scanned": not_scanned},
            "references": references,
        }

    def schedule_deletion(self, key_id: str, window_days: int) -> str:
        """Mark a key PendingDeletion; returns the deletion date string."""
        with self._lock:
            store = self.require_store()
            record = self._get(store, key_id)
            if not MIN_WINDOW_DAYS <= window_days <= MAX_WINDOW_DAYS:
                raise KmsOpError(
                    "invalid",
                    f"Invalid operation: pending_window_in_days must be between "
                    f"{MIN_WINDOW_DAYS} and {MAX_WINDOW_DAYS}, got {window_days}",
                )
            if record.status == "PendingDeletion":
                raise KmsOpError(
                    "invalid", f"Invalid operation: Key {key_id} is already pending deletion"
                )
            deletion_date = timefmt.format_zoned(self._clock() + timedelta(days=window_days))
            updated = dataclasses.replace(
                record, status="PendingDeletion", deletion_date=deletion_date
            )
            self._replace(store, updated)
            log.info("key %r scheduled for deletion on %s", key_id, deletion_date)
            return deletion_date

    def reference_labels(self, key_id: str) -> list[str]:
        """Human-readable references that forbid destroying a key's material."""
        report = self.impact(key_id)
        return [f"{ref['kind']} '{ref['id']}'" for ref in report["references"]]

    def delete_immediately(self, key_id: str, confirm_key_id: str | None) -> None:
        """Destroy a key now: only with the server switch, confirmation and no references."""
        with self._lock:
            store = self.require_store()
            self._get(store, key_id)
            if not self._allow_immediate_deletion:
                raise KmsOpError(
                    "invalid",
                    "Invalid operation: immediate deletion is disabled on this server; "
                    "set RUSTFS_KMS_ALLOW_IMMEDIATE_DELETION=true (kms-tui serve "
                    "--allow-immediate-deletion) to allow it",
                )
            if confirm_key_id != key_id:
                raise KmsOpError(
                    "invalid",
                    "Invalid operation: immediate deletion requires confirm_key_id to equal "
                    "the key id",
                )
            labels = self.reference_labels(key_id)
            if labels:
                raise KmsOpError("referenced", _still_referenced(key_id, labels))
            self._destroy(store, key_id)

    def _destroy(self, store: LocalKeyStore, key_id: str) -> None:
        try:
            store.destroy(key_id)
        except KeyNotFoundError as err:
            raise KmsOpError("not_found", f"Key not found: {key_id}") from err
        except KeyStoreError as err:
            raise KmsOpError("internal", f"Backend error: {err}") from err
        finally:
            self._cache.invalidate(key_id)
        log.info("key destroyed: %r", key_id)

    def cancel_deletion(self, key_id: str) -> KeyView:
        """Return a PendingDeletion key to Active."""
        with self._lock:
            store = self.require_store()
            record = self._get(store, key_id)
            if record.status != "PendingDeletion":
                raise KmsOpError(
                    "invalid", f"Invalid operation: Key {key_id} is not pending deletion"
                )
            updated = dataclasses.replace(record, status="Active", deletion_date=None)
            self._replace(store, updated)
            return KeyView.of(updated)

    def set_enabled(self, key_id: str, enabled: bool) -> KeyView:
        """Enable or disable (idempotent); a PendingDeletion key refuses both."""
        with self._lock:
            store = self.require_store()
            record = self._get(store, key_id)
            if record.status == "PendingDeletion":
                raise KmsOpError("invalid", f"Invalid operation: Key {key_id} is pending deletion")
            target = "Active" if enabled else "Disabled"
            if record.status != target:
                record = dataclasses.replace(record, status=target)
                self._replace(store, record)
            return KeyView.of(record)

    def rotate(self, key_id: str) -> KeyView:
        """Local cannot rotate: always UnsupportedCapability."""
        with self._lock:
            self.require_store()
            raise KmsOpError(
                "unsupported", "Operation 'rotate' is not supported by KMS backend 'local'"
            )

    def update_metadata(
        self,
        key_id: str,
        *,
        description: str | None = None,
        set_description: bool = False,
        tags: Mapping[str, str] | None = None,
        remove_tags: list[str] | None = None,
    ) -> KeyView:
        """update-description / tag / untag; the ``name`` tag is reserved."""
        with self._lock:
            store = self.require_store()
            if (tags is not None and "name" in tags) or (
                remove_tags is not None and "name" in remove_tags
            ):
                raise KmsOpError(
                    "invalid", "Tag 'name' identifies the key and cannot be updated or removed"
                )
            record = self._get(store, key_id)
            new_tags = dict(record.metadata)
            if tags is not None:
                new_tags.update(tags)
            for name in remove_tags or []:
                new_tags.pop(name, None)
            new_description = record.description
            if set_description:
                new_description = description or None
            if new_tags == dict(record.metadata) and new_description == record.description:
                return KeyView.of(record)
            updated = dataclasses.replace(
                record, metadata=MappingProxyType(new_tags), description=new_description
            )
            self._replace(store, updated)
            return KeyView.of(updated)

    def generate_data_key(
        self, key_id: str, key_spec: str, context: Mapping[str, str]
    ) -> tuple[bytes, bytes]:
        """(plaintext data key, ciphertext blob) under an Enabled master key."""
        with self._lock:
            store = self._running_store()
            if store is None:
                raise KmsOpError("not_running", "KMS service not initialized")
            record = self._get(store, key_id)
            if record.status == "Disabled":
                raise KmsOpError("invalid", f"Invalid operation: Key {key_id} is disabled")
            if record.status != "Active":
                raise KmsOpError(
                    "invalid", f"Invalid operation: Key {key_id} is not enabled ({record.status})"
                )
        try:
            return envelopes.generate_data_key(record, key_spec, context)
        except envelopes.EnvelopeError as err:
            raise KmsOpError("internal", f"Backend error: {err}") from err

    def decrypt(self, blob: bytes, context: Mapping[str, str]) -> tuple[str, bytes]:
        """Unwrap a data-key envelope: (master key id, plaintext data key)."""
        with self._lock:
            store = self.require_store()
            if not envelopes.is_data_key_envelope(blob):
                raise KmsOpError("bad_blob", "Invalid ciphertext blob: not a data-key envelope")
            try:
                parsed = envelopes.parse_envelope(blob)
            except envelopes.EnvelopeError as err:
                raise KmsOpError("bad_blob", f"Invalid ciphertext blob: {err}") from err
            record = self._get(store, parsed.master_key_id)
        try:
            plaintext = envelopes.decrypt_data_key(parsed, record, context)
        except envelopes.ContextMismatchError as err:
            raise KmsOpError("context", f"Encryption context mismatch: {err}") from err
        except envelopes.EnvelopeError as err:
            raise KmsOpError("bad_blob", f"Invalid ciphertext blob: {err}") from err
        return parsed.master_key_id, plaintext

    # ---------------------------------------------------------------- deletion sweep

    def sweep_expired(self) -> list[str]:
        """Destroy keys past their deletion date, except referenced or default keys."""
        destroyed: list[str] = []
        with self._lock:
            store = self._running_store()
            if store is None:
                return destroyed
            now = self._clock()
            marker: str | None = None
            due: list[str] = []
            while True:
                records, truncated = store.page(marker, 1000)
                for record in records:
                    if record.status == "Deleted" or (
                        record.status == "PendingDeletion"
                        and record.deletion_date
                        and timefmt.parse_zoned(record.deletion_date) <= now
                    ):
                        due.append(record.key_id)
                if not truncated or not records:
                    break
                marker = records[-1].key_id
            for key_id in due:
                labels = self.reference_labels(key_id)
                if labels:
                    log.warning(
                        "deletion of key %r is due but it is still referenced (%s); kept",
                        key_id,
                        ", ".join(labels),
                    )
                    continue
                try:
                    self._destroy(store, key_id)
                except KmsOpError as err:
                    log.error("sweep could not destroy key %r: %s", key_id, err)
                    continue
                destroyed.append(key_id)
        return destroyed


def _still_referenced(key_id: str, labels: list[str]) -> str:
    return (
        f"Key {key_id} is still referenced by configuration and its material must not be "
        f"destroyed: {', '.join(labels)}. Remove or repoint these references before "
        "deleting the key"
    )
