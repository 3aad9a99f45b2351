"""The Keys screen against a real seeded embedded server: loading, filter, sort, refusals."""

from __future__ import annotations

import os
from collections.abc import Callable

from textual.widgets import Input, Label

from kms_tui.embedded.keyrecord import KeyRecord
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.embedded.timefmt import format_zoned, utc_now
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.create_key import CreateKeyDialog
from kms_tui.tui.screens.datakeys import DataKeysScreen
from kms_tui.tui.widgets.key_table import KeyRow, KeyTable
from tests.tui.conftest import APP_SIZE, SEEDED_KEY_IDS, admin_client_for
from tests.tui.helpers import open_keys, wait_until


def keys_idle(app: KmsTuiApp) -> bool:
    """No worker of the Keys screen is still running."""
    return all(worker.is_finished for worker in app.workers if worker.group.startswith("keys."))


def notifications(app: KmsTuiApp) -> list[str]:
    """Every notification message shown so far."""
    return [note.message for note in app._notifications]


async def server_key_ids(server: EmbeddedServer) -> list[str]:
    async with admin_client_for(server) as admin:
        return [info.key_id async for page in admin.iter_keys() for info in page.keys]


async def test_table_lists_every_seeded_key(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_keys(pilot)
        assert screen.key_table.visible_key_ids == list(SEEDED_KEY_IDS)
        assert screen.status_text.startswith("3 keys")
        row = screen.key_table.row("beta-key")
        assert row is not None
        assert (row.state, row.description, row.tags_text) == (
            "Enabled",
            "Beta backups",
            "env=prod, name=beta-key, team=blue",
        )


async def test_paging_streams_more_than_one_page(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    created = format_zoned(utc_now())
    records = [
        KeyRecord(key_id=f"bulk-{n:05d}", material=os.urandom(32), created_at=created)
        for n in range(1500)
    ]
    kms_server.service._store.create_many(records)  # type: ignore[union-attr]
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_keys(pilot, count=1503)
        assert screen.key_table.total_count == 1503
        assert "bulk-01499" in screen.key_table.all_key_ids
        assert screen.status_text.startswith("1,503 keys")
        await pilot.press("slash", *"01499", "enter")
        assert screen.key_table.visible_key_ids == ["bulk-01499"]


async def test_filter_narrows_as_you_type_and_escape_clears(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_keys(pilot)
        await pilot.press("slash", "b", "l")  # matches the tag team=blue only
        assert screen.key_table.visible_key_ids == ["beta-key"]
        assert "1 of 3 keys" in screen.status_text
        await pilot.press("backspace", "backspace", *"ANALYTICS")  # description, any case
        assert screen.key_table.visible_key_ids == ["gamma-key"]
        await pilot.press("escape")
        assert screen.key_table.visible_key_ids == list(SEEDED_KEY_IDS)
        assert not screen.query_one("#keys-filter", Input).display
        assert screen.key_table.has_focus


async def test_sort_keys_and_header_click(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_keys(pilot)
        table = screen.key_table
        await pilot.press("S")
        assert table.visible_key_ids == list(reversed(SEEDED_KEY_IDS))
        await pilot.press("s", "s")  # id -> description -> state
        assert table.sort_column == "state"
        assert not table.sort_reverse
        # Column "tags" on the header line; clicking it sorts by the tag text ("env=…" first).
        tags_x = 2 + 26 + 22 + 15 + 16 + 28 + 5 + 1
        await pilot.click(KeyTable, offset=(tags_x, 0))
        assert table.sort_column == "tags"
        assert table.visible_key_ids == ["beta-key", "alpha-key", "gamma-key"]
        await pilot.click(KeyTable, offset=(5, 3))  # third data row
        assert table.highlighted is not None
        assert table.highlighted.key_id == "gamma-key"


async def test_read_only_session_changes_nothing_and_says_why(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server, read_only=True)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_keys(pilot)
        for action in ("create_key", "schedule_deletion", "toggle_enabled", "edit_key"):
            assert screen.check_action(action, ()) is None
        await pilot.press("c", "d", "e", "t", "space", "d")
        # The refusals come first; any worker a key started has ended after them.
        await wait_until(
            pilot,
            lambda: (
                any("read-only session: create key is disabled" in n for n in notifications(app))
                and any("read-only session: schedule deletion" in n for n in notifications(app))
            ),
            "the read-only notices",
        )
        await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
        assert app.screen is screen  # no dialog opened
        assert "read-only" in screen.status_text
    assert await server_key_ids(kms_server) == list(SEEDED_KEY_IDS)
    async with admin_client_for(kms_server) as admin:
        for key_id in SEEDED_KEY_IDS:
            assert (await admin.describe_key(key_id)).metadata.key_state.value == "Enabled"


async def test_rotate_is_disabled_with_reason_on_local(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_keys(pilot)
        await wait_until(pilot, lambda: app.kms_status is not None, "the KMS status")
        assert screen.check_action("rotate_key", ()) is None
        assert screen.check_action("create_key", ()) is True
        await pilot.press("R")
        await wait_until(
            pilot,
            lambda: "this backend cannot rotate keys" in notifications(app),
            "the cannot-rotate notice",
        )
        await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
        assert app.screen is screen  # the refusal came instead of a dialog


async def test_copy_id_puts_the_key_on_the_clipboard(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await open_keys(pilot)
        await pilot.press("down", "y")
        assert app.clipboard == "beta-key"
        await wait_until(
            pilot, lambda: "copied beta-key" in notifications(app), "the copied notice"
        )


async def test_generate_data_key_hands_the_key_to_the_data_keys_screen(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_keys(pilot)
        await wait_until(pilot, lambda: app.kms_status is not None, "the KMS status")
        assert "datakeys" not in app.mode_screens  # first `g`: Data keys was never shown
        screen.key_table.move_to("gamma-key")
        await pilot.press("g")
        await wait_until(pilot, lambda: app.current_mode == "datakeys", "the Data keys screen")
        datakeys = app.screen
        assert isinstance(datakeys, DataKeysScreen)
        await wait_until(pilot, lambda: datakeys.key_id == "gamma-key", "gamma-key chosen")
        assert str(datakeys.query_one("#datakey-key", Label).content) == "gamma-key"

        await pilot.press("2")  # second `g`: the same Data keys screen, already shown
        await wait_until(pilot, lambda: app.screen is screen, "back on Keys")
        screen.key_table.move_to("beta-key")
        await pilot.press("g")
        await wait_until(
            pilot,
            lambda: app.screen is datakeys and datakeys.key_id == "beta-key",
            "beta-key chosen on Data keys",
        )
        assert str(datakeys.query_one("#datakey-key", Label).content) == "beta-key"


async def test_503_from_a_stopped_kms_is_shown_and_logged_and_input_kept(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await open_keys(pilot)
        async with admin_client_for(kms_server) as admin:
            await admin.stop()
        await pilot.press("c")
        await wait_until(
            pilot, lambda: isinstance(app.screen, CreateKeyDialog), "the create-key form"
        )
        dialog = app.screen
        assert isinstance(dialog, CreateKeyDialog)
        dialog.query_one("#description", Input).value = "never stored"
        dialog.query_one("#name", Input).value = "stopped-key"
        await pilot.click("#submit")

        def reopened() -> bool:
            return isinstance(app.screen, CreateKeyDialog) and app.screen is not dialog

        await wait_until(pilot, reopened, "the form to come back")
        again = app.screen
        assert isinstance(again, CreateKeyDialog)
        assert again.value("description") == "never stored"  # nothing typed is lost
        assert again.value("name") == "stopped-key"
        assert again.server_error and "not running" in again.server_error.lower()
        failed = [e for e in app.context.activity.entries if e.action == "create key"]
        assert failed and not failed[-1].ok
        assert "not running" in failed[-1].message.lower()
        await wait_until(
            pilot,
            lambda: any("not running" in n.lower() for n in notifications(app)),
            "the not-running notice",
        )
        await pilot.press("escape")


async def test_unreadable_keys_show_as_damaged_rows() -> None:
    from textual.app import App, ComposeResult

    class TableApp(App[None]):
        def compose(self) -> ComposeResult:
            yield KeyTable()

    app = TableApp()
    async with app.run_test(size=APP_SIZE) as pilot:
        table = app.query_one(KeyTable)
        table.add_rows([KeyRow.unreadable("broken-key")])
        await pilot.pause()
        row = table.row("broken-key")
        assert row is not None and row.damaged and row.state == "Unreadable"
        line = table.render_line(1).text
        assert "broken-key" in line and "Unreadable" in line
        assert "ID ▲" in table.render_line(0).text
