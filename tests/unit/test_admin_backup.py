"""Backup and restore routes: every precondition answer, then a real bundle round trip."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kms_tui.embedded.admin_routes import handle_admin
from kms_tui.embedded.http import HttpRequest, HttpResponse
from kms_tui.embedded.service import KmsService

KEK = base64.b64encode(bytes(range(32))).decode()


def call(service: KmsService, method: str, path: str, body: Any = b"") -> HttpResponse:
    payload = json.dumps(body).encode() if isinstance(body, dict) else body
    response = handle_admin(service, HttpRequest(method, path, path, (), "", (), payload, "RID"))
    assert response is not None
    return response


def e4(response: HttpResponse, status: int, fragment: str) -> None:
    assert response.status == status
    assert response.content_type == "application/json"
    payload = json.loads(response.body)
    assert payload["success"] is False and fragment in payload["message"], payload
    assert payload["error"]["request_id"] == "RID"


def configure(service: KmsService, key_dir: Path, *, start: bool = True) -> None:
    body = {
        "backend_type": "Local",
        "key_dir": str(key_dir),
        "master_key": "pw",
        "allow_insecure_dev_defaults": True,
    }
    assert json.loads(call(service, "POST", "/kms/configure", body).body)["success"]
    if start:
        assert json.loads(call(service, "POST", "/kms/start").body)["status"] == "Running"


@pytest.fixture
def backup_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "backups"
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_DIR", str(root))
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_KEK", KEK)
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_KEK_ID", "kek-1")
    return root


def test_status_without_env_or_configuration(tmp_path: Path) -> None:
    service = KmsService(tmp_path / "data")
    payload = json.loads(call(service, "GET", "/kms/backup").body)
    assert payload == {
        "service_status": "NotConfigured",
        "backend": None,
        "responsibility": None,
        "export_supported": False,
        "deployment_identity": None,
        "backup_root": None,
        "backup_kek_configured": False,
        "backup_kek_id": None,
        "backup_kek_version": None,
        "target_key_dir": None,
        "unavailable_reason": "kms is not configured",
    }
    call(service, "POST", "/kms/start")
    payload = json.loads(call(service, "GET", "/kms/backup").body)
    assert payload["service_status"] == 'Error("Cannot start KMS: no configuration provided")'


def test_status_when_ready(tmp_path: Path, backup_env: Path) -> None:
    service = KmsService(tmp_path / "data")
    configure(service, tmp_path / "keys")
    payload = json.loads(call(service, "GET", "/kms/backup").body)
    assert payload["service_status"] == "Running"
    assert (payload["backend"], payload["responsibility"]) == ("local", "full-material")
    assert payload["backup_kek_configured"] is True and payload["backup_kek_version"] == 1
    assert payload["target_key_dir"] == str(tmp_path / "keys")
    assert len(payload["deployment_identity"]) == 32
    assert "unavailable_reason" not in payload


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"RUSTFS_KMS_BACKUP_DIR": None}, "RUSTFS_KMS_BACKUP_DIR is not set"),
        ({"RUSTFS_KMS_BACKUP_KEK": None}, "RUSTFS_KMS_BACKUP_KEK is not set"),
        ({"RUSTFS_KMS_BACKUP_KEK": base64.b64encode(b"short").decode()}, "exactly 32 bytes"),
        ({"RUSTFS_KMS_BACKUP_KEK": "%%%"}, "exactly 32 bytes"),
        ({"RUSTFS_KMS_BACKUP_KEK_ID": None}, "RUSTFS_KMS_BACKUP_KEK_ID is not set"),
        ({"RUSTFS_KMS_BACKUP_KEK_VERSION": "x"}, "RUSTFS_KMS_BACKUP_KEK_VERSION"),
    ],
)
def test_env_prerequisites_412(
    tmp_path: Path,
    backup_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str | None],
    fragment: str,
) -> None:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    service = KmsService(tmp_path / "data")
    configure(service, tmp_path / "keys")
    for path, body in [
        ("/kms/backup", b""),
        ("/kms/restore/dry-run", {"bundle": "b"}),
        ("/kms/restore/abort", {"confirm_target_key_dir": "/x"}),
    ]:
        e4(call(service, "POST", path, body), 412, fragment)


def test_precondition_answers(tmp_path: Path, backup_env: Path) -> None:
    service = KmsService(tmp_path / "data")
    e4(call(service, "POST", "/kms/backup"), 409, "kms is not configured")
    e4(call(service, "POST", "/kms/restore/dry-run", {"bundle": "b"}), 409, "not configured")
    configure(service, tmp_path / "keys", start=False)
    e4(call(service, "POST", "/kms/backup"), 503, "kms service is not running")
    call(service, "POST", "/kms/start")
    for bad in (".hidden", "..", "a/b", "x" * 129, "sp ace"):
        e4(call(service, "POST", "/kms/backup", {"backup_id": bad}), 400, "invalid backup id")
    response = call(service, "POST", "/kms/backup", {"backupId": "x"})
    assert response.status == 400 and response.content_type == "application/xml"
    e4(call(service, "POST", "/kms/restore", _restore_body("b")), 409, "stop the KMS service")
    e4(
        call(service, "POST", "/kms/restore/abort", {"confirm_target_key_dir": "/elsewhere"}),
        400,
        "confirm_target_key_dir",
    )
    vault = KmsService(tmp_path / "vault")
    body = {
        "backend_type": "vault",
        "address": "https://v",
        "auth_method": {"Token": {"token": "t"}},
    }
    call(vault, "POST", "/kms/configure", body)
    call(vault, "POST", "/kms/start")
    e4(call(vault, "POST", "/kms/restore/dry-run", {"bundle": "b"}), 501, "local backend")


def _restore_body(bundle: str, confirm: str | None = None, policy: str = "fail") -> dict[str, Any]:
    return {
        "bundle": bundle,
        "confirm_backup_id": confirm or bundle,
        "confirm_conflict_policy": policy,
    }


def test_backup_and_restore_round_trip(tmp_path: Path, backup_env: Path) -> None:
    source = KmsService(tmp_path / "source")
    configure(source, tmp_path / "keys-a")
    for name in ("k1", "k2"):
        source.keys.create_key("desc " + name, {"name": name})
    plaintext, blob = source.keys.generate_data_key("k1", "Aes256", {"b": "1"})
    response = call(source, "POST", "/kms/backup", {"backup_id": "nightly"})
    assert response.status == 200, response.body
    summary = json.loads(response.body)
    assert summary["backup_id"] == "nightly" and summary["artifact_count"] == 2
    assert summary["backup_kek_id"] == "kek-1" and len(summary["manifest_digest"]) == 64
    bundle = backup_env / "nightly.kms-backup.json"
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    raw = bundle.read_bytes()
    assert json.loads(raw)["sanitized_config"]["master_key"] is None
    for name in ("k1", "k2"):
        material = source.keys.require_store().get(name).material
        assert base64.b64encode(material) not in raw
    e4(call(source, "POST", "/kms/backup", {"backup_id": "nightly"}), 409, "already exists")

    target = KmsService(tmp_path / "target")
    configure(target, tmp_path / "keys-b", start=False)
    dry = json.loads(call(target, "POST", "/kms/restore/dry-run", {"bundle": "nightly"}).body)
    assert dry["report"]["blockers"] == [] and dry["report"]["conflicts"] == []
    assert dry["config_comparison"]["identical"] is False
    e4(call(target, "POST", "/kms/restore", _restore_body("nightly", "other")), 400, "confirm")
    response = call(target, "POST", "/kms/restore", _restore_body("nightly"))
    assert response.status == 200, response.body
    restored = json.loads(response.body)
    assert restored["restored_key_ids"] == ["k1", "k2"]
    assert (restored["salt_restored"], restored["resumed"]) == (False, False)
    call(target, "POST", "/kms/start")
    assert target.keys.describe_key("k2").description == "desc k2"
    assert target.keys.decrypt(blob, {"b": "1"}) == ("k1", plaintext)
    dry = json.loads(call(target, "POST", "/kms/restore/dry-run", {"bundle": "nightly"}).body)
    assert {c["key_id"] for c in dry["report"]["conflicts"]} == {"k1", "k2"}
    call(target, "POST", "/kms/stop")
    e4(call(target, "POST", "/kms/restore", _restore_body("nightly")), 409, "already exist")
    response = call(
        target, "POST", "/kms/restore/abort", {"confirm_target_key_dir": str(tmp_path / "keys-b")}
    )
    assert json.loads(response.body) == {
        "target_key_dir": str(tmp_path / "keys-b"),
        "aborted": True,
    }


def test_dry_run_blockers(
    tmp_path: Path, backup_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = KmsService(tmp_path / "data")
    configure(service, tmp_path / "keys")
    service.keys.create_key(None, {"name": "k"})
    call(service, "POST", "/kms/backup", {"backup_id": "b1"})

    def blockers(bundle: str) -> list[str]:
        body = json.loads(call(service, "POST", "/kms/restore/dry-run", {"bundle": bundle}).body)
        return [b["code"] for b in body["report"]["blockers"]]

    assert blockers("b1") == []
    assert blockers("missing") == ["missing-artifact"]
    path = backup_env / "b1.kms-backup.json"
    original = path.read_bytes()
    os.chmod(path, 0o600)
    path.write_bytes(original[: len(original) // 2])
    assert blockers("b1") == ["bundle-truncated"]
    document = json.loads(original)
    document["artifacts"][0]["key_id"] = "renamed"
    path.write_text(json.dumps(document))
    assert blockers("b1") == ["bundle-corrupted"]
    path.write_bytes(original)
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_KEK_ID", "kek-2")
    assert blockers("b1") == ["wrong-backup-kek"]
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_KEK_ID", "kek-1")
    monkeypatch.setenv("RUSTFS_KMS_BACKUP_KEK", base64.b64encode(bytes(32)).decode())
    assert blockers("b1") == ["wrong-backup-kek"]
