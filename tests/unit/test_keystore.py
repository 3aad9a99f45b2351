"""The local key store: RustFS's on-disk record format, validation at open, paging, writes."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from kms_tui.embedded.keyrecord import (
    InvalidKeyIdError,
    InvalidRecordError,
    KeyExistsError,
    KeyNotFoundError,
    KeyRecord,
    KeyStoreError,
    KeyUnreadableError,
    MasterKeyError,
    RestoreInProgressError,
    derive_wrapping_keys,
    encode_record,
    validate_key_id,
)
from kms_tui.embedded.keystore import LocalKeyStore

MASTER = "correct horse battery staple"
FIXED_SALT = bytes(range(16))
FIXED_NONCE = bytes([17, 203, 5, 99, 140, 2, 77, 250, 31, 8, 164, 66])
FIXED_MATERIAL = bytes(range(100, 132))
REPO_ROOT = Path(__file__).resolve().parents[2]


def argon2_key(master: str, salt: bytes) -> bytes:
    """The wrapping key computed independently of the store, straight from the reference."""
    return Argon2id(salt=salt, length=32, iterations=2, lanes=1, memory_cost=19456).derive(
        master.encode("utf-8")
    )


def make_record(key_id: str, **changes: object) -> KeyRecord:
    base = KeyRecord(
        key_id=key_id,
        material=os.urandom(32),
        description=f"description of {key_id}",
        metadata={"name": key_id, "env": "test"},
        created_at="2026-08-23T04:24:48.123456+00:00[UTC]",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def store(key_dir: Path) -> Iterator[LocalKeyStore]:
    opened = LocalKeyStore(key_dir, MASTER)
    opened.open()
    yield opened
    opened.close()


def reopen(key_dir: Path, master: str | None = MASTER, **kwargs: bool) -> LocalKeyStore:
    fresh = LocalKeyStore(key_dir, master, **kwargs)
    fresh.open()
    return fresh


def write_salt(key_dir: Path, salt: bytes = FIXED_SALT) -> None:
    key_dir.mkdir(mode=0o700, exist_ok=True)
    (key_dir / ".master-key.salt").write_bytes(salt)


def hand_record_text(
    key_id: str,
    material_b64: str,
    nonce: list[int],
    marker: str | None,
    *,
    created_at: str = "2026-08-23T04:24:48.123456789+00:00[UTC]",
) -> str:
    """A record typed out like the reference's example (one-line nonce, as a human would)."""
    marker_line = f',\n  "at_rest_protection": "{marker}"' if marker else ""
    return (
        "{\n"
        '  "format_version": 1,\n'
        f'  "key_id": "{key_id}",\n'
        '  "version": 1,\n'
        '  "algorithm": "AES_256",\n'
        '  "usage": "EncryptDecrypt",\n'
        '  "status": "Active",\n'
        '  "description": "payments ledger key",\n'
        f'  "metadata": {{"name": "{key_id}", "env": "prod"}},\n'
        f'  "created_at": "{created_at}",\n'
        '  "rotated_at": null,\n'
        '  "created_by": "local-kms",\n'
        '  "deletion_date": null,\n'
        f'  "encrypted_key_material": "{material_b64}",\n'
        f'  "nonce": {json.dumps(nonce)}'
        f"{marker_line}\n"
        "}"
    )


# ------------------------------------------------------------------------------- round trips


def test_records_round_trip_through_a_fresh_store(store: LocalKeyStore, key_dir: Path) -> None:
    records = [make_record("alpha"), make_record("beta", status="Disabled", description=None)]
    for record in records:
        store.create(record)
    fresh = reopen(key_dir)
    assert fresh.key_ids() == ["alpha", "beta"]
    for record in records:
        assert fresh.get(record.key_id) == record
    assert fresh.unreadable_key_ids == []
    assert len(fresh) == 2


