"""KMS backup and restore routes (family E4), with kms-tui's own encrypted bundle format.

Bundle: ``<RUSTFS_KMS_BACKUP_DIR>/<backup_id>.kms-backup.json`` (0600), a JSON document::

    {"format": "kms-tui-kms-backup", "format_version": 1, "backup_id", "deployment_identity",
     "snapshot_generation", "created_at", "backend": "local", "backup_kek_id",
     "backup_kek_version", "sanitized_config", "artifacts": [{"key_id", "nonce", "ciphertext"}],
     "manifest_digest"}

Each artifact is one key record (all fields, material base64) as compact JSON, sealed with
AES-256-GCM under the backup KEK with a fresh 12-byte nonce and ``"<backup_id>/<key_id>"`` as
associated data. ``manifest_digest`` is the SHA-256 hex of the canonical JSON (sorted keys,
compact) of the document without that field. The restore ``bundle`` field names the backup id.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms_tui.embedded import timefmt
from kms_tui.embedded.admin_bodies import FieldSpec
from kms_tui.embedded.admin_render import BodyParseFailed, parse_body
from kms_tui.embedded.config import LOCAL, KmsConfig
from kms_tui.embedded.http import HttpRequest, HttpResponse, json_error, json_response
from kms_tui.embedded.keyrecord import KeyRecord, KeyStoreError, record_fields
from kms_tui.embedded.keystore import LocalKeyStore
from kms_tui.paths import write_private_file

__all__ = [
    "BackupEnv",
    "backup_status",
    "create_backup",
    "read_backup_env",
    "restore",
    "restore_abort",
    "restore_dry_run",
]

BUNDLE_FORMAT = "kms-tui-kms-backup"
BUNDLE_SUFFIX = ".kms-backup.json"
_BACKUP_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_RESPONSIBILITY = {
    "local": "full-material",
    "vault-kv2": "metadata-plus-external-root",
    "vault-transit": "reference-only",
    "aws": "reference-only",
}
_CODES = {
    400: "InvalidRequest",
    409: "Conflict",
    412: "PreconditionFailed",
    500: "InternalError",
    501: "NotImplemented",
    503: "ServiceUnavailable",
}


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _e4(request: HttpRequest, status: int, message: str) -> HttpResponse:
    return json_error(
        status,
        {"success": False, "message": message},
        code=_CODES.get(status, "InternalError"),
        message=message,
        request_id=request.request_id,
    )


@dataclass(frozen=True, slots=True)
class BackupEnv:
    """The backup prerequisites from the environment (KEK never in repr)."""

    backup_dir: Path
    kek_id: str
    kek_version: int
    kek: bytes = b""

    def __repr__(self) -> str:
        return f"BackupEnv(backup_dir={self.backup_dir!r}, kek_id={self.kek_id!r})"


def read_backup_env(config: KmsConfig | None) -> tuple[BackupEnv | None, str | None]:
    """(env, None) when every prerequisite holds, else (None, reason)."""
    backup_dir = os.environ.get("RUSTFS_KMS_BACKUP_DIR", "").strip()
    if not backup_dir:
        return None, "RUSTFS_KMS_BACKUP_DIR is not set"
    if not os.path.isabs(backup_dir):
        return None, "RUSTFS_KMS_BACKUP_DIR must be an absolute path"
    raw_kek = os.environ.get("RUSTFS_KMS_BACKUP_KEK", "").strip()
    if not raw_kek:
        return None, "RUSTFS_KMS_BACKUP_KEK is not set"
    try:
        kek = base64.b64decode(raw_kek, validate=True)
    except (binascii.Error, ValueError):
        return None, "RUSTFS_KMS_BACKUP_KEK must be base64 of exactly 32 bytes"
    if len(kek) != 32:
        return None, "RUSTFS_KMS_BACKUP_KEK must be base64 of exactly 32 bytes"
    if (
        config is not None
        and config.master_key is not None
        and (kek == config.master_key.encode() or raw_kek == config.master_key)
    ):
        return None, "RUSTFS_KMS_BACKUP_KEK must not equal a KMS backend secret"
    kek_id = os.environ.get("RUSTFS_KMS_BACKUP_KEK_ID", "").strip()
    if not kek_id:
        return None, "RUSTFS_KMS_BACKUP_KEK_ID is not set"
    raw_version = os.environ.get("RUSTFS_KMS_BACKUP_KEK_VERSION", "").strip()
    version = 1
    if raw_version:
        if not raw_version.isascii() or not raw_version.isdigit() or int(raw_version) > 2**32 - 1:
            return None, "RUSTFS_KMS_BACKUP_KEK_VERSION must be an unsigned 32-bit integer"
        version = int(raw_version)
    return BackupEnv(Path(backup_dir), kek_id, version, kek), None


def backup_status(service: Any, request: HttpRequest) -> HttpResponse:
    """GET /kms/backup: always 200."""
    config: KmsConfig | None = service.config
    env, env_problem = read_backup_env(config)
    reason: str | None = None
    if config is None:
        reason = "kms is not configured"
    elif env_problem is not None:
        reason = f"backup prerequisites missing: {env_problem}"
    elif config.backend != LOCAL:
        reason = f"backend '{config.backend}' does not support KMS backup export"
    elif not service.is_running:
        reason = "kms service is not running"
    payload: dict[str, Any] = {
        "service_status": service.status_debug(),
        "backend": config.backend if config is not None else None,
        "responsibility": _RESPONSIBILITY.get(config.backend) if config is not None else None,
        "export_supported": config is not None and config.backend == LOCAL,
        "deployment_identity": service.deployment_id or None,
        "backup_root": os.environ.get("RUSTFS_KMS_BACKUP_DIR") or None,
        "backup_kek_configured": env is not None,
        "backup_kek_id": env.kek_id if env is not None else None,
        "backup_kek_version": env.kek_version if env is not None else None,
        "target_key_dir": config.key_dir if config is not None else None,
    }
    if reason is not None:
        payload["unavailable_reason"] = reason
    return json_response(200, payload)


def _preconditions(service: Any, *, need_running: bool) -> tuple[BackupEnv, KmsConfig]:
    config: KmsConfig | None = service.config
    env, problem = read_backup_env(config)
    if env is None:
        raise _Refusal(412, f"backup prerequisites missing: {problem}")
    if config is None:
        raise _Refusal(409, "kms is not configured")
    if not service.deployment_id:
        raise _Refusal(409, "kms deployment identity is not available")
    if need_running and not service.is_running:
        raise _Refusal(503, "kms service is not running")
    if config.backend != LOCAL:
        raise _Refusal(
            501, f"KMS backup is supported only for the local backend, not '{config.backend}'"
        )
    return env, config


def _check_backup_id(backup_id: str) -> None:
    if not _BACKUP_ID.match(backup_id) or backup_id.startswith(".") or backup_id in (".", ".."):
        raise _Refusal(
            400,
            f"invalid backup id '{backup_id}': use at most 128 characters from [A-Za-z0-9._-], "
            "not starting with '.'",
        )


def _digest(document: dict[str, Any]) -> str:
    body = {k: v for k, v in document.items() if k != "manifest_digest"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _record_json(record: KeyRecord) -> bytes:
    return json.dumps(
        {
            "key_id": record.key_id,
            "material": base64.b64encode(record.material).decode(),
            **record_fields(record),
        },
        separators=(",", ":"),
    ).encode()


def create_backup(service: Any, request: HttpRequest) -> HttpResponse:
    """POST /kms/backup: export every readable key sealed under the backup KEK."""
    try:
        fields = (
            parse_body(request, (FieldSpec("backup_id", "str"),), "KmsBackupRequest")
            if request.body.strip()
            else {}
        )
    except BodyParseFailed as failed:
        return failed.response
    try:
        with service.lock:
            env, config = _preconditions(service, need_running=True)
            backup_id = fields.get("backup_id") or f"backup-{uuid.uuid4().hex}"
            _check_backup_id(backup_id)
            store: LocalKeyStore = service.keys.require_store()
            records = [store.get(key_id) for key_id in store.key_ids()]
            generation = int(service.now().timestamp() * 1000)
            aead = AESGCM(env.kek)
            artifacts = []
            for record in records:
                nonce = os.urandom(12)
                sealed = aead.encrypt(
                    nonce, _record_json(record), f"{backup_id}/{record.key_id}".encode()
                )
                artifacts.append(
                    {
                        "key_id": record.key_id,
                        "nonce": base64.b64encode(nonce).decode(),
                        "ciphertext": base64.b64encode(sealed).decode(),
                    }
                )
            document: dict[str, Any] = {
                "format": BUNDLE_FORMAT,
                "format_version": 1,
                "backup_id": backup_id,
                "deployment_identity": service.deployment_id,
                "snapshot_generation": generation,
                "created_at": timefmt.format_zoned(service.now()),
                "backend": LOCAL,
                "backup_kek_id": env.kek_id,
                "backup_kek_version": env.kek_version,
                "sanitized_config": config.sanitized(),
                "artifacts": artifacts,
            }
            document["manifest_digest"] = _digest(document)
            target = env.backup_dir / f"{backup_id}{BUNDLE_SUFFIX}"
            try:
                write_private_file(
                    target, json.dumps(document, indent=2).encode(), create_only=True
                )
            except FileExistsError as err:
                raise _Refusal(409, f"backup '{backup_id}' already exists") from err
            except OSError as err:
                raise _Refusal(500, f"failed to export KMS backup: {err.strerror}") from err
    except _Refusal as refusal:
        return _e4(request, refusal.status, str(refusal))
    return json_response(
        200,
        {
            "backup_id": backup_id,
            "snapshot_generation": generation,
            "deployment_identity": service.deployment_id,
            "artifact_count": len(artifacts),
            "manifest_digest": document["manifest_digest"],
            "backup_kek_id": env.kek_id,
            "backup_kek_version": env.kek_version,
            "sanitized_config_included": True,
        },
    )


@dataclass(frozen=True, slots=True)
class _Inspection:
    backup_id: str
    generation: int
    records: tuple[KeyRecord, ...]
    blockers: tuple[dict[str, str], ...]
    bundle_config: dict[str, Any] | None


def _blocked(backup_id: str, code: str, detail: str) -> _Inspection:
    return _Inspection(backup_id, 0, (), ({"code": code, "detail": detail},), None)


def _inspect(env: BackupEnv, bundle: str) -> _Inspection:
    _check_backup_id(bundle)
    path = env.backup_dir / f"{bundle}{BUNDLE_SUFFIX}"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _blocked(bundle, "missing-artifact", f"bundle '{bundle}' not found in backup root")
    except OSError as err:
        return _blocked(bundle, "bundle-corrupted", f"bundle unreadable: {err.strerror}")
    try:
        document = json.loads(raw)
        if not isinstance(document, dict):
            raise ValueError("not an object")
    except ValueError:
        return _blocked(bundle, "bundle-truncated", "bundle is not complete JSON")
    if document.get("format") != BUNDLE_FORMAT or document.get("format_version") != 1:
        return _blocked(bundle, "unknown-format-version", "bundle format or version unknown")
    if document.get("manifest_digest") != _digest(document):
        return _blocked(bundle, "bundle-corrupted", "manifest digest does not match")
    if document.get("backend") != LOCAL:
        return _blocked(bundle, "unsupported-backend", "bundle is not from a local backend")
    if (document.get("backup_kek_id"), document.get("backup_kek_version")) != (
        env.kek_id,
        env.kek_version,
    ):
        return _blocked(bundle, "wrong-backup-kek", "bundle was sealed under another backup KEK")
    aead = AESGCM(env.kek)
    records = []
    try:
        for artifact in document["artifacts"]:
            key_id = str(artifact["key_id"])
            plain = aead.decrypt(
                base64.b64decode(artifact["nonce"]),
                base64.b64decode(artifact["ciphertext"]),
                f"{document['backup_id']}/{key_id}".encode(),
            )
            fields = json.loads(plain)
            records.append(
                KeyRecord(
                    key_id=fields["key_id"],
                    material=base64.b64decode(fields["material"]),
                    version=fields["version"],
                    algorithm=fields["algorithm"],
                    usage=fields["usage"],
                    status=fields["status"],
                    description=fields["description"],
                    metadata=MappingProxyType(dict(fields["metadata"])),
                    created_at=fields["created_at"],
                    rotated_at=fields["rotated_at"],
                    created_by=fields["created_by"],
                    deletion_date=fields["deletion_date"],
                )
            )
    except InvalidTag:
        return _blocked(bundle, "wrong-backup-kek", "an artifact fails authentication")
    except (KeyError, TypeError, ValueError):
        return _blocked(bundle, "incomplete-bundle", "an artifact is malformed")
    return _Inspection(
        str(document["backup_id"]),
        int(document["snapshot_generation"]),
        tuple(records),
        (),
        dict(document["sanitized_config"]),
    )


def _existing_ids(service: Any, config: KmsConfig) -> set[str]:
    if service.is_running:
        return set(service.keys.require_store().key_ids())
    key_dir = Path(config.key_dir or "")
    return {p.name[: -len(".key")] for p in key_dir.glob("*.key")} if key_dir.is_dir() else set()


_RESTORE_BODY = (
    FieldSpec("bundle", "str", required=True, nullable=False),
    FieldSpec("observed_generation", "u64"),
)


def restore_dry_run(service: Any, request: HttpRequest) -> HttpResponse:
    """POST /kms/restore/dry-run: what a restore would do, changing nothing."""
    try:
        fields = parse_body(request, _RESTORE_BODY, "KmsRestoreDryRunRequest")
    except BodyParseFailed as failed:
        return failed.response
    try:
        with service.lock:
            env, config = _preconditions(service, need_running=False)
            inspection = _inspect(env, fields["bundle"])
            existing = _existing_ids(service, config)
    except _Refusal as refusal:
        return _e4(request, refusal.status, str(refusal))
    conflicts = [
        {
            "key_id": r.key_id,
            "kind": "key-already-exists",
            "detail": "a key with this id exists in the target",
        }
        for r in inspection.records
        if r.key_id in existing
    ]
    current = config.sanitized()
    return json_response(
        200,
        {
            "report": {
                "backup_id": inspection.backup_id,
                "target_deployment_identity": service.deployment_id,
                "blockers": list(inspection.blockers),
                "conflicts": conflicts,
                "external_mismatches": [],
            },
            "config_comparison": (
                {
                    "bundle": inspection.bundle_config,
                    "current": current,
                    "identical": inspection.bundle_config == current,
                }
                if inspection.bundle_config is not None
                else None
            ),
        },
    )


def restore(service: Any, request: HttpRequest) -> HttpResponse:
    """POST /kms/restore: the service must be stopped; both confirmations required."""
    specs = _RESTORE_BODY + (
        FieldSpec("confirm_backup_id", "str", required=True, nullable=False),
        FieldSpec(
            "confirm_conflict_policy",
            "enum",
            required=True,
            nullable=False,
            variants=("fail", "restore-into-empty-target"),
        ),
    )
    try:
        fields = parse_body(request, specs, "KmsRestoreRequest")
    except BodyParseFailed as failed:
        return failed.response
    try:
        with service.lock:
            env, config = _preconditions(service, need_running=False)
            if service.is_running:
                raise _Refusal(409, "stop the KMS service before restoring a backup")
            inspection = _inspect(env, fields["bundle"])
            if inspection.blockers:
                details = "; ".join(f"{b['code']}: {b['detail']}" for b in inspection.blockers)
                raise _Refusal(400, f"backup bundle cannot be restored: {details}")
            if fields["confirm_backup_id"] != inspection.backup_id:
                raise _Refusal(400, "confirm_backup_id does not match the bundle's backup id")
            existing = _existing_ids(service, config)
            if fields["confirm_conflict_policy"] == "restore-into-empty-target" and existing:
                raise _Refusal(409, "restore target is not empty")
            clashing = sorted(r.key_id for r in inspection.records if r.key_id in existing)
            if clashing:
                raise _Refusal(409, f"restore refused: keys already exist: {', '.join(clashing)}")
            store = LocalKeyStore(
                Path(config.key_dir or ""),
                config.master_key,
                file_permissions=config.file_permissions,
                allow_plaintext=config.allow_insecure_dev_defaults,
            )
            try:
                store.open()
                for record in inspection.records:
                    store.create(record)
            except KeyStoreError as err:
                raise _Refusal(500, f"restore failed: {err}") from err
            finally:
                store.close()
    except _Refusal as refusal:
        return _e4(request, refusal.status, str(refusal))
    return json_response(
        200,
        {
            "backup_id": inspection.backup_id,
            "snapshot_generation": inspection.generation,
            "restored_key_ids": [r.key_id for r in inspection.records],
            "salt_restored": False,
            "resumed": False,
        },
    )


def restore_abort(service: Any, request: HttpRequest) -> HttpResponse:
    """POST /kms/restore/abort: restores here are per-key atomic, so nothing is left half-done."""
    try:
        fields = parse_body(
            request,
            (FieldSpec("confirm_target_key_dir", "str", required=True, nullable=False),),
            "KmsRestoreAbortRequest",
        )
    except BodyParseFailed as failed:
        return failed.response
    try:
        with service.lock:
            _env, config = _preconditions(service, need_running=False)
            if fields["confirm_target_key_dir"] != config.key_dir:
                raise _Refusal(400, "confirm_target_key_dir does not match the configured key_dir")
            marker = Path(config.key_dir or "") / ".restore-commit.json"
            with contextlib.suppress(FileNotFoundError):
                marker.unlink()
    except _Refusal as refusal:
        return _e4(request, refusal.status, str(refusal))
    return json_response(200, {"target_key_dir": config.key_dir, "aborted": True})
