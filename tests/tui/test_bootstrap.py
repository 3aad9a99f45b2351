"""`kms-tui` with no arguments: the embedded server is set up on the first run and reused after."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kms_tui import paths
from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.wire import ServiceState
from kms_tui.bootstrap import BootstrapError, bootstrap_embedded, master_key_path
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.factory import build_app
from kms_tui.settings import Settings, resolve_connection
from kms_tui.tui.widgets.header import KmsHeader
from tests.tui.conftest import APP_SIZE, fixed_clock
from tests.tui.helpers import highlighted_mode, wait_connected, wait_for_workers, wait_until


def embedded_app():
    settings = Settings()
    return build_app(resolve_connection(settings), settings, clock=fixed_clock)


def client_for(server: EmbeddedServer) -> KmsAdminClient:
    return KmsAdminClient(server.endpoint, server.access_key, server.secret_key, retries=0)


async def test_first_run_bootstraps_and_lands_on_keys() -> None:
    app = embedded_app()
    async with app.run_test(size=APP_SIZE) as pilot:
        # The first frame is drawn before the server is up.
        assert app.current_mode == "keys"
        await wait_connected(pilot, app)
        assert app.service_status is not None
        assert app.service_status.state is ServiceState.RUNNING
        header = app.screen.query_one(KmsHeader)
        await wait_until(pilot, lambda: "Running" in header.plain_line, "Running in the header")
        assert "profile embedded" in header.plain_line
        assert "embedded http://127.0.0.1:" in header.plain_line
        assert highlighted_mode(header) == " 2 Keys "
        server = app.context.embedded_server
        assert server is not None and server.running
        entries = [e for e in app.context.activity.entries if e.action.startswith("bootstrap")]
        assert entries and entries[0].ok
    assert not server.running  # stopped on exit
    key_file = master_key_path()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    master_key = key_file.read_text().strip()
    assert len(master_key) >= 32
    assert (paths.data_dir() / "keys").is_dir()
    assert master_key not in app.context.activity.path.read_text()


async def test_second_run_reuses_key_and_keys() -> None:
    first = embedded_app()
    async with first.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, first)
        admin = await first.context.admin()
        created = await admin.create_key(description="kept across runs", name="persisted-key")
    master_key = master_key_path().read_text()

    second = embedded_app()
    async with second.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, second)
        assert second.service_status is not None
        assert second.service_status.state is ServiceState.RUNNING
        admin = await second.context.admin()
        page = await admin.list_keys()
        assert created.key_id in {key.key_id for key in page.keys}
        assert not any(e.action.startswith("bootstrap") for e in second.context.activity.entries)
    assert master_key_path().read_text() == master_key


async def test_configured_but_stopped_is_started() -> None:
    first = embedded_app()
    async with first.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, first)
        admin = await first.context.admin()
        await admin.stop()
    second = embedded_app()
    async with second.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, second)
        await wait_until(
            pilot,
            lambda: (
                second.service_status is not None
                and second.service_status.state is ServiceState.RUNNING
            ),
            "the service Running",
        )


async def test_lost_master_key_with_existing_keys_is_refused(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    key_dir.mkdir()
    (key_dir / "old-key.key").write_text("{}")
    key_file = tmp_path / "config" / "embedded-master-key"
    with EmbeddedServer(tmp_path / "server", log_file=tmp_path / "server.log") as server:
        async with client_for(server) as admin:
            with pytest.raises(BootstrapError, match="missing") as caught:
                await bootstrap_embedded(admin, key_dir=key_dir, key_file=key_file)
            assert "restore" in caught.value.message
            status = await admin.service_status()
    assert status.state is ServiceState.NOT_CONFIGURED
    assert not key_file.exists()


async def test_existing_key_file_is_reused_when_server_state_is_gone(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    key_file = tmp_path / "config" / "embedded-master-key"
    with EmbeddedServer(tmp_path / "server-a", log_file=tmp_path / "a.log") as server:
        async with client_for(server) as admin:
            result = await bootstrap_embedded(admin, key_dir=key_dir, key_file=key_file)
            assert result.configured and result.created_master_key
            created = await admin.create_key(name="survivor")
    # A fresh server directory (its state lost) but the same key dir and master key file.
    with EmbeddedServer(tmp_path / "server-b", log_file=tmp_path / "b.log") as server:
        async with client_for(server) as admin:
            result = await bootstrap_embedded(admin, key_dir=key_dir, key_file=key_file)
            assert result.configured and not result.created_master_key
            assert result.state is ServiceState.RUNNING
            described = await admin.describe_key(created.key_id)
    assert described.metadata.key_id == created.key_id


async def test_bootstrap_failure_is_shown_not_fatal(tmp_path: Path) -> None:
    key_dir = paths.data_dir() / "keys"
    key_dir.mkdir(parents=True)
    (key_dir / "orphan.key").write_text("{}")
    app = embedded_app()
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        assert app.is_running
        assert app.service_status is not None
        assert app.service_status.state is ServiceState.NOT_CONFIGURED
        failures = [e for e in app.context.activity.entries if e.action == "connect"]
        assert failures and "master key" in failures[0].message
    assert not master_key_path().exists()


async def test_embedded_server_that_cannot_start_shows_disconnected() -> None:
    from kms_tui.embedded.locking import DataDirLock

    lock = DataDirLock(paths.data_dir() / "server")
    lock.acquire()  # another kms-tui holds the data directory
    try:
        app = embedded_app()
        async with app.run_test(size=APP_SIZE) as pilot:
            await wait_until(pilot, lambda: app.connection_state == "disconnected", "disconnected")
            assert app.context.failure is not None
            assert "could not start" in app.context.failure.message
            header = app.screen.query_one(KmsHeader)
            await wait_until(
                pilot, lambda: "disconnected" in header.plain_line, "disconnected in the header"
            )
            assert app.is_running
    finally:
        lock.release()


async def test_r_starts_an_embedded_server_that_failed_to_start() -> None:
    from kms_tui.embedded.locking import DataDirLock

    lock = DataDirLock(paths.data_dir() / "server")
    lock.acquire()
    app = embedded_app()
    async with app.run_test(size=APP_SIZE) as pilot:
        try:
            await wait_until(pilot, lambda: app.context.failure is not None, "the start to fail")
            await pilot.press("r")  # still locked: fails again, stays up
            # `r` forgot the failure and started connecting again; wait for that attempt's end.
            assert app.context.failure is None
            await wait_for_workers(app, "app.connect")
            assert app.context.failure is not None
            assert app.context.embedded_server is None
            assert app.is_running
        finally:
            lock.release()  # the other kms-tui went away
        await pilot.press("r")
        await wait_until(pilot, lambda: app.connection_state == "connected", "connected")
        await wait_until(
            pilot,
            lambda: (
                app.service_status is not None and app.service_status.state is ServiceState.RUNNING
            ),
            "the service Running",
        )
        assert app.context.embedded_server is not None and app.context.embedded_server.running
        assert any(e.action == "reconnect" and e.ok for e in app.context.activity.entries)


async def test_embedded_server_with_users_signs_the_console_in_as_the_chosen_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBEDDED_AUDITOR_SECRET", "embedded-auditor-secret-1")
    users = tmp_path / "users.toml"
    users.write_text(
        '[[user]]\naccess_key = "auditor"\nsecret_key_env = "EMBEDDED_AUDITOR_SECRET"\n'
        'policies = ["KMSAuditor"]\n'
    )
    settings = Settings(embedded_users=users, embedded_account="auditor")
    app = build_app(resolve_connection(settings), settings, clock=fixed_clock)
    async with app.run_test(size=APP_SIZE) as pilot:
        # Set up as root (the bootstrap configures and starts the KMS), then signed in as the
        # auditor: its policy is read and the header names it.
        await wait_until(pilot, lambda: app.context.permissions.checked, "the account's policy")
        assert app.context.permissions.account == "auditor"
        assert app.context.endpoint_label.endswith(" as auditor")
        entries = [e for e in app.context.activity.entries if e.action.startswith("bootstrap")]
        assert entries and entries[0].ok
        screen = app.screen
        await wait_until(pilot, lambda: app.poll_refused, "the status poll refused")
        assert screen.check_action("create_key", ()) is None  # type: ignore[union-attr]
        server = app.context.embedded_server
        assert server is not None and server.running


async def test_an_embedded_account_missing_from_the_users_file_is_said_plainly(
    tmp_path: Path,
) -> None:
    users = tmp_path / "users.toml"
    users.write_text("")
    settings = Settings(embedded_users=users, embedded_account="nobody")
    app = build_app(resolve_connection(settings), settings, clock=fixed_clock)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_until(pilot, lambda: app.context.failure is not None, "the failure")
        assert "has no account 'nobody'" in app.context.failure.message  # type: ignore[union-attr]
        await wait_until(
            pilot, lambda: app.connection_state == "disconnected", "the header to say so"
        )
