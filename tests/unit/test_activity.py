"""The activity log: entries in memory and as private JSON lines, with secrets kept out."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kms_tui import paths
from kms_tui.tui.activity import ActivityEntry, ActivityLog, default_activity_path

START = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def ticking_clock():
    moments = iter(START + timedelta(seconds=n) for n in range(1000))
    return lambda: next(moments)


def test_default_path_is_under_state_dir() -> None:
    assert default_activity_path() == paths.state_dir() / "activity.jsonl"


def test_record_keeps_entries_and_writes_private_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "state" / "activity.jsonl"
    log = ActivityLog(path, clock=ticking_clock())
    first = log.record("create key", "alpha", True, message="created alpha")
    log.record("delete key", "beta", False, message="denied", request_id="ABC123")
    assert log.entries[0] is first and [e.action for e in log.entries] == [
        "create key",
        "delete key",
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [
        {
            "time": "2026-03-01T09:30:00+00:00",
            "action": "create key",
            "target": "alpha",
            "ok": True,
            "message": "created alpha",
            "request_id": None,
        },
        {
            "time": "2026-03-01T09:30:01+00:00",
            "action": "delete key",
            "target": "beta",
            "ok": False,
            "message": "denied",
            "request_id": "ABC123",
        },
    ]
    assert ActivityLog.read_file(path) == log.entries


def test_existing_wide_file_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "activity.jsonl"
    path.write_text("")
    path.chmod(0o644)
    ActivityLog(path).record("x", None, True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_registered_secrets_never_reach_memory_or_file(tmp_path: Path) -> None:
    path = tmp_path / "activity.jsonl"
    log = ActivityLog(path)
    secret = "s3cr3t-master-key-value"
    log.redact(secret, None, "")
    entry = log.record(
        "configure", f"dir-{secret}", False, message=f"bad key {secret}!", request_id=None
    )
    assert secret not in entry.message and secret not in (entry.target or "")
    assert "***" in entry.message
    assert secret not in path.read_text()
    assert secret not in repr(log)


def test_messages_are_one_line_and_bounded(tmp_path: Path) -> None:
    log = ActivityLog(tmp_path / "a.jsonl")
    entry = log.record("x", None, False, message="line one\nline two " + "y" * 2000)
    assert "\n" not in entry.message
    assert len(entry.message) <= 500


def test_listeners_hear_each_entry_and_a_failing_one_is_contained(tmp_path: Path) -> None:
    log = ActivityLog(tmp_path / "a.jsonl")
    heard: list[ActivityEntry] = []

    def broken(entry: ActivityEntry) -> None:
        raise RuntimeError("listener bug")

    log.listen(broken)
    log.listen(heard.append)
    entry = log.record("rotate key", "k", True)
    assert heard == [entry]


def test_unwritable_file_keeps_entry_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "is-a-directory"
    path.mkdir()
    log = ActivityLog(path)
    entry = log.record("create key", "k", True)
    assert log.entries == [entry]
    assert log.write_failed


def test_read_file_skips_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = ActivityLog(path, clock=ticking_clock())
    log.record("ok", None, True)
    with path.open("a") as handle:
        handle.write('not json\n{"time": "bad"}\n')
    log.record("also ok", "t", False)
    assert [e.action for e in ActivityLog.read_file(path)] == ["ok", "also ok"]
    assert ActivityLog.read_file(tmp_path / "absent.jsonl") == []
