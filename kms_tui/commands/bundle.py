"""A KMS backup bundle as a local file: read, checked, summed up without secrets.

The bundle is the server's own file, byte for byte (kms-tui's format, documented in
:mod:`kms_tui.embedded.backup`): a JSON document with ``backup_id``, ``created_at``,
``deployment_identity``, ``backend``, ``backup_kek_id``/``_version``, ``snapshot_generation``,
``artifacts`` (one sealed key record each, its ``key_id`` in clear) and ``manifest_digest``,
the SHA-256 of the canonical JSON of the rest. The key records are sealed (AES-256-GCM) under the
server's backup KEK, so a key's *state* can be read only with that KEK: when
``RUSTFS_KMS_BACKUP_KEK`` (and a matching ``RUSTFS_KMS_BACKUP_KEK_ID``/``_VERSION``) is set in
this process's environment, each record is opened in memory and only its state and deletion
date are kept; the key material is never printed or written anywhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kms_tui.commands.errors import EXIT_USAGE, CommandError
from kms_tui.commands.records import iso

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_SUFFIX",
    "Bundle",
    "bundle_from_bytes",
    "manifest_digest",
    "read_bundle",
    "sealed_states",
]

BUNDLE_FORMAT = "kms-tui-kms-backup"
BUNDLE_SUFFIX = ".kms-backup.json"
KEK_ENV = "RUSTFS_KMS_BACKUP_KEK"
KEK_ID_ENV = "RUSTFS_KMS_BACKUP_KEK_ID"
KEK_VERSION_ENV = "RUSTFS_KMS_BACKUP_KEK_VERSION"


def _bad(path: Path | str, why: str) -> CommandError:
    return CommandError(f"{path}: not a usable backup bundle: {why}", code="BadBundle")


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
            "created_at": iso(self.created_at),
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


def _opt_str(document: Mapping[str, Any], key: str) -> str | None:
    value = document.get(key)
    return value if isinstance(value, str) else None


def _opt_int(document: Mapping[str, Any], key: str) -> int | None:
    value = document.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def bundle_from_bytes(raw: bytes, where: Path | str) -> Bundle:
    """Parse and check a bundle (format, version, digest); a problem is exit 2."""
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
        raise CommandError(f"{path}: no such file", code="FileNotFound") from None
    except IsADirectoryError:
        raise CommandError(f"{path}: is a directory", code="BadBundle") from None
    except OSError as err:
        raise CommandError(
            f"{path}: cannot read it: {err.strerror}", code="FileUnreadable", exit_code=EXIT_USAGE
        ) from err
    return bundle_from_bytes(raw, path)


def _kek(bundle: Bundle, environ: Mapping[str, str]) -> tuple[bytes | None, str]:
    raw = environ.get(KEK_ENV, "").strip()
    if not raw:
        return None, (
            f"sealed under backup KEK {bundle.kek_id!r}: set {KEK_ENV} and {KEK_ID_ENV} in the "
            "environment to read the key states"
        )
    try:
        kek = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        kek = b""
    if len(kek) != 32:
        return None, f"{KEK_ENV} is not base64 of 32 bytes; the key states stay sealed"
    kek_id = environ.get(KEK_ID_ENV, "").strip()
    version_text = environ.get(KEK_VERSION_ENV, "").strip() or "1"
    version = int(version_text) if version_text.isdigit() else None
    if kek_id != bundle.kek_id or version != bundle.kek_version:
        return None, (
            f"the bundle is sealed under backup KEK {bundle.kek_id!r} version "
            f"{bundle.kek_version}, not the one in the environment; the key states stay sealed"
        )
    return kek, ""


def sealed_states(
    bundle: Bundle, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, tuple[str, str | None]] | None, str | None]:
    """``{key_id: (state, deletion_date)}`` read with the backup KEK, or None and why not."""
    kek, why = _kek(bundle, os.environ if environ is None else environ)
    if kek is None:
        return None, why
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from kms_tui.api.wire import KeyStatus
    from kms_tui.tui.key_usability import key_state_of

    aead = AESGCM(kek)
    states: dict[str, tuple[str, str | None]] = {}
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
            state = key_state_of(KeyStatus(status)).value if isinstance(status, str) else "?"
            states[key_id] = (state, _iso_text(deletion))
    except InvalidTag:
        return None, "the backup KEK in the environment does not open this bundle"
    except (KeyError, TypeError, ValueError):
        return None, "a sealed record is malformed; the key states could not be read"
    return states, None


def _iso_text(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    from kms_tui.api.wire import parse_timestamp

    try:
        return iso(parse_timestamp(value))
    except ValueError:
        return None
