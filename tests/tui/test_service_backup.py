"""Pilot tests of the Service screen's health check, backup and restore (real embedded server)."""

from __future__ import annotations

import base64
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from textual.widgets import Input

from kms_tui import paths
from kms_tui.api.errors import KmsNotFound
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.backup import (
    BackupPathDialog,
    ChecklistDialog,
    RestoreConfirmDialog,
    RestorePathDialog,
)
from kms_tui.tui.dialogs.confirm import ConfirmDialog
from kms_tui.tui.dialogs.results import ResultsDialog
from tests.fakes.misbehaving import misbehaving, status, xml_error
from tests.tui.conftest import APP_SIZE, admin_client_for, configure_local
from tests.tui.fault_support import app_via, record_notes, titled
from tests.tui.helpers import open_service, screen_of, wait_for_workers, wait_until

MakeApp = Callable[..., KmsTuiApp]
KEK = base64.b64encode(bytes(range(32))).decode()
KEYS = ("vault-a", "vault-b")


@pytest.fixture
async def backup_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[EmbeddedServer]:
    """Local backend running with backups set up; vault-a Enabled, vault-b Disabled."""
    backup_dir = tmp_path / "server-backups"
    backup_dir.mkdir()
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_DIR", str(backup_dir))
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_KEK", KEK)
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_KEK_ID", "test-kek")
    server = EmbeddedServer(
        tmp_path / "server", log_file=tmp_path / "server.log", allow_immediate_deletion=True
    )
    server.start()
    try:
        await configure_local(server, tmp_path / "keys")
        async with admin_client_for(server) as admin:
            for name in KEYS:
                await admin.create_key(name=name)
            await admin.disable_key("vault-b")
        yield server
    finally:
        server.stop()


async def key_states(server: EmbeddedServer) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    async with admin_client_for(server) as admin:
        for key_id in KEYS:
            try:
                found[key_id] = (await admin.describe_key(key_id)).metadata.key_state.value
            except KmsNotFound:
                found[key_id] = None
    return found


async def bundle_file(server: EmbeddedServer, target: Path) -> str:
    """A backup taken on the server, copied to ``target``; the server's copy removed."""
    async with admin_client_for(server) as admin:
        result = await admin.create_backup()
        root = Path((await admin.backup_status()).backup_root or "")
    server_copy = root / f"{result.backup_id}.kms-backup.json"
    target.write_bytes(server_copy.read_bytes())
    server_copy.unlink()
    return result.backup_id


async def destroy_keys(server: EmbeddedServer) -> None:
    async with admin_client_for(server) as admin:
        for key_id in KEYS:
            await admin.delete_key_immediately(key_id)


def typed(dialog: object, input_id: str, value: str) -> None:
    assert isinstance(dialog, BackupPathDialog | RestorePathDialog | RestoreConfirmDialog)
    dialog.query_one(f"#{input_id}", Input).value = value


async def test_health_check_passes_then_names_the_stopped_kms_with_its_fix(
    kms_server: EmbeddedServer, make_app: MakeApp
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_service(pilot)
        assert screen.check_action("doctor", ()) is True
        await pilot.press("h")
        dialog = await screen_of(pilot, ChecklistDialog, "the checklist")
        outcomes = {check.id: check.outcome for check in dialog.results}
        assert "failed" not in outcomes.values(), dialog.lines
        assert list(outcomes)[:6] == [
            "endpoint",
            "credentials",
            "clock",
            "service",
            "backend",
            "default_key",
        ]
        assert "probe" not in outcomes  # the console never writes a probe object
        assert outcomes["service"] == "ok" and outcomes["bucket_keys"] == "ok"
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, "the checklist to close")

        async with admin_client_for(kms_server) as admin:
            await admin.stop()
        await pilot.press("h")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, ChecklistDialog) and app.screen is not dialog,
            "the second checklist",
        )
        stopped = app.screen
        assert isinstance(stopped, ChecklistDialog)
        service = next(check for check in stopped.results if check.id == "service")
        assert service.outcome == "failed" and "stopped" in service.detail
        assert "      fix: start it (the console's Service screen, `s`)" in stopped.lines
        assert {c.outcome for c in stopped.results if c.id in ("backend", "cluster")} == {"skipped"}
        entries = [e for e in app.context.activity.entries if e.action == "health check"]
        assert [e.ok for e in entries] == [True, False]
        assert "the KMS is configured and running" in entries[1].message


