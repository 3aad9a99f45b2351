"""Pilot tests of the Objects screen (`enter` on a bucket) against a seeded embedded server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from kms_tui.api.s3_models import ObjectEncryption
from kms_tui.api.wire import KeyState
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.screens.buckets import BucketsScreen
from kms_tui.tui.screens.objects import ObjectsScreen
from kms_tui.tui.widgets.object_table import ObjectRow, ObjectTable, format_size
from tests.tui.conftest import APP_SIZE, admin_client_for
from tests.tui.helpers import open_buckets, screen_of, wait_until
from tests.tui.objects_support import (
    SSE_KMS,
    SSE_S3,
    seed_bucket,
    seed_objects,
    set_default_key,
)


async def open_objects(pilot: Pilot[Any], bucket: str) -> ObjectsScreen:
    """From Buckets, `enter` on ``bucket``; wait until every object is listed and HEADed."""
    screen = await open_buckets(pilot)
    await wait_until(pilot, lambda: bucket in screen.rows, f"{bucket} listed")
    screen.select_bucket(bucket)
    await pilot.press("enter")
    objects = await screen_of(pilot, ObjectsScreen, "the Objects screen")
    await wait_until(
        pilot,
        lambda: not objects.listing and objects.key_states is not None,
        "every object listed and HEADed",
    )
    return objects


async def test_objects_fill_and_mark_objects_under_unusable_keys(
    kms_server: EmbeddedServer,
    make_app: Callable[..., KmsTuiApp],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # beta-key is the KMS default key, so SSE-S3 objects are wrapped by it; then it is disabled.
    await set_default_key(kms_server, tmp_path / "keys", "beta-key")
    async with admin_client_for(kms_server) as admin:
        await admin.create_key(description="soon gone", tags={}, name="delta-key")
    await seed_bucket(kms_server, "photos")
    await seed_objects(kms_server, "photos", ["a-plain.txt"])
    await seed_objects(kms_server, "photos", ["b-alpha.bin"], sse=SSE_KMS, kms_key_id="alpha-key")
    await seed_objects(kms_server, "photos", ["c-beta.bin"], sse=SSE_KMS, kms_key_id="beta-key")
    await seed_objects(kms_server, "photos", ["d-gamma.bin"], sse=SSE_KMS, kms_key_id="gamma-key")
    await seed_objects(kms_server, "photos", ["e-delta.bin"], sse=SSE_KMS, kms_key_id="delta-key")
    await seed_objects(kms_server, "photos", ["f-s3.bin"], sse=SSE_S3)
    async with admin_client_for(kms_server) as admin:
        await admin.disable_key("beta-key")
        await admin.schedule_key_deletion("gamma-key", pending_window_in_days=7)
    # delta-key's record disappears from the key directory: its object is unreadable now.
    kms_server.stop()
    (tmp_path / "keys" / "delta-key.key").unlink()
    server = EmbeddedServer(tmp_path / "server", log_file=tmp_path / "server2.log")
    server.start()
    # Two objects a page: the listing streams in over three pages.
    monkeypatch.setattr(ObjectsScreen, "page_size", 2)
    try:
        app = make_app(server)
        async with app.run_test(size=APP_SIZE) as pilot:
            await wait_until(pilot, lambda: app.service_status is not None, "the service status")
            screen = await open_objects(pilot, "photos")
            table = screen.table
            assert table.visible_keys == [
                "a-plain.txt",
                "b-alpha.bin",
                "c-beta.bin",
                "d-gamma.bin",
                "e-delta.bin",
                "f-s3.bin",
            ]
            assert screen.listed == screen.headed == 6
            rows = {row.key: row for row in table.rows}
            assert rows["a-plain.txt"].encryption == ObjectEncryption()
            assert rows["a-plain.txt"].warning is None and rows["a-plain.txt"].sse_label == "none"
            assert (rows["b-alpha.bin"].kms_key_id, rows["b-alpha.bin"].warning) == (
                "alpha-key",
                None,
            )
            assert rows["c-beta.bin"].warning == "disabled"
            assert rows["c-beta.bin"].key_state is KeyState.DISABLED
            gamma = rows["d-gamma.bin"].warning
            assert gamma is not None and gamma.startswith("pending deletion")
            assert rows["e-delta.bin"].warning == "missing"
            assert rows["e-delta.bin"].key_state is None
            # SSE-S3 names no key: it is judged by the KMS default key (beta-key, disabled).
            s3 = rows["f-s3.bin"]
            assert s3.sse_label == "SSE-S3" and s3.via_default_key
            assert (s3.kms_key_id, s3.warning) == ("beta-key", "disabled")
            assert s3.key_label == "beta-key (default)"
            assert "6 objects" in screen.status_text
            assert "⚠ 4 under an unusable key" in screen.status_text
            shown = app.export_screenshot()
            assert "e-delta.bin" in shown and "missing" in shown

            # The detail line says what the mark means.
            table.move_to("e-delta.bin")
            await pilot.pause()
            detail = str(screen.query_one("#objects-detail").render())
            assert "its key is missing: unreadable now" in detail
            table.move_to("d-gamma.bin")
            await pilot.pause()
            detail = str(screen.query_one("#objects-detail").render())
            assert "unreadable when the window ends" in detail
            table.move_to("c-beta.bin")
            await pilot.pause()
            detail = str(screen.query_one("#objects-detail").render())
            assert "no new writes under it" in detail

            # `/` filters by key substring; esc clears the filter, esc again goes back.
            await pilot.press("slash", *"beta")
            assert table.visible_keys == ["c-beta.bin"]
            assert "1 match 'beta'" in screen.status_text
            await pilot.press("escape")
            assert table.visible_count == 6
            assert app.screen is screen
            await pilot.press("escape")
            await screen_of(pilot, BucketsScreen, "back on Buckets")
    finally:
        server.stop()


async def test_empty_bucket_and_read_only_session_can_browse(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_bucket(kms_server, "empty-one", algorithm=SSE_KMS, key_id="alpha-key")
    app = make_app(kms_server, read_only=True)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_objects(pilot, "empty-one")
        assert screen.table.total_count == 0
        assert screen.status_text.startswith("0 objects")
        assert "no objects" in str(screen.query_one("#objects-detail").render())
        title = str(screen.query_one("#objects-title").render())
        assert "SSE-KMS with alpha-key" in title


async def test_a_bucket_deleted_meanwhile_is_reported_not_fatal(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_bucket(kms_server, "fleeting")
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        buckets = await open_buckets(pilot)
        await wait_until(pilot, lambda: "fleeting" in buckets.rows, "the bucket")
        client = await app.context.buckets()
        await client.delete_bucket("fleeting")
        buckets.select_bucket("fleeting")
        await pilot.press("enter")
        screen = await screen_of(pilot, ObjectsScreen, "the Objects screen")
        await wait_until(pilot, lambda: not screen.listing, "the listing to end")
        assert screen.list_error is not None
        assert "could not list fleeting" in screen.status_text
        assert any(
            entry.action == "list objects" and entry.target == "fleeting" and not entry.ok
            for entry in app.context.activity.entries
        )


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ObjectTable(id="objects-table")


async def test_ten_thousand_rows_stream_filter_and_fill_in_place() -> None:
    """The shape the screen relies on: pages append, a filter narrows, a HEAD writes in place."""
    app = _TableApp()
    async with app.run_test(size=APP_SIZE) as pilot:
        table = app.query_one(ObjectTable)
        for page in range(10):
            table.add_rows(
                ObjectRow(f"logs/{page:02d}/{index:04d}.gz", index, None, None)
                for index in range(1000)
            )
        assert table.total_count == 10_000
        table.set_filter("/03/09")
        assert table.visible_count == 100
        table.set_filter("/03/099")
        assert table.visible_keys == [f"logs/03/{index:04d}.gz" for index in range(990, 1000)]
        row = table.row("logs/03/0995.gz")
        assert row is not None
        row.encryption = ObjectEncryption("aws:kms", "alpha-key")
        row.kms_key_id, row.warning = "alpha-key", "disabled"
        assert table.move_to("logs/03/0995.gz")
        table.refresh()
        await pilot.pause()
        assert table.highlighted is row
        table.set_filter("")
        assert table.visible_count == 10_000
        assert table.highlighted is row  # the cursor stays on its object
        await pilot.press("end")
        assert table.highlighted is not None and table.highlighted.key == "logs/09/0999.gz"


def test_sizes_read_in_binary_units() -> None:
    assert format_size(0) == "0 B"
    assert format_size(1023) == "1,023 B"
    assert format_size(1536) == "1.5 KiB"
    assert format_size(5 * 1024**3) == "5.0 GiB"
