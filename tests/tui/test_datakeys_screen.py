"""Pilot tests of the Data keys screen (`3`) against a seeded embedded server."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Label, Select

from kms_tui.api.wire import KeySpec
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.factory import build_app
from kms_tui.settings import Connection, Settings
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.form_rules import context_rule
from kms_tui.tui.dialogs.key_picker import KeyPickerDialog
from kms_tui.tui.formatting import FieldError
from kms_tui.tui.screens.datakeys import NO_DECRYPT_MESSAGE, DataKeysScreen, parse_ciphertext
from kms_tui.tui.widgets.secret_field import SecretField
from tests.fakes.rustfs import FakeRustFS
from tests.tui.conftest import APP_SIZE, admin_client_for, fixed_clock
from tests.tui.helpers import open_datakeys, wait_for_workers, wait_until


async def pick_key(app: KmsTuiApp, pilot: Pilot[None], needle: str) -> None:
    """Open the picker with `k`, filter by ``needle`` and choose the first match with Enter."""
    await pilot.press("k")
    await wait_until(pilot, lambda: isinstance(app.screen, KeyPickerDialog), "the key picker")
    picker = app.screen
    assert isinstance(picker, KeyPickerDialog)
    await wait_until(pilot, lambda: not picker.keys_loading, "the key list")
    await pilot.press(*needle)
    await pilot.press("enter")
    await wait_until(pilot, lambda: not isinstance(app.screen, KeyPickerDialog), "picker closed")


def revealed_plaintext(field: SecretField) -> str:
    """The base64 plaintext a revealed field shows (its first word)."""
    assert field.revealed
    return str(field.render()).split()[0]


async def generate(app: KmsTuiApp, pilot: Pilot[None], screen: DataKeysScreen) -> None:
    await pilot.press("g")
    await wait_until(pilot, lambda: screen.plaintext_field.has_secret, "a generated data key")


@pytest.mark.parametrize(("spec", "length"), [(KeySpec.AES_256, 32), (KeySpec.AES_128, 16)])
async def test_generate_masks_then_reveals_plaintext_of_spec_length(
    kms_server: EmbeddedServer,
    make_app: Callable[..., KmsTuiApp],
    spec: KeySpec,
    length: int,
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_datakeys(pilot)
        await pick_key(app, pilot, "beta")
        assert screen.key_id == "beta-key"
        screen.query_one("#key-spec", Select).value = spec
        screen.query_one("#pick-key").focus()
        await generate(app, pilot, screen)

        field = screen.plaintext_field
        masked = str(field.render())
        assert not field.revealed
        assert "•" in masked
        await pilot.press("v")
        plaintext_b64 = revealed_plaintext(field)
        assert len(base64.b64decode(plaintext_b64, validate=True)) == length
        assert plaintext_b64 not in masked
        assert screen.ciphertext_b64 is not None
        await pilot.press("v")
        assert plaintext_b64 not in str(field.render())

        await pilot.press("y")
        assert app.clipboard == screen.ciphertext_b64

        messages = [entry.message for entry in app.context.activity.entries]
        assert any("generated data key for beta-key" in message for message in messages)
        for entry in app.context.activity.entries:
            assert plaintext_b64 not in repr(entry)
        log_text = app.context.activity.path.read_text(encoding="utf-8")
        assert "generated data key for beta-key" in log_text
        assert plaintext_b64 not in log_text
        notifications = [notification.message for notification in app._notifications]
        assert all(plaintext_b64 not in message for message in notifications)


async def test_plaintext_cleared_from_screen_and_widget_after_timeout(
    kms_server: EmbeddedServer,
    make_app: Callable[..., KmsTuiApp],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(DataKeysScreen, "plaintext_clear_seconds", 3.0)
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_datakeys(pilot)
        await pick_key(app, pilot, "alpha")
        await generate(app, pilot, screen)
        await pilot.press("v")
        plaintext_b64 = revealed_plaintext(screen.plaintext_field)
        assert plaintext_b64 in app.export_screenshot()

        await wait_until(
            pilot, lambda: not screen.plaintext_field.has_secret, "the plaintext to expire"
        )
        await pilot.pause()
        assert plaintext_b64 not in app.export_screenshot()
        assert not screen.plaintext_field.revealed
        assert screen.plaintext_field._secret is None
        # The blob stays: it is not secret and can still be copied.
        assert screen.ciphertext_b64 is not None


async def test_decrypt_round_trips_with_context(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_datakeys(pilot)
        await pick_key(app, pilot, "gamma")
        screen.query_one("#generate-context", Input).value = "app=billing, env=prod"
        screen.query_one("#pick-key").focus()
        await generate(app, pilot, screen)
        await pilot.press("v")
        generated = revealed_plaintext(screen.plaintext_field)
        blob = screen.ciphertext_b64
        assert blob is not None

        await pilot.press("x")
        assert not screen.plaintext_field.has_secret
        screen.query_one("#decrypt-blob", Input).value = blob
        screen.query_one("#decrypt-context", Input).value = "env=prod, app=billing"
        screen.query_one("#pick-key").focus()
        await pilot.press("D")
        await wait_until(pilot, lambda: screen.plaintext_field.has_secret, "the decrypted key")
        await pilot.press("v")
        assert revealed_plaintext(screen.plaintext_field) == generated
        assert str(screen.query_one("#result-key").render()) == "gamma-key"
        log_text = app.context.activity.path.read_text(encoding="utf-8")
        assert "decrypt data key" in log_text
        assert generated not in log_text


async def test_invalid_context_refused_at_the_field(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_datakeys(pilot)
        await pick_key(app, pilot, "alpha")
        context_input = screen.query_one("#generate-context", Input)
        context_input.focus()
        await pilot.press(*"app=billing, oops")
        error = screen.query_one("#generate-context-error", Label)
        assert error.has_class("visible")
        assert "key=value" in str(error.render())
        assert context_input.has_class("-invalid")

        await pilot.press("enter")
        await wait_for_workers(app, "datakeys")  # a generate would have ended by now
        assert not screen.plaintext_field.has_secret
        assert not any(e.action == "generate data key" for e in app.context.activity.entries)

        context_input.value = "app=billing"
        await pilot.pause()
        assert not error.has_class("visible")


async def test_use_key_chooses_the_key_on_a_shown_screen(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_datakeys(pilot)
        screen.use_key("gamma-key")
        await pilot.pause()
        assert screen.key_id == "gamma-key"
        assert str(screen.query_one("#datakey-key", Label).content) == "gamma-key"


def test_field_parsers() -> None:
    assert context_rule("") == {}
    assert context_rule(" a = 1 , b=x=y ") == {"a": "1", "b": "x=y"}
    for bad in ("a", "a=1,,b=2", "=1", "a=1, a=2"):
        with pytest.raises(FieldError):
            context_rule(bad)
    assert parse_ciphertext("AAEC\n") == b"\x00\x01\x02"
    for bad in ("", "not base64!", "A"):
        with pytest.raises(FieldError):
            parse_ciphertext(bad)


async def test_decrypt_with_a_different_context_fails_without_plaintext(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_datakeys(pilot)
        await pick_key(app, pilot, "alpha")
        screen.query_one("#generate-context", Input).value = "app=billing"
        screen.query_one("#pick-key").focus()
        await generate(app, pilot, screen)
        blob = screen.ciphertext_b64
        assert blob is not None
        await pilot.press("x")

        screen.query_one("#decrypt-blob", Input).value = blob
        screen.query_one("#decrypt-context", Input).value = "app=payroll"
        screen.query_one("#pick-key").focus()
        await pilot.press("D")
        await wait_until(
            pilot,
            lambda: any(
                e.action == "decrypt data key" and not e.ok for e in app.context.activity.entries
            ),
            "the failed decrypt to be recorded",
        )
        assert not screen.plaintext_field.has_secret
        # Textual adds a notification when its message is processed: let that happen.
        await wait_until(
            pilot,
            lambda: any(n.severity == "error" for n in app._notifications),
            "an error notification",
        )


async def test_server_without_decrypt_is_information_not_error(
    make_app: Callable[..., KmsTuiApp],
) -> None:
    with FakeRustFS() as fake:
        fake.seed_running(("fake-key",))
        connection = Connection(
            name="fake",
            endpoint=fake.url,
            region="us-east-1",
            access_key=fake.access_key,
            secret_key=fake.secret_key,
            timeout_seconds=5.0,
        )
        app = build_app(connection, Settings(), clock=fixed_clock, endpoint_label="fake")
        async with app.run_test(size=APP_SIZE) as pilot:
            screen = await open_datakeys(pilot)
            screen.query_one("#decrypt-blob", Input).value = base64.b64encode(b"x" * 40).decode()
            screen.query_one("#pick-key").focus()
            await pilot.press("D")
            await wait_until(pilot, lambda: screen.decrypt_unsupported, "the 501 answer")
            await wait_for_workers(app, "datakeys")
            messages = [(n.message, n.severity) for n in app._notifications]
            assert (NO_DECRYPT_MESSAGE, "information") in messages
            assert all(severity != "error" for _message, severity in messages)
            assert screen.query_one("#decrypt").disabled
            assert NO_DECRYPT_MESSAGE in str(screen.query_one("#decrypt-unavailable").render())
            assert screen.check_action("decrypt", ()) is None
            assert len(fake.requests_to("POST", "/kms/decrypt")) == 1


async def test_generate_on_a_stopped_kms_reports_the_server_error(
    kms_server: EmbeddedServer, make_app: Callable[..., KmsTuiApp]
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_datakeys(pilot)
        await pick_key(app, pilot, "alpha")
        async with admin_client_for(kms_server) as admin:
            await admin.stop()
        await pilot.press("g")
        await wait_until(
            pilot,
            lambda: any(
                e.action == "generate data key" and not e.ok for e in app.context.activity.entries
            ),
            "the failure to be recorded",
        )
        assert not screen.plaintext_field.has_secret
        # Textual adds a notification when its message is processed: let that happen.
        await wait_until(
            pilot,
            lambda: any(n.severity == "error" for n in app._notifications),
            "an error notification",
        )
