"""Secrets never show in ``repr()``/``str()`` of the objects that hold them, nor in error messages.

Secret values are generated (quotes, backslashes, newlines, non-ASCII) behind a marker no
other text contains, so a secret shown whole, escaped, base64-encoded or cut short is caught.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.auth import SigV4Auth
from kms_tui.api.backends import (
    LocalConfig,
    VaultAppRoleAuth,
    VaultKv2Config,
    VaultTokenAuth,
    VaultTransitConfig,
)
from kms_tui.api.buckets import BucketEncryptionClient
from kms_tui.api.models import DataKey, DecryptedDataKey
from kms_tui.bootstrap import BootstrapError, bootstrap_embedded
from kms_tui.embedded.backup import BackupEnv
from kms_tui.embedded.config import parse_configure_document
from kms_tui.embedded.keyrecord import KeyRecord, MasterKeyError
from kms_tui.embedded.keystore import LocalKeyStore
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.settings import Connection, Profile, Settings, SettingsError, resolve_connection
from kms_tui.settings_reader import load_settings
from kms_tui.tui.activity import ActivityLog
from kms_tui.tui.context import AppContext
from tests.security.leaks import leaked_in_text, text_forms

MARKER = "ZqX7secret"
EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

secret_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=24
).map(lambda tail: f"{MARKER}{tail}")
secret_bytes = st.binary(min_size=16, max_size=32)


def assert_hidden(shown: str, **secrets: str | bytes) -> None:
    """No secret, no escaped or encoded form of one, and not even the marker, is in ``shown``."""
    assert MARKER not in shown, shown
    assert leaked_in_text(shown, secrets) == [], shown
    for secret in secrets.values():
        for form in text_forms(secret):
            assert form not in shown


def views(value: object) -> str:
    """Everything a log line, a traceback or a debugger would print of ``value``."""
    return f"{value!r}\n{value!s}\n{value}"


# --- settings and connections ------------------------------------------------------------------


@EXAMPLES
@given(secret=secret_text, token=secret_text)
def test_connection_profile_and_settings(secret: str, token: str) -> None:
    connection = Connection(
        name="prod",
        endpoint="https://rustfs.example.com",
        region="us-east-1",
        access_key="AKIAPROD",
        secret_key=secret,
        session_token=token,
    )
    profile = Profile(
        name="prod", endpoint="https://rustfs.example.com", access_key="AKIAPROD", secret_key=secret
    )
    settings_ = Settings(profiles={"prod": profile}, default_profile="prod")
    for holder in (connection, profile, settings_):
        assert_hidden(views(holder), secret=secret, token=token)
    assert "AKIAPROD" in repr(connection)  # the access key is not secret: the view is real


@EXAMPLES
@given(password=st.text(alphabet="ab:/?#@%+ 9", min_size=1, max_size=12))
def test_endpoint_with_credentials_is_refused_without_echoing_them(password: str) -> None:
    secret = f"{MARKER}{password}"
    environ = {"RUSTFS_ACCESS_KEY": "ak", "RUSTFS_SECRET_KEY": "sk"}
    for endpoint in (
        f"http://admin:{secret}@127.0.0.1:9000",
        f"https://admin:{secret}@rustfs.example.com/",
        f"https://{secret}@rustfs.example.com:9x",
    ):
        with pytest.raises(SettingsError) as caught:
            resolve_connection(Settings(), endpoint=endpoint, environ=environ)
        assert_hidden(views(caught.value), secret=secret)
        assert "credentials" in str(caught.value)


def test_profile_endpoint_with_credentials_is_refused_without_echoing_them(
    tmp_path: Path,
) -> None:
    secret = f"{MARKER}pass/word"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[profiles.lab]\nendpoint = "https://u:{secret}@h"\naccess_key = "a"\n'
        'secret_key_env = "S"\n'
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert_hidden(views(caught.value), secret=secret)


@pytest.mark.parametrize(
    "body",
    [
        # The secret in a file readable by others.
        '[profiles.lab]\nendpoint = "http://h"\naccess_key = "a"\nsecret_key = "{secret}"\n',
        # Broken TOML on the secret's own line.
        '[profiles.lab]\nendpoint = "http://h"\naccess_key = "a"\nsecret_key = "{secret}\n',
        # The secret where a number belongs.
        'poll_interval_seconds = "{secret}"\n',
        # Both secret sources at once.
        '[profiles.lab]\nendpoint = "http://h"\naccess_key = "a"\nsecret_key = "{secret}"\n'
        'secret_key_env = "S"\n',
        # The secret as an unknown key's value.
        '[profiles.lab]\nendpoint = "http://h"\naccess_key = "a"\nsecret = "{secret}"\n',
    ],
)
def test_config_errors_never_quote_the_secret(tmp_path: Path, body: str) -> None:
    secret = f"{MARKER}-inline-0123456789"
    config = tmp_path / "config.toml"
    config.write_text(body.replace("{secret}", secret))
    os.chmod(config, 0o644)
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert_hidden(views(caught.value), secret=secret)
    assert str(config) in str(caught.value)


def test_missing_secret_variable_names_the_variable_not_a_value(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[profiles.lab]\nendpoint = "http://h"\naccess_key = "a"\nsecret_key_env = "LAB_SECRET"\n'
    )
    settings_ = load_settings(config)
    with pytest.raises(SettingsError, match="LAB_SECRET"):
        resolve_connection(settings_, profile="lab", environ={})


# --- backend configurations ---------------------------------------------------------------------


@EXAMPLES
@given(master_key=secret_text, token=secret_text, secret_id=secret_text)
def test_backend_configs(master_key: str, token: str, secret_id: str) -> None:
    local = LocalConfig(key_dir="/var/lib/kms", master_key=master_key)
    token_auth = VaultTokenAuth(token)
    approle = VaultAppRoleAuth("role-1", secret_id=secret_id)
    kv2 = VaultKv2Config(address="https://vault:8200", auth_method=token_auth)
    transit = VaultTransitConfig(address="https://vault:8200", auth_method=approle)
    for holder in (local, token_auth, approle, kv2, transit):
        assert_hidden(views(holder), master_key=master_key, token=token, secret_id=secret_id)
    # The validation messages are about the fields, never their values.
    for config in (local, kv2, transit):
        for problem in config.validate():
            assert_hidden(views(problem), master_key=master_key, token=token, secret_id=secret_id)
    # The server's parsed form of the same requests keeps the secrets out of repr as well.
    for config in (local, kv2, transit):
        parsed = parse_configure_document(config.to_wire())
        assert_hidden(views(parsed), master_key=master_key, token=token, secret_id=secret_id)
        assert_hidden(
            repr(parsed.sanitized()), master_key=master_key, token=token, secret_id=secret_id
        )
        assert_hidden(
            repr(parsed.config_summary()), master_key=master_key, token=token, secret_id=secret_id
        )


# --- data keys and key material -----------------------------------------------------------------


@EXAMPLES
@given(plaintext=secret_bytes, material=secret_bytes)
def test_data_keys_and_key_records(plaintext: bytes, material: bytes) -> None:
    wire = {
        "key_id": "k1",
        "plaintext_key": base64.b64encode(plaintext).decode(),
        "ciphertext_blob": base64.b64encode(b"not secret").decode(),
    }
    data_key = DataKey.from_wire(wire)
    decrypted = DecryptedDataKey.from_wire({"key_id": "k1", "plaintext": wire["plaintext_key"]})
    assert data_key.plaintext == decrypted.plaintext == plaintext
    record = KeyRecord(key_id="k1", material=material)
    for holder in (data_key, decrypted, record):
        assert_hidden(views(holder), plaintext=plaintext, material=material)


# --- clients, servers, stores, logs -------------------------------------------------------------


@EXAMPLES
@given(secret=secret_text, token=secret_text)
def test_clients_and_signer(secret: str, token: str) -> None:
    admin = KmsAdminClient("http://127.0.0.1:9", "ak", secret, session_token=token)
    buckets = BucketEncryptionClient("http://127.0.0.1:9", "ak", secret, session_token=token)
    signer = SigV4Auth("ak", secret, session_token=token)
    for holder in (admin, buckets, signer):
        assert_hidden(views(holder), secret=secret, token=token)


def test_server_store_backup_env_activity_and_context(tmp_path: Path) -> None:
    secret = f"{MARKER}-server-secret"
    master_key = f"{MARKER}-master-key"
    kek = os.urandom(32)
    server = EmbeddedServer(tmp_path / "server", secret_key=secret, log_file=tmp_path / "s.log")
    store = LocalKeyStore(tmp_path / "keys", master_key)
    backup_env = BackupEnv(tmp_path / "backups", "kek-1", 1, kek)
    activity = ActivityLog(tmp_path / "activity.jsonl", write=False)
    connection = Connection(
        name="embedded", endpoint=None, region="us-east-1", access_key="ak", secret_key=secret
    )
    context = AppContext(connection, Settings(), activity)
    for holder in (server, store, backup_env, activity, context):
        assert_hidden(views(holder), secret=secret, master_key=master_key, kek=kek)
    assert server.secret_key == secret


def test_activity_log_redacts_registered_secrets_in_every_field(tmp_path: Path) -> None:
    secret = f"{MARKER}-session-secret"
    activity = ActivityLog(tmp_path / "activity.jsonl")
    connection = Connection(
        name="p", endpoint="http://h", region="us-east-1", access_key="ak", secret_key=secret
    )
    AppContext(connection, Settings(), activity)  # registers the session's secret
    entry = activity.record(
        f"act {secret}", f"target {secret}", False, message=f"failed: {secret}", request_id=secret
    )
    assert_hidden(views(entry), secret=secret)
    assert_hidden(repr(activity.entries), secret=secret)
    assert_hidden((tmp_path / "activity.jsonl").read_text(), secret=secret)
    assert "***" in entry.message


# --- error messages -----------------------------------------------------------------------------


def test_wrong_master_key_error_does_not_name_either_key(tmp_path: Path) -> None:
    right = f"{MARKER}-right-master-key"
    wrong = f"{MARKER}-wrong-master-key"
    store = LocalKeyStore(tmp_path / "keys", right)
    store.open()
    store.create(
        KeyRecord(key_id="k1", material=os.urandom(32), created_at="2026-01-01T00:00:00+00:00[UTC]")
    )
    store.close()
    with pytest.raises(MasterKeyError) as caught:
        LocalKeyStore(tmp_path / "keys", wrong).open()
    assert_hidden(views(caught.value), right=right, wrong=wrong)


async def test_bootstrap_refusals_do_not_quote_the_master_key(tmp_path: Path) -> None:
    key_file = tmp_path / "config" / "embedded-master-key"
    key_file.parent.mkdir(mode=0o700)
    master_key = f"{MARKER}-bootstrap-master-key"
    key_file.write_text(master_key + "\n")
    os.chmod(key_file, 0o644)
    server = EmbeddedServer(tmp_path / "server", log_file=tmp_path / "server.log")
    server.start()
    try:
        async with KmsAdminClient(
            server.endpoint, server.access_key, server.secret_key, retries=0
        ) as admin:
            with pytest.raises(BootstrapError) as caught:
                await bootstrap_embedded(admin, key_dir=tmp_path / "keys", key_file=key_file)
    finally:
        server.stop()
    assert "chmod 600" in str(caught.value)
    assert_hidden(views(caught.value), master_key=master_key)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o644  # refused, not silently changed


def test_views_helper_sees_a_leak() -> None:
    """The checks above would fail on a leak: a holder that shows its secret is caught."""
    secret = f"{MARKER}-shown"

    class Careless:
        def __repr__(self) -> str:
            return f"Careless(secret={base64.b64encode(secret.encode()).decode()!r})"

    with pytest.raises(AssertionError):
        assert_hidden(views(Careless()), secret=secret)
    with pytest.raises(AssertionError):
        assert_hidden(f"cut short: {secret[:12]}", secret=secret)
