"""Whole console sessions, then a search for every secret they touched in everything they left.

Session one is ``kms-tui`` with no arguments under ``umask 0``: the embedded server starts, the
bootstrap writes a master key, keys, a bucket with SSE-KMS, a backup and a data key are made
(the data key revealed on screen, hidden, cleared and decrypted), and errors are provoked (a
wrong secret key, a refused master key, a Vault token sent to a running server, bad input).
Session two configures Vault KV2 (token) and then AppRole (secret id) through the Service
screen's form on a fresh server.

Afterwards every file under the session's config, data and state directories, the server log
and the backup directory is searched for each secret (text as written, JSON- and
repr-escaped, base64; binary as raw bytes, base64 and hex), as are the activity log entries,
the notifications, every captured log record (all loggers at DEBUG), every screenshot, and
``str()``/``repr()`` of every exception raised. Only the files meant to hold a secret may:
the master key file and the server's configuration file (both 0600).
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select

from kms_tui import paths
from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.backends import LocalConfig, VaultAppRoleAuth, VaultKv2Config, VaultTokenAuth
from kms_tui.api.buckets import SSE_KMS, BucketEncryptionClient
from kms_tui.api.errors import KmsAccessDenied, KmsError
from kms_tui.bootstrap import master_key_path
from kms_tui.embedded.config import CONFIG_FILE
from kms_tui.embedded.keystore import LocalKeyStore
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.factory import build_app
from kms_tui.settings import Connection, Settings, resolve_connection
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.key_picker import KeyPickerDialog
from kms_tui.tui.screens.activity import ActivityScreen
from kms_tui.tui.screens.help import HelpScreen
from kms_tui.tui.screens.stats import StatsScreen
from kms_tui.tui.widgets.config_fields import field_dom_id
from tests.security.leaks import leaked_in_text, mode_of, scan_files, wrong_modes
from tests.tui.conftest import APP_SIZE, fixed_clock
from tests.tui.helpers import (
    open_buckets,
    open_configure,
    open_datakeys,
    open_keys,
    open_mode,
    open_service,
    screen_of,
    wait_connected,
    wait_until,
)

WRONG_SECRET_KEY = "wrong-secret-key-for-a-403-4f1d2c"
WRONG_MASTER_KEY = "refused-master-key-passphrase-77aa"
VAULT_TOKEN = "hvs.session-vault-token-5e6f7a8b"
APPROLE_SECRET_ID = "approle-secret-id-0c1d2e3f4a5b"
FORM_VAULT_TOKEN = "hvs.form-typed-vault-token-1a2b3c"
FORM_SECRET_ID = "form-typed-approle-secret-id-9z8y"


class Captured(logging.Handler):
    """Every record any logger emits, formatted with its arguments and traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured_logs() -> Iterator[Captured]:
    """Raise every logger to DEBUG for the test, so a secret logged at any level is seen."""
    handler = Captured()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


class Evidence:
    """Everything a session showed or said, to be searched for secrets afterwards."""

    def __init__(self, app: KmsTuiApp) -> None:
        self.app = app
        self.screenshots: dict[str, str] = {}
        self.errors: list[BaseException] = []

    def shoot(self, name: str) -> str:
        self.screenshots[name] = self.app.export_screenshot()
        return self.screenshots[name]

    async def expect_error(self, kind: type[BaseException], call: object) -> BaseException:
        with pytest.raises(kind) as caught:
            await call  # type: ignore[misc]
        self.errors.append(caught.value)
        return caught.value

    def texts(self) -> dict[str, str]:
        """Name → text of every on-screen and in-memory record of the session."""
        found = {f"screenshot {name}": shot for name, shot in self.screenshots.items()}
        for index, error in enumerate(self.errors):
            found[f"error {index} {type(error).__name__}"] = f"{error!s}\n{error!r}"
        activity = self.app.context.activity
        found["activity entries"] = "\n".join(repr(entry) for entry in activity.entries)
        found["notifications"] = "\n".join(str(n.message) for n in self.app._notifications)
        found["clipboard"] = self.app.clipboard
        return found


async def visit_every_screen(pilot: Pilot[None], evidence: Evidence) -> None:
    """A screenshot of each screen once it shows what it loads (a secret would be in it)."""
    app = evidence.app
    await open_service(pilot)
    evidence.shoot("service")
    await open_keys(pilot, count=0)  # listed, or its listing failed (a stopped KMS)
    evidence.shoot("keys")
    await open_buckets(pilot)
    evidence.shoot("buckets")
    stats = await open_mode(pilot, "stats", StatsScreen)
    await wait_until(pilot, lambda: stats.rounds_shown > 0, "a drawn status round")
    evidence.shoot("stats")
    await pilot.press("a")
    activity = await screen_of(pilot, ActivityScreen, "the activity log")
    table = activity.query_one(DataTable)
    entries = len(app.context.activity.entries)
    await wait_until(pilot, lambda: table.row_count >= entries, "every activity entry listed")
    evidence.shoot("activity")
    await pilot.press("escape")
    await wait_until(pilot, lambda: len(app.screen_stack) == 1, "the activity log closed")
    await pilot.press("question_mark")
    await screen_of(pilot, HelpScreen, "help")
    evidence.shoot("help")
    await pilot.press("escape")
    await wait_until(pilot, lambda: len(app.screen_stack) == 1, "help closed")


