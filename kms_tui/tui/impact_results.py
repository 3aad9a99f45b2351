"""Impact scans already taken, and how they read: the Keys screen keeps one :class:`ImpactScans`.

The scan dialog fills it, and the schedule-deletion confirmation quotes it (so the operator sees
how many objects a deletion would make unreadable before typing the key id). No Textual here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kms_tui.tui.formatting import format_date

if TYPE_CHECKING:  # the scan's types only: the Keys screen's first frame needs none of it
    from kms_tui.api.impact import KeyImpact, ScanResult

__all__ = [
    "NOT_SCANNED",
    "SCAN_KEY",
    "ImpactScans",
    "ScanRecord",
    "deletion_quote",
    "taken_text",
]

SCAN_KEY = "ctrl+o"  # in the deletion dialog: scan the objects first (ctrl+i is tab)
NOT_SCANNED = (
    f"Objects not scanned: press {SCAN_KEY} to scan every bucket for objects encrypted under "
    "this key before deciding."
)


@dataclass(frozen=True, slots=True)
class ScanRecord:
    """One scan's result, and whether it covered every bucket or only chosen ones."""

    result: ScanResult
    every_bucket: bool = True

    @property
    def partial(self) -> bool:
        """Stopped before every listed object was read."""
        return self.result.partial

    def impact(self, key_id: str) -> KeyImpact:
        """The impact of one scanned key."""
        return self.result.impact(key_id)


def taken_text(record: ScanRecord) -> str:
    """``scan taken 2026-03-02 09:30 UTC`` with what kind of scan it was."""
    result = record.result
    moment = format_date(result.finished_at or result.started_at)
    kind = "partial scan, stopped" if record.partial else "scan taken"
    text = f"{kind} {moment} UTC"
    if not record.every_bucket:
        count = len(result.buckets)
        text += f", {count} chosen bucket{'s' if count != 1 else ''} only"
    return text


class ImpactScans:
    """The most recent scan per key; a scan of several keys answers for each of them."""

    def __init__(self) -> None:
        self._by_key: dict[str, ScanRecord] = {}

    def remember(self, record: ScanRecord) -> None:
        """Keep ``record`` as the latest for every key it scanned."""
        for key_id in record.result.impacts:
            self._by_key[key_id] = record

    def latest(self, key_id: str) -> ScanRecord | None:
        """The most recent scan that covered ``key_id``, if one was taken this session."""
        return self._by_key.get(key_id)

    def __len__(self) -> int:
        return len(self._by_key)


def deletion_quote(key_ids: Sequence[str], scans: ImpactScans) -> str:
    """What the deletion confirmation says about the objects of ``key_ids`` (one or several)."""
    if len(key_ids) == 1:
        key_id = key_ids[0]
        record = scans.latest(key_id)
        if record is None:
            return NOT_SCANNED
        impact = record.impact(key_id)
        quoted = [f"{_capital(impact.summary(partial=record.partial))} ({taken_text(record)})."]
        quoted.extend(_default_lines(impact))
        return "\n".join(quoted)
    lines: list[str] = []
    unscanned: list[str] = []
    total_objects = 0
    for key_id in key_ids:
        record = scans.latest(key_id)
        if record is None:
            unscanned.append(key_id)
            continue
        impact = record.impact(key_id)
        total_objects += impact.object_count
        buckets = len(impact.buckets_with_objects)
        at_least = "at least " if record.partial else ""
        lines.append(
            f"{key_id}: {at_least}{impact.object_count:,} object"
            f"{'s' if impact.object_count != 1 else ''} in {buckets:,} "
            f"bucket{'s' if buckets != 1 else ''} ({taken_text(record)})"
        )
    if unscanned:
        shown = ", ".join(unscanned[:6]) + (" …" if len(unscanned) > 6 else "")
        lines.append(
            f"Objects not scanned for {len(unscanned)} key{'s' if len(unscanned) != 1 else ''} "
            f"({shown}): press {SCAN_KEY} to scan every bucket for all of them at once."
        )
    else:
        lines.insert(0, f"{total_objects:,} objects become unreadable when these keys are deleted:")
    return "\n".join(lines)


def _default_lines(impact: KeyImpact) -> list[str]:
    if not impact.bucket_defaults:
        return []
    names = ", ".join(default.bucket for default in impact.bucket_defaults[:6])
    more = len(impact.bucket_defaults) - 6
    if more > 0:
        names += f" and {more} more"
    count = len(impact.bucket_defaults)
    return [
        f"{count} bucket{'s' if count != 1 else ''} encrypt new objects with it by default "
        f"({names}): writes there fail once it is gone."
    ]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
