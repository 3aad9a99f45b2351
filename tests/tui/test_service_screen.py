"""Pilot tests of the Service screen against a real embedded server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select

from kms_tui.api.service_models import ServiceStatus
from kms_tui.api.wire import ServiceBackend, ServiceState
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.configure import ConfigureDialog
from kms_tui.tui.dialogs.confirm import ConfirmDialog
from kms_tui.tui.widgets.config_fields import field_dom_id
from tests.tui.conftest import APP_SIZE, SEEDED_KEY_IDS, admin_client_for
from tests.tui.fault_support import record_notes, titled
from tests.tui.helpers import (
    FooterEntry,
    footer_entries,
    next_poll,
    open_configure,
    open_service,
    screen_of,
    wait_for_workers,
    wait_until,
)

MakeApp = Callable[..., KmsTuiApp]
CONTROLS = ("configure", "start", "stop", "restart", "clear_cache", "restore")


async def confirm(pilot: Pilot[None]) -> None:
    await screen_of(pilot, ConfirmDialog, "the confirmation")
    await pilot.click("#confirm")


def service_workers(app: KmsTuiApp) -> list[str]:
    """Groups of the Service screen's workers that change the service (or open its form)."""
    return [w.group for w in app.workers if w.group in ("service-control", "service-configure")]


def set_field(dialog: ConfigureDialog, name: str, value: str) -> None:
    dialog.query_one(f"#{field_dom_id(name)}", Input).value = value


