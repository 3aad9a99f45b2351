"""Strict config loading and the rules that choose a connection."""

from __future__ import annotations

import dataclasses
import os
import textwrap
from pathlib import Path

import pytest

from kms_tui import paths
from kms_tui.settings import Connection, Profile, Settings, SettingsError, resolve_connection
from kms_tui.settings_reader import load_settings

SECRET = "wJalrXUtnFEMI-very-secret-value"

PROD = """
default_profile = "prod"
poll_interval_seconds = 1.5
request_timeout_seconds = 12

[keymap]
"keys.create" = "n"
"app.quit" = "q,ctrl+q"

[profiles.prod]
endpoint = "https://rustfs.example.com:9000/"
region = "eu-central-1"
access_key = "admin"
secret_key_env = "PROD_RUSTFS_SECRET"
session_token_env = "PROD_TOKEN"
read_only = true
timeout_seconds = 5

[profiles.lab]
endpoint = "http://127.0.0.1:9000"
access_key = "lab"
secret_key_env = "LAB_SECRET"
"""


def write_config(directory: Path, body: str, mode: int = 0o600, name: str = "c.toml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(body))
    os.chmod(path, mode)
    return path


def profile_with(extra: str, *, secret: str = 'secret_key_env = "LAB_SECRET"') -> str:
    return f"""
[profiles.lab]
endpoint = "http://127.0.0.1:9000"
access_key = "lab"
{secret}
{extra}
"""


# ---------------------------------------------------------------------------------------------
# Loading


def test_missing_file_gives_defaults() -> None:
    settings = load_settings()
    assert settings == Settings()
    assert settings.source is None
    assert settings.profiles == {}
    assert settings.default_profile is None
    assert settings.poll_interval_seconds == 2.0
    assert settings.request_timeout_seconds == 30.0


def test_full_file_is_read(tmp_path: Path) -> None:
    path = write_config(tmp_path, PROD)
    settings = load_settings(path)
    assert settings.source == path
    assert settings.default_profile == "prod"
    assert settings.poll_interval_seconds == 1.5
    assert settings.request_timeout_seconds == 12.0
    assert dict(settings.keymap) == {"keys.create": "n", "app.quit": "q,ctrl+q"}
    prod = settings.profiles["prod"]
    assert prod == Profile(
        name="prod",
        endpoint="https://rustfs.example.com:9000",
        access_key="admin",
        region="eu-central-1",
        secret_key_env="PROD_RUSTFS_SECRET",
        session_token_env="PROD_TOKEN",
        read_only=True,
        timeout_seconds=5.0,
    )
    lab = settings.profiles["lab"]
    assert (lab.region, lab.read_only, lab.verify_tls, lab.ca_bundle, lab.timeout_seconds) == (
        "us-east-1",
        False,
        True,
        None,
        None,
    )


def test_settings_and_profiles_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, PROD))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.default_profile = "lab"  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.profiles["x"] = settings.profiles["lab"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.profiles["lab"].read_only = True  # type: ignore[misc]


def test_default_location_is_used(isolated_dirs: Path) -> None:
    paths.config_dir().mkdir(parents=True)
    write_config(paths.config_dir(), PROD, name="config.toml")
    assert load_settings().source == paths.config_dir() / "config.toml"


def test_kms_tui_config_overrides_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, PROD, name="custom.toml")
    monkeypatch.setenv("KMS_TUI_CONFIG", str(path))
    assert load_settings().source == path
    assert load_settings(environ={"KMS_TUI_CONFIG": str(path)}).source == path


def test_explicit_path_beats_kms_tui_config(tmp_path: Path) -> None:
    wanted = write_config(tmp_path, PROD, name="wanted.toml")
    other = write_config(tmp_path, "poll_interval_seconds = 9\n", name="other.toml")
    settings = load_settings(wanted, environ={"KMS_TUI_CONFIG": str(other)})
    assert settings.source == wanted


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "poll_interval_seconds = 2\n[profiles.lab\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)
    assert "line 2" in str(caught.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="directory"):
        load_settings(tmp_path)


