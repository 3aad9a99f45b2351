"""Timestamps as RustFS writes them: RFC 9557 (RFC 3339 plus a bracketed zone), always UTC here."""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["format_zoned", "parse_zoned", "utc_now"]

_ZONE_SUFFIX = re.compile(r"\[[^\]]*\]$")
_FRACTION = re.compile(r"\.(\d+)")


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def format_zoned(moment: datetime) -> str:
    """``2026-01-01T00:00:00+00:00[UTC]``, with a fraction only when it is non-zero (as jiff)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "+00:00[UTC]"


def parse_zoned(text: str) -> datetime:
    """Parse an RFC 9557 or plain RFC 3339 timestamp into an aware datetime (UTC if no offset)."""
    core = _ZONE_SUFFIX.sub("", text.strip())
    if core.endswith(("Z", "z")):
        core = core[:-1] + "+00:00"
    # Python keeps microseconds; jiff may write up to nine fractional digits.
    core = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), core, count=1)
    parsed = datetime.fromisoformat(core)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