@pytest.fixture
async def blank_server(tmp_path: Path) -> AsyncIterator[EmbeddedServer]:
    """An embedded server that was never configured (NotConfigured)."""
    server = EmbeddedServer(tmp_path / "blank", log_file=tmp_path / "blank.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_badge_and_summary_show_the_running_local_backend(
    kms_server: EmbeddedServer, make_app: MakeApp
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_service(pilot)
        assert screen.badge_text == "Running"
        assert screen.query_one("#service-badge").has_class("-running")
        rows = dict(screen._shown_rows or [])
        assert rows["key directory"] == str(kms_server.service.config.key_dir)  # type: ignore[union-attr]
        assert rows["master key"] == "set"
        assert rows["running backend"] == "local"
        # Running: it can be stopped, not started; the footer greys what cannot run now.
        assert screen.check_action("stop", ()) is True
        assert screen.check_action("start", ()) is None
        assert screen.disabled_reason("start") == "the service is already running"
        assert screen.disabled_reason("stop") is None
        footer = footer_entries(screen)
        assert footer["Stop"].enabled and footer["Stop"].key == "t"
        assert not footer["Start"].enabled
        for description, key in (("Health", "h"), ("Back up", "b"), ("Restore", "o")):
            assert footer[description] == FooterEntry(key, True), description
        # Every footer entry fits the 120-column console: none is cut off or scrolled away.
        shown = list(screen.query("FooterKey"))
        assert sum(widget.outer_size.width for widget in shown) <= 120
        assert all(widget.region.right <= 120 for widget in shown)


async def test_stop_start_and_restart_change_the_server_state(
    kms_server: EmbeddedServer, make_app: MakeApp
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_service(pilot)
        await pilot.press("t")
        await confirm(pilot)
        await wait_until(pilot, lambda: screen.badge_text == "Configured", "badge Configured")
        assert not kms_server.service.is_running
        async with admin_client_for(kms_server) as admin:
            assert (await admin.service_status()).state == ServiceState.CONFIGURED

        await pilot.press("s")
        await wait_until(pilot, lambda: screen.badge_text == "Running", "badge Running")
        assert kms_server.service.is_running

        await pilot.press("R")
        await wait_until(
            pilot,
            lambda: any(e.action == "restart" for e in app.context.activity.entries),
            "restart recorded",
        )
        await wait_until(pilot, lambda: screen.badge_text == "Running", "badge Running again")
        assert kms_server.service.is_running
        actions = [(e.action, e.ok) for e in app.context.activity.entries]
        for action in ("stop", "start", "restart"):
            assert (action, True) in actions


async def test_stop_cancelled_changes_nothing(
    kms_server: EmbeddedServer, make_app: MakeApp
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_service(pilot)
        await pilot.press("t")
        await screen_of(pilot, ConfirmDialog, "the confirmation")
        await pilot.click("#cancel")
        await wait_until(pilot, lambda: app.screen is screen, "the confirmation closed")
        # The stop worker ends right after the answer: had it sent a stop, that came before.
        await wait_for_workers(app, "service-control")
        assert kms_server.service.is_running
        assert not [e for e in app.context.activity.entries if e.action == "stop"]
        await next_poll(app, pilot)
        assert screen.badge_text == "Running"


async def test_clear_cache_empties_entries_but_keeps_counters(
    kms_server: EmbeddedServer, make_app: MakeApp
) -> None:
    async with admin_client_for(kms_server) as admin:
        for key_id in SEEDED_KEY_IDS * 2:
            await admin.describe_key(key_id)
        before = (await admin.status()).cache_stats
    assert before is not None and before.entry_count > 0
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await open_service(pilot)
        await pilot.press("x")
        await confirm(pilot)
        await wait_until(
            pilot,
            lambda: any(e.action == "clear cache" for e in app.context.activity.entries),
            "clear cache recorded",
        )
    after = kms_server.service.cache_stats()
    assert after is not None
    assert after.entry_count == 0
    assert after.hit_count >= before.hit_count
    assert after.miss_count >= before.miss_count


async def test_form_refuses_relative_key_dir_at_the_field_without_sending(
    kms_server: EmbeddedServer, make_app: MakeApp
) -> None:
    config_before = kms_server.service.config
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_service(pilot)
        dialog = await open_configure(pilot)
        set_field(dialog, "key_dir", "relative/keys")
        await pilot.press("ctrl+s")
        await pilot.pause()
        problems = dialog.problems_shown()
        assert "key_dir" in problems
        assert "absolute" in problems["key_dir"]
        key_dir_input = dialog.query_one(f"#{field_dom_id('key_dir')}", Input)
        assert key_dir_input.has_class("-invalid")
        assert app.screen is dialog  # still open
        assert dialog.sent_count == 0
        assert screen.config_requests == 0
    assert kms_server.service.config == config_before


async def test_form_needs_a_master_key_without_the_dev_flag(
    blank_server: EmbeddedServer, make_app: MakeApp, tmp_path: Path
) -> None:
    app = make_app(blank_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_service(pilot)
        assert screen.badge_text == "NotConfigured"
        dialog = await open_configure(pilot)
        set_field(dialog, "key_dir", "/srv/kms-keys")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "master_key" in dialog.problems_shown()
        assert dialog.sent_count == 0
        assert blank_server.service.config is None

        # Fixed as the form says: a master key, dev flag for a key dir under tmp; now it is sent.
        set_field(dialog, "key_dir", str(tmp_path / "new-keys"))
        set_field(dialog, "master_key", "a-long-enough-master-passphrase")
        dialog.query_one(f"#{field_dom_id('allow_insecure_dev_defaults')}").value = True  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen, "dialog closed")
        await wait_until(pilot, lambda: screen.badge_text == "Configured", "badge Configured")
    config = blank_server.service.config
    assert config is not None
    assert config.key_dir == str(tmp_path / "new-keys")
    entries = app.context.activity.entries
    assert ("configure", True) in [(e.action, e.ok) for e in entries]
    assert all("a-long-enough-master-passphrase" not in e.message for e in entries)


async def test_vault_transit_form_masks_the_token(
    kms_server: EmbeddedServer, make_app: MakeApp
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await open_service(pilot)
        dialog = await open_configure(pilot)
        dialog.query_one("#configure-backend", Select).value = "VaultTransit"
        await pilot.pause()
        token = dialog.query_one(f"#{field_dom_id('auth_method.token')}", Input)
        assert token.display and dialog.row("auth_method.token").display
        assert token.password
        assert not dialog.row("key_dir").display
        assert not dialog.row("kv_mount").display  # Transit refuses kv_mount
        token.value = "hvs.super-secret-token"
        assert "hvs.super-secret-token" not in str(token.render())
        dialog.query_one("#configure-auth", Select).value = "AppRole"
        await pilot.pause()
        assert dialog.query_one(f"#{field_dom_id('auth_method.secret_id')}", Input).password
        assert not dialog.row("auth_method.token").display


async def test_a_new_master_key_for_a_running_local_backend_is_refused_at_the_field(
    kms_server: EmbeddedServer, make_app: MakeApp
) -> None:
    # RustFS refuses to change a Local backend's master key; the form says so before sending.
    # (A refusal that only the server can make is in tests/tui/test_form_properties.py.)
    config_before = kms_server.service.config
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_service(pilot)
        dialog = await open_configure(pilot)
        assert "master key" in str(dialog.query_one("#configure-note").render())
        set_field(dialog, "master_key", "another-master-passphrase")
        set_field(dialog, "default_key_id", "beta-key")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "master_key" in dialog.problems_shown(), "field problem")
        assert app.screen is dialog
        assert screen.config_requests == 0
        values = dialog.values()
        assert values["master_key"] == "another-master-passphrase"
        assert values["default_key_id"] == "beta-key"
        assert values["key_dir"] == str(config_before.key_dir)  # type: ignore[union-attr]
        assert all(
            "another-master-passphrase" not in e.message for e in app.context.activity.entries
        )
    assert kms_server.service.config == config_before


async def test_read_only_disables_every_control(
    kms_server: EmbeddedServer, make_app: MakeApp
) -> None:
    app = make_app(kms_server, read_only=True)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_service(pilot)
        for action in CONTROLS:
            assert screen.check_action(action, ()) is None, action
            reason = screen.disabled_reason(action)
            assert reason is not None and reason.startswith("read-only session"), action
        footer = footer_entries(screen)
        for description in ("Configure", "Start", "Stop", "Restart", "Clear cache", "Restore"):
            assert not footer[description].enabled, description
        notes = record_notes(app)
        await pilot.press("t")
        await pilot.press("c")
        # Each key is handled before press() returns; a running action would have started its
        # worker (which opens the confirmation or the form) right then.
        assert service_workers(app) == []
        assert app.screen is screen  # neither a confirmation nor the form opened
        screen.action_stop()  # called directly (as a script would): refused with the reason
        await wait_until(pilot, lambda: bool(titled(notes, "Read-only")), "the read-only notice")
        assert [n.message for n in notes] == ["read-only session: stop is disabled"]
        assert service_workers(app) == []
        assert app.screen is screen
        assert "read-only" in str(screen.query_one("#service-readonly").render())
    assert kms_server.service.is_running


async def test_error_state_shows_its_message(kms_server: EmbeddedServer, make_app: MakeApp) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_service(pilot)
        failed = ServiceStatus(
            state=ServiceState.ERROR,
            error_message="backend health check failed: key directory missing",
            backend_type=ServiceBackend.LOCAL,
            healthy=False,
            config_summary=None,
        )
        screen._show(failed, None)
        await pilot.pause()
        assert screen.badge_text == "Error"
        assert screen.query_one("#service-badge").has_class("-error")
        assert "key directory missing" in str(screen.query_one("#service-error").render())
        assert "UNHEALTHY" in str(screen.query_one("#service-detail").render())
        # From Error the service can be started again, but not stopped or cleared.
        assert screen.check_action("start", ()) is True
        assert screen.check_action("stop", ()) is None
        assert screen.check_action("clear_cache", ()) is None
        assert screen.disabled_reason("stop") == "the service is not running"

        def footer_follows() -> bool:
            footer = footer_entries(screen)
            return footer["Start"].enabled and not footer["Stop"].enabled

        await wait_until(pilot, footer_follows, "the footer to follow the Error state")