# -- strictness -------------------------------------------------------------------------------


def test_unknown_top_level_key_names_file_table_key_and_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'default_profile = "lab"\npoll_interval = 3\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert str(path) in message
    assert "'poll_interval'" in message
    assert "top-level table" in message
    assert "line 2" in message


def test_unknown_profile_key_names_file_table_key_and_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, profile_with("verify_ssl = false"))
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert str(path) in message
    assert "[profiles.lab]" in message
    assert "'verify_ssl'" in message
    assert "line 6" in message
    assert "verify_tls" in message  # the allowed keys are listed


def test_unknown_key_in_second_profile_points_at_its_own_line(tmp_path: Path) -> None:
    body = PROD + '\n[profiles.spare]\nendpoint = "http://h"\naccess_key = "a"\nbogus = 1\n'
    path = write_config(tmp_path, body)
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    expected_line = textwrap.dedent(body).splitlines().index("bogus = 1") + 1
    assert f"line {expected_line}" in str(caught.value)
    assert "[profiles.spare]" in str(caught.value)


def test_unknown_table_is_an_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[colours]\nbackground = 'red'\n")
    with pytest.raises(SettingsError, match=r"'colours'.*unknown key"):
        load_settings(path)


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        ("poll_interval_seconds = 'fast'", "poll_interval_seconds", "number"),
        ("poll_interval_seconds = 0", "poll_interval_seconds", "greater than 0"),
        ("request_timeout_seconds = -1.0", "request_timeout_seconds", "greater than 0"),
        ("request_timeout_seconds = true", "request_timeout_seconds", "number"),
        ("poll_interval_seconds = inf", "poll_interval_seconds", "finite"),
        ("default_profile = 3", "default_profile", "string"),
        ("keymap = 'n'", "keymap", "table"),
        ("profiles = 1", "profiles", "table"),
        ("[keymap]\n'keys.create' = 5", "keys.create", "string"),
    ],
)
def test_wrong_top_level_types(tmp_path: Path, body: str, key: str, fragment: str) -> None:
    path = write_config(tmp_path, body + "\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)
    assert repr(key) in str(caught.value)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "key", "fragment"),
    [
        ("read_only = 'yes'", "read_only", "true or false"),
        ("verify_tls = 1", "verify_tls", "true or false"),
        ("region = 5", "region", "string"),
        ("region = ''", "region", "empty"),
        ("timeout_seconds = 0", "timeout_seconds", "greater than 0"),
        ("timeout_seconds = '5'", "timeout_seconds", "number"),
        ("session_token_env = ['A']", "session_token_env", "string"),
        ("ca_bundle = 'missing-ca.pem'", "ca_bundle", "no such file"),
    ],
)
def test_wrong_profile_values(tmp_path: Path, extra: str, key: str, fragment: str) -> None:
    path = write_config(tmp_path, profile_with(extra))
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert str(path) in message
    assert "[profiles.lab]" in message
    assert repr(key) in message
    assert fragment in message


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        ("rustfs.example.com:9000", "http:// or https://"),
        ("ftp://rustfs.example.com", "http:// or https://"),
        ("https://", "host"),
        ("https://h:99999", "port"),
        ("https://h/?x=1", "query"),
        ("https://user:pw@h", "credentials"),
    ],
)
def test_bad_endpoints(tmp_path: Path, endpoint: str, fragment: str) -> None:
    body = f'[profiles.lab]\nendpoint = "{endpoint}"\naccess_key = "a"\nsecret_key_env = "S"\n'
    with pytest.raises(SettingsError, match=fragment) as caught:
        load_settings(write_config(tmp_path, body))
    assert "'endpoint'" in str(caught.value)


