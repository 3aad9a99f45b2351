"""Typed, immutable views of RustFS KMS answers, parsed once at the client boundary.

Every ``from_wire`` takes the decoded JSON object and either returns a frozen model or raises
:class:`~kms_tui.api.errors.KmsResponseError`; screens never see dicts. Parsing is a few
``dict.get`` calls and ``isinstance`` checks per field so a 100,000-key listing stays cheap.
This module holds the key models; the service answers are in :mod:`kms_tui.api.service_models`,
backup and restore in :mod:`kms_tui.api.backup_models`, the enums in :mod:`kms_tui.api.wire`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from kms_tui.api.wire import (
    _MISSING,
    ImpactCompleteness,
    KeyState,
    KeyStatus,
    KeyUsage,
    RotationDueReason,
    _b64,
    _bool,
    _enum,
    _int,
    _obj,
    _obj_list,
    _opt_enum,
    _opt_str,
    _opt_time,
    _str,
    _str_map,
    _str_tuple,
    _time,
)

__all__ = [
    "DataKey",
    "DecryptedDataKey",
    "ImpactCoverage",
    "KeyDeletion",
    "KeyDescription",
    "KeyImpactReport",
    "KeyInfo",
    "KeyMetadata",
    "KeyPage",
    "KeyReference",
]


# --- keys ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyMetadata:
    """One key as describe, create, cancel and the lifecycle routes report it."""

    key_id: str
    key_state: KeyState
    key_usage: KeyUsage
    description: str | None
    creation_date: datetime
    deletion_date: datetime | None
    origin: str
    key_manager: str
    tags: Mapping[str, str]

    @classmethod
    def from_wire(cls, data: object) -> KeyMetadata:
        """Parse a ``key_metadata`` object."""
        d = _obj(data, "key_metadata")
        w = "key_metadata"
        return cls(
            key_id=_str(d, "key_id", w),
            key_state=_enum(KeyState, d, "key_state", w),
            key_usage=_enum(KeyUsage, d, "key_usage", w),
            description=_opt_str(d, "description", w),
            creation_date=_time(d, "creation_date", w),
            deletion_date=_opt_time(d, "deletion_date", w),
            origin=_str(d, "origin", w),
            key_manager=_str(d, "key_manager", w),
            tags=_str_map(d, "tags", w),
        )

    @property
    def name(self) -> str | None:
        """The ``name`` tag, which doubles as the key id on most backends."""
        return self.tags.get("name")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One key as a listing reports it."""

    key_id: str
    description: str | None
    algorithm: str
    usage: KeyUsage
    status: KeyStatus
    version: int
    metadata: Mapping[str, str]
    tags: Mapping[str, str]
    created_at: datetime
    rotated_at: datetime | None
    created_by: str | None
    rotation_due: bool
    rotation_due_reason: RotationDueReason | None  # None: the server gave no verdict

    @classmethod
    def from_wire(cls, data: object) -> KeyInfo:
        """Parse one item of ``keys``."""
        d = _obj(data, "keys[]")
        w = "keys[]"
        return cls(
            key_id=_str(d, "key_id", w),
            description=_opt_str(d, "description", w),
            algorithm=_str(d, "algorithm", w),
            usage=_enum(KeyUsage, d, "usage", w),
            status=_enum(KeyStatus, d, "status", w),
            version=_int(d, "version", w),
            metadata=_str_map(d, "metadata", w, required=False),
            tags=_str_map(d, "tags", w, required=False),
            created_at=_time(d, "created_at", w),
            rotated_at=_opt_time(d, "rotated_at", w),
            created_by=_opt_str(d, "created_by", w),
            rotation_due=_bool(d, "rotation_due", w),
            rotation_due_reason=_opt_enum(RotationDueReason, d, "rotation_due_reason", w),
        )

    @property
    def name(self) -> str | None:
        """The ``name`` tag, if any."""
        return self.tags.get("name")


@dataclass(frozen=True, slots=True)
class KeyPage:
    """One page of a key listing; follow ``next_marker`` while ``truncated``."""

    keys: tuple[KeyInfo, ...]
    truncated: bool
    next_marker: str | None
    unreadable_key_ids: tuple[str, ...] = ()

    @classmethod
    def from_wire(cls, data: object) -> KeyPage:
        """Parse a ``GET /kms/keys`` answer."""
        d = _obj(data, "key listing")
        w = "key listing"
        return cls(
            keys=tuple([KeyInfo.from_wire(item) for item in _obj_list(d, "keys", w)]),
            truncated=_bool(d, "truncated", w),
            next_marker=_opt_str(d, "next_marker", w),
            unreadable_key_ids=_str_tuple(d, "unreadable_key_ids", w, required=False),
        )


