"""Pilot tests of the impact scan (`i` on Keys, `ctrl+o` in the deletion dialog) against a
seeded embedded server with real objects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import ProgressBar

from kms_tui.api.buckets import BucketEncryptionClient
from kms_tui.api.s3_heads import BulkHeads
from kms_tui.api.s3_models import ObjectHead
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.impact import ImpactDialog
from kms_tui.tui.dialogs.schedule_deletion import DeletionImpactDialog, ScheduleDeletionDialog
from kms_tui.tui.screens.keys import KeysScreen
from tests.tui.conftest import APP_SIZE, admin_client_for
from tests.tui.helpers import open_keys, screen_of, wait_until
from tests.tui.objects_support import (
    SSE_KMS,
    SSE_S3,
    seed_bucket,
    seed_objects,
    set_default_key,
)

LEDGER_OBJECTS = [f"2026/entry-{index:02d}.json" for index in range(12)]


class HeadGate:
    """Lets the first ``free`` HEADs through and holds the rest until released: the scan is
    then certainly running when the test presses `esc`, whatever the machine's speed."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.calls = 0
        self.released = asyncio.Event()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = BucketEncryptionClient.head_object
        gate = self

        async def head_object(client: BucketEncryptionClient, bucket: str, key: str) -> ObjectHead:
            gate.calls += 1
            if gate.calls > gate.free:
                await gate.released.wait()
            return await original(client, bucket, key)

        monkeypatch.setattr(BucketEncryptionClient, "head_object", head_object)

        # The scan HEADs through the client's bulk path; it falls back to head_object only for
        # what it cannot answer itself, so hold its HEADs too.
        original_bulk = BulkHeads.head

        async def bulk_head(heads: BulkHeads, bucket: str, key: str) -> ObjectHead:
            gate.calls += 1
            if gate.calls > gate.free:
                await gate.released.wait()
            return await original_bulk(heads, bucket, key)

        monkeypatch.setattr(BulkHeads, "head", bulk_head)


async def seed_world(server: EmbeddedServer) -> None:
    """ledger: SSE-KMS alpha-key by default, 12 objects; misc: no default, one object each
    under alpha-key and beta-key."""
    await seed_bucket(server, "ledger", algorithm=SSE_KMS, key_id="alpha-key")
    await seed_objects(server, "ledger", LEDGER_OBJECTS)
    await seed_bucket(server, "misc")
    await seed_objects(server, "misc", ["x-alpha.bin"], sse=SSE_KMS, kms_key_id="alpha-key")
    await seed_objects(server, "misc", ["y-beta.bin"], sse=SSE_KMS, kms_key_id="beta-key")


async def keys_on(pilot: Pilot[Any], key_id: str) -> KeysScreen:
    screen = await open_keys(pilot)
    screen.key_table.move_to(key_id)
    await pilot.pause()
    return screen


def text_of(dialog: Any, selector: str) -> str:
    return str(dialog.query_one(selector).render())