def test_missing_required_keys(tmp_path: Path) -> None:
    no_endpoint = '[profiles.lab]\naccess_key = "a"\nsecret_key_env = "S"\n'
    with pytest.raises(SettingsError, match="'endpoint'") as caught:
        load_settings(write_config(tmp_path, no_endpoint))
    assert "line 1" in str(caught.value)  # points at the table header
    no_access = '[profiles.lab]\nendpoint = "http://h"\nsecret_key_env = "S"\n'
    with pytest.raises(SettingsError, match="'access_key'"):
        load_settings(write_config(tmp_path, no_access))
    no_secret = '[profiles.lab]\nendpoint = "http://h"\naccess_key = "a"\n'
    with pytest.raises(SettingsError, match="secret_key_env"):
        load_settings(write_config(tmp_path, no_secret))


def test_both_secret_sources_is_an_error(tmp_path: Path) -> None:
    body = profile_with(f'secret_key = "{SECRET}"')
    with pytest.raises(SettingsError, match="not both") as caught:
        load_settings(write_config(tmp_path, body))
    assert SECRET not in str(caught.value)


def test_default_profile_must_exist(tmp_path: Path) -> None:
    body = 'default_profile = "nope"\n' + profile_with("")
    with pytest.raises(SettingsError, match=r"'nope'.*known: lab"):
        load_settings(write_config(tmp_path, body))


@pytest.mark.parametrize("name", ["embedded", "has space", "slash/name"])
def test_reserved_or_odd_profile_names(tmp_path: Path, name: str) -> None:
    body = f'[profiles."{name}"]\nendpoint = "http://h"\naccess_key = "a"\nsecret_key_env = "S"\n'
    with pytest.raises(SettingsError, match="profiles"):
        load_settings(write_config(tmp_path, body))


def test_profile_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"'lab'.*table"):
        load_settings(write_config(tmp_path, "[profiles]\nlab = 'http://h'\n"))


def test_ca_bundle_relative_to_config_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    settings = load_settings(write_config(tmp_path, profile_with("ca_bundle = 'ca.pem'")))
    assert settings.profiles["lab"].ca_bundle == tmp_path / "ca.pem"


def test_ca_bundle_with_verify_off_is_contradictory(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("pem")
    body = profile_with("ca_bundle = 'ca.pem'\nverify_tls = false")
    with pytest.raises(SettingsError, match="verify_tls"):
        load_settings(write_config(tmp_path, body))


# -- secrets and permissions --------------------------------------------------------------------


def test_inline_secret_in_world_readable_file_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, profile_with("", secret=f'secret_key = "{SECRET}"'), 0o644)
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"chmod 600 {path}" in message
    assert "secret_key_env" in message
    assert SECRET not in message


def test_inline_secret_in_group_readable_file_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, profile_with("", secret=f'secret_key = "{SECRET}"'), 0o640)
    with pytest.raises(SettingsError, match="chmod 600"):
        load_settings(path)


def test_inline_secret_in_private_file_is_accepted(tmp_path: Path) -> None:
    path = write_config(tmp_path, profile_with("", secret=f'secret_key = "{SECRET}"'), 0o600)
    profile = load_settings(path).profiles["lab"]
    assert profile.secret_key == SECRET
    assert profile.secret_key_env is None
    assert SECRET not in repr(profile)
    assert SECRET not in str(profile)


def test_env_secret_in_world_readable_file_is_accepted(tmp_path: Path) -> None:
    path = write_config(tmp_path, PROD, 0o644)
    assert load_settings(path).profiles["prod"].secret_key_env == "PROD_RUSTFS_SECRET"


def test_wrongly_typed_secret_is_not_quoted(tmp_path: Path) -> None:
    path = write_config(tmp_path, profile_with("", secret="secret_key = 918273645546372819"))
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert "918273645546372819" not in str(caught.value)
    assert "'secret_key'" in str(caught.value)


# ---------------------------------------------------------------------------------------------
# Choosing the connection

PROD_ENV = {"PROD_RUSTFS_SECRET": SECRET, "PROD_TOKEN": "session-token-value", "LAB_SECRET": "ls"}


