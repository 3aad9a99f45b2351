"""Key dialogs end to end: what the user types, what the server holds afterwards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from textual.widgets import Input

from kms_tui.embedded.server import EmbeddedServer
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.confirm import ConfirmDialog
from kms_tui.tui.dialogs.create_key import CreateKeyDialog
from kms_tui.tui.dialogs.edit_key import EditKeyDialog
from kms_tui.tui.dialogs.results import ResultsDialog
from kms_tui.tui.dialogs.schedule_deletion import DeletionImpactDialog, ScheduleDeletionDialog
from tests.tui.conftest import APP_SIZE, SEEDED_KEY_IDS, admin_client_for
from tests.tui.helpers import open_keys, screen_of, wait_until
from tests.tui.test_keys_screen import keys_idle


async def dialog_of(app: KmsTuiApp, pilot: Any, kind: type[Any]) -> Any:
    return await screen_of(pilot, kind)


async def state_of(server: EmbeddedServer, key_id: str) -> Any:
    async with admin_client_for(server) as admin:
        return (await admin.describe_key(key_id)).metadata


async def test_create_with_description_tags_and_name(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_keys(pilot)
        await pilot.press("c")
        dialog = await dialog_of(app, pilot, CreateKeyDialog)
        await pilot.press(*"Orders DB")
        dialog.query_one("#tags", Input).value = "team=payments, env=prod"
        dialog.query_one("#name", Input).value = "orders-key"
        await pilot.click("#submit")
        await wait_until(
            pilot, lambda: screen.key_table.row("orders-key") is not None, "orders-key listed"
        )
        await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
        highlighted = screen.key_table.highlighted
        assert highlighted is not None and highlighted.key_id == "orders-key"
    metadata = await state_of(kms_server, "orders-key")
    assert metadata.description == "Orders DB"
    assert dict(metadata.tags) == {"team": "payments", "env": "prod", "name": "orders-key"}


async def test_create_refuses_bad_tags_and_names_at_the_field(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await open_keys(pilot)
        await pilot.press("c")
        dialog = await dialog_of(app, pilot, CreateKeyDialog)
        dialog.query_one("#tags", Input).value = "team=payments, oops"
        dialog.query_one("#name", Input).value = "a/b"
        await pilot.click("#submit")
        await wait_until(pilot, lambda: bool(dialog.field_error("tags")), "the tags problem")
        assert app.screen is dialog
        assert "key=value" in (dialog.field_error("tags") or "")
        assert "'/'" in (dialog.field_error("name") or "")
        dialog.query_one("#name", Input).value = ".."
        dialog.query_one("#name", Input).focus()
        await pilot.press("enter")  # Enter in a field submits too
        assert "'.' or '..'" in (dialog.field_error("name") or "")
        await pilot.press("escape")
        await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
    async with admin_client_for(kms_server) as admin:
        listed = [info.key_id async for page in admin.iter_keys() for info in page.keys]
    assert listed == list(SEEDED_KEY_IDS)


async def test_schedule_deletion_with_window_9_after_typing_the_id(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_keys(pilot)
        screen.key_table.move_to("beta-key")
        await pilot.press("d")
        dialog = await dialog_of(app, pilot, ScheduleDeletionDialog)
        assert dialog.value("window") == "30"  # the default
        dialog.query_one("#window", Input).value = "9"
        await pilot.press(*"beta-key", "enter")
        impact = await dialog_of(app, pilot, DeletionImpactDialog)
        assert "beta-key will be deleted" in impact.body_text()
        assert "impact (" in impact.body_text()
        await pilot.press("escape")
        await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
        row = screen.key_table.row("beta-key")
        assert row is not None and row.state == "PendingDeletion"
        assert row.deletion_date is not None
    metadata = await state_of(kms_server, "beta-key")
    assert metadata.key_state.value == "PendingDeletion"
    expected = datetime.now(UTC) + timedelta(days=9)
    assert abs(metadata.deletion_date - expected) < timedelta(minutes=5)


async def test_wrong_typed_id_or_window_sends_nothing(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await open_keys(pilot)
        await pilot.press("d")
        dialog = await dialog_of(app, pilot, ScheduleDeletionDialog)
        await pilot.press(*"beta-key", "enter")  # alpha-key is highlighted
        assert app.screen is dialog
        assert "does not match" in (dialog.field_error("confirmation") or "")
        dialog.query_one("#confirmation", Input).value = "alpha-key"
        dialog.query_one("#window", Input).value = "31"
        await pilot.click("#submit")
        await wait_until(pilot, lambda: bool(dialog.field_error("window")), "the window problem")
        assert app.screen is dialog
        assert "7 to 30" in (dialog.field_error("window") or "")
        await pilot.press("escape")
        await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
    for key_id in SEEDED_KEY_IDS:
        assert (await state_of(kms_server, key_id)).key_state.value == "Enabled"


async def test_cancel_deletion_brings_the_key_back(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    async with admin_client_for(kms_server) as admin:
        await admin.schedule_key_deletion("gamma-key", pending_window_in_days=7)
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_keys(pilot)
        row = screen.key_table.row("gamma-key")
        assert row is not None and row.state == "PendingDeletion"
        # Listings carry no deletion date; the screen describes pending keys to fill it in.
        await wait_until(
            pilot,
            lambda: screen.key_table.row("gamma-key").deletion_date is not None,
            "gamma-key pending deletion",
        )
        screen.key_table.move_to("gamma-key")
        await pilot.press("u")
        await wait_until(
            pilot,
            lambda: screen.key_table.row("gamma-key").state == "Enabled",
            "gamma-key enabled again",
        )
        await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
    assert (await state_of(kms_server, "gamma-key")).key_state.value == "Enabled"


async def test_disable_then_enable(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_keys(pilot)
        await pilot.press("e")
        await dialog_of(app, pilot, ConfirmDialog)
        await pilot.click("#confirm")
        await wait_until(
            pilot,
            lambda: screen.key_table.row("alpha-key").state == "Disabled",
            "alpha-key disabled",
        )
        assert (await state_of(kms_server, "alpha-key")).key_state.value == "Disabled"
        await pilot.press("e")  # enabling needs no confirmation
        await wait_until(
            pilot,
            lambda: screen.key_table.row("alpha-key").state == "Enabled",
            "alpha-key enabled again",
        )
        await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
    assert (await state_of(kms_server, "alpha-key")).key_state.value == "Enabled"


async def test_edit_description_and_tags(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_keys(pilot)
        screen.key_table.move_to("beta-key")
        await pilot.press("enter")
        dialog = await dialog_of(app, pilot, EditKeyDialog)
        assert dialog.value("tags") == "env=prod, team=blue"  # name is shown, not editable
        dialog.query_one("#description", Input).value = "Beta backups, nightly"
        dialog.query_one("#tags", Input).value = "team=green, tier=gold"
        await pilot.click("#submit")
        await wait_until(
            pilot,
            lambda: screen.key_table.row("beta-key").description == "Beta backups, nightly",
            "the new description listed",
        )
        await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
    metadata = await state_of(kms_server, "beta-key")
    assert metadata.description == "Beta backups, nightly"
    assert dict(metadata.tags) == {"name": "beta-key", "team": "green", "tier": "gold"}


async def test_bulk_schedule_of_three_marked_keys(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_keys(pilot)
        await pilot.press("space", "space", "space")
        assert screen.key_table.marked == frozenset(SEEDED_KEY_IDS)
        assert "3 marked" in screen.status_text
        await pilot.press("d")
        dialog = await dialog_of(app, pilot, ScheduleDeletionDialog)
        dialog.query_one("#window", Input).value = "12"
        await pilot.press("3", "enter")
        results = await dialog_of(app, pilot, ResultsDialog)
        assert results.summary == "3 succeeded, 0 failed"
        assert [r.key_id for r in results.results] == list(SEEDED_KEY_IDS)
        await pilot.press("escape")
        await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
        assert screen.key_table.marked == frozenset()
    expected = datetime.now(UTC) + timedelta(days=12)
    for key_id in SEEDED_KEY_IDS:
        metadata = await state_of(kms_server, key_id)
        assert metadata.key_state.value == "PendingDeletion"
        assert abs(metadata.deletion_date - expected) < timedelta(minutes=5)
    logged = [e for e in app.context.activity.entries if e.action == "schedule deletion"]
    assert sorted(e.target for e in logged if e.ok) == sorted(SEEDED_KEY_IDS)
