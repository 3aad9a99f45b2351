"""The data-key envelope: RustFS's compact JSON ciphertext_blob and its context rule."""

from __future__ import annotations

import json
import re

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms_tui.embedded.envelope import (
    KEY_SPECS,
    ContextMismatchError,
    Envelope,
    EnvelopeError,
    UnsupportedKeySpecError,
    decrypt_data_key,
    generate_data_key,
    is_data_key_envelope,
    parse_envelope,
)
from kms_tui.embedded.keyrecord import KeyRecord
from kms_tui.embedded.timefmt import parse_zoned

MASTER = KeyRecord(key_id="app-key", material=bytes(range(32)), created_at="2026-01-01T00:00:00Z")
OTHER = KeyRecord(key_id="other", material=bytes(range(1, 33)), created_at="2026-01-01T00:00:00Z")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.mark.parametrize(
    ("api_spec", "internal_spec", "length"),
    [("Aes256", "AES_256", 32), ("Aes128", "AES_128", 16), ("ChaCha20", "ChaCha20", 32)],
)
def test_generate_then_decrypt_for_every_key_spec(
    api_spec: str, internal_spec: str, length: int
) -> None:
    plaintext, blob = generate_data_key(MASTER, api_spec, {"bucket": "b"})
    assert len(plaintext) == length
    envelope = parse_envelope(blob)
    assert envelope.key_spec == internal_spec
    assert len(envelope.encrypted_key) == length + 16
    assert decrypt_data_key(envelope, MASTER, {"bucket": "b"}) == plaintext
    assert KEY_SPECS[api_spec] == (internal_spec, length)


def test_blob_is_compact_json_in_reference_order() -> None:
    _, blob = generate_data_key(MASTER, "Aes256", {"bucket": "analytics-data", "ключ": "é"})
    text = blob.decode("utf-8")
    document = json.loads(text)
    assert list(document) == [
        "key_id",
        "master_key_id",
        "key_spec",
        "encrypted_key",
        "nonce",
        "encryption_context",
        "created_at",
    ]
    assert json.dumps(document, separators=(",", ":"), ensure_ascii=False) == text
    assert UUID4.match(document["key_id"])
    assert document["master_key_id"] == "app-key"
    assert document["key_spec"] == "AES_256"
    assert all(isinstance(b, int) and 0 <= b <= 255 for b in document["encrypted_key"])
    assert len(document["encrypted_key"]) == 48
    assert len(document["nonce"]) == 12
    assert document["encryption_context"] == {"bucket": "analytics-data", "ключ": "é"}
    assert document["created_at"].endswith("+00:00[UTC]")
    parse_zoned(document["created_at"])
    assert "master_key_version" not in document


def test_data_key_is_sealed_under_master_material_without_aad() -> None:
    plaintext, blob = generate_data_key(MASTER, "Aes128", {"a": "b"})
    document = json.loads(blob)
    opened = AESGCM(MASTER.material).decrypt(
        bytes(document["nonce"]), bytes(document["encrypted_key"]), None
    )
    assert opened == plaintext


def test_each_generation_is_fresh() -> None:
    first_key, first_blob = generate_data_key(MASTER, "Aes256", {})
    second_key, second_blob = generate_data_key(MASTER, "Aes256", {})
    first, second = json.loads(first_blob), json.loads(second_blob)
    assert first_key != second_key
    assert first["key_id"] != second["key_id"]
    assert first["nonce"] != second["nonce"]


def test_unknown_key_spec_is_refused() -> None:
    with pytest.raises(UnsupportedKeySpecError):
        generate_data_key(MASTER, "Aes512", {})


def test_hand_built_envelope_decrypts() -> None:
    data_key = bytes(range(200, 232))
    nonce = bytes([5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])
    sealed = AESGCM(MASTER.material).encrypt(nonce, data_key, None)
    blob = (
        '  {"key_id": "test-key-id", "master_key_id": "app-key", "key_spec": "AES_256", '
        f'"encrypted_key": {list(sealed)}, "nonce": {list(nonce)}, '
        '"encryption_context": {"bucket": "test-bucket"}, '
        '"created_at": "2024-01-01T00:00:00+00:00[UTC]", "extra": true}'
    ).encode()
    assert is_data_key_envelope(blob)
    envelope = parse_envelope(blob)
    assert envelope.key_id == "test-key-id"
    assert envelope.master_key_version is None
    assert decrypt_data_key(envelope, MASTER, {"bucket": "test-bucket"}) == data_key


def test_plain_rfc3339_created_at_and_version_field_are_accepted() -> None:
    blob = (
        b'{"key_id":"d","master_key_id":"app-key","key_spec":"AES_256","encrypted_key":[1],'
        b'"nonce":[1,2,3,4,5,6,7,8,9,10,11,12],"encryption_context":{},'
        b'"created_at":"2024-01-01T00:00:00Z","master_key_version":3}'
    )
    envelope = parse_envelope(blob)
    assert envelope.created_at == "2024-01-01T00:00:00Z"
    assert envelope.master_key_version == 3


# ---------------------------------------------------------------------------------- context


