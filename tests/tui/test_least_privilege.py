"""The console under restricted accounts of the embedded server (real sockets, real policies).

An auditor (KMSAuditor) and a key administrator (KMSKeyAdministrator) sign in; the server says
who they are (``accountinfo``), so what they may not do is greyed before it is tried. Behind a
proxy that hides ``accountinfo`` (another server), nothing is greyed until the first refusal,
which then marks the action denied for the session. Nothing else is disturbed: the list still
shows, the other actions still work, the refusal is in the activity log with its request id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from kms_tui.embedded.accounts import load_users
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.factory import build_app
from kms_tui.settings import Connection, Settings
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.confirm import ConfirmDialog
from kms_tui.tui.dialogs.create_key import CreateKeyDialog
from kms_tui.tui.screens.service import ServiceScreen
from kms_tui.tui.screens.stats import StatsScreen
from kms_tui.tui.widgets.key_detail import KeyDetail
from tests.fakes.misbehaving import misbehaving, status, xml_error
from tests.tui.conftest import (
    APP_SIZE,
    SEEDED_KEYS,
    TEST_ENDPOINT_LABEL,
    admin_client_for,
    configure_local,
    fixed_clock,
)
from tests.tui.fault_support import record_notes, titled
from tests.tui.helpers import (
    footer_entries,
    next_poll,
    open_keys,
    open_mode,
    screen_of,
    wait_for_workers,
    wait_until,
)

SECRET = "restricted-console-secret-0123"
USERS = """
[[user]]
access_key = "auditor"
secret_key_env = "CONSOLE_SECRET"
policies = ["KMSAuditor"]

[[user]]
access_key = "keyadmin"
secret_key_env = "CONSOLE_SECRET"
policies = ["KMSKeyAdministrator"]

