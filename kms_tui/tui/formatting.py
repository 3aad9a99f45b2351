"""Text shown in the console (countdowns, dates, tags), and the error every form rule raises.

Kept free of Textual so it is cheap to import and easy to test. The rules themselves are in
:mod:`kms_tui.tui.dialogs.form_rules`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime

__all__ = [
    "MAX_WINDOW_DAYS",
    "MIN_WINDOW_DAYS",
    "FieldError",
    "format_countdown",
    "format_date",
    "format_tags",
]

MIN_WINDOW_DAYS = 7
MAX_WINDOW_DAYS = 30


class FieldError(ValueError):
    """Input a field cannot accept; the message says what to change."""


def format_date(moment: datetime | None) -> str:
    """A compact UTC timestamp for tables (minutes are precise enough on screen)."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def format_countdown(deadline: datetime | None, now: datetime) -> str:
    """How long until ``deadline``, in the two largest units ("in 6 d 4 h", "in 12 m")."""
    if deadline is None:
        return ""
    seconds = int((deadline - now).total_seconds())
    if seconds <= 0:
        return "due now"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        return f"in {days} d {hours} h"
    if hours:
        return f"in {hours} h {minutes} m"
    if minutes:
        return f"in {minutes} m"
    return "in <1 m"


def format_tags(tags: Mapping[str, str]) -> str:
    """Tags as ``k=v, k2=v2`` sorted by key, the syntax the forms read back."""
    if not tags:
        return ""
    return _tags_text(tuple(sorted(tags.items())))


@functools.lru_cache(maxsize=4096)
def _tags_text(items: tuple[tuple[str, str], ...]) -> str:
    # Cached: keys that share a tag set (env=prod, team=...) share one string, which matters
    # when the key table holds 100,000 of them.
    return ", ".join(f"{key}={value}" for key, value in items)