def _envelope(context: dict[str, str]) -> tuple[bytes, Envelope]:
    plaintext, blob = generate_data_key(MASTER, "Aes256", context)
    return plaintext, parse_envelope(blob)


def test_matching_context_with_extra_request_keys_decrypts() -> None:
    plaintext, envelope = _envelope({"bucket": "b", "object": "o"})
    request = {"object": "o", "bucket": "b", "unrelated": "x"}
    assert decrypt_data_key(envelope, MASTER, request) == plaintext


def test_empty_request_context_skips_the_check() -> None:
    plaintext, envelope = _envelope({"bucket": "b"})
    assert decrypt_data_key(envelope, MASTER, {}) == plaintext


def test_mismatched_value_names_key_expected_and_got() -> None:
    _, envelope = _envelope({"bucket": "a"})
    with pytest.raises(ContextMismatchError) as caught:
        decrypt_data_key(envelope, MASTER, {"bucket": "b"})
    assert str(caught.value) == "Context mismatch for key 'bucket': expected 'a', got 'b'"


def test_missing_envelope_key_in_request_is_a_mismatch() -> None:
    _, envelope = _envelope({"bucket": "a", "object": "o"})
    with pytest.raises(ContextMismatchError) as caught:
        decrypt_data_key(envelope, MASTER, {"bucket": "a"})
    assert str(caught.value) == "Missing context key 'object'"


def test_empty_envelope_context_accepts_any_request() -> None:
    plaintext, envelope = _envelope({})
    assert decrypt_data_key(envelope, MASTER, {"anything": "at all"}) == plaintext


# --------------------------------------------------------------------------------- failures


def test_tampered_ciphertext_fails_authentication() -> None:
    _, blob = generate_data_key(MASTER, "Aes256", {})
    document = json.loads(blob)
    document["encrypted_key"][0] ^= 1
    envelope = parse_envelope(json.dumps(document).encode())
    with pytest.raises(EnvelopeError) as caught:
        decrypt_data_key(envelope, MASTER, {})
    assert not isinstance(caught.value, ContextMismatchError)


def test_wrong_master_key_is_refused() -> None:
    _, blob = generate_data_key(MASTER, "Aes256", {})
    envelope = parse_envelope(blob)
    with pytest.raises(EnvelopeError):
        decrypt_data_key(envelope, OTHER, {})
    impostor = KeyRecord(key_id="app-key", material=OTHER.material)
    with pytest.raises(EnvelopeError):
        decrypt_data_key(envelope, impostor, {})


def test_duplicate_field_is_rejected_and_unknown_ignored() -> None:
    _, blob = generate_data_key(MASTER, "Aes256", {})
    duplicated = blob.replace(b'"key_spec":"AES_256"', b'"key_spec":"AES_256","key_spec":"AES_128"')
    with pytest.raises(EnvelopeError, match="duplicate"):
        parse_envelope(duplicated)
    with_extra = blob[:-1] + b',"future":{"x":[1,2]}}'
    assert parse_envelope(with_extra) == parse_envelope(blob)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"not json",
        b"[1,2,3]",
        b'{"key_id":"x"}',
        b'{"key_id":"x","master_key_id":"m","key_spec":"AES_256","encrypted_key":[256],'
        b'"nonce":[],"encryption_context":{},"created_at":"2024-01-01T00:00:00Z"}',
        b'{"key_id":"x","master_key_id":"m","key_spec":"AES_256","encrypted_key":[1],'
        b'"nonce":[],"encryption_context":{"a":1},"created_at":"2024-01-01T00:00:00Z"}',
        b'{"key_id":"x","master_key_id":"m","key_spec":"AES_256","encrypted_key":[1],'
        b'"nonce":[],"encryption_context":{},"created_at":"yesterday"}',
    ],
)
def test_malformed_blobs_are_refused(blob: bytes) -> None:
    with pytest.raises(EnvelopeError):
        parse_envelope(blob)


def test_bad_nonce_length_is_refused_at_decrypt() -> None:
    _, blob = generate_data_key(MASTER, "Aes256", {})
    document = json.loads(blob)
    document["nonce"] = document["nonce"][:11]
    envelope = parse_envelope(json.dumps(document).encode())
    with pytest.raises(EnvelopeError, match="nonce"):
        decrypt_data_key(envelope, MASTER, {})


def test_envelope_detection() -> None:
    _, blob = generate_data_key(MASTER, "Aes256", {})
    assert is_data_key_envelope(blob)
    assert is_data_key_envelope(b"\n\t " + blob)
    document = json.loads(blob)
    del document["created_at"]
    assert not is_data_key_envelope(json.dumps(document).encode())
    assert not is_data_key_envelope(b"vault:v1:abcdef")
    assert not is_data_key_envelope(b"{broken")
    assert not is_data_key_envelope(b"\xff\xfe")


def test_plaintext_key_stays_out_of_the_blob_and_repr() -> None:
    plaintext, blob = generate_data_key(MASTER, "Aes256", {})
    assert plaintext not in blob
    assert str(list(plaintext))[1:-1] not in blob.decode()
    assert MASTER.material.hex() not in repr(parse_envelope(blob))
