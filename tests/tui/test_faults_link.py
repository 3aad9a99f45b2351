"""Link faults the console survives: the server killed mid-session and restarted, a server that
accepts connections and never answers, and TLS to a server with a certificate nobody trusts.

The console talks to a misbehaving server on loopback that passes through to a real embedded
server; each test checks the header's connection state, the notification, the activity log,
that keys still work while a call hangs, and that what the user typed survives the outage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Input, Static

from kms_tui.embedded.server import EmbeddedServer
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.create_key import CreateKeyDialog
from kms_tui.tui.screens.keys import KeysScreen
from kms_tui.tui.widgets.header import KmsHeader
from tests.fakes.misbehaving import hang, misbehaving
from tests.tui.conftest import APP_SIZE, SEEDED_KEY_IDS, admin_client_for
from tests.tui.fault_support import (
    app_via,
    keys_loaded,
    no_unexpected_errors,
    record_notes,
    titled,
)
from tests.tui.helpers import next_poll, screen_of, wait_connected, wait_until


def header_line(app: KmsTuiApp) -> str:
    """The Keys screen's header line (a dialog may be in front of it)."""
    return app.mode_screens["keys"].query_one(KmsHeader).plain_line


async def fill_create_form(app: KmsTuiApp, pilot: Any, name: str) -> CreateKeyDialog:
    """Open the create-key form with `c`, type into every field and submit it."""
    await pilot.press("c")
    form = await screen_of(pilot, CreateKeyDialog, "the create-key form")
    await pilot.press(*"typed during the outage")
    form.query_one("#tags", Input).value = "team=ops"
    form.query_one("#name", Input).value = name
    await pilot.click("#submit")
    return form


async def reopened_form(
    app: KmsTuiApp, pilot: Any, first: CreateKeyDialog, name: str
) -> CreateKeyDialog:
    """The form the failed create brought back, checked to hold what was typed."""
    await wait_until(
        pilot,
        lambda: isinstance(app.screen, CreateKeyDialog) and app.screen is not first,
        "the form to come back",
    )
    form = app.screen
    assert isinstance(form, CreateKeyDialog)
    assert form.value("description") == "typed during the outage"
    assert form.value("tags") == "team=ops"
    assert form.value("name") == name
    return form


async def test_server_killed_mid_session_and_restarted(
    kms_server: EmbeddedServer, tmp_path: Path
) -> None:
    restarted: EmbeddedServer | None = None
    with misbehaving(kms_server.endpoint) as front:
        app = app_via(front.url, kms_server, endpoint_label=None)
        notes = record_notes(app)
        try:
            async with app.run_test(size=APP_SIZE) as pilot:
                await wait_connected(pilot, app)
                screen = await keys_loaded(app, pilot)
                await pilot.press("slash", *"alp")
                await pilot.press("enter")
                assert screen.key_table.visible_key_ids == ["alpha-key"]

                kms_server.stop()  # the server dies; the front closes every request unanswered
                await wait_until(
                    pilot, lambda: app.connection_state == "disconnected", "disconnected"
                )
                assert "disconnected" in header_line(app)
                # Said once: a round that started after the loss fails the same way, silently.
                await next_poll(app, pilot)
                lost = titled(notes, "connect failed")
                assert len(lost) == 1 and lost[0].severity == "error"
                assert "could not reach the server" in lost[0].message
                entry = next(e for e in app.context.activity.entries if e.action == "connect")
                assert not entry.ok and "could not reach the server" in entry.message
                # What the console showed, and the filter typed, are kept.
                assert screen.key_table.total_count == len(SEEDED_KEY_IDS)
                assert screen.query_one("#keys-filter", Input).value == "alp"
                assert screen.key_table.visible_key_ids == ["alpha-key"]

                # A form submitted while the server is down comes back with what was typed.
                first = await fill_create_form(app, pilot, "alpha-after")
                form = await reopened_form(app, pilot, first, "alpha-after")
                assert "could not reach the server" in str(
                    form.query_one("#server-error", Static).content
                )

                restarted = EmbeddedServer(
                    kms_server.data_dir,
                    access_key=kms_server.access_key,
                    secret_key=kms_server.secret_key,
                    log_file=tmp_path / "restarted.log",
                ).start()
                front.upstream = restarted.endpoint
                # It reconnects on its own: no key is pressed here.
                await wait_until(
                    pilot, lambda: app.connection_state == "connected", "reconnected", limit=35
                )
                await wait_until(pilot, lambda: "Running" in header_line(app), "Running")
                assert titled(notes, "Reconnected")
                assert any(e.action == "reconnect" and e.ok for e in app.context.activity.entries)
                # The kept form goes through against the restarted server.
                await pilot.click("#submit")
                await wait_until(
                    pilot,
                    lambda: screen.key_table.row("alpha-after") is not None,
                    "the new key listed",
                )

                # Second outage: nothing listens at all (refused); `r` reconnects at once.
                front.stop()
                await wait_until(
                    pilot, lambda: app.connection_state == "disconnected", "disconnected again"
                )
                front.start()
                screen.key_table.focus()
                await pilot.press("r")
                await wait_until(pilot, lambda: app.connection_state == "connected", "reconnected")
                await wait_until(pilot, lambda: not screen.listing, "the key list reloaded")
                assert screen.key_table.total_count == len(SEEDED_KEY_IDS) + 1
                no_unexpected_errors(app, notes)
            async with admin_client_for(restarted) as admin:
                metadata = (await admin.describe_key("alpha-after")).metadata
            assert metadata.description == "typed during the outage"
        finally:
            if restarted is not None:
                restarted.stop()