[[user]]
access_key = "lister"
secret_key_env = "CONSOLE_SECRET"
policy = '''{"Statement": [{"Effect": "Allow", "Action": "kms:ListKeys"}]}'''
"""
KEY_WRITES = (
    "create_key",
    "schedule_deletion",
    "cancel_deletion",
    "toggle_enabled",
    "edit_key",
    "generate_data_key",
)


@pytest.fixture
async def restricted_server(tmp_path: Path) -> AsyncIterator[EmbeddedServer]:
    """The seeded Local KMS of the pilot tests, with an auditor and a key administrator."""
    users_file = tmp_path / "users.toml"
    users_file.write_text(USERS)
    server = EmbeddedServer(
        tmp_path / "server",
        log_file=tmp_path / "server.log",
        users=load_users(users_file, {"CONSOLE_SECRET": SECRET}),
    )
    server.start()
    try:
        await configure_local(server, tmp_path / "keys")
        async with admin_client_for(server) as admin:
            for name, description, tags in SEEDED_KEYS:
                await admin.create_key(description=description, tags=tags, name=name)
        yield server
    finally:
        server.stop()


def app_as(account: str, endpoint: str) -> KmsTuiApp:
    connection = Connection(
        name="restricted",
        endpoint=endpoint,
        region="us-east-1",
        access_key=account,
        secret_key=SECRET,
        timeout_seconds=10.0,
    )
    return build_app(connection, Settings(), clock=fixed_clock, endpoint_label=TEST_ENDPOINT_LABEL)


async def key_states(server: EmbeddedServer) -> dict[str, str]:
    async with admin_client_for(server) as admin:
        return {
            info.key_id: (await admin.describe_key(info.key_id)).metadata.key_state.value
            async for page in admin.iter_keys()
            for info in page.keys
        }


async def policy_known(pilot: Pilot[None], app: KmsTuiApp) -> None:
    await wait_until(pilot, lambda: app.context.permissions.checked, "the account's policy")


async def open_service_screen(pilot: Pilot[None]) -> ServiceScreen:
    """The Service screen; under an auditor its status never comes, so do not wait for it."""
    await pilot.press("1")
    return await screen_of(pilot, ServiceScreen, "the Service screen")


async def test_an_auditor_sees_every_key_and_every_change_greyed_before_it_is_tried(
    restricted_server: EmbeddedServer,
) -> None:
    before = await key_states(restricted_server)
    app = app_as("auditor", restricted_server.endpoint)
    async with app.run_test(size=APP_SIZE) as pilot:
        notes = record_notes(app)
        screen = await open_keys(pilot)
        await policy_known(pilot, app)
        assert app.context.permissions.account == "auditor"
        await pilot.pause()
        for action in KEY_WRITES:
            assert screen.check_action(action, ()) is None, action
            assert "denied for this account" in (screen.disabled_reason(action) or "")
        assert screen.disabled_reason("create_key") == "denied for this account (kms:Configure)"
        footer = footer_entries(screen)
        assert not footer["Create"].enabled and not footer["Delete"].enabled
        assert footer["Filter"].enabled and footer["Impact"].enabled
        # Pressing a greyed key says why and sends nothing.
        await pilot.press("c")
        await wait_until(pilot, lambda: bool(titled(notes, "Not available")), "the reason")
        assert (
            "denied for this account (kms:Configure)" in titled(notes, "Not available")[0].message
        )
        assert app.screen is screen
        # The list is allowed and so is describe: the detail pane shows the key.
        assert screen.key_table.total_count == len(SEEDED_KEYS)
        # The status poll needs kms:ServiceControl: said once, as a denial, not as an outage.
        await wait_until(pilot, lambda: app.poll_refused, "the refused status poll")
        await next_poll(app, pilot)
        await next_poll(app, pilot)
        denied_notes = titled(notes, "Status denied for this account")
        assert len(denied_notes) == 1 and denied_notes[0].severity == "warning"
        assert not titled(notes, "poll failed")
        header = str(app.screen.query_one("KmsHeader").render())
        assert "status denied for this account" in header
        entry = next(e for e in app.context.activity.entries if e.action == "poll")
        assert not entry.ok and entry.request_id and "kms:ServiceControl" in entry.message
        stats = await open_mode(pilot, "stats", StatsScreen)
        await next_poll(app, pilot)
        last_error = str(stats.query_one("#stats-last-error").render())
        assert "live stats need kms:ServiceControl" in last_error
        service = await open_service_screen(pilot)
        for action in ("configure", "start", "stop", "clear_cache", "backup", "restore"):
            assert service.check_action(action, ()) is None, action
            assert "denied for this account" in (service.disabled_reason(action) or ""), action
    assert await key_states(restricted_server) == before


async def test_a_key_administrator_disables_a_key_and_may_not_create_one(
    restricted_server: EmbeddedServer,
) -> None:
    app = app_as("keyadmin", restricted_server.endpoint)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_keys(pilot)
        await policy_known(pilot, app)
        await pilot.pause()
        assert screen.check_action("toggle_enabled", ()) is True
        assert screen.check_action("schedule_deletion", ()) is True
        assert screen.check_action("create_key", ()) is None
        assert screen.check_action("generate_data_key", ()) is None  # managing is not using
        assert screen.check_action("edit_key", ()) is None
        await pilot.press("e")
        await screen_of(pilot, ConfirmDialog, "the disable confirmation")
        await pilot.click("#confirm")
        await wait_for_workers(app, "keys.change")
        row = screen.key_table.row("alpha-key")
        assert row is not None and row.state.value == "Disabled"
    assert (await key_states(restricted_server))["alpha-key"] == "Disabled"


async def test_without_account_info_the_first_refusal_greys_the_action(
    restricted_server: EmbeddedServer,
) -> None:
    before = await key_states(restricted_server)
    with misbehaving(restricted_server.endpoint) as proxy:
        proxy.set("GET", "/accountinfo", status(501, xml_error(501, "NotImplemented", "no").body))
        app = app_as("auditor", proxy.url)
        async with app.run_test(size=APP_SIZE) as pilot:
            notes = record_notes(app)
            screen = await open_keys(pilot)
            await policy_known(pilot, app)
            assert app.context.permissions.policy is None
            assert screen.check_action("create_key", ()) is True  # nothing known yet
            await pilot.press("c")
            dialog = await screen_of(pilot, CreateKeyDialog, "the create dialog")
            dialog.query_one("#name", Input).value = "made-by-auditor"
            await pilot.click("#submit")
            title = "create key made-by-auditor denied"
            await wait_until(pilot, lambda: bool(titled(notes, title)), "the refusal")
            # The form comes back with what was typed (nothing is lost); the user gives up.
            form = await screen_of(pilot, CreateKeyDialog, "the form again")
            assert form is not dialog and form.value("name") == "made-by-auditor"
            await pilot.press("escape")
            await wait_for_workers(app, "keys.change")
            (note,) = titled(notes, title)
            assert note.severity == "warning"
            assert "denied for this account: the server refused kms:Configure" in note.message
            await pilot.pause()
            assert screen.check_action("create_key", ()) is None
            assert screen.disabled_reason("create_key") == "denied for this account (kms:Configure)"
            entry = next(e for e in app.context.activity.entries if e.action == "create key")
            assert not entry.ok and entry.request_id
            creates = len(proxy.requests_to("POST", "/kms/keys"))
            await pilot.press("c")  # greyed now: nothing is sent again
            await wait_until(pilot, lambda: bool(titled(notes, "Not available")), "the reason")
            assert len(proxy.requests_to("POST", "/kms/keys")) == creates == 1
            # Everything the auditor may do still works: the list reloads.
            await pilot.press("r")
            await open_keys(pilot)
    assert await key_states(restricted_server) == before


async def test_service_screen_greys_service_control_for_a_key_administrator(
    restricted_server: EmbeddedServer,
) -> None:
    app = app_as("keyadmin", restricted_server.endpoint)
    async with app.run_test(size=APP_SIZE) as pilot:
        await open_keys(pilot)
        await policy_known(pilot, app)
        service = await open_service_screen(pilot)
        await pilot.pause()
        for action in ("configure", "start", "stop", "backup", "restore"):
            assert service.check_action(action, ()) is None, action
        assert service.check_action("health_check", ()) is True


async def test_a_list_that_is_allowed_shows_though_describe_is_denied(
    restricted_server: EmbeddedServer,
) -> None:
    app = app_as("lister", restricted_server.endpoint)
    async with app.run_test(size=APP_SIZE) as pilot:
        notes = record_notes(app)
        screen = await open_keys(pilot)
        assert screen.key_table.total_count == len(SEEDED_KEYS)
        assert not screen.load_error
        detail = screen.query_one(KeyDetail)
        await wait_until(
            pilot,
            lambda: "denied for this account (kms:DescribeKey)" in str(detail.render()),
            "the detail pane to say describe is denied",
        )
        assert screen.key_table.total_count == len(SEEDED_KEYS)  # the list stays
        assert not [n for n in notes if n.severity == "error"]
        assert "denied for this account" in (screen.disabled_reason("schedule_deletion") or "")