def test_written_file_matches_the_reference_layout_byte_for_byte(
    store: LocalKeyStore, key_dir: Path
) -> None:
    record = make_record("app-key", material=FIXED_MATERIAL, metadata={"name": "app-key", "é": "ü"})
    store.create(record)
    raw = (key_dir / "app-key.key").read_bytes()
    parsed = json.loads(raw)
    nonce = parsed["nonce"]
    sealed_b64 = parsed["encrypted_key_material"]
    nonce_lines = ",\n".join(f"    {byte}" for byte in nonce)
    expected = (
        "{\n"
        '  "format_version": 1,\n'
        '  "key_id": "app-key",\n'
        '  "version": 1,\n'
        '  "algorithm": "AES_256",\n'
        '  "usage": "EncryptDecrypt",\n'
        '  "status": "Active",\n'
        '  "description": "description of app-key",\n'
        '  "metadata": {\n'
        '    "name": "app-key",\n'
        '    "é": "ü"\n'
        "  },\n"
        '  "created_at": "2026-08-23T04:24:48.123456+00:00[UTC]",\n'
        '  "rotated_at": null,\n'
        '  "created_by": "local-kms",\n'
        '  "deletion_date": null,\n'
        f'  "encrypted_key_material": "{sealed_b64}",\n'
        '  "nonce": [\n'
        f"{nonce_lines}\n"
        "  ],\n"
        '  "at_rest_protection": "encrypted-master-key"\n'
        "}"
    ).encode()
    assert raw == expected
    assert len(nonce) == 12
    sealed = base64.b64decode(sealed_b64, validate=True)
    assert len(sealed) == 48 and len(sealed_b64) == 64
    salt = (key_dir / ".master-key.salt").read_bytes()
    assert len(salt) == 16
    wrapping = argon2_key(MASTER, salt)
    assert AESGCM(wrapping).decrypt(bytes(nonce), sealed, None) == FIXED_MATERIAL


def test_hand_built_reference_record_decrypts(key_dir: Path) -> None:
    write_salt(key_dir)
    sealed = AESGCM(argon2_key(MASTER, FIXED_SALT)).encrypt(FIXED_NONCE, FIXED_MATERIAL, None)
    text = hand_record_text(
        "app-key", base64.b64encode(sealed).decode(), list(FIXED_NONCE), "encrypted-master-key"
    )
    (key_dir / "app-key.key").write_text(text, encoding="utf-8")
    record = reopen(key_dir).get("app-key")
    assert record.material == FIXED_MATERIAL
    assert record.description == "payments ledger key"
    assert dict(record.metadata) == {"name": "app-key", "env": "prod"}
    assert record.created_at == "2026-08-23T04:24:48.123456789+00:00[UTC]"
    assert record.created_by == "local-kms"


def test_hand_built_plaintext_dev_only_record_reads_with_and_without_master(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700)
    text = hand_record_text("dev-key", base64.b64encode(FIXED_MATERIAL).decode(), [], None)
    text = text.replace('"nonce": []', '"nonce": [],\n  "at_rest_protection": "plaintext-dev-only"')
    (key_dir / "dev-key.key").write_text(text, encoding="utf-8")
    assert reopen(key_dir, None, allow_plaintext=True).get("dev-key").material == FIXED_MATERIAL
    assert reopen(key_dir).get("dev-key").material == FIXED_MATERIAL


def test_plaintext_store_writes_dev_only_records(key_dir: Path) -> None:
    dev = reopen(key_dir, None, allow_plaintext=True)
    dev.create(make_record("dev", material=FIXED_MATERIAL))
    parsed = json.loads((key_dir / "dev.key").read_bytes())
    assert parsed["nonce"] == []
    assert parsed["at_rest_protection"] == "plaintext-dev-only"
    assert base64.b64decode(parsed["encrypted_key_material"]) == FIXED_MATERIAL
    assert not (key_dir / ".master-key.salt").exists()


