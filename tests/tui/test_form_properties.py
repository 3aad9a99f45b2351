"""The console's forms, driven by hypothesis through the pilot against a real embedded server.

For each dialog (create key, schedule deletion, configure, data keys, create bucket, bucket
encryption) hypothesis generates input that is valid by construction or broken in one known
field. Broken input must leave the dialog open with the message under that field and the
server untouched; valid input must reach the server, which then holds exactly what was typed;
and when the server refuses valid input, the reopened form still holds every typed value.

One app runs per test: hypothesis runs in a worker thread and hands each example to the app's
event loop, so examples cost a few key presses rather than an app start each. Generation is
derandomized and shrinking is off so every run does the same bounded amount of work.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input, Select

from kms_tui.api.buckets import SSE_KMS, SSE_S3, BucketEncryptionClient
from kms_tui.api.wire import KeySpec
from kms_tui.embedded.config import VAULT_KV2, VAULT_TRANSIT
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.bucket_encryption import BucketEncryptionDialog
from kms_tui.tui.dialogs.configure import ConfigureDialog
from kms_tui.tui.dialogs.create_bucket import CreateBucketDialog
from kms_tui.tui.dialogs.create_key import CreateKeyDialog
from kms_tui.tui.dialogs.key_picker import KeyPickerDialog
from kms_tui.tui.dialogs.schedule_deletion import DeletionImpactDialog, ScheduleDeletionDialog
from kms_tui.tui.screens.datakeys import DataKeysScreen
from kms_tui.tui.widgets.config_fields import FieldRow, field_dom_id
from tests.tui.conftest import APP_SIZE, SEEDED_KEY_IDS, admin_client_for, configure_local
from tests.tui.helpers import (
    open_buckets,
    open_configure,
    open_keys,
    open_service,
    screen_of,
    wait_for_workers,
    wait_until,
)

MakeApp = Callable[..., KmsTuiApp]
_T = TypeVar("_T")

# Characters a person types one key at a time; anything else arrives as a paste.
TYPABLE = set(string.ascii_letters + string.digits + " -_.=,/")
VISIBLE = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))


# --- driving hypothesis from inside a running app ----------------------------------------------


async def explore(
    strategy: st.SearchStrategy[_T],
    check: Callable[[_T], Awaitable[None]],
    *,
    max_examples: int,
    explicit: Sequence[_T] = (),
) -> int:
    """Run ``check`` on generated values inside the current app; returns how many ran."""
    loop = asyncio.get_running_loop()
    ran = 0

    def one(value: _T) -> None:
        nonlocal ran
        ran += 1
        asyncio.run_coroutine_threadsafe(check(value), loop).result(timeout=90)

    test: Any = given(strategy)(one)
    for value in reversed(explicit):
        test = example(value)(test)
    test = settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )(test)
    await asyncio.to_thread(test)
    return ran


async def enter(pilot: Pilot[None], field: Input, text: str, *, keys: bool = False) -> None:
    """Put ``text`` in ``field``: typed key by key (``keys``: short plain ASCII) or pasted."""
    field.focus()
    field.value = ""
    if keys and text and len(text) <= 6 and set(text) <= TYPABLE:
        await pilot.pause()
        await pilot.press(*text)
    else:
        field.value = text
    assert field.value == text


async def close(pilot: Pilot[None], dialog: Any) -> None:
    """Escape out of a dialog and wait until it is gone."""
    await pilot.press("escape")
    await wait_until(pilot, lambda: pilot.app.screen is not dialog, "the dialog closed")


async def key_ids(server: EmbeddedServer) -> list[str]:
    async with admin_client_for(server) as admin:
        return [info.key_id async for page in admin.iter_keys() for info in page.keys]


def keys_idle(app: KmsTuiApp) -> bool:
    return all(worker.is_finished for worker in app.workers if worker.group.startswith("keys."))


# --- create key --------------------------------------------------------------------------------

PAIR_TEXT = st.text(
    st.characters(
        exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"),
        exclude_characters=",=",
    ),
    min_size=1,
    max_size=8,
)
TAGS = st.dictionaries(PAIR_TEXT.filter(lambda key: key != "name"), PAIR_TEXT, max_size=3)
NEW_NAMES = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{2,12}\Z")


@dataclass(frozen=True)
class KeyForm:
    """The create-key form as typed, and the one field (if any) that must be refused."""

    description: str
    tags: dict[str, str]
    tags_text: str
    name: str
    bad: str | None = None


@st.composite
def key_forms(draw: st.DrawFn) -> KeyForm:
    tags = draw(TAGS)
    form = KeyForm(
        description=draw(st.text(VISIBLE, max_size=20)),
        tags=tags,
        tags_text=", ".join(f"{k}={v}" for k, v in tags.items()),
        name=draw(st.one_of(st.just(""), NEW_NAMES, st.sampled_from(SEEDED_KEY_IDS))),
    )
    broken = draw(
        st.sampled_from(
            [
                None,
                None,
                ("name", "a/b"),
                ("name", ".."),
                ("name", " padded"),
                ("name", "bell\x07"),
                ("name", "é-key"),
                ("name", "a" * 201),
                ("tags", "team"),
                ("tags", "team=a, team=b"),
                ("tags", "name=x"),
                ("tags", "k=" + "v" * 257),
                ("description", "tab\there"),
                ("description", "d" * 1025),
            ]
        )
    )
    if broken is None:
        return form
    bad, value = broken
    if bad == "tags":
        return KeyForm(form.description, {}, value, form.name, bad="tags")
    if bad == "name":
        return KeyForm(form.description, tags, form.tags_text, value, bad="name")
    return KeyForm(value, tags, form.tags_text, form.name, bad="description")


async def test_create_key_form(kms_server: EmbeddedServer, make_app: MakeApp) -> None:
    app = make_app(kms_server)
    outcomes: list[str] = []

    async with app.run_test(size=APP_SIZE) as pilot:
        await pilot.press("2")
        screen = await open_keys(pilot)

        async def check(form: KeyForm) -> None:
            before = await key_ids(kms_server)
            screen.key_table.focus()
            await pilot.press("c")
            dialog = await screen_of(pilot, CreateKeyDialog)
            await enter(pilot, dialog.query_one("#description", Input), form.description)
            await enter(pilot, dialog.query_one("#tags", Input), form.tags_text)
            await enter(pilot, dialog.query_one("#name", Input), form.name, keys=True)
            await pilot.click("#submit")
            await pilot.pause()
            if form.bad is not None:
                assert app.screen is dialog, "refused input closed the form"
                for field_id in ("description", "tags", "name"):
                    shown = dialog.field_error(field_id)
                    assert bool(shown) == (field_id == form.bad), (field_id, shown)
                assert dialog.value("name") == form.name  # nothing typed is lost
                await close(pilot, dialog)
                await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
                assert await key_ids(kms_server) == before
                outcomes.append("refused at the field")
                return
            if form.name in before:  # valid, but the server already has the id
                await wait_until(pilot, lambda: app.screen is not dialog, "the form closed")
                reopened = await screen_of(pilot, CreateKeyDialog)
                assert "already exists" in str(reopened.query_one("#server-error").render())
                assert reopened.value("description") == form.description
                assert reopened.value("tags") == form.tags_text
                assert reopened.value("name") == form.name
                await close(pilot, reopened)
                await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
                assert await key_ids(kms_server) == before
                outcomes.append("refused by the server, input kept")
                return
            await wait_until(
                pilot, lambda: not isinstance(app.screen, CreateKeyDialog), "the form closed"
            )
            await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
            created = set(await key_ids(kms_server)) - set(before)
            assert len(created) == 1
            key_id = created.pop()
            if form.name:
                assert key_id == form.name
            async with admin_client_for(kms_server) as admin:
                metadata = (await admin.describe_key(key_id)).metadata
            assert (metadata.description or "") == form.description
            assert dict(metadata.tags) == form.tags | ({"name": form.name} if form.name else {})
            outcomes.append("created")

        ran = await explore(
            key_forms(),
            check,
            max_examples=8,
            explicit=[
                KeyForm("Orders", {"team": "pay"}, "team = pay", "orders-key"),
                KeyForm("", {}, "", "alpha-key"),  # exists: the server refuses
                KeyForm("x", {}, "team=a,,b=c", "", bad="tags"),
            ],
        )
    assert ran >= 8
    assert {"created", "refused at the field", "refused by the server, input kept"} <= set(outcomes)


# --- schedule deletion -------------------------------------------------------------------------

VICTIM = "gamma-key"


@dataclass(frozen=True)
class DeletionForm:
    window: str
    confirmation: str
    bad: frozenset[str]
    server_refuses: bool = False


@st.composite
def deletion_forms(draw: st.DrawFn) -> DeletionForm:
    days = draw(st.integers(7, 30))
    window = draw(
        st.one_of(
            st.sampled_from([str(days), f" {days} ", f"0{days}"]),
            st.sampled_from(["6", "31", "7.5", "", "abc", "٩", "²", "-7", "1e1", "99999"]),
        )
    )
    confirmation = draw(
        st.one_of(
            st.sampled_from([VICTIM, f" {VICTIM} "]),
            st.sampled_from(["", "gamma", "beta-key", "GAMMA-KEY"]),
        )
    )
    digits = window.strip()
    window_ok = digits.isascii() and digits.isdigit() and 7 <= int(digits) <= 30
    bad = frozenset(
        name
        for name, ok in (("window", window_ok), ("confirmation", confirmation.strip() == VICTIM))
        if not ok
    )
    return DeletionForm(window, confirmation, bad, server_refuses=not bad and draw(st.booleans()))


async def test_schedule_deletion_form(kms_server: EmbeddedServer, make_app: MakeApp) -> None:
    app = make_app(kms_server)
    outcomes: list[str] = []

    async def state_of_victim() -> Any:
        async with admin_client_for(kms_server) as admin:
            return (await admin.describe_key(VICTIM)).metadata

    async with app.run_test(size=APP_SIZE) as pilot:
        await pilot.press("2")
        screen = await open_keys(pilot)

        async def check(form: DeletionForm) -> None:
            screen.key_table.move_to(VICTIM)
            screen.key_table.focus()
            await pilot.press("d")
            dialog = await screen_of(pilot, ScheduleDeletionDialog)
            await enter(pilot, dialog.query_one("#window", Input), form.window)
            await enter(
                pilot, dialog.query_one("#confirmation", Input), form.confirmation, keys=True
            )
            if form.server_refuses:  # someone else scheduled it while the form was open
                async with admin_client_for(kms_server) as admin:
                    await admin.schedule_key_deletion(VICTIM, pending_window_in_days=7)
            await pilot.click("#submit")
            await pilot.pause()
            if form.bad:
                assert app.screen is dialog
                shown = {f for f in ("window", "confirmation") if dialog.field_error(f)}
                assert shown == form.bad
                await close(pilot, dialog)
                await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
                assert (await state_of_victim()).key_state.value == "Enabled"
                outcomes.append("refused at the field")
                return
            if form.server_refuses:
                await wait_until(pilot, lambda: app.screen is not dialog, "the form closed")
                reopened = await screen_of(pilot, ScheduleDeletionDialog)
                assert "already pending deletion" in str(
                    reopened.query_one("#server-error").render()
                )
                assert reopened.value("window") == form.window
                assert reopened.value("confirmation") == form.confirmation
                await close(pilot, reopened)
                outcomes.append("refused by the server, input kept")
            else:
                impact = await screen_of(pilot, DeletionImpactDialog)
                await close(pilot, impact)
                metadata = await state_of_victim()
                assert metadata.key_state.value == "PendingDeletion"
                expected = datetime.now(UTC) + timedelta(days=int(form.window.strip()))
                assert abs(metadata.deletion_date - expected) < timedelta(minutes=5)
                outcomes.append("scheduled")
            await wait_until(pilot, lambda: keys_idle(app), "the Keys workers idle")
            async with admin_client_for(kms_server) as admin:
                await admin.cancel_key_deletion(VICTIM)

        ran = await explore(
            deletion_forms(),
            check,
            max_examples=7,
            explicit=[
                DeletionForm("9", VICTIM, frozenset()),
                DeletionForm("12", VICTIM, frozenset(), server_refuses=True),
                DeletionForm("31", "gamma", frozenset({"window", "confirmation"})),
            ],
        )
    assert ran >= 7
    assert {"scheduled", "refused at the field", "refused by the server, input kept"} <= set(
        outcomes
    )


# --- configure ---------------------------------------------------------------------------------


@pytest.fixture
async def blank_server(tmp_path: Path) -> AsyncIterator[EmbeddedServer]:
    """An embedded server that was never configured (NotConfigured)."""
    server = EmbeddedServer(tmp_path / "blank", log_file=tmp_path / "blank.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class ConfigForm:
    """Backend, auth method, the fields to fill (others left blank) and the field at fault."""

    backend: str
    auth: str
    values: Mapping[str, str | bool] = field(default_factory=dict)
    bad: str | None = None


HOST_PATHS = st.from_regex(r"\A[a-z][a-z0-9-]{0,6}\Z")


@st.composite
def vault_forms(draw: st.DrawFn) -> ConfigForm:
    backend = draw(st.sampled_from(["VaultKV2", "VaultTransit"]))
    auth = draw(st.sampled_from(["Token", "AppRole"]))
    values: dict[str, str | bool] = {
        "address": f"https://{draw(HOST_PATHS)}.example.com:{draw(st.integers(1, 65535))}",
        "mount_path": draw(st.one_of(st.just(""), HOST_PATHS)),
        "timeout_seconds": draw(st.one_of(st.just(""), st.integers(1, 300).map(str))),
        "default_key_id": draw(st.one_of(st.just(""), HOST_PATHS)),
    }
    if backend == "VaultKV2":
        values["kv_mount"] = draw(st.one_of(st.just(""), HOST_PATHS))
    if auth == "Token":
        values["auth_method.token"] = draw(st.one_of(st.just(""), HOST_PATHS.map("hvs.".__add__)))
    else:
        values["auth_method.role_id"] = draw(HOST_PATHS)
        values["auth_method.secret_id"] = draw(HOST_PATHS)
    broken = draw(
        st.sampled_from(
            [
                None,
                None,
                None,
                ("address", "vault.example.com:8200"),
                ("address", "https://"),
                ("address", "http://vault.example.com"),
                ("mount_path", "/transit/"),
                ("timeout_seconds", "301"),
                ("timeout_seconds", "7.5"),
                ("default_key_id", "a/b"),
                ("skip_tls_verify", True),
            ]
        )
    )
    if broken is None:
        return ConfigForm(backend, auth, values)
    return ConfigForm(backend, auth, {**values, broken[0]: broken[1]}, bad=broken[0])


async def fill_config_form(pilot: Pilot[None], dialog: ConfigureDialog, form: ConfigForm) -> None:
    dialog.query_one("#configure-backend", Select).value = form.backend
    await pilot.pause()
    if form.backend != "Local":
        dialog.query_one("#configure-auth", Select).value = form.auth
        await pilot.pause()
    for row in dialog.query(FieldRow):
        if not row.display:
            continue
        name = row.spec.name
        if row.spec.kind == "bool":
            box = row.query_one(Checkbox)
            if not box.disabled:
                box.value = form.values.get(name, box.value) is True
        elif name in form.values or form.backend != "Local":
            value = form.values.get(name, "")
            assert isinstance(value, str)
            dialog.query_one(f"#{field_dom_id(name)}", Input).value = value  # pasted
    await pilot.pause()


async def test_configure_form_for_vault(blank_server: EmbeddedServer, make_app: MakeApp) -> None:
    app = make_app(blank_server)
    outcomes: list[str] = []

    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_service(pilot)

        async def check(form: ConfigForm) -> None:
            before = blank_server.service.config
            dialog = await open_configure(pilot)
            await fill_config_form(pilot, dialog, form)
            blank_token = form.auth == "Token" and not form.values.get("auth_method.token")
            keeps = before is not None and before.backend in (VAULT_KV2, VAULT_TRANSIT)
            bad = form.bad or ("auth_method.token" if blank_token and not keeps else None)
            await pilot.press("ctrl+s")
            await pilot.pause()
            if bad is not None:
                assert app.screen is dialog
                assert bad in dialog.problems_shown(), dialog.problems_shown()
                assert dialog.sent_count == 0
                await close(pilot, dialog)
                await wait_for_workers(app, "service-configure")
                assert dialog.sent_count == 0
                assert blank_server.service.config == before
                outcomes.append("refused at the field")
                return
            await wait_until(pilot, lambda: app.screen is screen, "the form closed")
            config = blank_server.service.config
            assert config is not None
            assert (
                config.backend
                == {"VaultKV2": VAULT_KV2, "VaultTransit": VAULT_TRANSIT}[form.backend]
            )
            assert config.settings["address"] == form.values["address"]
            assert config.default_key_id == (form.values.get("default_key_id") or None)
            if form.values.get("timeout_seconds"):
                assert config.timeout_seconds == int(str(form.values["timeout_seconds"]))
            auth = config.settings["auth_method"]
            if form.auth == "AppRole":
                assert auth["AppRole"]["role_id"] == form.values["auth_method.role_id"]
            elif not blank_token:
                assert auth == {"Token": {"token": form.values["auth_method.token"]}}
            outcomes.append("configured")

        ran = await explore(
            vault_forms(),
            check,
            max_examples=6,
            explicit=[
                ConfigForm("VaultTransit", "Token", {"address": "https://vault.example.com"}),
                ConfigForm(
                    "VaultKV2",
                    "Token",
                    {"address": "https://v.example.com", "auth_method.token": "hvs.first"},
                ),
            ],
        )
    assert ran >= 6
    assert {"configured", "refused at the field"} <= set(outcomes)


async def test_configure_refused_by_the_server_keeps_every_field(
    blank_server: EmbeddedServer, make_app: MakeApp, tmp_path: Path
) -> None:
    """The form is valid, but another admin started the KMS while it was open."""
    form = ConfigForm(
        "VaultKV2",
        "AppRole",
        {
            "address": "https://vault.example.com:8200",
            "kv_mount": "kv",
            "auth_method.role_id": "rustfs-role",
            "auth_method.secret_id": "s3cr3t-id",
            "default_key_id": "orders",
            "timeout_seconds": "20",
        },
    )
    app = make_app(blank_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await open_service(pilot)
        dialog = await open_configure(pilot)
        await fill_config_form(pilot, dialog, form)
        typed = dialog.values()
        await configure_local(blank_server, tmp_path / "other-keys")  # behind the form's back
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: dialog.server_message is not None, "the server's refusal")
        assert app.screen is dialog
        assert "running" in (dialog.server_message or "")
        assert dialog.problems_shown() == {}
        assert dialog.values() == typed  # nothing typed is lost
        assert dialog.sent_count == 1
    config = blank_server.service.config
    assert config is not None and config.key_dir == str(tmp_path / "other-keys")


@st.composite
def local_forms(draw: st.DrawFn) -> ConfigForm:
    """Reconfiguring a running Local backend: the common options may change, the rest not."""
    values: dict[str, str | bool] = {
        "default_key_id": draw(st.sampled_from(["", *SEEDED_KEY_IDS])),
        "timeout_seconds": str(draw(st.integers(1, 300))),
        "retry_attempts": str(draw(st.integers(1, 10))),
        "cache_ttl_seconds": str(draw(st.integers(1, 86_400))),
    }
    broken = draw(
        st.sampled_from(
            [
                None,
                None,
                ("master_key", "another-master-passphrase"),
                ("key_dir", "/srv/elsewhere"),
                ("key_dir", "relative/keys"),
                ("file_permissions", "0640"),
                ("file_permissions", "0400"),
                ("retry_attempts", "0"),
                ("cache_ttl_seconds", "86401"),
                ("backend_type", "VaultTransit"),
            ]
        )
    )
    if broken is None:
        return ConfigForm("Local", "Token", values)
    if broken[0] == "backend_type":
        vault = {"address": "https://vault.example.com", "auth_method.token": "hvs.t"}
        return ConfigForm("VaultTransit", "Token", {**values, **vault}, bad="backend_type")
    return ConfigForm("Local", "Token", {**values, broken[0]: broken[1]}, bad=broken[0])


async def test_reconfigure_form_for_local(kms_server: EmbeddedServer, make_app: MakeApp) -> None:
    app = make_app(kms_server)
    outcomes: list[str] = []

    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_service(pilot)

        async def check(form: ConfigForm) -> None:
            before = kms_server.service.config
            dialog = await open_configure(pilot)
            await fill_config_form(pilot, dialog, form)
            await pilot.press("ctrl+s")
            await pilot.pause()
            if form.bad is not None:
                assert app.screen is dialog
                assert form.bad in dialog.problems_shown(), dialog.problems_shown()
                assert dialog.sent_count == 0
                await close(pilot, dialog)
                await wait_for_workers(app, "service-configure")
                assert dialog.sent_count == 0
                assert kms_server.service.config == before
                outcomes.append("refused at the field")
                return
            await wait_until(pilot, lambda: app.screen is screen, "the form closed")
            config = kms_server.service.config
            assert config is not None and before is not None
            assert config.key_dir == before.key_dir
            assert config.default_key_id == (form.values["default_key_id"] or None)
            assert config.timeout_seconds == int(str(form.values["timeout_seconds"]))
            assert config.retry_attempts == int(str(form.values["retry_attempts"]))
            assert config.cache_ttl_seconds == int(str(form.values["cache_ttl_seconds"]))
            assert kms_server.service.is_running
            outcomes.append("reconfigured")

        ran = await explore(
            local_forms(),
            check,
            max_examples=3,
            explicit=[
                ConfigForm(
                    "Local",
                    "Token",
                    {
                        "default_key_id": "beta-key",
                        "timeout_seconds": "45",
                        "retry_attempts": "4",
                        "cache_ttl_seconds": "600",
                    },
                ),
                ConfigForm("Local", "Token", {"master_key": "a-new-passphrase"}, bad="master_key"),
                ConfigForm(
                    "VaultKV2",
                    "Token",
                    {"address": "https://vault.example.com", "auth_method.token": "hvs.t"},
                    bad="backend_type",
                ),
            ],
        )
    assert ran >= 5
    assert {"reconfigured", "refused at the field"} <= set(outcomes)


# --- data keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextForm:
    spec: KeySpec
    text: str
    context: dict[str, str] | None  # None: refused


@st.composite
def context_forms(draw: st.DrawFn) -> ContextForm:
    spec = draw(st.sampled_from(list(KeySpec)))
    if draw(st.integers(0, 2)) == 0:
        text = draw(st.sampled_from(["app", "=billing", "app=a, app=b", "app=a,,env=b", "a=1,"]))
        return ContextForm(spec, text, None)
    pairs = draw(TAGS)
    return ContextForm(spec, ", ".join(f"{k}={v}" for k, v in pairs.items()), pairs)


async def test_generate_data_key_form(
    kms_server: EmbeddedServer, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = kms_server.service.keys
    calls: list[tuple[str, str, dict[str, str]]] = []
    real = service.generate_data_key

    def recording(key_id: str, key_spec: str, context: Mapping[str, str]) -> Any:
        calls.append((key_id, key_spec, dict(context)))
        return real(key_id, key_spec, context)

    monkeypatch.setattr(service, "generate_data_key", recording)
    app = make_app(kms_server)
    outcomes: list[str] = []

    async with app.run_test(size=APP_SIZE) as pilot:
        await pilot.press("3")
        screen = await screen_of(pilot, DataKeysScreen)
        screen.query_one("#pick-key").focus()
        await pilot.press("k")
        picker = await screen_of(pilot, KeyPickerDialog)
        await wait_until(pilot, lambda: not picker.keys_loading, "the key list")
        await pilot.press(*"alpha", "enter")
        await wait_until(pilot, lambda: screen.key_id == "alpha-key", "alpha-key chosen")

        async def check(form: ContextForm) -> None:
            made = len(calls)
            shown_before = screen.ciphertext_b64
            screen.query_one("#key-spec", Select).value = form.spec
            await enter(pilot, screen.query_one("#generate-context", Input), form.text)
            await pilot.click("#generate")
            await pilot.pause()
            error = screen.query_one("#generate-context-error")
            if form.context is None:
                assert error.has_class("visible") and str(error.render())
                await wait_for_workers(app, "datakeys")  # a generate would have ended by now
                assert len(calls) == made  # nothing reached the server
                outcomes.append("refused at the field")
                return
            await wait_until(pilot, lambda: len(calls) == made + 1, "the generate call")
            await wait_until(
                pilot, lambda: screen.ciphertext_b64 != shown_before, "the new data key shown"
            )
            assert screen.plaintext_field.has_secret
            assert not error.has_class("visible")
            key_id, key_spec, context = calls[-1]
            assert (key_id, key_spec, context) == ("alpha-key", form.spec.value, form.context)
            assert screen.query_one("#generate-context", Input).value == form.text
            outcomes.append("generated")

        ran = await explore(
            context_forms(),
            check,
            max_examples=8,
            explicit=[
                ContextForm(
                    KeySpec.AES_128, "app = billing, env=prod", {"app": "billing", "env": "prod"}
                )
            ],
        )
    assert ran >= 8
    assert {"generated", "refused at the field"} <= set(outcomes)


# --- buckets -----------------------------------------------------------------------------------

GOOD_BUCKETS = st.from_regex(r"\A[a-z0-9]{3,10}([.-][a-z0-9]{2,5})?\Z").filter(
    lambda name: not name.startswith(("xn--", "sthree-"))
)
BAD_BUCKETS = [
    "My-Bucket",
    "ab",
    "a" * 64,
    "192.168.1.10",
    "my..bucket",
    "my.-bucket",
    "-bucket",
    "my_bucket",
    "xn--bucket",
    "sthree-bucket",
    "bucket-s3alias",
    "bucket.mrap",
]


@pytest.fixture
async def s3(kms_server: EmbeddedServer) -> AsyncIterator[BucketEncryptionClient]:
    """One bucket client for the whole test (building a botocore client is slow)."""
    client = BucketEncryptionClient(
        kms_server.endpoint, kms_server.access_key, kms_server.secret_key, retries=0
    )
    async with client:
        yield client


async def bucket_names(client: BucketEncryptionClient) -> set[str]:
    return {bucket.name for bucket in await client.list_buckets()}


async def test_create_bucket_form(
    kms_server: EmbeddedServer, make_app: MakeApp, s3: BucketEncryptionClient
) -> None:
    app = make_app(kms_server)
    outcomes: list[str] = []

    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_buckets(pilot)

        async def check(case: tuple[str, bool]) -> None:
            name, valid = case
            before = await bucket_names(s3)
            if name in before:
                return  # the screen does not reopen the form on a refusal; see the report
            await pilot.press("c")
            dialog = await screen_of(pilot, CreateBucketDialog)
            await enter(pilot, dialog.query_one("#bucket-name", Input), name, keys=True)
            await pilot.press("enter")
            await pilot.pause()
            if not valid:
                assert app.screen is dialog
                assert (dialog.field_error or "").startswith("bucket name ")
                assert dialog.query_one("#create", Button).disabled
                assert dialog.query_one("#bucket-name", Input).value == name
                await close(pilot, dialog)
                await wait_for_workers(app, "bucket-change")
                assert await bucket_names(s3) == before
                outcomes.append("refused at the field")
                return
            await wait_until(pilot, lambda: name in screen.rows, "the new bucket listed")
            assert await bucket_names(s3) == before | {name}
            outcomes.append("created")

        ran = await explore(
            st.one_of(
                GOOD_BUCKETS.map(lambda name: (name, True)),
                st.sampled_from(BAD_BUCKETS).map(lambda name: (name, False)),
            ),
            check,
            max_examples=8,
            explicit=[("photos", True), ("Photos", False), ("a.-b", False)],
        )
    assert ran >= 8
    assert {"created", "refused at the field"} <= set(outcomes)


async def test_bucket_encryption_form(
    kms_server: EmbeddedServer, make_app: MakeApp, s3: BucketEncryptionClient
) -> None:
    bucket = "forms-bucket"
    await s3.create_bucket(bucket)
    app = make_app(kms_server)
    outcomes: list[str] = []

    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_buckets(pilot)
        await wait_until(pilot, lambda: bucket in screen.rows, "the bucket listed")

        async def check(case: tuple[bool, str | None]) -> None:
            use_kms, key_id = case
            await s3.delete_bucket_encryption(bucket)  # start without a key
            before = await s3.get_bucket_encryption(bucket)
            screen.action_refresh_data()
            await wait_until(
                pilot,
                lambda: screen.rows[bucket].encryption_label == "none",
                "the encryption removed",
            )
            screen.select_bucket(bucket)
            await pilot.press("e")
            dialog = await screen_of(pilot, BucketEncryptionDialog)
            await pilot.click("#sse-kms" if use_kms else "#sse-s3")
            if use_kms and key_id is not None:
                await pilot.press("k")
                picker = await screen_of(pilot, KeyPickerDialog)
                await wait_until(pilot, lambda: not picker.keys_loading, "the key list")
                await pilot.press(*key_id, "enter")
                await wait_until(pilot, lambda: app.screen is dialog, "back in the dialog")
                assert dialog.kms_key_id == key_id
            await pilot.press("ctrl+s")
            await pilot.pause()
            if use_kms and key_id is None:
                assert app.screen is dialog
                assert "needs a key" in (dialog.field_error or "")
                await close(pilot, dialog)
                await wait_for_workers(app, "bucket-change")
                assert await s3.get_bucket_encryption(bucket) == before
                outcomes.append("refused at the field")
                return
            await wait_until(pilot, lambda: app.screen is screen, "the dialog closed")
            expected = (SSE_KMS, key_id) if use_kms else (SSE_S3, None)
            await wait_until(
                pilot,
                lambda: screen.rows[bucket].encryption_label != "none",
                "the encryption shown",
            )
            now = await s3.get_bucket_encryption(bucket)
            assert now is not None and (now.algorithm, now.kms_key_id) == expected
            outcomes.append("applied")

        ran = await explore(
            st.tuples(st.booleans(), st.one_of(st.none(), st.sampled_from(SEEDED_KEY_IDS))),
            check,
            max_examples=3,
            explicit=[(True, None), (True, "beta-key"), (False, None)],
        )
    assert ran >= 3
    assert {"applied", "refused at the field"} <= set(outcomes)