def test_no_profile_and_no_default_is_embedded() -> None:
    connection = resolve_connection(Settings(), environ={})
    assert connection.name == "embedded"
    assert connection.is_embedded
    assert connection.endpoint is None
    assert connection.read_only is False
    assert connection.timeout_seconds == 30.0
    assert connection.access_key and connection.secret_key
    assert connection.secret_key not in repr(connection)


def test_embedded_credentials_are_fresh_each_time() -> None:
    first = resolve_connection(Settings(), environ={})
    second = resolve_connection(Settings(), environ={})
    assert first.secret_key != second.secret_key


def test_embedded_read_only_from_cli() -> None:
    assert resolve_connection(Settings(), read_only=True, environ={}).read_only is True


def test_default_profile_is_used(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, PROD))
    connection = resolve_connection(settings, environ=PROD_ENV)
    assert connection == Connection(
        name="prod",
        endpoint="https://rustfs.example.com:9000",
        region="eu-central-1",
        access_key="admin",
        secret_key=SECRET,
        session_token="session-token-value",
        read_only=True,
        verify=True,
        timeout_seconds=5.0,
    )
    assert not connection.is_embedded


def test_repr_of_connection_hides_secret_and_token(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, PROD))
    text = repr(resolve_connection(settings, environ=PROD_ENV))
    assert SECRET not in text
    assert "session-token-value" not in text
    assert "admin" in text


def test_named_profile_beats_default(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, PROD))
    connection = resolve_connection(settings, profile="lab", environ=PROD_ENV)
    assert connection.name == "lab"
    assert connection.endpoint == "http://127.0.0.1:9000"
    assert connection.secret_key == "ls"
    assert connection.session_token is None
    assert connection.read_only is False
    assert connection.timeout_seconds == 12.0  # the file's request_timeout_seconds


def test_cli_read_only_forces_read_only(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, PROD))
    assert resolve_connection(settings, profile="lab", read_only=True, environ=PROD_ENV).read_only


def test_profile_embedded_selects_embedded_server(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, PROD))
    assert resolve_connection(settings, profile="embedded", environ={}).is_embedded


def test_unknown_profile_lists_known_names(tmp_path: Path) -> None:
    path = write_config(tmp_path, PROD)
    settings = load_settings(path)
    with pytest.raises(SettingsError) as caught:
        resolve_connection(settings, profile="staging", environ=PROD_ENV)
    message = str(caught.value)
    assert "'staging'" in message
    assert "lab, prod" in message
    assert str(path) in message


def test_unknown_profile_without_config_file() -> None:
    with pytest.raises(SettingsError, match="no config file"):
        resolve_connection(Settings(), profile="prod", environ={})


def test_unset_secret_env_names_variable_and_profile(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, PROD))
    with pytest.raises(SettingsError) as caught:
        resolve_connection(settings, environ={"PROD_TOKEN": "t"})
    assert "PROD_RUSTFS_SECRET" in str(caught.value)
    assert "'prod'" in str(caught.value)


def test_unset_session_token_env_names_variable(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, PROD))
    with pytest.raises(SettingsError, match="PROD_TOKEN") as caught:
        resolve_connection(settings, environ={"PROD_RUSTFS_SECRET": SECRET})
    assert SECRET not in str(caught.value)


def test_secret_env_read_from_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(write_config(tmp_path, PROD))
    monkeypatch.setenv("LAB_SECRET", "from-os-environ")
    assert resolve_connection(settings, profile="lab").secret_key == "from-os-environ"


def test_inline_secret_profile_resolves(tmp_path: Path) -> None:
    path = write_config(tmp_path, profile_with("", secret=f'secret_key = "{SECRET}"'))
    connection = resolve_connection(load_settings(path), profile="lab", environ={})
    assert connection.secret_key == SECRET


def test_ca_bundle_becomes_verify_path(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("pem")
    settings = load_settings(write_config(tmp_path, profile_with("ca_bundle = 'ca.pem'")))
    connection = resolve_connection(settings, profile="lab", environ={"LAB_SECRET": "s"})
    assert connection.verify == str(tmp_path / "ca.pem")


def test_verify_tls_false_becomes_verify_false(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, profile_with("verify_tls = false")))
    assert resolve_connection(settings, profile="lab", environ={"LAB_SECRET": "s"}).verify is False


