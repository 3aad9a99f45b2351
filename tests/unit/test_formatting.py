"""The console's text helpers: countdowns, dates, tags, names and deletion windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from kms_tui.tui.dialogs.form_rules import key_name_rule, window_rule
from kms_tui.tui.formatting import FieldError, format_countdown, format_date

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(days=6, hours=4, minutes=30), "in 6 d 4 h"),
        (timedelta(days=30), "in 30 d 0 h"),
        (timedelta(hours=3, minutes=12), "in 3 h 12 m"),
        (timedelta(minutes=45, seconds=10), "in 45 m"),
        (timedelta(seconds=20), "in <1 m"),
        (timedelta(0), "due now"),
        (timedelta(hours=-2), "due now"),
    ],
)
def test_countdown_uses_two_largest_units(delta: timedelta, expected: str) -> None:
    assert format_countdown(NOW + delta, NOW) == expected


def test_countdown_of_no_deadline_is_blank() -> None:
    assert format_countdown(None, NOW) == ""


def test_date_is_shown_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert format_date(datetime(2026, 3, 4, 7, 5, tzinfo=plus_two)) == "2026-03-04 05:05"
    assert format_date(None) == ""


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "empty"),
        (".", "'.' or '..'"),
        ("..", "'.' or '..'"),
        ("a/b", "'/'"),
        ("a\\b", "'\\\\'"),
        ("a\x00b", "NUL"),
        (" padded", "spaces"),
    ],
)
def test_invalid_names_are_refused(name: str, fragment: str) -> None:
    with pytest.raises(FieldError, match=fragment):
        key_name_rule(name)


def test_valid_name_is_returned() -> None:
    assert key_name_rule("app-key.v2") == "app-key.v2"


@pytest.mark.parametrize(("text", "days"), [("7", 7), (" 30 ", 30), ("9", 9)])
def test_window_in_range(text: str, days: int) -> None:
    assert window_rule(text) == days


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("6", "7 to 30"),
        ("31", "7 to 30"),
        ("", "enter a number"),
        ("ten", "not a whole"),
        ("-9", "not a whole"),
        ("9.5", "not a whole"),
        ("²", "not a whole"),
        ("٩", "not a whole"),
    ],
)
def test_window_out_of_range_or_not_a_number(text: str, fragment: str) -> None:
    with pytest.raises(FieldError, match=fragment):
        window_rule(text)