def test_legacy_sha256_record_without_marker_decrypts_and_is_upgraded(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700)
    legacy_key = hashlib.sha256(MASTER.encode() + b"rustfs-kms-local").digest()
    sealed = AESGCM(legacy_key).encrypt(FIXED_NONCE, FIXED_MATERIAL, None)
    text = hand_record_text("old", base64.b64encode(sealed).decode(), list(FIXED_NONCE), None)
    text = text.replace('  "format_version": 1,\n', "")  # absent means 1
    (key_dir / "old.key").write_text(text, encoding="utf-8")
    store = reopen(key_dir)  # no salt yet: legacy records do not block creating one
    record = store.get("old")
    assert record.material == FIXED_MATERIAL
    store.replace(dataclasses.replace(record, description="rewritten"))
    parsed = json.loads((key_dir / "old.key").read_bytes())
    assert parsed["at_rest_protection"] == "encrypted-master-key"
    salt = (key_dir / ".master-key.salt").read_bytes()
    upgraded = AESGCM(argon2_key(MASTER, salt)).decrypt(
        bytes(parsed["nonce"]), base64.b64decode(parsed["encrypted_key_material"]), None
    )
    assert upgraded == FIXED_MATERIAL


def test_unmarked_record_with_empty_nonce_is_plaintext(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700)
    text = hand_record_text("bare", base64.b64encode(FIXED_MATERIAL).decode(), [], None)
    (key_dir / "bare.key").write_text(text, encoding="utf-8")
    assert reopen(key_dir).get("bare").material == FIXED_MATERIAL


def test_plain_rfc3339_timestamps_and_unknown_fields_are_accepted(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700)
    document = json.loads(
        hand_record_text(
            "k",
            base64.b64encode(FIXED_MATERIAL).decode(),
            [],
            "plaintext-dev-only",
            created_at="2026-01-01T00:00:00Z",
        )
    )
    document["future_field"] = {"anything": [1, 2]}
    (key_dir / "k.key").write_text(json.dumps(document), encoding="utf-8")
    record = reopen(key_dir).get("k")
    assert record.created_at == "2026-01-01T00:00:00Z"
    assert record.material == FIXED_MATERIAL


# ----------------------------------------------------------------------------- damaged records


def _good_document(store: LocalKeyStore, key_dir: Path, key_id: str) -> dict[str, object]:
    store.create(make_record(key_id))
    document: dict[str, object] = json.loads((key_dir / f"{key_id}.key").read_bytes())
    return document


def _damage(case: str, store: LocalKeyStore, key_dir: Path) -> str:
    """Write one damaged record for ``case``; returns the reason the store should give."""
    path = key_dir / "bad.key"
    document = _good_document(store, key_dir, "bad")
    if case == "truncated":
        path.write_bytes(path.read_bytes()[:57])
        return "corrupt"
    if case == "wrong-key-id":
        document["key_id"] = "someone-else"
        reason = "identity-mismatch"
    elif case == "nonce-length":
        document["nonce"] = list(range(11))
        reason = "corrupt"
    elif case == "empty-material":
        document["encrypted_key_material"] = ""
        reason = "material-missing"
    elif case == "format-version-2":
        document["format_version"] = 2
        reason = "unsupported-format-version"
    elif case == "unknown-marker":
        document["at_rest_protection"] = "rot13"
        reason = "unsupported-format"
    elif case == "tampered":
        sealed = bytearray(base64.b64decode(str(document["encrypted_key_material"])))
        sealed[0] ^= 1
        document["encrypted_key_material"] = base64.b64encode(bytes(sealed)).decode()
        reason = "authentication-failed"
    elif case == "bad-base64":
        document["encrypted_key_material"] = "not base64!"
        reason = "corrupt"
    elif case == "duplicate-field":
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('"version": 1,', '"version": 1,\n  "version": 1,'))
        return "corrupt"
    else:
        raise AssertionError(case)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return reason


