"""RustFS's data-key envelope: the compact JSON that is the Local backend's ciphertext_blob.

The context is checked, not bound: like RustFS's Local backend, the encryption context sits in
plaintext in the envelope and is not AES-GCM associated data.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms_tui.embedded.keyrecord import KeyRecord, load_strict_json
from kms_tui.embedded.timefmt import format_zoned, parse_zoned, utc_now

__all__ = [
    "ENVELOPE_FIELDS",
    "KEY_SPECS",
    "ContextMismatchError",
    "Envelope",
    "EnvelopeError",
    "UnsupportedKeySpecError",
    "decrypt_data_key",
    "encode_envelope",
    "generate_data_key",
    "is_data_key_envelope",
    "parse_envelope",
]

KEY_SPECS: dict[str, tuple[str, int]] = {
    "Aes256": ("AES_256", 32),
    "Aes128": ("AES_128", 16),
    "ChaCha20": ("ChaCha20", 32),
}
_LENGTH_BY_INTERNAL_SPEC = {internal: length for internal, length in KEY_SPECS.values()}
ENVELOPE_FIELDS = (
    "key_id",
    "master_key_id",
    "key_spec",
    "encrypted_key",
    "nonce",
    "encryption_context",
    "created_at",
)
_NONCE_BYTES = 12
_WHITESPACE = b" \t\r\n"


class EnvelopeError(Exception):
    """A blob that is not a usable envelope, or one that fails authentication."""


class ContextMismatchError(EnvelopeError):
    """The request's encryption context does not satisfy the envelope's."""


class UnsupportedKeySpecError(EnvelopeError, ValueError):
    """A key spec that is neither an API spelling nor an internal one."""


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed data-key envelope (only ciphertext inside, so repr is safe)."""

    key_id: str
    master_key_id: str
    key_spec: str
    encrypted_key: bytes
    nonce: bytes
    encryption_context: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    created_at: str = ""
    master_key_version: int | None = None

    def __post_init__(self) -> None:
        """Keep the context read-only so a shared envelope cannot change under a caller."""
        object.__setattr__(self, "encryption_context", _frozen(self.encryption_context))

    def __hash__(self) -> int:
        """Hash by identity fields; the context mapping itself is not hashable."""
        return hash((self.key_id, self.master_key_id, self.nonce))


def _internal_spec(key_spec: str) -> tuple[str, int]:
    if key_spec in KEY_SPECS:
        return KEY_SPECS[key_spec]
    if key_spec in _LENGTH_BY_INTERNAL_SPEC:
        return key_spec, _LENGTH_BY_INTERNAL_SPEC[key_spec]
    raise UnsupportedKeySpecError(f"unsupported key spec {key_spec!r}")


def encode_envelope(envelope: Envelope) -> bytes:
    """Compact UTF-8 JSON in the reference field order; master_key_version only when set."""
    document: dict[str, Any] = {
        "key_id": envelope.key_id,
        "master_key_id": envelope.master_key_id,
        "key_spec": envelope.key_spec,
        "encrypted_key": list(envelope.encrypted_key),
        "nonce": list(envelope.nonce),
        "encryption_context": dict(envelope.encryption_context),
        "created_at": envelope.created_at,
    }
    if envelope.master_key_version is not None:
        document["master_key_version"] = envelope.master_key_version
    try:
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise EnvelopeError("encryption context is not valid Unicode") from None


def generate_data_key(
    master: KeyRecord, key_spec: str, encryption_context: Mapping[str, str]
) -> tuple[bytes, bytes]:
    """A fresh data key and its envelope, sealed under the master key's material."""
    internal_spec, length = _internal_spec(key_spec)
    plaintext_key = os.urandom(length)
    nonce = os.urandom(_NONCE_BYTES)
    try:
        sealed = AESGCM(master.material).encrypt(nonce, plaintext_key, None)
    except ValueError:
        raise EnvelopeError(f"master key {master.key_id!r} has unusable material") from None
    envelope = Envelope(
        key_id=str(uuid.uuid4()),
        master_key_id=master.key_id,
        key_spec=internal_spec,
        encrypted_key=sealed,
        nonce=nonce,
        encryption_context=encryption_context,
        created_at=format_zoned(utc_now()),
    )
    return plaintext_key, encode_envelope(envelope)


