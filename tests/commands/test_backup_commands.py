"""``kms-tui backup create|inspect|restore`` against ``kms-tui serve`` with backups set up, and
against servers that refuse backups (501, 403)."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.commands.support import Server, one_line_error, run_cli, serve_for_module
from tests.fakes.misbehaving import misbehaving, status, xml_error

KEK = base64.b64encode(bytes(range(32))).decode()
KEK_ENV = {"RUSTFS_KMS_BACKUP_KEK": KEK, "RUSTFS_KMS_BACKUP_KEK_ID": "test-kek"}


@pytest.fixture(scope="module")
def backup_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backups")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backup_dir: Path) -> Iterator[Server]:
    env = {"RUSTFS_KMS_BACKUP_DIR": str(backup_dir), **KEK_ENV}
    yield from serve_for_module(tmp_path_factory, "--allow-immediate-deletion", env=env)


def destroy(server: Server, key_id: str) -> None:
    body = {"key_id": key_id, "force_immediate": True, "confirm_key_id": key_id}
    code, answer = server.admin("DELETE", "/kms/keys/delete", body)
    assert code == 200, answer


def test_create_inspect_and_restore(server: Server, backup_dir: Path, tmp_path: Path) -> None:
    for name in ("vault-a", "vault-b"):
        server.create_key(name)
    assert server.cli("keys", "disable", "vault-b").code == 0
    target = tmp_path / "kms.backup"

    created = server.cli("backup", "create", str(target), "--json")
    assert created.code == 0, created.stderr
    doc = created.json
    assert doc["key_count"] == 2 and doc["file"] == str(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    server_copy = backup_dir / f"{doc['backup_id']}.kms-backup.json"
    assert target.read_bytes() == server_copy.read_bytes()
    assert KEK not in target.read_text()

    again = server.cli("backup", "create", str(target))
    assert again.code == 2 and "--force" in one_line_error(again)
    assert target.read_bytes() == server_copy.read_bytes()

    sealed = server.cli("backup", "inspect", str(target), "--json")
    assert sealed.code == 0, sealed.stderr
    assert sealed.json["states"] is None and "RUSTFS_KMS_BACKUP_KEK" in sealed.json["states_note"]
    assert [k["key_id"] for k in sealed.json["keys"]] == ["vault-a", "vault-b"]
    assert sealed.json["backup_id"] == doc["backup_id"]
    assert sealed.json["created_at"].endswith("Z")
    opened = server.cli("backup", "inspect", str(target), "--json", env=server.env(KEK_ENV))
    assert opened.json["states"] == {"Enabled": 1, "Disabled": 1}
    assert {k["key_id"]: k["state"] for k in opened.json["keys"]} == {
        "vault-a": "Enabled",
        "vault-b": "Disabled",
    }
    assert "material" not in opened.stdout

    conflict = server.cli("backup", "restore", str(target), "--yes", "--json")
    assert conflict.code == 1 and conflict.json["error"]["code"] == "RestoreConflict"
    no_yes = server.cli("backup", "restore", str(target))
    assert no_yes.code == 2

    server_copy.unlink()  # restore puts the file back where the server reads it
    for name in ("vault-a", "vault-b"):
        destroy(server, name)
        assert server.key(name) is None
    restored = server.cli("backup", "restore", str(target), "--yes", "--json")
    assert restored.code == 0, restored.stderr
    assert sorted(restored.json["restored"]) == ["vault-a", "vault-b"]
    assert restored.json["not_restored"] == []
    assert server.key("vault-a")["key_state"] == "Enabled"  # type: ignore[index]
    assert server.key("vault-b")["key_state"] == "Disabled"  # type: ignore[index]
    _, service = server.admin("GET", "/kms/service-status")
    assert service["status"] == "Running"  # stopped for the restore, started again
    assert server_copy.read_bytes() == target.read_bytes()


def test_a_damaged_bundle_is_refused(server: Server, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "kms-tui-kms-backup", "format_version": 1}')
    done = server.cli("backup", "inspect", str(bad), "--json")
    assert done.code == 2 and done.json["error"]["code"] == "BadBundle"
    missing = server.cli("backup", "inspect", str(tmp_path / "nope"))
    assert missing.code == 2 and "no such file" in one_line_error(missing)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (status(501, xml_error(501, "NotImplemented", "not here").body), "does not support"),
        (status(403, {"success": False, "message": "denied"}), "may not"),
    ],
)
def test_backup_refused_by_the_server(
    server: Server, tmp_path: Path, answer: object, words: str
) -> None:
    with misbehaving(server.endpoint) as proxy:
        proxy.set("GET", "/kms/backup", answer)  # type: ignore[arg-type]
        done = run_cli(
            "--endpoint", proxy.url, "backup", "create", str(tmp_path / "b"), env=server.env()
        )
    assert done.code == 1
    assert words in one_line_error(done)
    assert not os.path.exists(tmp_path / "b")


def test_the_bundle_reader_follows_the_servers_format() -> None:
    """The command line reads the bundle the embedded server writes (one documented format)."""
    from kms_tui.commands import bundle
    from kms_tui.embedded import backup

    assert (bundle.BUNDLE_FORMAT, bundle.BUNDLE_SUFFIX) == (
        backup.BUNDLE_FORMAT,
        backup.BUNDLE_SUFFIX,
    )
    document = {"format": bundle.BUNDLE_FORMAT, "backup_id": "b", "artifacts": [], "ü": "x"}
    assert bundle.manifest_digest(document) == backup._digest(document)
