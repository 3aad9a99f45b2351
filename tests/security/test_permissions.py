"""Files that hold secrets are 0600 and their directories 0700, even under ``umask 0``.

Also: a config file holding a secret key is refused when anyone else could read it (or it is
someone else's file), with a message that says how to fix it and does not repeat the secret.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kms_tui import paths
from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.backends import LocalConfig
from kms_tui.api.buckets import SSE_KMS, BucketEncryptionClient
from kms_tui.bootstrap import bootstrap_embedded, master_key_path
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.settings import SettingsError
from kms_tui.settings_reader import load_settings
from kms_tui.tui.activity import ActivityLog
from tests.security.leaks import mode_of, wrong_modes

INLINE_SECRET = "inline-secret-key-9f8e7d6c5b4a"
PROFILE_WITH_SECRET = (
    "[profiles.lab]\n"
    'endpoint = "http://127.0.0.1:9000"\n'
    'access_key = "lab-admin"\n'
    f'secret_key = "{INLINE_SECRET}"\n'
)
PROFILE_WITH_ENV = (
    '[profiles.lab]\nendpoint = "http://127.0.0.1:9000"\naccess_key = "lab-admin"\n'
    'secret_key_env = "LAB_SECRET"\n'
)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """``umask 0``: anything created without an explicit mode would be world-writable."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


# --- the private-file helpers -------------------------------------------------------------------


def test_private_dir_and_every_missing_parent_are_0700(tmp_path: Path, open_umask: None) -> None:
    os.chmod(tmp_path, 0o755)
    target = tmp_path / "home" / ".local" / "share" / "kms-tui"
    paths.ensure_private_dir(target)
    for directory in (target, *list(target.parents)[:3]):
        assert mode_of(directory) == 0o700, directory
    assert mode_of(tmp_path) == 0o755  # an existing parent is not the helper's to change


def test_private_file_and_its_missing_parents(tmp_path: Path, open_umask: None) -> None:
    target = tmp_path / "a" / "b" / "secret"
    paths.write_private_file(target, b"s3cr3t")
    assert mode_of(target) == 0o600
    assert mode_of(tmp_path / "a") == mode_of(tmp_path / "a" / "b") == 0o700


def test_activity_log_is_private_and_narrows_a_widened_file(
    tmp_path: Path, open_umask: None
) -> None:
    log_path = tmp_path / "state" / "kms-tui" / "activity.jsonl"
    activity = ActivityLog(log_path)
    activity.record("create key", "k1", True, message="created")
    assert mode_of(log_path) == 0o600
    assert wrong_modes(tmp_path / "state") == []
    os.chmod(log_path, 0o666)
    activity.record("create key", "k2", True, message="created")
    assert mode_of(log_path) == 0o600
    assert len(ActivityLog.read_file(log_path)) == 2


# --- the config file ----------------------------------------------------------------------------


def write_config(directory: Path, body: str, mode: int) -> Path:
    config = directory / "config.toml"
    config.write_text(body)
    os.chmod(config, mode)
    return config


@pytest.mark.parametrize(
    "mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o620, 0o602, 0o610, 0o601, 0o777]
)
def test_config_with_a_secret_and_wider_permissions_is_refused(tmp_path: Path, mode: int) -> None:
    config = write_config(tmp_path, PROFILE_WITH_SECRET, mode)
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert f"chmod 600 {config}" in message
    assert f"{mode:04o}" in message
    assert "secret_key_env" in message
    assert INLINE_SECRET not in message and INLINE_SECRET not in repr(caught.value)


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_config_with_a_secret_readable_only_by_its_owner_is_accepted(
    tmp_path: Path, mode: int
) -> None:
    settings = load_settings(write_config(tmp_path, PROFILE_WITH_SECRET, mode))
    assert settings.profiles["lab"].secret_key == INLINE_SECRET


def test_config_with_a_secret_owned_by_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, PROFILE_WITH_SECRET, 0o600)
    if os.getuid() == 0:
        os.chown(config, 65534, 65534)  # nobody: a real foreign owner
    else:
        # Without root no file can be given away; the loader is made to be someone else.
        foreign_uid = config.stat().st_uid + 1
        monkeypatch.setattr(os, "getuid", lambda: foreign_uid)
    with pytest.raises(SettingsError, match="owned by another user") as caught:
        load_settings(config)
    assert INLINE_SECRET not in str(caught.value)