def is_data_key_envelope(blob: bytes) -> bool:
    """RustFS's sniff: first non-blank byte is ``{`` and all seven envelope fields are there."""
    if not blob.lstrip(_WHITESPACE).startswith(b"{"):
        return False
    try:
        document = json.loads(blob.decode("utf-8"))
    except (ValueError, RecursionError):
        return False
    return isinstance(document, dict) and all(name in document for name in ENVELOPE_FIELDS)


def _byte_array(value: Any, name: str) -> bytes:
    if not isinstance(value, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 255 for item in value
    ):
        raise EnvelopeError(f"envelope field {name!r} must be an array of bytes")
    return bytes(value)


def _string(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str):
        raise EnvelopeError(f"envelope field {name!r} must be a string")
    return value


def parse_envelope(blob: bytes) -> Envelope:
    """Decode an envelope: duplicate fields rejected, unknown fields ignored."""
    try:
        document = load_strict_json(blob)
    except (ValueError, RecursionError) as err:
        raise EnvelopeError(f"ciphertext is not a data-key envelope: {err}") from None
    if not isinstance(document, dict):
        raise EnvelopeError("ciphertext is not a data-key envelope")
    missing = [name for name in ENVELOPE_FIELDS if name not in document]
    if missing:
        raise EnvelopeError(f"envelope is missing {', '.join(missing)}")
    context = document["encryption_context"]
    if not isinstance(context, dict) or not all(isinstance(v, str) for v in context.values()):
        raise EnvelopeError("envelope field 'encryption_context' must map strings to strings")
    created_at = _string(document, "created_at")
    try:
        parse_zoned(created_at)
    except ValueError:
        raise EnvelopeError("envelope field 'created_at' is not a timestamp") from None
    version = document.get("master_key_version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise EnvelopeError("envelope field 'master_key_version' must be an integer")
    return Envelope(
        key_id=_string(document, "key_id"),
        master_key_id=_string(document, "master_key_id"),
        key_spec=_string(document, "key_spec"),
        encrypted_key=_byte_array(document["encrypted_key"], "encrypted_key"),
        nonce=_byte_array(document["nonce"], "nonce"),
        encryption_context=context,
        created_at=created_at,
        master_key_version=version,
    )


def check_context(envelope_context: Mapping[str, str], request_context: Mapping[str, str]) -> None:
    """RustFS's authorization rule: each envelope entry must be matched; empty request skips."""
    if not request_context:
        return
    for name, expected in envelope_context.items():
        actual = request_context.get(name)
        if actual is None:
            raise ContextMismatchError(f"Missing context key '{name}'")
        if actual != expected:
            raise ContextMismatchError(
                f"Context mismatch for key '{name}': expected '{expected}', got '{actual}'"
            )


def decrypt_data_key(
    envelope: Envelope, master: KeyRecord, request_context: Mapping[str, str]
) -> bytes:
    """Check the context, then unseal the data key with the master key's material."""
    if envelope.master_key_id != master.key_id:
        raise EnvelopeError(
            f"envelope belongs to master key {envelope.master_key_id!r}, not {master.key_id!r}"
        )
    check_context(envelope.encryption_context, request_context)
    if len(envelope.nonce) != _NONCE_BYTES:
        raise EnvelopeError("Invalid nonce length")
    try:
        plaintext_key = AESGCM(master.material).decrypt(
            envelope.nonce, envelope.encrypted_key, None
        )
    except InvalidTag:
        raise EnvelopeError("data key failed authentication under the master key") from None
    except ValueError:
        raise EnvelopeError(f"master key {master.key_id!r} has unusable material") from None
    expected_length = _LENGTH_BY_INTERNAL_SPEC.get(envelope.key_spec)
    if expected_length is not None and len(plaintext_key) != expected_length:
        raise EnvelopeError(f"data key length does not match key spec {envelope.key_spec!r}")
    return plaintext_key
