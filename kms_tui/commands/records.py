"""The JSON shapes of the commands' output: stable field names, documented in the README.

A key is always ``{"key_id", "state", "description", "tags", "created_at", "deletion_date"}``,
whether it came from a listing or from describe: ``state`` is the console's typed state
(``Enabled``, ``Disabled``, ``PendingDeletion``, ``Unreadable``, or the server's own word for
a state this client does not know), times are ISO 8601 UTC to the second with ``Z``, or null.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kms_tui.tui.key_usability import UNREADABLE, key_state_of

if TYPE_CHECKING:
    from kms_tui.api.buckets import BucketEncryption
    from kms_tui.api.models import KeyImpactReport, KeyInfo, KeyMetadata

__all__ = [
    "encryption_record",
    "impact_record",
    "iso",
    "key_from_info",
    "key_from_metadata",
    "unreadable_key",
]


def iso(moment: datetime | None) -> str | None:
    """``2026-01-15T12:00:00Z``, or None."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds")[:19] + "Z"  # twice as fast as strftime


def _key(
    key_id: str,
    state: str,
    description: str | None,
    tags: Mapping[str, str],
    created_at: datetime | None,
    deletion_date: datetime | None,
) -> dict[str, Any]:
    return {
        "key_id": key_id,
        "state": state,
        "description": description,
        "tags": dict(tags),
        "created_at": iso(created_at),
        "deletion_date": iso(deletion_date),
    }


def key_from_info(info: KeyInfo, deletion_date: datetime | None = None) -> dict[str, Any]:
    """A listed key (listings carry no deletion date: the caller describes pending keys)."""
    state = key_state_of(info.status).value
    return _key(info.key_id, state, info.description, info.tags, info.created_at, deletion_date)


def key_from_metadata(meta: KeyMetadata) -> dict[str, Any]:
    """A described (or just changed) key."""
    return _key(
        meta.key_id,
        meta.key_state.value,
        meta.description,
        meta.tags,
        meta.creation_date,
        meta.deletion_date,
    )


def unreadable_key(key_id: str) -> dict[str, Any]:
    """A key the server lists by id but whose record it cannot read."""
    return _key(key_id, UNREADABLE.value, None, {}, None, None)


def encryption_record(encryption: BucketEncryption | None) -> dict[str, Any] | None:
    """``{"algorithm", "label", "kms_key_id"}`` or None for no default encryption."""
    if encryption is None:
        return None
    return {
        "algorithm": encryption.algorithm,
        "label": encryption.label,
        "kms_key_id": encryption.kms_key_id,
    }


def impact_record(report: KeyImpactReport | None) -> dict[str, Any] | None:
    """The server's impact report: ``{"completeness", "references": [{"kind", "id", "detail"}],
    "not_scanned"}``, or None when the server sent none."""
    if report is None:
        return None
    return {
        "completeness": report.completeness.value,
        "references": [
            {"kind": ref.kind, "id": ref.id, "detail": ref.detail} for ref in report.references
        ],
        "not_scanned": list(report.coverage.not_scanned),
    }