async def test_server_that_never_answers_times_out_and_ui_stays_live(
    kms_server: EmbeddedServer,
) -> None:
    with misbehaving(kms_server.endpoint) as front:
        app = app_via(front.url, kms_server, endpoint_label=None)
        notes = record_notes(app)
        async with app.run_test(size=APP_SIZE) as pilot:
            await wait_connected(pilot, app)
            screen = await keys_loaded(app, pilot)

            # One action hangs: it times out after the configured second, the form comes back.
            front.set("POST", "/kms/keys", hang())
            first = await fill_create_form(app, pilot, "never-made")
            form = await reopened_form(app, pilot, first, "never-made")
            refusal = str(form.query_one("#server-error", Static).content)
            assert "did not answer in time (read timeout after 1 s" in refusal
            assert "timeout_seconds" in refusal
            note = titled(notes, "create key never-made failed")[0]
            assert note.severity == "error" and "did not answer in time" in note.message
            assert app.connection_state == "connected"
            await pilot.press("escape")
            await screen_of(pilot, KeysScreen, "the Keys screen")

            # Everything hangs: while the poll waits, keys still switch screens.
            front.set_default(hang())
            await wait_until(pilot, lambda: front.faults_served("hang") >= 2, "two calls hanging")
            await pilot.press("1")
            await pilot.pause()
            assert app.current_mode == "service"
            await pilot.press("2")
            await pilot.pause()
            assert app.current_mode == "keys"
            await wait_until(
                pilot, lambda: app.connection_state == "disconnected", "disconnected", limit=30
            )
            assert "disconnected" in header_line(app)
            # Said once: a round that started after the loss times out the same way, silently.
            await next_poll(app, pilot)
            lost = titled(notes, "connect failed")
            assert len(lost) == 1 and "did not answer in time" in lost[0].message
            entry = next(e for e in app.context.activity.entries if e.action == "connect")
            assert not entry.ok and "read timeout after 1 s" in entry.message
            assert screen.key_table.total_count == len(SEEDED_KEY_IDS)

            front.heal()
            screen.key_table.focus()
            await pilot.press("r")
            await wait_until(pilot, lambda: app.connection_state == "connected", "reconnected")
            no_unexpected_errors(app, notes)
    async with admin_client_for(kms_server) as admin:
        keys = [info.key_id async for page in admin.iter_keys() for info in page.keys]
    assert "never-made" not in keys


async def test_untrusted_certificate_names_the_ca_bundle_setting(
    kms_server: EmbeddedServer,
) -> None:
    with misbehaving(kms_server.endpoint, tls=True) as front:
        assert front.url.startswith("https://127.0.0.1:")
        app = app_via(front.url, kms_server, endpoint_label=None)
        notes = record_notes(app)
        async with app.run_test(size=APP_SIZE) as pilot:
            await wait_until(pilot, lambda: app.connection_state == "disconnected", "disconnected")
            assert "disconnected" in header_line(app)
            await wait_until(
                pilot, lambda: bool(titled(notes, "connect failed")), "the failure notified"
            )
            lost = titled(notes, "connect failed")[0]
            assert "certificate is not trusted" in lost.message
            assert "ca_bundle" in lost.message
            entry = next(e for e in app.context.activity.entries if e.action == "connect")
            assert not entry.ok and "ca_bundle" in entry.message
            await wait_until(
                pilot, lambda: bool(titled(notes, "list keys failed")), "the listing failure"
            )
            assert "ca_bundle" in titled(notes, "list keys failed")[0].message
            no_unexpected_errors(app, notes)

        # The setting the message names is the fix: the same server, its certificate trusted.
        trusting = app_via(
            front.url, kms_server, verify=str(front.certificate_path), endpoint_label=None
        )
        async with trusting.run_test(size=APP_SIZE) as pilot:
            await wait_connected(pilot, trusting)
            await keys_loaded(trusting, pilot)