# -- --endpoint ---------------------------------------------------------------------------------


def test_endpoint_takes_credentials_from_env() -> None:
    environ = {"RUSTFS_ACCESS_KEY": "ak", "RUSTFS_SECRET_KEY": SECRET}
    connection = resolve_connection(Settings(), endpoint="http://127.0.0.1:9000/", environ=environ)
    assert connection.name == "endpoint"
    assert connection.endpoint == "http://127.0.0.1:9000"
    assert (connection.access_key, connection.secret_key) == ("ak", SECRET)
    assert connection.region == "us-east-1"
    assert connection.verify is True
    assert not connection.is_embedded
    assert SECRET not in repr(connection)


def test_endpoint_ignores_default_profile(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, PROD))
    environ = {"RUSTFS_ACCESS_KEY": "ak", "RUSTFS_SECRET_KEY": "sk"}
    connection = resolve_connection(settings, endpoint="https://other:9000", environ=environ)
    assert connection.endpoint == "https://other:9000"
    assert connection.read_only is False


def test_endpoint_uses_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUSTFS_ACCESS_KEY", "env-ak")
    monkeypatch.setenv("RUSTFS_SECRET_KEY", "env-sk")
    assert resolve_connection(Settings(), endpoint="http://h:1").access_key == "env-ak"


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({}, "RUSTFS_ACCESS_KEY and RUSTFS_SECRET_KEY"),
        ({"RUSTFS_ACCESS_KEY": "ak"}, "RUSTFS_SECRET_KEY"),
        ({"RUSTFS_SECRET_KEY": "sk"}, "RUSTFS_ACCESS_KEY"),
        ({"RUSTFS_ACCESS_KEY": "", "RUSTFS_SECRET_KEY": "sk"}, "RUSTFS_ACCESS_KEY"),
    ],
)
def test_endpoint_without_env_credentials(environ: dict[str, str], missing: str) -> None:
    with pytest.raises(SettingsError) as caught:
        resolve_connection(Settings(), endpoint="http://h:9000", environ=environ)
    assert missing in str(caught.value)
    assert "sk" not in str(caught.value).replace("RUSTFS_SECRET_KEY", "")


def test_endpoint_must_be_http_url() -> None:
    environ = {"RUSTFS_ACCESS_KEY": "ak", "RUSTFS_SECRET_KEY": "sk"}
    with pytest.raises(SettingsError, match="http"):
        resolve_connection(Settings(), endpoint="h:9000", environ=environ)


def test_profile_and_endpoint_together_is_an_error() -> None:
    with pytest.raises(SettingsError, match="not both"):
        resolve_connection(Settings(), profile="p", endpoint="http://h", environ={})


def test_embedded_users_and_account_are_read_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "users.toml").write_text("")
    config = write_config(tmp_path, '[embedded]\nusers = "users.toml"\naccount = "auditor"\n')
    settings = load_settings(config)
    assert settings.embedded_users == tmp_path / "users.toml"
    assert settings.embedded_account == "auditor"
    connection = resolve_connection(settings)
    assert connection.is_embedded
    assert (connection.users_file, connection.account) == (tmp_path / "users.toml", "auditor")


def test_embedded_account_without_users_and_a_missing_users_file_are_refused(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, '[embedded]\naccount = "auditor"\n')
    with pytest.raises(SettingsError, match="needs users"):
        load_settings(config)
    config = write_config(tmp_path, '[embedded]\nusers = "nope.toml"\n', name="d.toml")
    with pytest.raises(SettingsError, match="no such file"):
        load_settings(config)
    config = write_config(tmp_path, '[embedded]\nuser = "x"\n', name="e.toml")
    with pytest.raises(SettingsError, match="user"):
        load_settings(config)
