"""The activity log: every change and every failure, kept in memory and as private JSON lines.

Each entry is one line of ``<state_dir>/activity.jsonl`` (file 0600, directory 0700) with the
fields ``time`` (ISO 8601, UTC), ``action``, ``target``, ``ok``, ``message`` and
``request_id``. Secrets never reach it: callers pass only messages and ids, and every value
registered with :meth:`ActivityLog.redact` (the session's secret key, the embedded master key)
is replaced by ``***`` before an entry is kept or written.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual.message import Message

from kms_tui import paths

__all__ = ["ACTIVITY_FILE_NAME", "ActivityEntry", "ActivityLog", "default_activity_path"]

ACTIVITY_FILE_NAME = "activity.jsonl"
_MAX_ENTRIES = 2000
_MAX_TEXT = 500
_REDACTED = "***"

logger = logging.getLogger("kms_tui.tui.activity")


def default_activity_path() -> Path:
    """``<state_dir>/activity.jsonl``: history is state, not data users back up."""
    return paths.state_dir() / ACTIVITY_FILE_NAME


@dataclass(frozen=True, slots=True)
class ActivityEntry:
    """One thing the console did or failed to do."""

    time: datetime
    action: str
    target: str | None
    ok: bool
    message: str = ""
    request_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON-lines shape (time as ISO UTC)."""
        return {
            "time": self.time.astimezone(UTC).isoformat(),
            "action": self.action,
            "target": self.target,
            "ok": self.ok,
            "message": self.message,
            "request_id": self.request_id,
        }

    @property
    def result(self) -> str:
        """What the activity table shows in its result column."""
        return "ok" if self.ok else "failed"


class ActivityLog:
    """In-memory entries (newest last) mirrored to a 0600 JSON-lines file."""

    class Changed(Message):
        """Posted to the wired app after an entry is recorded."""

        def __init__(self, entry: ActivityEntry) -> None:
            super().__init__()
            self.entry = entry

    def __init__(
        self,
        path: Path | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        write: bool = True,
    ) -> None:
        self.path = path if path is not None else default_activity_path()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._write = write
        self._secrets: set[str] = set()
        self._listeners: list[Callable[[ActivityEntry], object]] = []
        self.entries: list[ActivityEntry] = []
        self.write_failed = False

    def __repr__(self) -> str:
        return f"ActivityLog(path={str(self.path)!r}, entries={len(self.entries)})"

    def redact(self, *values: str | None) -> None:
        """Never keep or write these strings (secret keys, master keys); short ones are ignored."""
        for value in values:
            if value and len(value) >= 6:
                self._secrets.add(value)

    def listen(self, callback: Callable[[ActivityEntry], object]) -> None:
        """Call ``callback`` after each new entry (the app posts :class:`Changed` with it)."""
        self._listeners.append(callback)

    def _scrub(self, text: str | None) -> str | None:
        if text is None:
            return None
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        text = " ".join(text.split())
        return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"

    def record(
        self,
        action: str,
        target: str | None,
        ok: bool,
        *,
        message: str = "",
        request_id: str | None = None,
    ) -> ActivityEntry:
        """Keep one entry, append it to the file, tell listeners; never raises on I/O."""
        entry = ActivityEntry(
            time=self._clock().astimezone(UTC),
            action=self._scrub(action) or "",
            target=self._scrub(target),
            ok=ok,
            message=self._scrub(message) or "",
            request_id=self._scrub(request_id),
        )
        self.entries.append(entry)
        if len(self.entries) > _MAX_ENTRIES:
            del self.entries[: len(self.entries) - _MAX_ENTRIES]
        if self._write:
            self._append(entry)
        for listener in list(self._listeners):
            try:
                listener(entry)
            except Exception:
                logger.exception("activity listener failed")
        return entry

    def _append(self, entry: ActivityEntry) -> None:
        line = json.dumps(entry.to_json(), ensure_ascii=False) + "\n"
        try:
            paths.ensure_private_dir(self.path.parent)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(self.path, flags | getattr(os, "O_NOFOLLOW", 0), 0o600)
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, 0o600)
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError:
            # The log must never take the console down; the entry stays in memory.
            self.write_failed = True
            logger.exception("cannot write the activity log %s", self.path)

    @staticmethod
    def read_file(path: Path) -> list[ActivityEntry]:
        """Entries from a JSON-lines file (bad lines skipped), for tests and later sessions."""
        entries: list[ActivityEntry] = []
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return entries
        for line in text.splitlines():
            try:
                data = json.loads(line)
                entries.append(
                    ActivityEntry(
                        time=datetime.fromisoformat(data["time"]),
                        action=str(data["action"]),
                        target=data.get("target"),
                        ok=bool(data["ok"]),
                        message=str(data.get("message") or ""),
                        request_id=data.get("request_id"),
                    )
                )
            except (ValueError, KeyError, TypeError):
                continue
        return entries
