"""A key record corrupted on disk: the console lists it as unreadable, the others keep working."""

from __future__ import annotations

from pathlib import Path

from kms_tui.api.wire import ServiceState
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.tui.dialogs.schedule_deletion import DeletionImpactDialog, ScheduleDeletionDialog
from kms_tui.tui.widgets.key_detail import KeyDetail
from tests.tui.conftest import APP_SIZE, SEEDED_KEY_IDS, admin_client_for
from tests.tui.helpers import screen_of, wait_connected, wait_until


async def test_corrupted_record_is_shown_unreadable_and_others_work(
    kms_server: EmbeddedServer, make_app, tmp_path: Path
) -> None:
    kms_server.stop()
    record = tmp_path / "keys" / "beta-key.key"
    assert record.exists()
    record.write_bytes(b'{"version": 1, "key_id": "beta-key", "encrypted_key_materi')  # cut off
    server = EmbeddedServer(tmp_path / "server", log_file=tmp_path / "server2.log")
    server.start()
    try:
        app = make_app(server)
        async with app.run_test(size=APP_SIZE) as pilot:
            await wait_connected(pilot, app)
            assert app.service_status is not None
            assert app.service_status.state is ServiceState.RUNNING
            screen = app.mode_screens["keys"]
            await wait_until(
                pilot, lambda: not screen.listing and screen.loaded_count == 3, "three keys listed"
            )
            table = screen.key_table
            assert table.visible_key_ids == list(SEEDED_KEY_IDS)
            broken = table.row("beta-key")
            assert broken is not None and broken.damaged and broken.state == "Unreadable"
            assert "1 unreadable" in screen.status_text
            await app.jump_to_key("beta-key")
            detail = screen.query_one(KeyDetail)
            await wait_until(
                pilot, lambda: "cannot read it" in str(detail.render()), "beta-key's details"
            )

            # The other keys keep working: schedule deletion of gamma-key from the console.
            await app.jump_to_key("gamma-key")
            await wait_until(
                pilot,
                lambda: table.highlighted is not None and table.highlighted.key_id == "gamma-key",
                "gamma-key highlighted",
            )
            await pilot.press("d")
            await screen_of(pilot, ScheduleDeletionDialog, "the schedule-deletion form")
            await pilot.press(*"gamma-key", "enter")
            await screen_of(pilot, DeletionImpactDialog, "the deletion impact")
            await pilot.press("escape")
            await wait_until(
                pilot,
                lambda: table.row("gamma-key").state == "PendingDeletion",
                "gamma-key pending deletion",
            )
            async with admin_client_for(server) as admin:
                described = await admin.describe_key("gamma-key")
                assert described.metadata.key_state == "PendingDeletion"
                data_key = await admin.generate_data_key("alpha-key")
                assert data_key.key_id == "alpha-key"
    finally:
        server.stop()
