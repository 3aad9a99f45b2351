"""Bad answers the console survives: 5xx, HTML, truncated, wrong-shape JSON, XML errors,
``success:false``, clock skew, 403s and a 501, from a misbehaving server on loopback in front of
a real embedded server (and the embedded server itself for a wrong secret key).

For each: no traceback, a notification that says what happened, nothing the user typed lost,
an activity-log entry, and a console that keeps answering keys.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import Input, Static

from kms_tui.api.errors import KmsKeyNotFound
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.create_key import CreateKeyDialog
from kms_tui.tui.screens.datakeys import NO_DECRYPT_MESSAGE
from kms_tui.tui.widgets.header import KmsHeader
from tests.fakes.misbehaving import (
    Fault,
    MisbehavingServer,
    html,
    misbehaving,
    skew,
    status,
    success_false,
    truncated,
    wrong_shape_json,
    xml_error,
)
from tests.tui.conftest import APP_SIZE, SEEDED_KEY_IDS, admin_client_for
from tests.tui.fault_support import (
    Note,
    app_via,
    keys_loaded,
    no_unexpected_errors,
    record_notes,
    titled,
)
from tests.tui.helpers import (
    next_poll,
    open_datakeys,
    screen_of,
    wait_connected,
    wait_for_workers,
    wait_until,
)

STATUS_ROUTE = "/kms/service-status"
CLOCKS_DIFFER = "the clocks of this machine and the server differ by more than 15 minutes"


@pytest.fixture
def bad(kms_server: EmbeddedServer) -> Iterator[MisbehavingServer]:
    """A misbehaving server passing everything through to the seeded embedded server."""
    with misbehaving(kms_server.endpoint) as server:
        yield server


async def still_responsive(app: KmsTuiApp, pilot: Any) -> None:
    """Mode keys still switch screens (nothing blocks the UI)."""
    await pilot.press("1")
    await wait_until(pilot, lambda: app.current_mode == "service", "the Service screen")
    await pilot.press("2")
    await wait_until(pilot, lambda: app.current_mode == "keys", "the Keys screen")


POLL_FAULTS = [
    pytest.param(
        status(500, "disk on fire", "text/plain"),
        ("the server failed while handling the request (HTTP 500)", "disk on fire"),
        id="500-plain-text",
    ),
    pytest.param(
        html(502, "502 Bad Gateway"),
        ('HTTP 502 with an HTML page "502 Bad Gateway" instead of an API answer',),
        id="502-html-page",
    ),
    pytest.param(
        truncated(),
        ("the server's answer was cut short", "received 60 bytes, expected 160"),
        id="truncated-body",
    ),
    pytest.param(
        html(),
        ('it is not JSON but an HTML page "Sign in - Corporate Portal"',),
        id="html-instead-of-json",
    ),
    pytest.param(
        wrong_shape_json(),
        ("expected a JSON object, got a list",),
        id="json-list",
    ),
    pytest.param(
        wrong_shape_json({"status": 42, "backend_type": "Local"}),
        ("service status.status should be a service state", "got a number"),
        id="json-wrong-field",
    ),
    pytest.param(
        xml_error(500, "InternalError", "Backend error: vault is sealed", request_id="XML-7"),
        ("the server failed while handling the request", "Backend error: vault is sealed", "XML-7"),
        id="xml-error",
    ),
    pytest.param(
        success_false("status is being rebuilt"),
        ("the server reported that the operation failed", "status is being rebuilt"),
        id="200-success-false",
    ),
    pytest.param(skew(), (CLOCKS_DIFFER, "MISBEHAVING-SKEW-1"), id="clock-skew-xml"),
    pytest.param(skew(as_json=True), (CLOCKS_DIFFER,), id="clock-skew-json"),
]


@pytest.mark.parametrize(("fault", "expected"), POLL_FAULTS)
async def test_bad_answer_to_the_status_poll_is_said_once_and_survived(
    kms_server: EmbeddedServer,
    bad: MisbehavingServer,
    fault: Fault,
    expected: tuple[str, ...],
) -> None:
    app = app_via(bad.url, kms_server)
    notes = record_notes(app)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        screen = await keys_loaded(app, pilot)
        shown_status = app.service_status
        bad.set("GET", STATUS_ROUTE, fault)
        await wait_until(pilot, lambda: bool(titled(notes, "poll failed")), "the poll failure")
        note = titled(notes, "poll failed")[0]
        assert note.severity == "error"
        for phrase in expected:
            assert phrase in note.message
        # The server answered, so the link counts as up; what was shown stays shown.
        assert app.connection_state == "connected"
        assert app.service_status == shown_status
        failed = [e for e in app.context.activity.entries if e.action == "poll" and not e.ok]
        assert len(failed) == 1 and expected[0] in failed[0].message
        # Polling goes on without repeating the same notification.
        seen = len(bad.requests_to("GET", STATUS_ROUTE))
        await wait_until(
            pilot,
            lambda: len(bad.requests_to("GET", STATUS_ROUTE)) >= seen + 3,
            "three more polls",
        )
        await next_poll(app, pilot)  # the last of them answered and handled too
        assert len(titled(notes, "poll failed")) == 1
        await still_responsive(app, pilot)
        assert screen.key_table.total_count == len(SEEDED_KEY_IDS)
        header = app.screen.query_one(KmsHeader)
        assert "Running · status refused (a shows why)" in header.plain_line
        # Once the server answers properly again, the refusal is forgotten.
        bad.heal()
        await wait_until(pilot, lambda: app.poller.last_refusal is None, "the refusal forgotten")
        assert app.connection_state == "connected"
        await wait_until(pilot, lambda: "refused" not in header.plain_line, "the header healed")
        no_unexpected_errors(app, notes)


async def test_clock_skew_on_every_route_names_the_clocks(
    kms_server: EmbeddedServer, bad: MisbehavingServer
) -> None:
    app = app_via(bad.url, kms_server)
    notes = record_notes(app)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        screen = await keys_loaded(app, pilot)
        bad.set_default(skew(request_id="SKEW-ALL"))
        await pilot.press("r")
        await wait_until(
            pilot, lambda: bool(titled(notes, "list keys failed")), "the listing failure"
        )
        listing = titled(notes, "list keys failed")[0]
        assert CLOCKS_DIFFER in listing.message and "SKEW-ALL" in listing.message
        assert "NTP" in listing.message
        # The server's own words stay visible next to the explanation.
        assert "request time and the server's time is too large" in listing.message
        await wait_until(pilot, lambda: bool(titled(notes, "poll failed")), "the poll failure")
        assert CLOCKS_DIFFER in titled(notes, "poll failed")[0].message
        entry = next(e for e in app.context.activity.entries if e.action == "list keys")
        assert not entry.ok and entry.request_id == "SKEW-ALL"
        assert CLOCKS_DIFFER in entry.message
        assert screen.key_table.total_count == len(SEEDED_KEY_IDS)
        assert CLOCKS_DIFFER in (screen.load_error or "")
        await still_responsive(app, pilot)
        no_unexpected_errors(app, notes)


async def test_403_on_create_only_keeps_the_typed_form(
    kms_server: EmbeddedServer, bad: MisbehavingServer
) -> None:
    bad.set("POST", "/kms/keys", xml_error(403, "AccessDenied", "Access Denied", request_id="D-1"))
    app = app_via(bad.url, kms_server)
    notes = record_notes(app)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        screen = await keys_loaded(app, pilot)
        await pilot.press("c")
        first = await screen_of(pilot, CreateKeyDialog, "the create-key form")
        await pilot.press(*"Orders DB")
        first.query_one("#tags", Input).value = "team=payments, env=prod"
        first.query_one("#name", Input).value = "orders-key"
        await pilot.click("#submit")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, CreateKeyDialog) and app.screen is not first,
            "the form to come back",
        )
        form = app.screen
        assert isinstance(form, CreateKeyDialog)
        # Everything typed comes back, with the refusal explained above it.
        assert form.value("description") == "Orders DB"
        assert form.value("tags") == "team=payments, env=prod"
        assert form.value("name") == "orders-key"
        refusal = str(form.query_one("#server-error", Static).content)
        assert "access denied: these credentials are not allowed to do this" in refusal
        assert "D-1" in refusal
        # A policy refusal is no fault: said as a denial, and create is greyed from now on.
        note = titled(notes, "create key orders-key denied")[0]
        assert note.severity == "warning" and "refused kms:Configure" in note.message
        assert "D-1" in note.message
        assert screen.disabled_reason("create_key") == "denied for this account (kms:Configure)"
        entry = next(e for e in app.context.activity.entries if e.action == "create key")
        assert not entry.ok and entry.target == "orders-key" and entry.request_id == "D-1"
        # Only that action was refused: the polls and the listing carry on.
        await next_poll(app, pilot)
        assert not titled(notes, "poll failed") and app.connection_state == "connected"
        async with admin_client_for(kms_server) as admin:
            with pytest.raises(KmsKeyNotFound):
                await admin.describe_key("orders-key")
        # Allowed again: the kept form goes through as it was typed.
        bad.heal()
        await pilot.click("#submit")
        await wait_until(
            pilot, lambda: screen.key_table.row("orders-key") is not None, "the new key listed"
        )
        no_unexpected_errors(app, notes)
    async with admin_client_for(kms_server) as admin:
        metadata = (await admin.describe_key("orders-key")).metadata
    assert metadata.description == "Orders DB"
    assert dict(metadata.tags) == {"team": "payments", "env": "prod", "name": "orders-key"}


async def test_wrong_secret_key_against_the_embedded_server(
    kms_server: EmbeddedServer, bad: MisbehavingServer
) -> None:
    # The misbehaving server only passes through here: the 403s are the embedded server's own.
    wrong_secret = "not-the-secret-key-0123456789"
    app = app_via(bad.url, kms_server, secret_key=wrong_secret)
    notes = record_notes(app)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_until(pilot, lambda: bool(titled(notes, "poll failed")), "the poll failure")
        poll = titled(notes, "poll failed")[0]
        assert "the secret key does not belong to this access key" in poll.message
        assert "secret_key_env" in poll.message
        assert "The request signature we calculated does not match" in poll.message
        assert app.connection_state == "connected"  # it answered; it refused
        await wait_until(
            pilot, lambda: bool(titled(notes, "list keys failed")), "the listing failure"
        )
        assert "does not belong to this access key" in titled(notes, "list keys failed")[0].message
        seen = len(bad.requests_to("GET", STATUS_ROUTE))
        await wait_until(
            pilot,
            lambda: len(bad.requests_to("GET", STATUS_ROUTE)) >= seen + 3,
            "three more polls",
        )
        await next_poll(app, pilot)  # the last of them answered and handled too
        assert len(titled(notes, "poll failed")) == 1
        assert len([e for e in app.context.activity.entries if e.action == "poll"]) == 1
        assert all(wrong_secret not in note.message for note in notes)
        await still_responsive(app, pilot)
        no_unexpected_errors(app, notes)
    assert wrong_secret not in app.context.activity.path.read_text()


async def test_decrypt_501_is_no_decrypt_not_an_error(
    kms_server: EmbeddedServer, bad: MisbehavingServer
) -> None:
    bad.set("POST", "/kms/decrypt", xml_error(501, "NotImplemented", "Not Implemented"))
    app = app_via(bad.url, kms_server)
    notes = record_notes(app)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        screen = await open_datakeys(pilot)
        blob = base64.b64encode(bytes(range(48))).decode()
        screen.query_one("#decrypt-blob", Input).value = blob
        screen.query_one("#pick-key").focus()
        await pilot.press("D")
        await wait_until(pilot, lambda: screen.decrypt_unsupported, "decrypt marked unsupported")
        await wait_for_workers(app, "datakeys")
        assert Note(NO_DECRYPT_MESSAGE, "Decrypt", "information") in notes
        assert all(note.severity != "error" for note in notes)
        assert screen.query_one("#decrypt").disabled
        assert screen.check_action("decrypt", ()) is None
        entry = next(e for e in app.context.activity.entries if e.action == "decrypt data key")
        assert entry.message == NO_DECRYPT_MESSAGE
        # Asked again, the console answers itself instead of calling the server: the key is
        # disabled, so no worker starts (one that did would have sent its call before ending).
        await pilot.press("D")
        await wait_for_workers(app, "datakeys")
        assert len(bad.requests_to("POST", "/kms/decrypt")) == 1
        # What was pasted is still there.
        assert screen.query_one("#decrypt-blob", Input).value == blob
        no_unexpected_errors(app, notes)
