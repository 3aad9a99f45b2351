"""KMS backup bundles as local files, for the console and the command line alike.

The bundle is the server's own file, byte for byte (format documented in
:mod:`kms_tui.embedded.backup`): a JSON document with ``backup_id``, ``created_at``,
``deployment_identity``, ``backend``, ``backup_kek_id``/``_version``, ``snapshot_generation``,
``artifacts`` (one sealed key record each, its ``key_id`` in clear) and ``manifest_digest``.
Here: reading and checking a bundle, summing it up without secrets, reading its keys' states
when the backup KEK is in this process's environment (only state and deletion date are kept),
placing it in the server's backup directory, and why a server cannot back up or restore now.
Problems are :class:`BundleError` (a message in plain words and a stable code).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kms_tui.api.backup_models import BackupStatus
    from kms_tui.api.errors import KmsError

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_SUFFIX",
    "Bundle",
    "BundleError",
    "bundle_from_bytes",
    "manifest_digest",
    "place_bundle",
    "read_bundle",
    "refusal_text",
    "sealed_statuses",
    "unavailable_reason",
]

BUNDLE_FORMAT = "kms-tui-kms-backup"
BUNDLE_SUFFIX = ".kms-backup.json"
KEK_ENV = "RUSTFS_KMS_BACKUP_KEK"
KEK_ID_ENV = "RUSTFS_KMS_BACKUP_KEK_ID"
KEK_VERSION_ENV = "RUSTFS_KMS_BACKUP_KEK_VERSION"


class BundleError(Exception):
    """A bundle file that cannot be used, read, written or placed (nothing was changed)."""

    def __init__(self, message: str, code: str = "BadBundle") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z"


@dataclass(frozen=True, slots=True)
class Bundle:
    """What a bundle says about itself, in clear (and its bytes, for placing it again)."""

    path: Path | None
    raw: bytes
    document: Mapping[str, Any]
    backup_id: str
    created_at: datetime | None
    deployment_identity: str | None
    backend: str | None
    kek_id: str | None
    kek_version: int | None
    snapshot_generation: int | None
    manifest_digest: str
    key_ids: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        """The JSON shape shared by ``backup create``, ``inspect`` and ``restore``."""
        return {
            "backup_id": self.backup_id,
            "created_at": _iso(self.created_at),
            "source": {
                "deployment_identity": self.deployment_identity,
                "backend": self.backend,
                "snapshot_generation": self.snapshot_generation,
            },
            "backup_kek_id": self.kek_id,
            "backup_kek_version": self.kek_version,
            "manifest_digest": self.manifest_digest,
            "key_count": len(self.key_ids),
        }


def manifest_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of everything but ``manifest_digest``."""
    body = {k: v for k, v in document.items() if k != "manifest_digest"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _bad(where: Path | str, why: str) -> BundleError:
    return BundleError(f"{where}: not a usable backup bundle: {why}")


def _opt_str(document: Mapping[str, Any], key: str) -> str | None:
    value = document.get(key)
    return value if isinstance(value, str) else None


def _opt_int(document: Mapping[str, Any], key: str) -> int | None:
    value = document.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def bundle_from_bytes(raw: bytes, where: Path | str) -> Bundle:
    """Parse and check a bundle (format, version, digest)."""
    from kms_tui.api.wire import parse_timestamp

    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _bad(where, "it is not complete JSON") from None
    if not isinstance(document, dict):
        raise _bad(where, "it is not a JSON object")
    if document.get("format") != BUNDLE_FORMAT:
        raise _bad(where, f"its format is not {BUNDLE_FORMAT!r}")
    if document.get("format_version") != 1:
        raise _bad(where, f"format version {document.get('format_version')!r} is unknown")
    digest = document.get("manifest_digest")
    if not isinstance(digest, str) or digest != manifest_digest(document):
        raise _bad(where, "its manifest digest does not match (the file is damaged or changed)")
    backup_id = document.get("backup_id")
    artifacts = document.get("artifacts")
    if not isinstance(backup_id, str) or not backup_id or not isinstance(artifacts, list):
        raise _bad(where, "it has no backup_id or no artifacts")
    key_ids = []
    for artifact in artifacts:
        if not isinstance(artifact, dict) or not isinstance(artifact.get("key_id"), str):
            raise _bad(where, "an artifact has no key_id")
        key_ids.append(artifact["key_id"])
    created_at = None
    created_text = _opt_str(document, "created_at")
    if created_text:
        try:
            created_at = parse_timestamp(created_text)
        except ValueError:
            created_at = None
    return Bundle(
        path=Path(where) if isinstance(where, Path) else None,
        raw=raw,
        document=document,
        backup_id=backup_id,
        created_at=created_at,
        deployment_identity=_opt_str(document, "deployment_identity"),
        backend=_opt_str(document, "backend"),
        kek_id=_opt_str(document, "backup_kek_id"),
        kek_version=_opt_int(document, "backup_kek_version"),
        snapshot_generation=_opt_int(document, "snapshot_generation"),
        manifest_digest=digest,
        key_ids=tuple(key_ids),
    )


def read_bundle(path: Path) -> Bundle:
    """Read and check the bundle file at ``path``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{path}: no such file", "FileNotFound") from None
    except IsADirectoryError:
        raise BundleError(f"{path}: is a directory") from None
    except OSError as err:
        raise BundleError(f"{path}: cannot read it: {err.strerror}", "FileUnreadable") from err
    return bundle_from_bytes(raw, path)


def sealed_statuses(
    bundle: Bundle, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, tuple[str | None, str | None]] | None, str | None]:
    """``{key_id: (status, deletion_date)}`` read with the backup KEK, or None and why not.

    ``status`` is the sealed record's own word (``Active``, ``Disabled``, ...); the key
    material is opened in memory only and never kept.
    """
    env = os.environ if environ is None else environ
    text = env.get(KEK_ENV, "").strip()
    if not text:
        return None, (
            f"sealed under backup KEK {bundle.kek_id!r}: set {KEK_ENV} and {KEK_ID_ENV} in the "
            "environment to read the key states"
        )
    try:
        kek = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        kek = b""
    if len(kek) != 32:
        return None, f"{KEK_ENV} is not base64 of 32 bytes; the key states stay sealed"
    version_text = env.get(KEK_VERSION_ENV, "").strip() or "1"
    version = int(version_text) if version_text.isdigit() else None
    if env.get(KEK_ID_ENV, "").strip() != bundle.kek_id or version != bundle.kek_version:
        return None, (
            f"the bundle is sealed under backup KEK {bundle.kek_id!r} version "
            f"{bundle.kek_version}, not the one in the environment; the key states stay sealed"
        )
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(kek)
    found: dict[str, tuple[str | None, str | None]] = {}
    try:
        for artifact in bundle.document["artifacts"]:
            key_id = artifact["key_id"]
            plain = aead.decrypt(
                base64.b64decode(artifact["nonce"]),
                base64.b64decode(artifact["ciphertext"]),
                f"{bundle.backup_id}/{key_id}".encode(),
            )
            fields = json.loads(plain)  # the whole record: only two fields are kept
            status = fields.get("status")
            deletion = fields.get("deletion_date")
            found[key_id] = (
                status if isinstance(status, str) else None,
                deletion if isinstance(deletion, str) and deletion else None,
            )
    except InvalidTag:
        return None, "the backup KEK in the environment does not open this bundle"
    except (KeyError, TypeError, ValueError):
        return None, "a sealed record is malformed; the key states could not be read"
    return found, None


def place_bundle(bundle: Bundle, root: Path) -> tuple[Path, bool]:
    """Put the bundle's bytes into the server's backup directory when it is reachable here.

    Returns (its path there, whether this call wrote it). A different bundle under the same id
    is refused; a directory this machine cannot see is left to the server's dry run to judge.
    """
    from kms_tui import paths

    there = root / f"{bundle.backup_id}{BUNDLE_SUFFIX}"
    if not root.is_dir():
        return there, False
    try:
        existing = there.read_bytes()
    except FileNotFoundError:
        existing = None
    except OSError as err:
        raise BundleError(f"{there}: cannot read it: {err.strerror}", "BundleNotReachable") from err
    if existing is not None:
        if existing != bundle.raw:
            raise BundleError(
                f"the server's backup directory already holds a different bundle with id "
                f"{bundle.backup_id} ({there}); nothing was changed",
                "BundleConflict",
            )
        return there, False
    try:
        paths.write_private_file(there, bundle.raw, create_only=True, make_parents=False)
    except OSError as err:
        raise BundleError(
            f"cannot copy the bundle into the server's backup directory {root}: "
            f"{err.strerror}; copy {bundle.path} to {there} on the server, then try again",
            "BundleNotReachable",
        ) from err
    return there, True


def unavailable_reason(status: BackupStatus, *, restoring: bool) -> str | None:
    """Why this server cannot make (or restore) a backup now, or None when it can."""
    if not status.export_supported:
        return status.unavailable_reason or f"the {status.backend or 'current'} backend has none"
    if not status.backup_kek_configured or not status.backup_root:
        return status.unavailable_reason or "RUSTFS_KMS_BACKUP_DIR / _KEK are not set"
    if status.unavailable_reason and not restoring:
        return status.unavailable_reason
    return None


def refusal_text(err: KmsError, what: str) -> str | None:
    """A 501 or 403 on the backup routes in plain words (None: not one of those)."""
    from kms_tui.api.errors import KmsAccessDenied, KmsNotSupported

    if isinstance(err, KmsNotSupported):
        return f"this server does not support KMS backup and restore ({err.message})"
    if isinstance(err, KmsAccessDenied):
        return (
            f"these credentials may not {what} (the server's policy needs kms:Backup / "
            f"kms:Restore): {err.message}"
        )
    return None