async def data_key_on_screen(pilot: Pilot[None], evidence: Evidence, needle: str) -> bytes:
    """Generate a data key on the Data keys screen, reveal, hide and clear it; its plaintext."""
    app = evidence.app
    screen = await open_datakeys(pilot)
    await pilot.press("k")
    picker = await screen_of(pilot, KeyPickerDialog, "the key picker")
    await wait_until(pilot, lambda: not picker.keys_loading, "the key list")
    await pilot.press(*needle, "enter")
    await wait_until(pilot, lambda: app.screen is screen, "the picker to close")
    await pilot.press("g")
    await wait_until(pilot, lambda: screen.plaintext_field.has_secret, "a generated data key")
    evidence.shoot("data key masked")
    await pilot.press("v")
    revealed = app.export_screenshot()  # shown on purpose: not part of the evidence
    plaintext_b64 = str(screen.plaintext_field.render()).split()[0]
    plaintext = base64.b64decode(plaintext_b64, validate=True)
    assert plaintext_b64 in revealed, "the search would see a revealed key"
    await pilot.press("y")  # copies the ciphertext blob, never the plaintext
    await pilot.press("v")
    evidence.shoot("data key hidden again")
    await pilot.press("x")
    await wait_until(pilot, lambda: not screen.plaintext_field.has_secret, "the key cleared")
    evidence.shoot("data key cleared")
    return plaintext


async def test_embedded_session_leaves_no_secret_behind(
    isolated_dirs: Path,
    monkeypatch: pytest.MonkeyPatch,
    captured_logs: Captured,
    open_umask: None,
) -> None:
    backups = isolated_dirs / "backups"
    backup_kek = os.urandom(32)
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_DIR", str(backups))
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_KEK", base64.b64encode(backup_kek).decode())
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_KEK_ID", "session-kek")
    settings = Settings()
    connection = resolve_connection(settings)
    app = build_app(connection, settings, clock=fixed_clock)
    evidence = Evidence(app)
    materials: dict[str, bytes] = {}
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        admin = await app.context.admin()
        buckets = await app.context.buckets()
        server: EmbeddedServer = app.context.embedded_server
        for name in ("session-key", "doomed-key"):
            await admin.create_key(description=f"{name} for the leak search", name=name)
        await buckets.create_bucket("session-bucket")
        await buckets.put_bucket_encryption(
            "session-bucket", algorithm=SSE_KMS, kms_key_id="session-key"
        )
        await admin.create_backup("session-backup")

        plaintext = await data_key_on_screen(pilot, evidence, "session")
        data_key = await admin.generate_data_key("session-key", encryption_context={"a": "b"})
        decrypted = await admin.decrypt(data_key.ciphertext_blob, encryption_context={"a": "b"})
        assert decrypted.plaintext == data_key.plaintext

        # Failures, each of which must say what went wrong without repeating a secret.
        async with KmsAdminClient(
            server.endpoint, server.access_key, WRONG_SECRET_KEY, retries=0
        ) as intruder:
            await evidence.expect_error(KmsAccessDenied, intruder.list_keys())
        async with BucketEncryptionClient(
            server.endpoint, server.access_key, WRONG_SECRET_KEY, retries=0
        ) as intruder_s3:
            await evidence.expect_error(KmsAccessDenied, intruder_s3.list_buckets())
        key_dir = paths.data_dir() / "keys"
        await evidence.expect_error(
            KmsError,
            admin.reconfigure(LocalConfig(key_dir=str(key_dir), master_key=WRONG_MASTER_KEY)),
        )
        vault = VaultKv2Config(
            address="https://vault.example.com:8200", auth_method=VaultTokenAuth(VAULT_TOKEN)
        )
        await evidence.expect_error(KmsError, admin.configure(vault))
        approle = VaultKv2Config(
            address="https://vault.example.com:8200",
            auth_method=VaultAppRoleAuth("role-1", secret_id=APPROLE_SECRET_ID),
        )
        await evidence.expect_error(KmsError, admin.reconfigure(approle))
        await evidence.expect_error(
            ValueError, admin.schedule_key_deletion("doomed-key", pending_window_in_days=3)
        )
        await admin.schedule_key_deletion("doomed-key", pending_window_in_days=7)
        await evidence.expect_error(KmsError, admin.generate_data_key("doomed-key"))
        await evidence.expect_error(KmsError, admin.describe_key("no-such-key"))

        await visit_every_screen(pilot, evidence)
        server_log = server.log_file

    master_key = master_key_path().read_text(encoding="utf-8").strip()
    # The server ran in its own process: read the keys' material back from its directory.
    store = LocalKeyStore(paths.data_dir() / "keys", master_key)
    store.open()
    for key_id in ("session-key", "doomed-key"):
        materials[key_id] = store.get(key_id).material
    store.close()
    secrets: dict[str, str | bytes] = {
        "session secret key": connection.secret_key,
        "master key": master_key,
        "data key (screen)": plaintext,
        "data key (client)": data_key.plaintext,
        "wrong secret key": WRONG_SECRET_KEY,
        "refused master key": WRONG_MASTER_KEY,
        "vault token": VAULT_TOKEN,
        "approle secret id": APPROLE_SECRET_ID,
        "backup kek": backup_kek,
        **{f"key material {key_id}": material for key_id, material in materials.items()},
    }
    server_config = paths.data_dir() / "server" / CONFIG_FILE
    allowed = {master_key_path(): {"master key"}, server_config: {"master key"}}
    roots = [isolated_dirs / name for name in ("config", "data", "state", "cache")] + [backups]

    # The search works: the files meant to hold the master key do, the logs are not empty.
    assert master_key in server_config.read_text(encoding="utf-8")
    assert server_log.stat().st_size > 0 and server_log.is_relative_to(isolated_dirs)
    assert app.context.activity.path.stat().st_size > 0
    assert any(backups.iterdir())
    assert captured_logs.lines

    assert scan_files(roots, secrets, allowed=allowed) == []
    for name, text in evidence.texts().items():
        assert leaked_in_text(text, secrets) == [], name
    for line in captured_logs.lines:
        assert leaked_in_text(line, secrets) == [], line

    # Made under umask 0: each secret file is 0600 and each directory holding one 0700.
    assert mode_of(master_key_path()) == 0o600
    assert mode_of(server_config) == 0o600
    for directory in (
        paths.config_dir(),
        paths.data_dir() / "server",
        paths.data_dir() / "keys",
        paths.state_dir(),
        backups,
    ):
        assert wrong_modes(directory) == [], directory


