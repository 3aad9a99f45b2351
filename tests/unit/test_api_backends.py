"""Backend configurations: exact wire spellings, no secrets in repr, the server's rules locally."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kms_tui.api.backends import (
    AwsConfig,
    BackendConfig,
    FieldProblem,
    LocalConfig,
    VaultAppRoleAuth,
    VaultKubernetesAuth,
    VaultKv2Config,
    VaultTokenAuth,
    VaultTokenFileAuth,
    VaultTransitConfig,
    parse_file_mode,
)


def fields(problems: list[FieldProblem]) -> set[str]:
    return {problem.field for problem in problems}


# --- wire shapes ---------------------------------------------------------------------------


def test_local_minimal_and_full() -> None:
    assert LocalConfig(key_dir="/var/lib/rustfs/kms", master_key="horse").to_wire() == {
        "backend_type": "Local",
        "key_dir": "/var/lib/rustfs/kms",
        "master_key": "horse",
    }
    full = LocalConfig(
        key_dir="/tmp/kms-keys",
        file_permissions=0o600,
        default_key_id="rustfs-e2e-test-default-key",
        timeout_seconds=10,
        retry_attempts=2,
        enable_cache=False,
        max_cached_keys=5,
        cache_ttl_seconds=60,
        allow_insecure_dev_defaults=True,
    ).to_wire()
    assert full == {
        "backend_type": "Local",
        "key_dir": "/tmp/kms-keys",
        "file_permissions": 384,
        "default_key_id": "rustfs-e2e-test-default-key",
        "timeout_seconds": 10,
        "retry_attempts": 2,
        "enable_cache": False,
        "max_cached_keys": 5,
        "cache_ttl_seconds": 60,
        "allow_insecure_dev_defaults": True,
    }


def test_vault_kv2_with_token() -> None:
    config = VaultKv2Config(
        address="https://vault.example.com:8200",
        auth_method=VaultTokenAuth("hvs.XXXX"),
        kv_mount="secret",
        key_path_prefix="rustfs/kms/keys",
        default_key_id="rustfs-master-key",
    )
    assert config.to_wire() == {
        "backend_type": "VaultKV2",
        "address": "https://vault.example.com:8200",
        "auth_method": {"Token": {"token": "hvs.XXXX"}},
        "kv_mount": "secret",
        "key_path_prefix": "rustfs/kms/keys",
        "default_key_id": "rustfs-master-key",
    }


def test_vault_transit_never_sends_kv_fields() -> None:
    config = VaultTransitConfig(
        address="http://127.0.0.1:8200",
        auth_method=VaultTokenAuth("dev-root-token"),
        mount_path="transit",
        default_key_id="rustfs-master-key",
        skip_tls_verify=True,
        allow_insecure_dev_defaults=True,
    )
    assert config.to_wire() == {
        "backend_type": "VaultTransit",
        "address": "http://127.0.0.1:8200",
        "auth_method": {"Token": {"token": "dev-root-token"}},
        "mount_path": "transit",
        "default_key_id": "rustfs-master-key",
        "skip_tls_verify": True,
        "allow_insecure_dev_defaults": True,
    }


def test_aws() -> None:
    config = AwsConfig(region="eu-central-1", default_key_id="arn:aws:kms:eu-central-1:1:key/a")
    assert config.to_wire() == {
        "backend_type": "AWS",
        "region": "eu-central-1",
        "default_key_id": "arn:aws:kms:eu-central-1:1:key/a",
    }


@pytest.mark.parametrize(
    ("auth", "wire"),
    [
        (VaultTokenAuth("t"), {"Token": {"token": "t"}}),
        (
            VaultAppRoleAuth("role", secret_id="s3cr3t", mount="approle"),
            {"AppRole": {"role_id": "role", "secret_id": "s3cr3t", "mount": "approle"}},
        ),
        (
            VaultAppRoleAuth(
                "role", secret_id_file="/run/secrets/sid", refresh_safety_window_secs=30
            ),
            {
                "AppRole": {
                    "role_id": "role",
                    "secret_id_file": "/run/secrets/sid",
                    "refresh_safety_window_secs": 30,
                }
            },
        ),
        (VaultKubernetesAuth("rustfs"), {"Kubernetes": {"role": "rustfs"}}),
        (
            VaultKubernetesAuth("rustfs", mount="k8s", jwt_path="/var/run/token"),
            {"Kubernetes": {"role": "rustfs", "mount": "k8s", "jwt_path": "/var/run/token"}},
        ),
        (
            VaultTokenFileAuth("/etc/vault/token", poll_interval_secs=5),
            {"TokenFile": {"path": "/etc/vault/token", "poll_interval_secs": 5}},
        ),
    ],
)
def test_vault_auth_wire(auth: Any, wire: dict[str, Any]) -> None:
    assert auth.to_wire() == wire


ALL_CONFIGS: list[BackendConfig] = [
    LocalConfig(key_dir="/var/lib/kms", master_key="m", file_permissions=0o640),
    VaultKv2Config(address="https://v", auth_method=VaultTokenAuth("t")),
    VaultTransitConfig(address="https://v", auth_method=VaultAppRoleAuth("r", secret_id="s")),
    AwsConfig(region="us-east-1"),
]


@pytest.mark.parametrize("config", ALL_CONFIGS, ids=lambda c: type(c).__name__)
def test_guide_spellings_are_never_sent(config: BackendConfig) -> None:
    text = json.dumps(config.to_wire())
    for forbidden in (
        "key_directory",
        '"auth_method": {"token"',
        "KeyUsage",
        "AES_256",
        "ENCRYPT_DECRYPT",
        "execute-api",
        "backendType",
    ):
        assert forbidden not in text
    assert text.startswith('{"backend_type": ')


def test_file_permissions_are_sent_as_decimal() -> None:
    wire = LocalConfig(key_dir="/k", master_key="m", file_permissions=0o640).to_wire()
    assert wire["file_permissions"] == 416
    assert json.dumps(wire["file_permissions"]) == "416"


@pytest.mark.parametrize(("text", "mode"), [("600", 0o600), ("0600", 0o600), ("0o640", 0o640)])
def test_parse_file_mode(text: str, mode: int) -> None:
    assert parse_file_mode(text) == mode


@pytest.mark.parametrize("text", ["", "rw-------", "0800", "1777", "600x"])
def test_parse_file_mode_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="file_permissions"):
        parse_file_mode(text)


# --- secrets -------------------------------------------------------------------------------


def test_secrets_are_not_in_repr() -> None:
    objects: list[object] = [
        LocalConfig(key_dir="/k", master_key="MASTER-SECRET"),
        VaultTokenAuth("TOKEN-SECRET"),
        VaultAppRoleAuth("role-id-ok", secret_id="SECRET-ID"),
        VaultKv2Config(address="https://v", auth_method=VaultTokenAuth("TOKEN-SECRET")),
        VaultTransitConfig(
            address="https://v", auth_method=VaultAppRoleAuth("r", secret_id="SECRET-ID")
        ),
    ]
    for item in objects:
        text = repr(item) + str(item)
        for secret in ("MASTER-SECRET", "TOKEN-SECRET", "SECRET-ID"):
            assert secret not in text
    assert "role-id-ok" in repr(objects[2])


# --- validation ----------------------------------------------------------------------------


def test_valid_configs_have_no_problems() -> None:
    for config in ALL_CONFIGS:
        assert config.validate() == []


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (LocalConfig(key_dir="", master_key="m"), "key_dir"),
        (LocalConfig(key_dir="relative/kms", master_key="m"), "key_dir"),
        (LocalConfig(key_dir="/var/lib/kms"), "master_key"),
        (LocalConfig(key_dir="/var/lib/kms", master_key="  "), "master_key"),
        (LocalConfig(key_dir="/tmp/kms", master_key="m"), "key_dir"),
        (
            LocalConfig(key_dir="/var/lib/kms", master_key="m", file_permissions=0o1777),
            "file_permissions",
        ),
        (LocalConfig(key_dir="/k", master_key="m", timeout_seconds=0), "timeout_seconds"),
        (LocalConfig(key_dir="/k", master_key="m", retry_attempts=-1), "retry_attempts"),
        (LocalConfig(key_dir="/k", master_key="m", max_cached_keys=0), "max_cached_keys"),
        (LocalConfig(key_dir="/k", master_key="m", cache_ttl_seconds=0), "cache_ttl_seconds"),
        (LocalConfig(key_dir="/k", master_key="m", default_key_id=" "), "default_key_id"),
        (VaultKv2Config(address="", auth_method=VaultTokenAuth("t")), "address"),
        (VaultKv2Config(address="vault:8200", auth_method=VaultTokenAuth("t")), "address"),
        (VaultKv2Config(address="http://vault:8200", auth_method=VaultTokenAuth("t")), "address"),
        (
            VaultKv2Config(address="https://v", auth_method=VaultTokenAuth("dev-token")),
            "auth_method.token",
        ),
        (VaultKv2Config(address="https://v", auth_method=VaultTokenAuth("")), "auth_method.token"),
        (
            VaultKv2Config(
                address="https://v", auth_method=VaultTokenAuth("t"), skip_tls_verify=True
            ),
            "skip_tls_verify",
        ),
        (
            VaultKv2Config(address="https://v", auth_method=VaultTokenAuth("t"), kv_mount=""),
            "kv_mount",
        ),
        (
            VaultTransitConfig(
                address="https://v", auth_method=VaultTokenAuth("t"), mount_path=" "
            ),
            "mount_path",
        ),
        (
            VaultTransitConfig(address="https://v", auth_method=VaultAppRoleAuth("r")),
            "auth_method.secret_id",
        ),
        (
            VaultTransitConfig(
                address="https://v", auth_method=VaultAppRoleAuth("", secret_id="s")
            ),
            "auth_method.role_id",
        ),
        (
            VaultTransitConfig(
                address="https://v", auth_method=VaultTokenFileAuth("/t", poll_interval_secs=0)
            ),
            "auth_method.poll_interval_secs",
        ),
        (
            VaultTransitConfig(address="https://v", auth_method=VaultTokenFileAuth("token.txt")),
            "auth_method.path",
        ),
        (
            VaultTransitConfig(address="https://v", auth_method=VaultKubernetesAuth("")),
            "auth_method.role",
        ),
        (
            VaultTransitConfig(
                address="https://v", auth_method=VaultKubernetesAuth("r", jwt_path="jwt")
            ),
            "auth_method.jwt_path",
        ),
        (AwsConfig(region=""), "region"),
        (AwsConfig(region="us-east-1", endpoint_url="http://localstack:4566"), "endpoint_url"),
        (AwsConfig(region="us-east-1", endpoint_url="localstack"), "endpoint_url"),
    ],
)
def test_each_rule_names_its_field(config: BackendConfig, field: str) -> None:
    problems = config.validate()
    assert field in fields(problems)
    for problem in problems:
        assert problem.message
        head = problem.field.rsplit(".", 1)[-1]
        assert head in problem.message


def test_dev_flag_lifts_the_insecure_rules() -> None:
    assert LocalConfig(key_dir="/tmp/kms", allow_insecure_dev_defaults=True).validate() == []
    vault = VaultKv2Config(
        address="http://127.0.0.1:8200",
        auth_method=VaultTokenAuth("dev-token"),
        skip_tls_verify=True,
        allow_insecure_dev_defaults=True,
    )
    assert vault.validate() == []
    aws = AwsConfig(
        region="us-east-1", endpoint_url="http://localstack:4566", allow_insecure_dev_defaults=True
    )
    assert aws.validate() == []


def test_disabled_cache_skips_cache_rules() -> None:
    config = LocalConfig(
        key_dir="/k", master_key="m", enable_cache=False, max_cached_keys=0, cache_ttl_seconds=0
    )
    assert config.validate() == []


def test_reconfigure_relaxes_resent_secrets() -> None:
    assert LocalConfig(key_dir="/var/lib/kms").validate(reconfigure=True) == []
    vault = VaultKv2Config(address="https://v", auth_method=VaultTokenAuth(""))
    assert vault.validate(reconfigure=True) == []
    assert "auth_method.token" in fields(vault.validate())


def test_app_role_with_secret_id_file_only_is_valid() -> None:
    auth = VaultAppRoleAuth("r", secret_id_file="/run/secrets/sid")
    assert VaultTransitConfig(address="https://v", auth_method=auth).validate() == []


def test_several_problems_are_all_reported() -> None:
    problems = LocalConfig(key_dir="kms", timeout_seconds=0).validate()
    assert fields(problems) == {"key_dir", "master_key", "timeout_seconds"}
