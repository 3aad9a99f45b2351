"""Whether a key can protect new data, and if not why: one answer for every screen that asks.

The key table colours the keys that cannot, the key picker greys them out, and the Buckets
screen warns about a default encryption that names one. No Textual here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

from kms_tui.api.wire import KeyState, KeyStatus
from kms_tui.tui.formatting import format_date

__all__ = ["UNREADABLE", "ShownState", "Unreadable", "key_state_of", "unusable_reason"]


class Unreadable(StrEnum):
    """The state of a key the server lists by id but whose record it cannot read."""

    UNREADABLE = "Unreadable"


UNREADABLE = Unreadable.UNREADABLE
ShownState: TypeAlias = KeyState | Unreadable
"""What the console knows of a key's state: the client's enum, or that it cannot be read."""

_STATE_OF_STATUS = {
    KeyStatus.ACTIVE: KeyState.ENABLED,
    KeyStatus.DISABLED: KeyState.DISABLED,
    KeyStatus.PENDING_DELETION: KeyState.PENDING_DELETION,
}


def key_state_of(status: KeyStatus) -> KeyState:
    """Listings say Active where describe says Enabled: one state, one word, one enum."""
    return _STATE_OF_STATUS.get(status) or KeyState(status.value)


def unusable_reason(state: ShownState | None, deletion_date: datetime | None = None) -> str | None:
    """Why a key cannot protect new data, or None when it can (``state`` None: no such key).

    A pending deletion names its date when ``deletion_date`` is given.
    """
    if state is None:
        return "missing"
    if state is KeyState.ENABLED:
        return None
    if state is KeyState.PENDING_DELETION:
        when = f", due {format_date(deletion_date)} UTC" if deletion_date else ""
        return f"pending deletion{when}"
    return state.value.lower()