def test_config_without_a_secret_may_be_readable_by_others(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, PROFILE_WITH_ENV, 0o644))
    assert settings.profiles["lab"].secret_key_env == "LAB_SECRET"


# --- the embedded server and the bootstrap ------------------------------------------------------


async def run_server_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Drive a server through every write it makes; returns where it was told to write."""
    where = {
        "data": tmp_path / "data" / "server",
        "keys": tmp_path / "keys" / "kms",
        "log": tmp_path / "state" / "logs" / "embedded-server.log",
        "backups": tmp_path / "backups" / "kms",
    }
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_DIR", str(where["backups"]))
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_KEK", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_KEK_ID", "kek-1")
    server = EmbeddedServer(where["data"], log_file=where["log"], sweep_interval=3600.0)
    server.start()
    try:
        async with KmsAdminClient(
            server.endpoint, server.access_key, server.secret_key, retries=0
        ) as admin:
            config = LocalConfig(
                key_dir=str(where["keys"]),
                master_key="permissions-test-master-key",
                allow_insecure_dev_defaults=True,
            )
            assert (await admin.configure(config)).success
            assert (await admin.start()).success
            for name in ("perm-a", "perm-b"):
                await admin.create_key(description="permissions", name=name)
            await admin.generate_data_key("perm-a")
            await admin.schedule_key_deletion("perm-b", pending_window_in_days=7)
            await admin.create_backup("perm-backup")
        async with BucketEncryptionClient(
            server.endpoint, server.access_key, server.secret_key, retries=0
        ) as buckets:
            await buckets.create_bucket("perm-bucket")
            await buckets.put_bucket_encryption(
                "perm-bucket", algorithm=SSE_KMS, kms_key_id="perm-a"
            )
    finally:
        server.stop()
    assert any(where["keys"].glob("*.key")), "the key files were written"
    assert any(where["backups"].glob("*")), "the backup bundle was written"
    assert where["log"].stat().st_size > 0
    return where


async def test_server_files_are_private_under_open_umask(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = await run_server_session(tmp_path, monkeypatch)
    # The directories the server was given, and everything in them: keys, salt, state,
    # buckets, lock, log, backup bundle.
    for root in (where["data"], where["keys"], where["log"].parent, where["backups"]):
        assert wrong_modes(root) == [], root
    assert mode_of(where["log"]) == 0o600


async def test_missing_parents_of_server_dirs_are_private_under_open_umask(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = await run_server_session(tmp_path, monkeypatch)
    created = [where[name].parent for name in ("data", "keys", "backups")]
    created.append(where["log"].parent.parent)
    assert [(path, f"{mode_of(path):04o}") for path in created if mode_of(path) != 0o700] == []


async def test_bootstrap_master_key_and_key_dir_under_open_umask(open_umask: None) -> None:
    key_dir = paths.data_dir() / "keys"
    server = EmbeddedServer(
        paths.state_dir() / "server-data", log_file=paths.state_dir() / "server.log"
    )
    server.start()
    try:
        async with KmsAdminClient(
            server.endpoint, server.access_key, server.secret_key, retries=0
        ) as admin:
            result = await bootstrap_embedded(admin, key_dir=key_dir)
            assert result.created_master_key
            await admin.create_key(name="after-bootstrap")
    finally:
        server.stop()
    key_file = master_key_path()
    assert mode_of(key_file) == 0o600
    assert wrong_modes(key_file.parent) == []
    # The bootstrap made <data>/kms-tui/keys: both levels are private.
    assert any(key_dir.glob("*.key"))
    assert wrong_modes(paths.data_dir()) == []


def test_private_dir_without_narrowing_makes_every_missing_level_0700(
    tmp_path: Path, open_umask: None
) -> None:
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)
    target = existing / "a" / "b" / "c"
    assert paths.ensure_private_dir(target, narrow=False) == target
    assert [mode_of(p) for p in (existing / "a", existing / "a" / "b", target)] == [0o700] * 3
    assert mode_of(existing) == 0o755  # what was there before is not the server's to change
    target.chmod(0o755)
    paths.ensure_private_dir(target, narrow=False)  # again: nothing to create, nothing changed
    assert mode_of(target) == 0o755
