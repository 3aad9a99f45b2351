"""Pilot tests of the Buckets screen (`4`) against a seeded embedded server."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Label, OptionList

from kms_tui.api.buckets import SSE_KMS, SSE_S3, BucketEncryption, BucketEncryptionClient
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.bucket_encryption import BucketEncryptionDialog
from kms_tui.tui.dialogs.confirm import ConfirmDialog
from kms_tui.tui.dialogs.create_bucket import CreateBucketDialog
from kms_tui.tui.dialogs.key_picker import KeyPickerDialog
from kms_tui.tui.screens.buckets import WARNING_MARK, BucketsScreen
from tests.tui.conftest import APP_SIZE, admin_client_for
from tests.tui.helpers import open_buckets, screen_of, wait_for_workers, wait_until


def buckets_client_for(server: EmbeddedServer) -> BucketEncryptionClient:
    return BucketEncryptionClient(server.endpoint, server.access_key, server.secret_key, retries=0)


async def seed_buckets(server: EmbeddedServer, *names: str) -> None:
    async with buckets_client_for(server) as client:
        for name in names:
            await client.create_bucket(name)


async def encryption_of(server: EmbeddedServer, bucket: str) -> BucketEncryption | None:
    async with buckets_client_for(server) as client:
        return await client.get_bucket_encryption(bucket)


async def bucket_names(server: EmbeddedServer) -> set[str]:
    async with buckets_client_for(server) as client:
        return {bucket.name for bucket in await client.list_buckets()}


async def wait_for_row(pilot: Pilot[None], screen: BucketsScreen, bucket: str, label: str) -> None:
    await wait_until(
        pilot,
        lambda: bucket in screen.rows and screen.rows[bucket].encryption_label == label,
        f"{bucket} to show {label}",
    )


async def open_encryption_dialog(
    app: KmsTuiApp, pilot: Pilot[None], screen: BucketsScreen, bucket: str
) -> BucketEncryptionDialog:
    screen.select_bucket(bucket)
    await pilot.press("e")
    await wait_until(
        pilot, lambda: isinstance(app.screen, BucketEncryptionDialog), "the encryption dialog"
    )
    dialog = app.screen
    assert isinstance(dialog, BucketEncryptionDialog)
    return dialog


async def test_create_bucket_exists_on_server(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_buckets(pilot)
        assert screen.rows == {}
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateBucketDialog), "the dialog")
        await pilot.press(*"photos-2026")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "photos-2026" in screen.rows, "the new bucket row")
        assert screen.highlighted_bucket == "photos-2026"
        assert screen.rows["photos-2026"].encryption_label == "none"
    assert "photos-2026" in await bucket_names(kms_server)
    assert any(
        entry.action == "create bucket" and entry.target == "photos-2026" and entry.ok
        for entry in app.context.activity.entries
    )


async def test_a_name_the_server_refuses_comes_back_in_the_dialog(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_buckets(kms_server, "taken-name")
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_buckets(pilot)
        await wait_until(pilot, lambda: "taken-name" in screen.rows, "the existing bucket")
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateBucketDialog), "the dialog")
        await pilot.press(*"taken-name", "enter")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, CreateBucketDialog) and app.screen.server_error,
            "the dialog again, with the refusal",
        )
        dialog = app.screen
        assert dialog.query_one("#bucket-name", Input).value == "taken-name"
        assert "you already own it" in str(dialog.server_error)
        assert "request id" in str(dialog.server_error)
        dialog.query_one("#bucket-name", Input).value = "fresh-name"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "fresh-name" in screen.rows, "the new bucket row")
    assert await bucket_names(kms_server) == {"taken-name", "fresh-name"}


async def test_invalid_bucket_name_refused_at_the_field(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await open_buckets(pilot)
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateBucketDialog), "the dialog")
        dialog = app.screen
        await pilot.press(*"Bad_Name")
        error = dialog.query_one("#bucket-name-error", Label)
        assert error.has_class("visible")
        assert "lowercase" in str(error.render())
        assert dialog.query_one("#bucket-name", Input).has_class("-invalid")
        assert dialog.query_one("#create", Button).disabled
        await pilot.press("enter")  # handled before press() returns: an accepted name closes it
        assert app.screen is dialog  # refused: still asking
        await pilot.press("escape")
        await screen_of(pilot, BucketsScreen, "dialog closed")
        await wait_for_workers(app, "bucket-change")  # a create would have been sent by now
    assert await bucket_names(kms_server) == set()


async def test_a_refused_encryption_comes_back_with_the_choice_kept(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_buckets(kms_server, "ledger")
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_buckets(pilot)
        dialog = await open_encryption_dialog(app, pilot, screen, "ledger")
        await pilot.click("#sse-kms")
        await pilot.press("k")
        await wait_until(pilot, lambda: isinstance(app.screen, KeyPickerDialog), "the picker")
        picker = app.screen
        assert isinstance(picker, KeyPickerDialog)
        await wait_until(pilot, lambda: not picker.keys_loading, "the key list")
        await pilot.press(*"gamma", "enter")
        await wait_until(pilot, lambda: app.screen is dialog, "back in the dialog")
        # Someone stops the KMS before Apply: the server refuses SSE-KMS.
        async with admin_client_for(kms_server) as admin:
            await admin.stop()
        await pilot.click("#apply")
        await wait_until(
            pilot,
            lambda: (
                isinstance(app.screen, BucketEncryptionDialog)
                and app.screen is not dialog
                and bool(app.screen.server_error)
            ),
            "the dialog again, with the refusal",
        )
        again = app.screen
        assert isinstance(again, BucketEncryptionDialog)
        assert again.use_kms and again.kms_key_id == "gamma-key"  # the choice is kept
        assert "request id" in str(again.server_error)
        await pilot.press("escape")
    assert await encryption_of(kms_server, "ledger") is None
    assert any(
        e.action == "set bucket encryption" and not e.ok for e in app.context.activity.entries
    )


async def test_set_sse_kms_with_picked_key_then_sse_s3_then_remove(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_buckets(kms_server, "ledger")
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_buckets(pilot)
        assert screen.rows["ledger"].encryption_label == "none"

        # SSE-KMS with a key chosen in the picker (over every key).
        dialog = await open_encryption_dialog(app, pilot, screen, "ledger")
        await pilot.click("#sse-kms")
        await pilot.press("k")
        await wait_until(pilot, lambda: isinstance(app.screen, KeyPickerDialog), "the picker")
        picker = app.screen
        assert isinstance(picker, KeyPickerDialog)
        await wait_until(pilot, lambda: not picker.keys_loading, "the key list")
        assert {key.key_id for key in picker.keys} >= {"alpha-key", "beta-key", "gamma-key"}
        shown = app.export_screenshot()
        assert "gamma-key" in shown
        assert "analytics" in shown  # the picker draws its rows (SVG spaces are &#160;)
        await pilot.press(*"gamma")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is dialog, "back in the dialog")
        assert dialog.kms_key_id == "gamma-key"
        await pilot.click("#apply")
        await wait_for_row(pilot, screen, "ledger", "SSE-KMS")
        assert screen.rows["ledger"].key_label == "gamma-key"
        assert await encryption_of(kms_server, "ledger") == BucketEncryption(SSE_KMS, "gamma-key")

        # SSE-S3.
        dialog = await open_encryption_dialog(app, pilot, screen, "ledger")
        await pilot.click("#sse-s3")
        await pilot.click("#apply")
        await wait_for_row(pilot, screen, "ledger", "SSE-S3")
        assert await encryption_of(kms_server, "ledger") == BucketEncryption(SSE_S3, None)

        # Remove, behind a confirmation: cancel first changes nothing.
        screen.select_bucket("ledger")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, "the confirmation closed")
        assert await encryption_of(kms_server, "ledger") == BucketEncryption(SSE_S3, None)

        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.click("#confirm")
        await wait_for_row(pilot, screen, "ledger", "none")
    assert await encryption_of(kms_server, "ledger") is None
    actions = [(e.action, e.ok) for e in app.context.activity.entries if e.target == "ledger"]
    assert actions == [
        ("set bucket encryption", True),
        ("set bucket encryption", True),
        ("remove bucket encryption", True),
    ]


async def test_sse_kms_without_a_key_is_refused_in_the_dialog(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_buckets(kms_server, "plain")
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_buckets(pilot)
        dialog = await open_encryption_dialog(app, pilot, screen, "plain")
        await pilot.click("#sse-kms")
        await pilot.click("#apply")
        error = dialog.query_one("#encryption-error", Label)
        await wait_until(pilot, lambda: error.has_class("visible"), "the missing-key problem")
        assert app.screen is dialog
    assert await encryption_of(kms_server, "plain") is None


async def test_warning_mark_for_pending_deletion_and_disabled_keys(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_buckets(kms_server, "doomed", "frozen", "healthy")
    async with buckets_client_for(kms_server) as client:
        await client.put_bucket_encryption("doomed", algorithm=SSE_KMS, kms_key_id="beta-key")
        await client.put_bucket_encryption("frozen", algorithm=SSE_KMS, kms_key_id="gamma-key")
        await client.put_bucket_encryption("healthy", algorithm=SSE_KMS, kms_key_id="alpha-key")
    async with admin_client_for(kms_server) as admin:
        await admin.schedule_key_deletion("beta-key", pending_window_in_days=7)
        await admin.disable_key("gamma-key")
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_buckets(pilot)
        table = screen.query_one("#buckets-table", DataTable)
        assert screen.rows["doomed"].key_warning == "pending deletion"
        assert table.get_cell("doomed", "mark") == WARNING_MARK
        assert table.get_cell("doomed", "key_state") == "pending deletion"
        assert screen.rows["frozen"].key_warning == "disabled"
        assert table.get_cell("frozen", "mark") == WARNING_MARK
        assert screen.rows["healthy"].key_warning is None
        assert table.get_cell("healthy", "mark") == ""
        screen.select_bucket("doomed")
        detail = screen.query_one("#buckets-detail")
        await wait_until(pilot, lambda: "doomed" in str(detail.render()), "doomed's details")
        assert "pending deletion" in str(detail.render())
        assert WARNING_MARK in str(screen.query_one("#buckets-status").render())


async def test_read_only_changes_nothing(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_buckets(kms_server, "archive")
    async with buckets_client_for(kms_server) as client:
        await client.put_bucket_encryption("archive", algorithm=SSE_KMS, kms_key_id="alpha-key")
    app = make_app(kms_server, read_only=True)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_buckets(pilot)
        banner = screen.query_one("#buckets-readonly")
        assert banner.has_class("visible")
        assert "read-only" in str(banner.render())
        for action in ("create_bucket", "edit_encryption", "remove_encryption"):
            assert screen.check_action(action, ()) is None
        screen.select_bucket("archive")
        for key in ("c", "e", "d", "v"):  # enter opens the objects, which read only
            await pilot.press(key)
            # Handled before press() returns; a change would have started the worker that
            # asks with a dialog (and that worker would still be waiting for an answer).
            assert not [w for w in app.workers if w.group == "bucket-change"], key
            assert app.screen is screen
    assert await bucket_names(kms_server) == {"archive"}
    assert await encryption_of(kms_server, "archive") == BucketEncryption(SSE_KMS, "alpha-key")


async def test_key_picker_lists_every_page_and_filters(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    async with admin_client_for(kms_server) as admin:
        await admin.disable_key("beta-key")
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await open_buckets(pilot)
        chosen: list[str | None] = []
        app.push_screen(KeyPickerDialog(app.context.admin, page_size=2), chosen.append)
        await wait_until(pilot, lambda: isinstance(app.screen, KeyPickerDialog), "the picker")
        picker = app.screen
        assert isinstance(picker, KeyPickerDialog)
        await wait_until(pilot, lambda: not picker.keys_loading, "every page")
        assert sorted(key.key_id for key in picker.keys) == ["alpha-key", "beta-key", "gamma-key"]
        options = picker.query_one("#key-options", OptionList)
        assert options.get_option("beta-key").disabled  # listed, but not usable
        await pilot.press(*"team=blue")  # tags are searched too; beta-key is the only match
        assert options.option_count == 1
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is picker  # a disabled key cannot be chosen
        assert chosen == []
        await pilot.press(*(["backspace"] * len("team=blue")), *"analytics", "enter")
        await wait_until(pilot, lambda: chosen == ["gamma-key"], "the choice")


@pytest.mark.parametrize("name", ["ab", "Upper", "a..b", "192.168.0.1", "-dash"])
def test_create_dialog_validator_refuses(name: str) -> None:
    from kms_tui.tui.dialogs.create_bucket import BucketNameValidator

    assert not BucketNameValidator().validate(name).is_valid
    assert BucketNameValidator().validate("good-name").is_valid


async def test_server_gone_mid_session_is_reported_not_fatal(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    await seed_buckets(kms_server, "kept")
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_buckets(pilot)
        assert "kept" in screen.rows
        kms_server.stop()
        await pilot.press("r")
        await wait_until(
            pilot,
            lambda: any(
                e.action == "list buckets" and not e.ok for e in app.context.activity.entries
            ),
            "the failure to be recorded",
        )
        assert "could not list buckets" in str(screen.query_one("#buckets-status").render())
        # Textual adds a notification when its message is processed: let that happen.
        await wait_until(
            pilot,
            lambda: any(n.severity == "error" for n in app._notifications),
            "an error notification",
        )
        assert app.screen is screen
