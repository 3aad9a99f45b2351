"""KmsService: persistence across restarts, the interface H4b uses, and the deletion sweep."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kms_tui.embedded.config import parse_configure_document
from kms_tui.embedded.service import KmsService
from kms_tui.embedded.service_keys import KmsOpError


class Refs:
    def __init__(self, mapping: dict[str, list[str]]) -> None:
        self.mapping = mapping

    def buckets_naming_key(self, key_id: str) -> list[str]:
        return self.mapping.get(key_id, [])


def local_config(tmp_path: Path, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "backend_type": "Local",
        "key_dir": str(tmp_path / "keys"),
        "master_key": "pw",
        "allow_insecure_dev_defaults": True,
        "default_key_id": "main",
    }
    body.update(extra)
    return body


@pytest.fixture
def now() -> list[datetime]:
    return [datetime(2026, 3, 1, tzinfo=UTC)]


def running_service(tmp_path: Path, now: list[datetime], refs: Refs | None = None) -> KmsService:
    service = KmsService(tmp_path / "data", references=refs, clock=lambda: now[0])
    assert service.configure(parse_configure_document(local_config(tmp_path))).success
    assert service.start().success
    return service


def test_interface_before_configuration(tmp_path: Path) -> None:
    service = KmsService(tmp_path / "data")
    service.load()  # nothing persisted yet
    assert not service.is_running
    assert service.default_key_id() is None
    assert service.key_exists("x") is False
    assert service.keys.sweep_expired() == []
    service.close()


def test_running_state_and_keys_survive_restart(tmp_path: Path, now: list[datetime]) -> None:
    service = running_service(tmp_path, now)
    service.keys.create_key("d", {"name": "main"})
    assert service.key_exists("main") and service.default_key_id() == "main"
    service.close()
    assert not service.is_running
    again = KmsService(tmp_path / "data")
    again.load()
    assert again.is_running
    assert again.status_json() == "Running"
    assert again.key_exists("main")
    assert again.keys.describe_key("main").description == "d"
    assert again.default_key_id() == "main"
    again.close()


def test_stopped_state_survives_restart(tmp_path: Path, now: list[datetime]) -> None:
    service = running_service(tmp_path, now)
    service.stop()
    again = KmsService(tmp_path / "data")
    again.load()
    assert again.status_json() == "Configured" and not again.is_running
    assert again.start().success


def test_load_failing_start_gives_error_state(tmp_path: Path, now: list[datetime]) -> None:
    service = running_service(tmp_path, now)
    service.keys.create_key(None, {"name": "k"})
    service.close()
    path = tmp_path / "data" / "kms_config.json"
    document = json.loads(path.read_text())
    document["config"]["master_key"] = "wrong"
    path.write_text(json.dumps(document))
    again = KmsService(tmp_path / "data")
    again.load()
    status = again.status_json()
    assert isinstance(status, dict) and status["Error"].startswith("Failed to create KMS backend")
    assert "wrong" not in status["Error"]
    assert again.status_debug().startswith('Error("Failed to create KMS backend')


def test_damaged_config_file_does_not_stop_boot(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "kms_config.json").write_text("{broken")
    service = KmsService(tmp_path / "data")
    service.load()
    assert isinstance(service.status_json(), dict) and not service.is_running


def test_sweep_expired(tmp_path: Path, now: list[datetime]) -> None:
    refs = Refs({"referenced": ["bucket-1"]})
    service = running_service(tmp_path, now, refs)
    for key_id in ("expired", "referenced", "main", "young", "active"):
        service.keys.create_key(None, {"name": key_id})
    for key_id in ("expired", "referenced", "main"):
        service.keys.schedule_deletion(key_id, 7)
    service.keys.schedule_deletion("young", 30)
    now[0] += timedelta(days=6)
    assert service.keys.sweep_expired() == []
    now[0] += timedelta(days=2)
    assert service.keys.sweep_expired() == ["expired"]
    assert not (tmp_path / "keys" / "expired.key").exists()
    for key_id in ("referenced", "main", "young", "active"):
        assert service.key_exists(key_id), key_id
    refs.mapping.clear()
    assert service.keys.sweep_expired() == ["referenced"]
    now[0] += timedelta(days=30)
    assert service.keys.sweep_expired() == ["young"]
    assert service.key_exists("main")  # the default key is never destroyed


def test_sweep_does_nothing_when_stopped(tmp_path: Path, now: list[datetime]) -> None:
    service = running_service(tmp_path, now)
    service.keys.create_key(None, {"name": "x"})
    service.keys.schedule_deletion("x", 7)
    service.stop()
    now[0] += timedelta(days=100)
    assert service.keys.sweep_expired() == []


def test_broken_reference_source_makes_impact_observed_only(
    tmp_path: Path, now: list[datetime]
) -> None:
    class Broken:
        def buckets_naming_key(self, key_id: str) -> list[str]:
            raise OSError("disk gone")

    service = running_service(tmp_path, now)
    service.keys.references = Broken()
    service.keys.create_key(None, {"name": "k"})
    report = service.keys.impact("k")
    assert report["completeness"] == "observed-only"
    assert report["coverage"]["not_scanned"][0] == "bucket-default-encryption"
    assert report["references"][0]["kind"] == "unreadable-source"


def test_not_running_operations_raise(tmp_path: Path) -> None:
    service = KmsService(tmp_path / "data")
    with pytest.raises(KmsOpError) as caught:
        service.keys.create_key(None, {})
    assert caught.value.kind == "not_running"