@dataclass(frozen=True, slots=True)
class KeyReference:
    """Something that still names a key (a bucket's default encryption, the default key...)."""

    kind: str
    id: str
    detail: str


@dataclass(frozen=True, slots=True)
class ImpactCoverage:
    """Which scopes the impact scan looked at and which it could not."""

    scanned: tuple[str, ...]
    not_scanned: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeyImpactReport:
    """What deleting a key would break, and how sure the server is."""

    key_id: str
    completeness: ImpactCompleteness
    coverage: ImpactCoverage
    references: tuple[KeyReference, ...]

    @classmethod
    def from_wire(cls, data: object) -> KeyImpactReport:
        """Parse an ``impact`` object."""
        w = "impact"
        d = _obj(data, w)
        coverage = _obj(d.get("coverage", _MISSING), "impact.coverage")
        references = tuple(
            KeyReference(
                kind=_str(ref, "kind", "impact.references[]"),
                id=_str(ref, "id", "impact.references[]"),
                detail=_opt_str(ref, "detail", "impact.references[]") or "",
            )
            for ref in _obj_list(d, "references", w)
        )
        return cls(
            key_id=_str(d, "key_id", w),
            completeness=_enum(ImpactCompleteness, d, "completeness", w),
            coverage=ImpactCoverage(
                scanned=_str_tuple(coverage, "scanned", "impact.coverage"),
                not_scanned=_str_tuple(coverage, "not_scanned", "impact.coverage"),
            ),
            references=references,
        )


@dataclass(frozen=True, slots=True)
class KeyDescription:
    """A described key, with its impact report when one was asked for."""

    metadata: KeyMetadata
    impact: KeyImpactReport | None

    @classmethod
    def from_wire(cls, data: object) -> KeyDescription:
        """Parse a ``GET /kms/keys/{key_id}`` answer."""
        d = _obj(data, "describe answer")
        impact = d.get("impact")
        return cls(
            metadata=KeyMetadata.from_wire(d.get("key_metadata", _MISSING)),
            impact=None if impact is None else KeyImpactReport.from_wire(impact),
        )


@dataclass(frozen=True, slots=True)
class KeyDeletion:
    """A scheduled (or immediate, ``deletion_date`` None) deletion and its impact."""

    key_id: str
    deletion_date: datetime | None
    impact: KeyImpactReport | None

    @classmethod
    def from_wire(cls, data: object) -> KeyDeletion:
        """Parse a ``DELETE /kms/keys/delete`` answer."""
        d = _obj(data, "delete answer")
        impact = d.get("impact")
        return cls(
            key_id=_str(d, "key_id", "delete answer"),
            deletion_date=_opt_time(d, "deletion_date", "delete answer"),
            impact=None if impact is None else KeyImpactReport.from_wire(impact),
        )


@dataclass(frozen=True, slots=True)
class DataKey:
    """A fresh data key: the plaintext is secret and never shown by ``repr``."""

    key_id: str
    plaintext: bytes = field(repr=False)
    ciphertext_blob: bytes

    @classmethod
    def from_wire(cls, data: object) -> DataKey:
        """Parse a generate-data-key answer (base64 fields decoded)."""
        d = _obj(data, "data key")
        return cls(
            key_id=_str(d, "key_id", "data key"),
            plaintext=_b64(d, "plaintext_key", "data key"),
            ciphertext_blob=_b64(d, "ciphertext_blob", "data key"),
        )


@dataclass(frozen=True, slots=True)
class DecryptedDataKey:
    """The plaintext of a decrypted data key; never shown by ``repr``."""

    key_id: str
    plaintext: bytes = field(repr=False)

    @classmethod
    def from_wire(cls, data: object) -> DecryptedDataKey:
        """Parse a decrypt answer."""
        d = _obj(data, "decrypt answer")
        return cls(
            key_id=_str(d, "key_id", "decrypt answer"),
            plaintext=_b64(d, "plaintext", "decrypt answer"),
        )