async def test_backup_writes_a_private_file_and_asks_before_overwriting(
    backup_server: EmbeddedServer, make_app: MakeApp, tmp_path: Path
) -> None:
    target = tmp_path / "kms.backup.json"
    app = make_app(backup_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_service(pilot)
        notes = record_notes(app)
        await pilot.press("b")
        form = await screen_of(pilot, BackupPathDialog, "the backup form")
        default = Path(form.value("backup-path"))
        assert default.parent == paths.data_dir() / "backups"
        assert default.name.endswith(".kms-backup.json")
        typed(form, "backup-path", str(target))
        await pilot.click("#submit")
        await wait_for_workers(app, "service-backup")
        entries = [e for e in app.context.activity.entries if e.action == "back up"]
        assert [e.ok for e in entries] == [True], entries
        assert "2 key(s)" in entries[0].message
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        written = target.read_bytes()
        assert KEK not in written.decode()

        await pilot.press("b")
        form = await screen_of(pilot, BackupPathDialog, "the backup form again")
        typed(form, "backup-path", str(target))
        await pilot.click("#submit")
        await screen_of(pilot, ConfirmDialog, "the overwrite question")
        await pilot.click("#cancel")
        await wait_for_workers(app, "service-backup")
        assert app.screen is screen
        assert titled(notes, "back up cancelled")
        assert target.read_bytes() == written
        assert len([e for e in app.context.activity.entries if e.action == "back up"]) == 1


async def test_restore_after_destroying_keys_shows_the_bundle_and_each_key(
    backup_server: EmbeddedServer, make_app: MakeApp, tmp_path: Path
) -> None:
    target = tmp_path / "kms.backup.json"
    backup_id = await bundle_file(backup_server, target)
    await destroy_keys(backup_server)
    assert await key_states(backup_server) == {"vault-a": None, "vault-b": None}
    app = make_app(backup_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await open_service(pilot)
        await pilot.press("o")
        form = await screen_of(pilot, RestorePathDialog, "the restore form")
        typed(form, "restore-path", str(target))
        await pilot.click("#submit")
        confirm = await screen_of(pilot, RestoreConfirmDialog, "the typed confirmation")
        assert f"backup id: {backup_id}" in confirm.lines
        assert "keys: 2 (vault-a, vault-b)" in confirm.lines
        assert "states: 1 Disabled, 1 Enabled" in confirm.lines  # the KEK is in the environment
        assert any(line.startswith("created: 20") for line in confirm.lines)
        assert any(line.startswith("source: ") for line in confirm.lines)
        typed(confirm, "restore-confirm", backup_id)
        await pilot.click("#submit")
        results = await screen_of(pilot, ResultsDialog, "the per-key result")
        assert {(r.key_id, r.ok, r.message) for r in results.results} == {
            ("vault-a", True, "restored"),
            ("vault-b", True, "restored"),
        }
        await wait_for_workers(app, "service-restore")
        entry = next(e for e in app.context.activity.entries if e.action == "restore")
        assert entry.ok and "restored 2 of 2" in entry.message
    assert await key_states(backup_server) == {"vault-a": "Enabled", "vault-b": "Disabled"}
    assert backup_server.service.is_running  # stopped for the restore, started again


async def test_a_wrong_typed_backup_id_restores_nothing(
    backup_server: EmbeddedServer, make_app: MakeApp, tmp_path: Path
) -> None:
    target = tmp_path / "kms.backup.json"
    backup_id = await bundle_file(backup_server, target)
    await destroy_keys(backup_server)
    server_dir = tmp_path / "server-backups"
    app = make_app(backup_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_service(pilot)
        notes = record_notes(app)
        await pilot.press("o")
        form = await screen_of(pilot, RestorePathDialog, "the restore form")
        typed(form, "restore-path", str(target))
        await pilot.click("#submit")
        confirm = await screen_of(pilot, RestoreConfirmDialog, "the typed confirmation")
        typed(confirm, "restore-confirm", backup_id[:-1])
        await pilot.click("#submit")
        await pilot.pause()
        assert app.screen is confirm  # still asking
        assert confirm.field_error("restore-confirm") == f"type {backup_id} exactly to restore"
        await pilot.press("escape")
        await wait_for_workers(app, "service-restore")
        assert app.screen is screen
        assert titled(notes, "restore cancelled")
        assert not [e for e in app.context.activity.entries if e.action == "restore"]
    assert await key_states(backup_server) == {"vault-a": None, "vault-b": None}
    assert list(server_dir.iterdir()) == []  # the bundle placed for the dry run was taken back
    assert backup_server.service.is_running


async def test_a_server_without_backup_support_is_named_plainly(
    backup_server: EmbeddedServer, tmp_path: Path
) -> None:
    target = tmp_path / "kms.backup.json"
    await bundle_file(backup_server, target)
    with misbehaving(backup_server.endpoint) as proxy:
        proxy.set("GET", "/kms/backup", status(501, xml_error(501, "NotImplemented", "no").body))
        app = app_via(proxy.url, backup_server)
        async with app.run_test(size=APP_SIZE) as pilot:
            screen = await open_service(pilot)
            notes = record_notes(app)
            await pilot.press("o")
            form = await screen_of(pilot, RestorePathDialog, "the restore form")
            typed(form, "restore-path", str(target))
            await pilot.click("#submit")
            await wait_until(pilot, lambda: bool(titled(notes, "restore refused")), "a refusal")
            await wait_for_workers(app, "service-restore")
            (note,) = titled(notes, "restore refused")
            assert "does not support KMS backup and restore" in note.message
            assert app.screen is screen
            entry = next(e for e in app.context.activity.entries if e.action == "restore")
            assert not entry.ok
            assert not proxy.requests_to("POST", "/kms/restore/dry-run")
    assert await key_states(backup_server) == {"vault-a": "Enabled", "vault-b": "Disabled"}


async def test_restore_is_refused_read_only_and_backup_is_not(
    backup_server: EmbeddedServer, make_app: MakeApp
) -> None:
    app = make_app(backup_server, read_only=True)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_service(pilot)
        assert screen.check_action("restore", ()) is None
        assert screen.disabled_reason("restore") == "read-only session: restore is disabled"
        assert screen.check_action("backup", ()) is True  # as `kms-tui backup create` allows
        await pilot.press("o")
        assert app.screen is screen
        assert not [w for w in app.workers if w.group == "service-restore"]


async def test_a_failed_restore_names_the_keys_present_and_the_keys_missing(
    backup_server: EmbeddedServer, tmp_path: Path
) -> None:
    target = tmp_path / "kms.backup.json"
    backup_id = await bundle_file(backup_server, target)
    await destroy_keys(backup_server)
    with misbehaving(backup_server.endpoint) as proxy:
        app = app_via(proxy.url, backup_server)
        async with app.run_test(size=APP_SIZE) as pilot:
            await open_service(pilot)
            notes = record_notes(app)
            await pilot.press("o")
            form = await screen_of(pilot, RestorePathDialog, "the restore form")
            typed(form, "restore-path", str(target))
            await pilot.click("#submit")
            confirm = await screen_of(pilot, RestoreConfirmDialog, "the typed confirmation")
            # Between the dry run and the restore, vault-a comes back by another hand and the
            # restore request itself fails: the console must say which keys the server now has.
            async with admin_client_for(backup_server) as admin:
                await admin.create_key(name="vault-a")
            proxy.set(
                "POST", "/kms/restore", status(500, xml_error(500, "InternalError", "disk").body)
            )
            typed(confirm, "restore-confirm", backup_id)
            await pilot.click("#submit")
            results = await screen_of(pilot, ResultsDialog, "the per-key result")
            assert {(r.key_id, r.ok, r.message) for r in results.results} == {
                ("vault-a", True, "restored"),
                ("vault-b", False, "not restored"),
            }
            await wait_for_workers(app, "service-restore")
            (note,) = titled(notes, "restore")
            assert note.severity == "error"
            assert note.message.startswith("the restore failed (")
            assert "restored 1 of 2 key(s): vault-a; not restored: vault-b" in note.message
            entry = next(e for e in app.context.activity.entries if e.action == "restore")
            assert not entry.ok
            assert len(proxy.requests_to("POST", "/kms/restore")) == 1
    assert backup_server.service.is_running  # stopped for the restore, started again
