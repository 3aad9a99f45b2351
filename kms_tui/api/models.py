"""Typed, immutable views of RustFS KMS answers, parsed once at the client boundary.

Every ``from_wire`` takes the decoded JSON object and either returns a frozen model or raises
:class:`~kms_tui.api.errors.KmsResponseError`; screens never see dicts. Parsing is a few
``dict.get`` calls and ``isinstance`` checks per field; a listing (up to 100,000 keys) first
tries a fast path per item and falls back to that careful parser on any surprise.
This module holds the key models; the service answers are in :mod:`kms_tui.api.service_models`,
backup and restore in :mod:`kms_tui.api.backup_models`, the enums in :mod:`kms_tui.api.wire`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from kms_tui.api.wire import (
    _EMPTY_MAP,
    _MAP_CACHE,
    _MISSING,
    ImpactCompleteness,
    KeyState,
    KeyStatus,
    KeyUsage,
    RotationDueReason,
    _b64,
    _bool,
    _cached_str_map,
    _enum,
    _fast_timestamp,
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
        fast = _fast_key_info(data)
        return fast if fast is not None else _careful_key_info(data)

    @property
    def name(self) -> str | None:
        """The ``name`` tag, if any."""
        return self.tags.get("name")


def _careful_key_info(data: object) -> KeyInfo:
    """``KeyInfo.from_wire`` field by field: the one that says exactly what is wrong."""
    d = _obj(data, "keys[]")
    w = "keys[]"
    return KeyInfo(
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
        fast = _fast_key_page(data)
        return fast if fast is not None else _careful_key_page(data)


def _careful_key_page(data: object) -> KeyPage:
    """``KeyPage.from_wire`` field by field: the one that says exactly what is wrong."""
    d = _obj(data, "key listing")
    w = "key listing"
    return KeyPage(
        keys=tuple([_careful_key_info(item) for item in _obj_list(d, "keys", w)]),
        truncated=_bool(d, "truncated", w),
        next_marker=_opt_str(d, "next_marker", w),
        unreadable_key_ids=_str_tuple(d, "unreadable_key_ids", w, required=False),
    )


# --- the listing's fast path ---------------------------------------------------------------
#
# A listing is up to 100,000 KeyInfo, so it has a fast path: one function per item that reads
# each field once, checks exact JSON types, looks enums up in their value maps and builds the
# model without the frozen __init__. On any surprise (a missing or wrong-typed field, an enum
# value the client does not know, a timestamp in another spelling) it returns None and the
# careful parser above runs instead: it returns the same model or raises the precise error.
# tests/unit/test_fast_parse.py checks the two agree over well-formed and malformed input.


class _KeyInfoBuilder:
    """An object with KeyInfo's very slots: filled with plain stores, then made a KeyInfo.

    The frozen dataclass's ``__init__`` sets each of the 13 fields through
    ``object.__setattr__``, which costs as much as reading the item. An instance of this class
    has the same layout, so once every slot is filled its class can become KeyInfo.
    """

    __slots__ = KeyInfo.__slots__  # the very layout, so the class can become KeyInfo


_new_builder = object.__new__
# The known members by wire spelling, as ``wire._member`` looks them up.
_USAGES = cast("Mapping[str, KeyUsage]", KeyUsage._value2member_map_)
_STATUSES = cast("Mapping[str, KeyStatus]", KeyStatus._value2member_map_)
_REASONS = cast("Mapping[str, RotationDueReason]", RotationDueReason._value2member_map_)


def _fast_key_info(d: object) -> KeyInfo | None:
    """A well-formed listing item as KeyInfo, or None: then only the careful parser may tell."""
    if type(d) is not dict:
        return None
    try:
        key_id = d["key_id"]
        description = d.get("description")
        algorithm = d["algorithm"]
        version = d["version"]
        created_at = d["created_at"]
        rotated_at = d.get("rotated_at")
        created_by = d.get("created_by")
        rotation_due = d["rotation_due"]
        if (
            type(key_id) is not str
            or type(algorithm) is not str
            or type(version) is not int
            or type(created_at) is not str
            or (rotation_due is not True and rotation_due is not False)
            or (description is not None and type(description) is not str)
            or (created_by is not None and type(created_by) is not str)
            or (rotated_at is not None and type(rotated_at) is not str)
        ):
            return None
        # A KeyError (an enum value the client does not know, an item with no such field) or
        # a TypeError (a value that cannot be hashed) leaves the item to the careful parser.
        usage = _USAGES[d["usage"]]
        status = _STATUSES[d["status"]]
        reason = d.get("rotation_due_reason")
        if reason is not None:
            reason = _REASONS[reason]
        raw_metadata = d.get("metadata")
        metadata: Mapping[str, str] | None
        if raw_metadata is None:
            metadata = _EMPTY_MAP
        elif type(raw_metadata) is dict:
            items = tuple(raw_metadata.items())
            metadata = _MAP_CACHE.get(items)
            if metadata is None:
                metadata = _cached_str_map(raw_metadata, items)
                if metadata is None:
                    return None
        else:
            return None
        raw_tags = d.get("tags")
        tags: Mapping[str, str] | None
        if raw_tags == raw_metadata:  # the local backend lists its tags as the metadata too
            tags = metadata
        elif raw_tags is None:
            tags = _EMPTY_MAP
        elif type(raw_tags) is dict:
            items = tuple(raw_tags.items())
            tags = _MAP_CACHE.get(items)
            if tags is None:
                tags = _cached_str_map(raw_tags, items)
                if tags is None:
                    return None
        else:
            return None
    except (KeyError, TypeError):
        return None
    created = _fast_timestamp(created_at)
    if created is None:
        return None
    if rotated_at is not None:
        rotated_at = _fast_timestamp(rotated_at)
        if rotated_at is None:
            return None
    info: Any = _new_builder(_KeyInfoBuilder)
    info.key_id = key_id
    info.description = description
    info.algorithm = algorithm
    info.usage = usage
    info.status = status
    info.version = version
    info.metadata = metadata
    info.tags = tags
    info.created_at = created
    info.rotated_at = rotated_at
    info.created_by = created_by
    info.rotation_due = rotation_due
    info.rotation_due_reason = reason
    info.__class__ = KeyInfo
    return cast("KeyInfo", info)


def _fast_key_page(d: object) -> KeyPage | None:
    """A well-formed page as KeyPage, or None: then only the careful parser may tell.

    An item the fast path declines is parsed carefully on its own; if that raises, the whole
    page is left to the careful parser, so the error is the one it finds first.
    """
    if type(d) is not dict:
        return None
    items = d.get("keys")
    truncated = d.get("truncated")
    next_marker = d.get("next_marker")
    unreadable = d.get("unreadable_key_ids")
    if (
        type(items) is not list
        or (truncated is not True and truncated is not False)
        or (next_marker is not None and type(next_marker) is not str)
    ):
        return None
    unreadable_ids: tuple[str, ...] = ()
    if unreadable is not None:
        if type(unreadable) is not list:
            return None
        for key_id in unreadable:
            if type(key_id) is not str:
                return None
        unreadable_ids = tuple(unreadable)
    keys = list(map(_fast_key_info, items))
    if not all(keys):  # quick: a KeyInfo is true, a declined item None
        for index, info in enumerate(keys):
            if info is None:
                try:
                    keys[index] = _careful_key_info(items[index])
                except Exception:  # the careful page parse raises the error it finds first
                    return None
    return KeyPage(
        keys=tuple(cast("list[KeyInfo]", keys)),
        truncated=truncated,
        next_marker=next_marker,
        unreadable_key_ids=unreadable_ids,
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
