"""Pilot tests of the encryption check (`v` on Buckets, "Check all buckets" in the palette):
every verdict against the real embedded server, which encrypts the probe objects itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from kms_tui.api.verify import Verdict
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.settings import Settings
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.check import CheckResultsDialog
from kms_tui.tui.screens.buckets import BucketsScreen
from tests.tui.conftest import APP_SIZE, admin_client_for
from tests.tui.helpers import open_buckets, screen_of, wait_until
from tests.tui.objects_support import (
    SSE_KMS,
    SSE_S3,
    object_keys,
    seed_bucket,
    set_default_key,
)


def record_notes(app: KmsTuiApp) -> list[str]:
    """Every notification's message, as the screens asked for it."""
    notes: list[str] = []
    original = app.notify

    def notify(message: str, **options: Any) -> None:
        notes.append(message)
        original(message, **options)

    app.notify = notify  # type: ignore[method-assign]
    return notes


def check_entries(app: KmsTuiApp) -> dict[str, Any]:
    return {
        entry.target or "": entry
        for entry in app.context.activity.entries
        if entry.action == "check encryption"
    }


async def verdicts_after(pilot: Any, *keys: str) -> CheckResultsDialog:
    await pilot.press(*keys)
    return await screen_of(pilot, CheckResultsDialog, "the check's verdicts")


async def test_marked_buckets_expected_key_and_not_encrypted(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_bucket(kms_server, "ledger", algorithm=SSE_KMS, key_id="alpha-key")
    await seed_bucket(kms_server, "open-data")
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_buckets(pilot)
        await wait_until(pilot, lambda: len(screen.rows) == 2, "both buckets")
        screen.select_bucket("ledger")
        await pilot.press("space", "space")
        assert screen.marked == {"ledger", "open-data"}
        dialog = await verdicts_after(pilot, "v")
        verdicts = {outcome.result.bucket: outcome.result.verdict for outcome in dialog.outcomes}
        assert verdicts == {"ledger": Verdict.EXPECTED, "open-data": Verdict.NOT_ENCRYPTED}
        body = dialog.body_text()
        assert "✓ ledger: encrypted with the expected key" in body
        assert "aws:kms under key alpha-key" in body
        assert "✗ open-data: not encrypted" in body
        assert "the bucket has no default encryption" in body
        assert "· probe deleted" in body
        assert "checked 2026-01-15 12:00 UTC" in body
        assert dialog.summary == "1 encrypted with the expected key, 1 not encrypted"
        entries = check_entries(app)
        assert entries["ledger"].ok and not entries["open-data"].ok
        assert "not encrypted" in entries["open-data"].message
        await pilot.press("escape")
        await screen_of(pilot, BucketsScreen, "back on Buckets")
        assert screen.marked == set()  # a check of the marked buckets clears the marks
    assert await object_keys(kms_server, "ledger") == []  # every probe was deleted
    assert await object_keys(kms_server, "open-data") == []


async def test_a_default_key_changed_behind_the_console_is_another_key(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp], tmp_path: Path
) -> None:
    await set_default_key(kms_server, tmp_path / "keys", "alpha-key")
    await seed_bucket(kms_server, "managed", algorithm=SSE_S3)
    # The console polls once (default key alpha-key) and then not again during the test.
    quiet = Settings(poll_interval_seconds=3600.0, keymap=MappingProxyType({}))
    app = make_app(kms_server, settings=quiet)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_until(pilot, lambda: app.service_status is not None, "the service status")
        screen = await open_buckets(pilot)
        assert screen.default_key_id == "alpha-key"
        # Someone else makes gamma-key the default: the server now wraps SSE-S3 under it.
        await set_default_key(kms_server, tmp_path / "keys", "gamma-key")
        screen.select_bucket("managed")
        dialog = await verdicts_after(pilot, "v")
        (outcome,) = dialog.outcomes
        assert outcome.result.verdict is Verdict.OTHER_KEY
        assert outcome.result.detail == "AES256 under key gamma-key, not the expected alpha-key"
        assert "✗ managed: encrypted under another key" in dialog.body_text()
        assert not check_entries(app)["managed"].ok


async def test_a_default_naming_a_disabled_key_fails_and_says_why(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_bucket(kms_server, "frozen", algorithm=SSE_KMS, key_id="beta-key")
    async with admin_client_for(kms_server) as admin:
        await admin.disable_key("beta-key")
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_buckets(pilot)
        await wait_until(pilot, lambda: "frozen" in screen.rows, "the bucket")
        screen.select_bucket("frozen")
        dialog = await verdicts_after(pilot, "v")
        (outcome,) = dialog.outcomes
        result = outcome.result
        assert result.verdict is Verdict.FAILED
        assert result.request_id  # the server's, for its log
        assert outcome.key_note == "the default's key beta-key is disabled"
        body = dialog.body_text()
        assert f"✗ frozen: failed: {result.detail}" in body
        assert "⚠ the default's key beta-key is disabled" in body
        assert f"request id {result.request_id}" in body
        entry = check_entries(app)["frozen"]
        assert not entry.ok and entry.request_id == result.request_id
        assert "beta-key is disabled" in entry.message
    assert await object_keys(kms_server, "frozen") == []


async def test_palette_checks_all_buckets(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_bucket(kms_server, "first-one", algorithm=SSE_KMS, key_id="alpha-key")
    await seed_bucket(kms_server, "second-one", algorithm=SSE_KMS, key_id="gamma-key")
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_until(pilot, lambda: app.context.is_ready, "the clients")
        await pilot.press("colon", *"Check all buckets")
        await pilot.pause()
        await pilot.press("enter")
        dialog = await screen_of(pilot, CheckResultsDialog, "the check's verdicts")
        assert [outcome.result.bucket for outcome in dialog.outcomes] == [
            "first-one",
            "second-one",
        ]
        assert all(outcome.ok for outcome in dialog.outcomes)
        assert dialog.title_text == "Encryption check: 2 buckets"


async def test_read_only_refuses_the_check(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_bucket(kms_server, "archive", algorithm=SSE_KMS, key_id="alpha-key")
    app = make_app(kms_server, read_only=True)
    notes = record_notes(app)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_buckets(pilot)
        await wait_until(pilot, lambda: "archive" in screen.rows, "the bucket")
        screen.select_bucket("archive")
        await pilot.press("v")
        # The refusal is said first; only then can the absence of a check be asserted.
        await wait_until(
            pilot,
            lambda: any("read-only session: the encryption check" in note for note in notes),
            "the read-only notice",
        )
        assert not [worker for worker in app.workers if worker.group == "buckets.check"]
        assert app.screen is screen
        assert not check_entries(app)
    assert await object_keys(kms_server, "archive") == []
