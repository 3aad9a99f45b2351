"""The one answer to "can this key protect new data, and if not why" the screens share."""

from __future__ import annotations

from datetime import UTC, datetime

from kms_tui.api.wire import KeyState, KeyStatus
from kms_tui.tui.key_usability import UNREADABLE, key_state_of, unusable_reason


def test_only_an_enabled_key_is_usable_and_every_other_says_why() -> None:
    assert unusable_reason(KeyState.ENABLED) is None
    assert unusable_reason(KeyState.DISABLED) == "disabled"
    assert unusable_reason(KeyState.PENDING_DELETION) == "pending deletion"
    assert unusable_reason(None) == "missing"
    assert unusable_reason(UNREADABLE) == "unreadable"
    assert unusable_reason(KeyState("Archived")) == "archived"  # a state the client does not know


def test_a_pending_deletion_names_its_date_when_known() -> None:
    due = datetime(2026, 3, 9, 9, 30, tzinfo=UTC)
    reason = unusable_reason(KeyState.PENDING_DELETION, due)
    assert reason == "pending deletion, due 2026-03-09 09:30 UTC"
    assert unusable_reason(KeyState.DISABLED, due) == "disabled"


def test_listing_statuses_become_key_states() -> None:
    assert key_state_of(KeyStatus.ACTIVE) is KeyState.ENABLED
    assert key_state_of(KeyStatus.DISABLED) is KeyState.DISABLED
    assert key_state_of(KeyStatus.PENDING_DELETION) is KeyState.PENDING_DELETION
    deleted = key_state_of(KeyStatus.DELETED)
    assert deleted == "Deleted" and not deleted.known
    assert unusable_reason(deleted) == "deleted"