async def test_impact_shows_defaults_scans_with_progress_and_esc_keeps_a_partial_result(
    kms_server: EmbeddedServer,
    make_app: Callable[..., KmsTuiApp],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await seed_world(kms_server)
    monkeypatch.setattr(ImpactDialog, "progress_every", 0.0)  # every step, so none is missed
    gate = HeadGate(free=5)
    gate.install(monkeypatch)
    app = make_app(kms_server)
    try:
        async with app.run_test(size=APP_SIZE) as pilot:
            keys = await keys_on(pilot, "alpha-key")
            await pilot.press("i")
            dialog = await screen_of(pilot, ImpactDialog, "the impact dialog")
            await wait_until(pilot, lambda: dialog.bucket_names is not None, "bucket defaults")
            defaults = text_of(dialog, "#impact-defaults")
            assert "1 bucket of 2 encrypt new objects with this key by default: ledger" in defaults
            await wait_until(
                pilot, lambda: "impact (" in text_of(dialog, "#impact-report"), "server report"
            )
            assert "not scanned yet" in dialog.result_shown

            await pilot.press("s")
            await wait_until(
                pilot,
                lambda: (
                    dialog.last_progress is not None
                    and dialog.last_progress.listing_done
                    and dialog.last_progress.scanned == 5
                ),
                "five objects scanned of everything listed",
            )
            assert dialog.scanning
            bar = dialog.query_one("#impact-progress", ProgressBar)
            assert (bar.total, bar.progress) == (14, 5)
            shown = text_of(dialog, "#impact-progress-text")
            assert "5 of 14 objects scanned" in shown and "left" in shown

            await pilot.press("escape")  # stops the scan; the dialog stays with what it found
            await wait_until(pilot, lambda: not dialog.scanning, "the scan to stop")
            assert app.screen is dialog
            record = dialog.latest
            assert record is not None and record.partial
            assert record.result.scanned == 5 and record.result.listed == 14
            assert "PARTIAL scan, stopped 2026-01-15 12:00 UTC after 5 of 14" in dialog.result_shown
            assert (
                "alpha-key: at least 5 objects in 1 bucket become unreadable" in dialog.result_shown
            )

            await pilot.press("escape")  # now it closes, and Keys keeps the partial result
            await screen_of(pilot, KeysScreen, "back on Keys")
            kept = keys.impact_scans.latest("alpha-key")
            assert kept is record
            assert any(
                entry.action == "impact scan" and "partial" in entry.message
                for entry in app.context.activity.entries
            )

            await pilot.press("d")
            form = await screen_of(pilot, ScheduleDeletionDialog, "the deletion form")
            quote = text_of(form, "#deletion-impact")
            assert quote.startswith(
                "At least 5 objects in 1 bucket become unreadable when this key is deleted "
                "(partial scan, stopped 2026-01-15 12:00 UTC)."
            )
            assert "(ledger)" in quote
    finally:
        gate.released.set()


async def test_deletion_dialog_offers_the_scan_then_quotes_it(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_world(kms_server)
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await keys_on(pilot, "alpha-key")
        await pilot.press("d")
        form = await screen_of(pilot, ScheduleDeletionDialog, "the deletion form")
        assert text_of(form, "#deletion-impact").startswith(
            "Objects not scanned: press ctrl+o to scan"
        )
        await pilot.press(*"alpha")
        await pilot.press("ctrl+o")
        dialog = await screen_of(pilot, ImpactDialog, "the impact dialog, scanning")
        await wait_until(
            pilot, lambda: dialog.latest is not None and not dialog.scanning, "the scan"
        )
        assert "alpha-key: 13 objects in 2 buckets become unreadable" in dialog.result_shown
        await pilot.press("escape")
        form = await screen_of(pilot, ScheduleDeletionDialog, "the deletion form again")
        assert form.value("confirmation") == "alpha"  # what was typed is kept
        quote = text_of(form, "#deletion-impact")
        assert quote.startswith(
            "13 objects in 2 buckets become unreadable when this key is deleted "
            "(scan taken 2026-01-15 12:00 UTC)."
        )
        assert "1 bucket encrypt new objects with it by default (ledger)" in quote
        await pilot.press("end", *"-key", "enter")  # focus selects the kept text: keep it
        await screen_of(pilot, DeletionImpactDialog, "the deletion report")
    async with admin_client_for(kms_server) as admin:
        described = await admin.describe_key("alpha-key")
    assert described.metadata.key_state == "PendingDeletion"


async def test_bulk_deletion_scans_every_marked_key_at_once(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_world(kms_server)
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        keys = await keys_on(pilot, "alpha-key")
        await pilot.press("space", "space")  # alpha-key and beta-key
        assert keys.key_table.marked == {"alpha-key", "beta-key"}
        await pilot.press("d")
        form = await screen_of(pilot, ScheduleDeletionDialog, "the bulk deletion form")
        assert "Objects not scanned for 2 keys (alpha-key, beta-key)" in text_of(
            form, "#deletion-impact"
        )
        await pilot.press("ctrl+o")
        dialog = await screen_of(pilot, ImpactDialog, "one scan for both keys")
        assert dialog.key_ids == ("alpha-key", "beta-key")
        await wait_until(
            pilot, lambda: dialog.latest is not None and not dialog.scanning, "the scan"
        )
        assert dialog.latest is not None and dialog.latest.result.scanned == 14
        await pilot.press("escape")
        form = await screen_of(pilot, ScheduleDeletionDialog, "the bulk form again")
        quote = text_of(form, "#deletion-impact")
        assert quote.splitlines() == [
            "14 objects become unreadable when these keys are deleted:",
            "alpha-key: 13 objects in 2 buckets (scan taken 2026-01-15 12:00 UTC)",
            "beta-key: 1 object in 1 bucket (scan taken 2026-01-15 12:00 UTC)",
        ]
        await pilot.press("escape")
        await screen_of(pilot, KeysScreen, "back on Keys")
        assert keys.impact_scans.latest("beta-key") is keys.impact_scans.latest("alpha-key")


async def test_sse_s3_objects_count_against_the_default_key(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp], tmp_path: Path
) -> None:
    await set_default_key(kms_server, tmp_path / "keys", "gamma-key")
    await seed_bucket(kms_server, "plain-s3", algorithm=SSE_S3)
    await seed_objects(kms_server, "plain-s3", ["a.txt", "b.txt"])
    await seed_objects(kms_server, "plain-s3", ["c.txt"], sse=SSE_KMS, kms_key_id="alpha-key")
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_until(pilot, lambda: app.service_status is not None, "the service status")
        await keys_on(pilot, "gamma-key")
        await pilot.press("i")
        dialog = await screen_of(pilot, ImpactDialog, "the impact dialog")
        assert dialog.default_key_id == "gamma-key"
        note = text_of(dialog, "#impact-note")
        assert "SSE-S3 objects are counted against the KMS default key (gamma-key)" in note
        assert "gamma-key is that default key" in note
        await wait_until(pilot, lambda: dialog.bucket_names is not None, "bucket defaults")
        assert "plain-s3 (SSE-S3, the default key)" in text_of(dialog, "#impact-defaults")
        await pilot.press("s")
        await wait_until(
            pilot, lambda: dialog.latest is not None and not dialog.scanning, "the scan"
        )
        assert dialog.latest is not None
        impact = dialog.latest.impact("gamma-key")
        assert [hit.key for hit in impact.objects] == ["a.txt", "b.txt"]
        assert all(hit.via_default_key for hit in impact.objects)
        assert "SSE-S3 objects are counted too" in dialog.result_shown


async def test_a_scan_that_cannot_list_says_so_and_can_run_again(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await keys_on(pilot, "alpha-key")
        kms_server.stop()
        await pilot.press("i")
        dialog = await screen_of(pilot, ImpactDialog, "the impact dialog")
        await wait_until(
            pilot,
            lambda: "could not be listed" in text_of(dialog, "#impact-defaults"),
            "the bucket listing to fail",
        )
        await pilot.press("s")
        await wait_until(pilot, lambda: "the scan failed" in dialog.result_shown, "the failure")
        assert not dialog.scanning and dialog.latest is None
        await pilot.press("escape")
        keys = await screen_of(pilot, KeysScreen, "back on Keys")
        assert keys.impact_scans.latest("alpha-key") is None