@pytest.mark.parametrize(
    "case",
    [
        "truncated",
        "wrong-key-id",
        "nonce-length",
        "empty-material",
        "duplicate-field",
        "format-version-2",
        "unknown-marker",
        "tampered",
        "bad-base64",
    ],
)
def test_damaged_record_is_listed_unreadable_and_others_stay_readable(
    case: str, store: LocalKeyStore, key_dir: Path
) -> None:
    good = make_record("good")
    store.create(good)
    reason = _damage(case, store, key_dir)
    fresh = reopen(key_dir)
    assert fresh.unreadable_key_ids == ["bad"]
    assert fresh.unreadable_reasons == {"bad": reason}
    assert fresh.key_ids() == ["good"]
    assert fresh.get("good") == good
    assert fresh.contains("bad")
    with pytest.raises(KeyUnreadableError, match="bad"):
        fresh.get("bad")
    with pytest.raises(KeyExistsError):
        fresh.create(make_record("bad"))


def test_wrong_master_key_is_refused(store: LocalKeyStore, key_dir: Path) -> None:
    store.create(make_record("one"))
    store.create(make_record("two"))
    wrong = LocalKeyStore(key_dir, MASTER + " ")  # verbatim: trailing space is another key
    with pytest.raises(MasterKeyError):
        wrong.open()
    with pytest.raises(KeyStoreError):
        wrong.get("one")


def test_encrypted_records_without_a_master_key_are_refused(
    store: LocalKeyStore, key_dir: Path
) -> None:
    store.create(make_record("one"))
    with pytest.raises(MasterKeyError):
        reopen(key_dir, None, allow_plaintext=True)


def test_no_master_key_without_plaintext_permission_is_refused(key_dir: Path) -> None:
    with pytest.raises(MasterKeyError):
        LocalKeyStore(key_dir, None).open()


# ------------------------------------------------------------------------- permissions & files


def test_directory_is_narrowed_to_0700(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o755)
    os.chmod(key_dir, 0o755)
    reopen(key_dir)
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700


def test_new_directory_is_0700(key_dir: Path) -> None:
    reopen(key_dir)
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700


