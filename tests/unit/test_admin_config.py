"""Configure / reconfigure: parsing, validation, carry-over rules, persistence (0600)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from kms_tui.embedded.admin_routes import handle_admin
from kms_tui.embedded.http import HttpRequest, HttpResponse
from kms_tui.embedded.service import KmsService

MASTER = "correct horse battery staple"


def call(service: KmsService, path: str, body: Any) -> HttpResponse:
    payload = json.dumps(body).encode() if isinstance(body, dict) else body
    method = "GET" if path == "/kms/service-status" else "POST"
    request = HttpRequest(method, path, path, (), "", (), payload, "RID")
    response = handle_admin(service, request)
    assert response is not None
    return response


def answer(service: KmsService, path: str, body: Any) -> dict[str, Any]:
    response = call(service, path, body)
    assert (response.status, response.content_type) == (200, None)
    payload: dict[str, Any] = json.loads(response.body)
    return payload


def plain_400(response: HttpResponse) -> str:
    assert (response.status, response.content_type) == (400, None)
    return response.body.decode()


@pytest.fixture
def service(tmp_path: Path) -> KmsService:
    return KmsService(tmp_path / "data")


def local(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "backend_type": "Local",
        "key_dir": str(tmp_path / "keys"),
        "master_key": MASTER,
        "allow_insecure_dev_defaults": True,
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


VAULT = {
    "backend_type": "vault",
    "address": "https://vault.example.com:8200",
    "auth_method": {"Token": {"token": "hvs.SECRET"}},
}


@pytest.mark.parametrize("spelling", ["Local", "local"])
def test_local_spellings_accepted(service: KmsService, tmp_path: Path, spelling: str) -> None:
    payload = answer(service, "/kms/configure", local(tmp_path, backend_type=spelling))
    assert payload == {
        "success": True,
        "message": "KMS configured successfully",
        "status": "Configured",
    }


@pytest.mark.parametrize(
    "spelling",
    ["VaultKV2", "Vault", "vault", "vault-kv2", "vault_kv2", "VaultTransit", "vault-transit"],
)
def test_vault_spellings_accepted_and_start_fails(service: KmsService, spelling: str) -> None:
    body = dict(VAULT, backend_type=spelling)
    assert answer(service, "/kms/configure", body)["success"] is True
    started = answer(service, "/kms/start", b"")
    assert started["success"] is False
    assert "runs only the Local backend" in started["status"]["Error"]


@pytest.mark.parametrize("spelling", ["AWS", "AwsKms", "aws", "aws-kms", "aws_kms"])
def test_aws_spellings_accepted(service: KmsService, spelling: str) -> None:
    body = {"backend_type": spelling, "region": "eu-central-1"}
    assert answer(service, "/kms/configure", body)["success"] is True
    status = json.loads(call(service, "/kms/service-status", b"").body)
    assert status["backend_type"] == "AWS"


def test_bad_backend_type_names_accepted_spellings(service: KmsService) -> None:
    text = plain_400(call(service, "/kms/configure", {"backend_type": "LOCAL", "key_dir": "/x"}))
    assert text.startswith("Invalid JSON: unknown variant `LOCAL`, expected one of `Local`, ")
    assert "`aws_kms`" in text


@pytest.mark.parametrize("spelling", ["Static", "static"])
def test_static_refused_plain_text(service: KmsService, spelling: str) -> None:
    text = plain_400(
        call(
            service, "/kms/configure", {"backend_type": spelling, "key_id": "k", "secret_key": "x"}
        )
    )
    assert text == (
        "Static KMS must be configured through RUSTFS_KMS_STATIC_SECRET_KEY or "
        "RUSTFS_KMS_STATIC_SECRET_KEY_FILE"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "Request body is required"),
        (b"   ", "Request body is required"),
        (b"{", "Invalid JSON: "),
        (b"[]", "Invalid JSON: invalid type: sequence"),
        ({"key_dir": "/x"}, "Invalid JSON: missing field `backend_type`"),
        ({"backend_type": "Local"}, "Invalid JSON: missing field `key_dir`"),
        (
            {"backend_type": "Local", "key_directory": "/x"},
            "Invalid JSON: unknown field `key_directory`, expected one of `key_dir`",
        ),
        (
            {"backend_type": "Local", "key_dir": "/x", "timeout_seconds": "5"},
            'Invalid JSON: invalid type: string "5", expected u64',
        ),
        (
            {"backend_type": "Local", "key_dir": "/x", "retry_attempts": -1},
            "Invalid JSON: invalid value: integer `-1`, expected u32",
        ),
        (
            dict(VAULT, auth_method={"token": "t"}),
            "Invalid JSON: unknown variant `token`, expected one of `Token`, `AppRole`",
        ),
        (
            dict(VAULT, auth_method={"Token": {"token": "t", "ttl": 1}}),
            "Invalid JSON: unknown field `ttl`, expected `token`",
        ),
        (
            dict(VAULT, backend_type="VaultTransit", kv_mount="secret"),
            "Invalid JSON: unknown field `kv_mount`",
        ),
    ],
)
def test_input_errors_are_plain_text(service: KmsService, body: Any, expected: str) -> None:
    for path in ("/kms/configure", "/kms/reconfigure"):
        assert plain_400(call(service, path, body)).startswith(expected)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"key_dir": "relative/keys"}, "key_dir must be an absolute path"),
        ({"master_key": None, "allow_insecure_dev_defaults": False}, "requires a master key"),
        ({"allow_insecure_dev_defaults": False}, "must not be under the temporary directory"),
        ({"timeout_seconds": 0}, "timeout_seconds must be greater than 0"),
        ({"retry_attempts": 0}, "retry_attempts must be greater than 0"),
        ({"max_cached_keys": 0}, "max_cached_keys must be greater than 0"),
        ({"cache_ttl_seconds": 0}, "cache_ttl_seconds must be greater than 0"),
    ],
)
def test_validation_failures_are_200_success_false(
    service: KmsService, tmp_path: Path, extra: dict[str, Any], fragment: str
) -> None:
    payload = answer(service, "/kms/configure", local(tmp_path, **extra))
    assert payload["success"] is False
    assert payload["status"] == "NotConfigured"
    assert payload["message"].startswith("Failed to configure KMS: Configuration error: ")
    assert fragment in payload["message"]


def test_master_key_message_exact(service: KmsService, tmp_path: Path) -> None:
    body = local(tmp_path, master_key=None, allow_insecure_dev_defaults=None)
    assert answer(service, "/kms/configure", body)["message"] == (
        "Failed to configure KMS: Configuration error: Local KMS requires a master key outside "
        "explicit development mode; set RUSTFS_KMS_ALLOW_INSECURE_DEV_DEFAULTS=true only for "
        "development"
    )


def test_cache_disabled_allows_zero_sizes(service: KmsService, tmp_path: Path) -> None:
    body = local(tmp_path, enable_cache=False, max_cached_keys=0, cache_ttl_seconds=0)
    assert answer(service, "/kms/configure", body)["success"] is True


def test_non_temp_dir_without_dev_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Point the temp dir elsewhere so tmp_path counts as a normal directory.
    monkeypatch.setenv("TMPDIR", str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    service = KmsService(tmp_path / "data")
    body = local(tmp_path, allow_insecure_dev_defaults=None)
    assert answer(service, "/kms/configure", body)["success"] is True
    assert answer(service, "/kms/start", b"{}")["status"] == "Running"


def test_vault_rules_without_dev_flag(service: KmsService) -> None:
    for body, fragment in [
        (dict(VAULT, address="http://v:8200"), "must use https"),
        (dict(VAULT, auth_method={"Token": {"token": "dev-token"}}), "dev-token"),
        (dict(VAULT, skip_tls_verify=True), "skip_tls_verify"),
        (dict(VAULT, address="vault:8200"), "http:// or https://"),
        (dict(VAULT, kv_mount=""), "kv_mount must not be empty"),
        (dict(VAULT, auth_method={"AppRole": {"role_id": "r"}}), "secret_id"),
        (dict(VAULT, auth_method={"TokenFile": {"path": "/t", "poll_interval_secs": 0}}), "poll"),
        ({"backend_type": "AWS", "region": " "}, "region must not be empty"),
        ({"backend_type": "AWS", "region": "r", "endpoint_url": "http://x"}, "https"),
    ]:
        payload = answer(service, "/kms/configure", body)
        assert payload["success"] is False and fragment in payload["message"], body


def test_blank_vault_token_reuses_current_credentials(service: KmsService) -> None:
    blank = dict(VAULT, auth_method={"Token": {"token": "  "}})
    assert plain_400(call(service, "/kms/configure", blank)) == (
        "Vault token is required when no existing KMS credentials are available"
    )
    assert answer(service, "/kms/configure", VAULT)["success"] is True
    assert answer(service, "/kms/configure", dict(blank, namespace="ns"))["success"] is True
    config = service.config
    assert config is not None
    assert config.settings["auth_method"] == {"Token": {"token": "hvs.SECRET"}}
    assert config.settings["namespace"] == "ns"
    summary = json.loads(call(service, "/kms/service-status", b"").body)["config_summary"]
    assert summary["backend_summary"]["auth_method_type"] == "token"
    assert summary["backend_summary"]["has_stored_credentials"] is True
    assert "hvs.SECRET" not in json.dumps(summary)


def test_reconfigure_local_frozen_fields_and_carry_over(
    service: KmsService, tmp_path: Path
) -> None:
    assert answer(service, "/kms/configure", local(tmp_path))["success"] is True
    assert answer(service, "/kms/start", b"")["status"] == "Running"
    cases = [
        (dict(VAULT), "Changing from the Local KMS backend is not supported"),
        (
            local(tmp_path, key_dir=str(tmp_path / "other"), master_key=None),
            "Changing the Local KMS key directory is not supported",
        ),
        (
            local(tmp_path, file_permissions=0o640, master_key=None),
            "Changing Local KMS file permissions is not supported",
        ),
        (local(tmp_path), "Changing the Local KMS master key is not supported"),
    ]
    for body, text in cases:
        assert plain_400(call(service, "/kms/reconfigure", body)) == text
    body = local(
        tmp_path,
        master_key="",
        file_permissions=384,
        default_key_id="new-default",
        allow_insecure_dev_defaults=False,
        timeout_seconds=9999,
        retry_attempts=99,
    )
    payload = answer(service, "/kms/reconfigure", body)
    assert payload == {
        "success": True,
        "message": "KMS reconfigured and restarted successfully",
        "status": "Running",
    }
    config = service.config
    assert config is not None
    assert config.master_key == MASTER
    assert config.allow_insecure_dev_defaults is True
    assert (config.timeout_seconds, config.retry_attempts) == (300, 10)
    assert service.default_key_id() == "new-default"


def test_reconfigure_from_not_configured_runs(service: KmsService, tmp_path: Path) -> None:
    payload = answer(service, "/kms/reconfigure", local(tmp_path))
    assert payload["status"] == "Running" and service.is_running


def test_reconfigure_failure_keeps_old_service(service: KmsService, tmp_path: Path) -> None:
    assert answer(service, "/kms/reconfigure", local(tmp_path))["status"] == "Running"
    assert plain_400(call(service, "/kms/reconfigure", VAULT)).startswith("Changing from")
    # A Vault configuration cannot run here, so reconfiguring to it fails and changes nothing.
    other = KmsService(tmp_path / "data2")
    payload = answer(other, "/kms/reconfigure", VAULT)
    assert payload["success"] is False
    assert payload["message"].startswith(
        "Failed to reconfigure KMS: Backend error: Failed to reconfigure KMS: "
    )
    assert payload["status"] == "NotConfigured"
    assert service.is_running


def test_config_file_is_private_and_holds_state(service: KmsService, tmp_path: Path) -> None:
    answer(service, "/kms/configure", local(tmp_path, default_key_id="d"))
    path = tmp_path / "data" / "kms_config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["running"] is False
    assert document["config"]["backend_type"] == "Local"
    assert document["config"]["master_key"] == MASTER
    assert not list((tmp_path / "data").glob("*.tmp-*"))
    answer(service, "/kms/start", b"")
    assert json.loads(path.read_text())["running"] is True


def test_fingerprint_ignores_secrets_but_tracks_settings(tmp_path: Path) -> None:
    from kms_tui.embedded.config import parse_configure_document

    base = local(tmp_path)
    first = parse_configure_document(base)
    other_secret = parse_configure_document(dict(base, master_key="another"))
    other_setting = parse_configure_document(dict(base, default_key_id="x"))
    assert first.fingerprint() == other_secret.fingerprint()
    assert first.fingerprint() != other_setting.fingerprint()
    assert MASTER not in repr(first)