async def test_vault_secrets_typed_in_the_form_stay_in_the_server_config_file(
    tmp_path: Path, captured_logs: Captured
) -> None:
    server = EmbeddedServer(tmp_path / "server", log_file=tmp_path / "logs" / "server.log")
    server.start()
    try:
        connection = Connection(
            name="vault-test",
            endpoint=server.endpoint,
            region="us-east-1",
            access_key=server.access_key,
            secret_key=server.secret_key,
            timeout_seconds=10.0,
        )
        app = build_app(connection, Settings(), clock=fixed_clock)
        evidence = Evidence(app)
        async with app.run_test(size=APP_SIZE) as pilot:
            screen = await open_service(pilot)

            async def configure(auth: str, fields: dict[str, str], shot: str) -> None:
                dialog = await open_configure(pilot)
                dialog.query_one("#configure-backend", Select).value = "VaultKV2"
                await pilot.pause()
                dialog.query_one("#configure-auth", Select).value = auth
                await pilot.pause()
                for name, value in fields.items():
                    dialog.query_one(f"#{field_dom_id(name)}", Input).value = value
                await pilot.pause()
                evidence.shoot(shot)
                await pilot.press("ctrl+s")
                await wait_until(pilot, lambda: app.screen is screen, "the form to close")

            address = {"address": "https://vault.example.com:8200"}
            await configure(
                "Token", {**address, "auth_method.token": FORM_VAULT_TOKEN}, "token form"
            )
            await wait_until(pilot, lambda: screen.badge_text == "Configured", "Configured")
            config_file = server.data_dir / CONFIG_FILE
            assert FORM_VAULT_TOKEN in config_file.read_text(encoding="utf-8")
            assert mode_of(config_file) == 0o600

            await pilot.press("s")  # Vault cannot run here: the start fails with a message
            await wait_until(pilot, lambda: screen.badge_text.startswith("Error"), "Error badge")
            evidence.shoot("service after failed start")
            await configure(
                "AppRole",
                {
                    **address,
                    "auth_method.role_id": "role-1",
                    "auth_method.secret_id": FORM_SECRET_ID,
                },
                "approle form",
            )
            await wait_until(pilot, lambda: screen.badge_text == "Configured", "Configured")
            evidence.shoot("service with approle")
            assert app.service_status is not None
            assert FORM_SECRET_ID not in repr(app.service_status)
            await visit_every_screen(pilot, evidence)
    finally:
        server.stop()

    secrets: dict[str, str | bytes] = {
        "vault token": FORM_VAULT_TOKEN,
        "approle secret id": FORM_SECRET_ID,
    }
    # The replaced token is gone from disk; the secret id is only in the server's 0600 config.
    config_file = server.data_dir / CONFIG_FILE
    assert FORM_SECRET_ID in config_file.read_text(encoding="utf-8")
    assert mode_of(config_file) == 0o600
    allowed = {config_file: {"approle secret id"}}
    roots = [tmp_path, paths.config_dir().parent, paths.state_dir().parent]
    assert scan_files(roots, secrets, allowed=allowed) == []
    for name, text in evidence.texts().items():
        assert leaked_in_text(text, secrets) == [], name
    for line in captured_logs.lines:
        assert leaked_in_text(line, secrets) == [], line