def test_files_are_0600_even_with_umask_zero(key_dir: Path) -> None:
    previous = os.umask(0)
    try:
        store = reopen(key_dir)
        store.create(make_record("k"))
        store.replace(dataclasses.replace(store.get("k"), description="changed"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((key_dir / "k.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((key_dir / ".master-key.salt").stat().st_mode) == 0o600


def test_configured_file_permissions_are_applied_despite_umask(key_dir: Path) -> None:
    previous = os.umask(0o077)
    try:
        store = LocalKeyStore(key_dir, MASTER, file_permissions=0o640)
        store.open()
        store.create(make_record("k"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((key_dir / "k.key").stat().st_mode) == 0o640


def test_leftover_temp_files_are_removed_at_open(store: LocalKeyStore, key_dir: Path) -> None:
    store.create(make_record("k"))
    leftovers = [
        key_dir / f"k.tmp-{uuid.uuid4()}",
        key_dir / f".master-key.salt.tmp-{uuid.uuid4()}",
    ]
    for path in leftovers:
        path.write_bytes(b"partial")
    unrelated = key_dir / "notes.tmp-not-a-uuid"
    unrelated.write_bytes(b"keep me")
    fresh = reopen(key_dir)
    assert not any(path.exists() for path in leftovers)
    assert unrelated.exists()
    assert fresh.key_ids() == ["k"]


def test_tombstones_are_removed_at_open(store: LocalKeyStore, key_dir: Path) -> None:
    record = make_record("doomed")
    store.create(record)
    store.create(make_record("kept"))
    salt = (key_dir / ".master-key.salt").read_bytes()
    tombstone = dataclasses.replace(
        record, status="Deleted", deletion_date="2026-08-24T00:00:00+00:00[UTC]"
    )
    wrapping = derive_wrapping_keys(MASTER, salt).argon2
    (key_dir / "doomed.key").write_bytes(encode_record(tombstone, wrapping))
    fresh = reopen(key_dir)
    assert fresh.key_ids() == ["kept"]
    assert not fresh.contains("doomed")
    assert not (key_dir / "doomed.key").exists()


def test_salt_is_created_once_with_16_bytes(key_dir: Path) -> None:
    reopen(key_dir)
    salt = (key_dir / ".master-key.salt").read_bytes()
    assert len(salt) == 16
    reopen(key_dir)
    assert (key_dir / ".master-key.salt").read_bytes() == salt


def test_missing_salt_is_not_regenerated_when_encrypted_records_exist(
    store: LocalKeyStore, key_dir: Path
) -> None:
    store.create(make_record("k"))
    (key_dir / ".master-key.salt").unlink()
    with pytest.raises(MasterKeyError, match="salt"):
        reopen(key_dir)
    assert not (key_dir / ".master-key.salt").exists()


def test_missing_salt_is_not_regenerated_when_a_record_is_unreadable(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700)
    (key_dir / "junk.key").write_text("{not json", encoding="utf-8")
    with pytest.raises(MasterKeyError, match="salt"):
        reopen(key_dir)
    assert not (key_dir / ".master-key.salt").exists()


def test_salt_of_the_wrong_length_is_refused(key_dir: Path) -> None:
    write_salt(key_dir, b"short")
    with pytest.raises(MasterKeyError, match="16"):
        reopen(key_dir)


def test_interrupted_restore_blocks_open(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700)
    (key_dir / ".restore-commit.json").write_text("{}", encoding="utf-8")
    with pytest.raises(RestoreInProgressError):
        reopen(key_dir)


# ------------------------------------------------------------------------------------ paging

PAGING_IDS = ["b", "a", "Z", "é", "日本", "a b", "e", "z", "ée", "\U0001f511key"]


def test_key_ids_follow_utf8_byte_order(store: LocalKeyStore) -> None:
    for key_id in PAGING_IDS:
        store.create(make_record(key_id))
    assert store.key_ids() == sorted(PAGING_IDS, key=lambda text: text.encode("utf-8"))


def test_page_marker_is_exclusive_and_limit_and_truncation_hold(store: LocalKeyStore) -> None:
    for key_id in PAGING_IDS:
        store.create(make_record(key_id))
    ordered = sorted(PAGING_IDS, key=lambda text: text.encode("utf-8"))
    records, more = store.page(None, 3)
    assert [r.key_id for r in records] == ordered[:3] and more
    records, more = store.page(ordered[2], 3)
    assert [r.key_id for r in records] == ordered[3:6] and more
    records, more = store.page(ordered[-4], 3)
    assert [r.key_id for r in records] == ordered[-3:] and not more
    records, more = store.page(ordered[-1], 3)
    assert records == [] and not more
    records, more = store.page("e", 100)  # a marker that is itself a key is excluded
    assert [r.key_id for r in records] == [i for i in ordered if i.encode() > b"e"] and not more
    records, more = store.page("d", 1)  # a marker that is not a key still positions
    assert [r.key_id for r in records] == ["e"] and more


def test_walking_every_page_yields_every_key_once(store: LocalKeyStore) -> None:
    ids = [f"key-{n:03d}" for n in range(37)] + PAGING_IDS
    store.create_many(make_record(key_id) for key_id in ids)
    seen: list[str] = []
    marker: str | None = None
    while True:
        records, more = store.page(marker, 5)
        seen.extend(r.key_id for r in records)
        if not more:
            break
        marker = records[-1].key_id
    assert seen == sorted(ids, key=lambda text: text.encode("utf-8"))


def test_reads_come_from_memory(store: LocalKeyStore, key_dir: Path) -> None:
    record = make_record("k")
    store.create(record)
    (key_dir / "k.key").unlink()
    assert store.get("k") == record
    assert store.page(None, 10) == ([record], False)


# ------------------------------------------------------------------------------------ writes


def test_create_refuses_a_taken_id(store: LocalKeyStore, key_dir: Path) -> None:
    original = make_record("k")
    store.create(original)
    with pytest.raises(KeyExistsError):
        store.create(make_record("k"))
    assert reopen(key_dir).get("k") == original


def test_create_refuses_a_file_written_behind_its_back(store: LocalKeyStore, key_dir: Path) -> None:
    (key_dir / "outside.key").write_text("{}", encoding="utf-8")
    with pytest.raises(KeyExistsError):
        store.create(make_record("outside"))
    assert (key_dir / "outside.key").read_text(encoding="utf-8") == "{}"
    assert [p.name for p in key_dir.iterdir() if ".tmp-" in p.name] == []


def test_replace_rewrites_with_a_fresh_nonce(store: LocalKeyStore, key_dir: Path) -> None:
    record = make_record("k")
    store.create(record)
    first = json.loads((key_dir / "k.key").read_bytes())
    changed = dataclasses.replace(record, status="Disabled")
    store.replace(changed)
    second = json.loads((key_dir / "k.key").read_bytes())
    assert second["status"] == "Disabled"
    assert first["nonce"] != second["nonce"]
    assert reopen(key_dir).get("k") == changed


def test_unchanged_replace_does_not_touch_the_file(store: LocalKeyStore, key_dir: Path) -> None:
    record = make_record("k")
    store.create(record)
    before = (key_dir / "k.key").stat()
    store.replace(dataclasses.replace(record, metadata=dict(record.metadata)))
    after = (key_dir / "k.key").stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_replace_of_a_missing_key_fails(store: LocalKeyStore, key_dir: Path) -> None:
    with pytest.raises(KeyNotFoundError):
        store.replace(make_record("ghost"))
    assert not (key_dir / "ghost.key").exists()


def test_destroy_removes_the_record(store: LocalKeyStore, key_dir: Path) -> None:
    store.create(make_record("k"))
    store.create(make_record("other"))
    store.destroy("k")
    assert not (key_dir / "k.key").exists()
    assert store.key_ids() == ["other"]
    with pytest.raises(KeyNotFoundError):
        store.get("k")
    with pytest.raises(KeyNotFoundError):
        store.destroy("k")
    assert reopen(key_dir).key_ids() == ["other"]


def test_destroy_of_an_unreadable_record_removes_its_file(
    store: LocalKeyStore, key_dir: Path
) -> None:
    store.create(make_record("good"))
    (key_dir / "junk.key").write_text("{", encoding="utf-8")
    fresh = reopen(key_dir)
    fresh.destroy("junk")
    assert fresh.unreadable_key_ids == []
    assert not (key_dir / "junk.key").exists()


def test_create_many_writes_the_same_format(store: LocalKeyStore, key_dir: Path) -> None:
    records = [make_record(f"bulk-{n}") for n in range(20)]
    store.create_many(records)
    fresh = reopen(key_dir)
    assert [fresh.get(r.key_id) for r in records] == records


def test_create_many_stops_at_a_duplicate_and_keeps_what_it_wrote(
    store: LocalKeyStore, key_dir: Path
) -> None:
    with pytest.raises(KeyExistsError):
        store.create_many([make_record("x"), make_record("y"), make_record("x")])
    assert store.key_ids() == ["x", "y"]
    assert reopen(key_dir).key_ids() == ["x", "y"]


def test_material_must_be_32_bytes(store: LocalKeyStore) -> None:
    with pytest.raises(InvalidRecordError):
        store.create(make_record("short", material=b"\x00" * 16))
    assert not store.contains("short")


def test_generate_material_is_32_fresh_bytes(store: LocalKeyStore) -> None:
    first, second = store.generate_material(), store.generate_material()
    assert len(first) == 32 and len(second) == 32 and first != second


def test_open_is_idempotent_and_close_forgets(store: LocalKeyStore) -> None:
    store.create(make_record("k"))
    store.open()
    assert store.key_ids() == ["k"]
    store.close()
    with pytest.raises(KeyStoreError):
        store.get("k")
    store.open()
    assert store.key_ids() == ["k"]


@pytest.mark.parametrize("bad_id", ["", ".", "..", "a/b", "a\\b", "a\x00b", "\udc80"])
def test_invalid_key_ids_are_rejected(bad_id: str, store: LocalKeyStore) -> None:
    with pytest.raises(InvalidKeyIdError):
        validate_key_id(bad_id)
    with pytest.raises(ValueError):
        store.create(make_record(bad_id))


def test_unusual_but_valid_key_ids_work(store: LocalKeyStore, key_dir: Path) -> None:
    for key_id in ["...", ".hidden", "with space", "ключ", "a.key"]:
        store.create(make_record(key_id))
    assert set(reopen(key_dir).key_ids()) == {"...", ".hidden", "with space", "ключ", "a.key"}


def test_secrets_stay_out_of_repr_and_errors(store: LocalKeyStore, key_dir: Path) -> None:
    record = make_record("k", material=FIXED_MATERIAL)
    store.create(record)
    text = repr(record) + repr(store) + str(store.get("k"))
    for needle in (FIXED_MATERIAL.hex(), repr(FIXED_MATERIAL), MASTER):
        assert needle not in text
    wrong = LocalKeyStore(key_dir, "another master key")
    with pytest.raises(MasterKeyError) as caught:
        wrong.open()
    assert "another master key" not in str(caught.value)


# ------------------------------------------------------------------------------- concurrency


def test_concurrent_creates_each_id_exactly_once(store: LocalKeyStore, key_dir: Path) -> None:
    distinct = [f"own-{thread}-{n}" for thread in range(6) for n in range(5)]
    shared = [f"shared-{n}" for n in range(8)]
    wins: Counter[str] = Counter()
    losses: Counter[str] = Counter()
    counter_lock = threading.Lock()
    barrier = threading.Barrier(6)

    def worker(thread: int) -> None:
        barrier.wait()
        mine = [f"own-{thread}-{n}" for n in range(5)]
        for key_id in mine + shared:
            try:
                store.create(make_record(key_id))
                outcome = wins
            except KeyExistsError:
                outcome = losses
            with counter_lock:
                outcome[key_id] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(wins[key_id] == 1 for key_id in distinct + shared)
    assert all(losses[key_id] == 5 for key_id in shared)
    expected = sorted(distinct + shared)
    assert store.key_ids() == expected
    assert reopen(key_dir).key_ids() == expected
    assert [p.name for p in key_dir.iterdir() if ".tmp-" in p.name] == []


# ------------------------------------------------------------------------------ I/O failures

_FSIZE_SCRIPT = textwrap.dedent(
    """
    import dataclasses, resource, signal, sys
    from pathlib import Path
    from kms_tui.embedded.keystore import KeyRecord, LocalKeyStore, StorageError

    key_dir = Path(sys.argv[1])
    store = LocalKeyStore(key_dir, "correct horse battery staple")
    store.open()
    record = store.get("k")
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (400, 400))
    try:
        store.replace(dataclasses.replace(record, description="x" * 5000))
    except StorageError as err:
        assert store.get("k") == record, "index must keep the old record"
        print("storage-error", err)
    else:
        print("no error")
    """
)


def test_failed_write_raises_storage_error_and_keeps_the_old_file(
    store: LocalKeyStore, key_dir: Path
) -> None:
    record = make_record("k")
    store.create(record)
    before = (key_dir / "k.key").read_bytes()
    result = subprocess.run(
        [sys.executable, "-c", _FSIZE_SCRIPT, str(key_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("storage-error"), result.stdout
    assert (key_dir / "k.key").read_bytes() == before
    assert [p.name for p in key_dir.iterdir() if ".tmp-" in p.name] == []
    assert reopen(key_dir).get("k") == record
