"""The fast paths of issue 13 answer exactly what the straightforward code answered.

- Record decoding at ``open()``: the previous decoder is kept here as the oracle, and generated
  records (valid, and damaged field by field or byte by byte) must get the same verdict from
  both: the same reason when unreadable, the same record, nonce and marker otherwise.
- The store's one-pass open: large records, the fallback without ``dir_fd``, tombstones and
  unreadable records beside good ones.
- The key listing rendered as text: the same bytes as ``json.dumps`` over ``key_info`` dicts,
  for generated keys, real pages with filters and unreadable ids, and the lone-surrogate case.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kms_tui.embedded import keystore as keystore_module
from kms_tui.embedded.admin_bodies import lone_surrogate_error
from kms_tui.embedded.admin_keys import list_page, list_page_body
from kms_tui.embedded.admin_render import ListQuery, key_info, key_info_json
from kms_tui.embedded.config import parse_configure_document
from kms_tui.embedded.http import json_response
from kms_tui.embedded.keyrecord import (
    FORMAT_VERSION,
    KEY_STATUSES,
    MARKER_ENCRYPTED,
    MARKER_PLAINTEXT,
    REASON_CORRUPT,
    REASON_FORMAT,
    REASON_IDENTITY,
    REASON_MISSING,
    REASON_VERSION,
    KeyRecord,
    StoredRecord,
    UnreadableRecord,
    decode_record,
    encode_record,
)
from kms_tui.embedded.keystore import LocalKeyStore
from kms_tui.embedded.service import KmsService
from kms_tui.embedded.service_keys import KeyView
from kms_tui.embedded.timefmt import parse_zoned

MASTER = "correct horse battery staple"
STEM = "app-key"

# ------------------------------------------------------------------ the previous decoder (oracle)


def _old_reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate field {name!r}")
        result[name] = value
    return result


def _old_load_strict_json(raw: bytes) -> Any:
    text = raw.decode("utf-8")
    document = json.loads(text, object_pairs_hook=_old_reject_duplicates)
    surrogate = lone_surrogate_error(text)
    if surrogate is not None:
        raise ValueError(surrogate)
    return document


def _old_require(doc: Mapping[str, Any], name: str, kind: type) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise UnreadableRecord(REASON_CORRUPT)
    return value


def _old_optional_str(doc: Mapping[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None or isinstance(value, str):
        return value
    raise UnreadableRecord(REASON_CORRUPT)


def _old_check_timestamp(value: str | None) -> None:
    if value is None:
        return
    try:
        parse_zoned(value)
    except ValueError:
        raise UnreadableRecord(REASON_CORRUPT) from None


def old_decode_record(stem: str, raw: bytes) -> StoredRecord:
    """decode_record as it was before issue 13, verbatim but for names."""
    try:
        doc = _old_load_strict_json(raw)
    except (ValueError, RecursionError):
        raise UnreadableRecord(REASON_CORRUPT) from None
    if not isinstance(doc, dict):
        raise UnreadableRecord(REASON_CORRUPT)
    format_version = doc.get("format_version", FORMAT_VERSION)
    if not isinstance(format_version, int) or isinstance(format_version, bool):
        raise UnreadableRecord(REASON_CORRUPT)
    if format_version > FORMAT_VERSION:
        raise UnreadableRecord(REASON_VERSION)
    key_id = _old_require(doc, "key_id", str)
    if key_id != stem:
        raise UnreadableRecord(REASON_IDENTITY)
    marker = doc.get("at_rest_protection")
    if marker is not None and marker not in (MARKER_ENCRYPTED, MARKER_PLAINTEXT):
        raise UnreadableRecord(REASON_FORMAT)
    status = _old_require(doc, "status", str)
    if status not in KEY_STATUSES:
        raise UnreadableRecord(REASON_CORRUPT)
    metadata = doc.get("metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise UnreadableRecord(REASON_CORRUPT)
    nonce_list = _old_require(doc, "nonce", list)
    if not all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in nonce_list
    ):
        raise UnreadableRecord(REASON_CORRUPT)
    encoded = _old_require(doc, "encrypted_key_material", str)
    if not encoded:
        raise UnreadableRecord(REASON_MISSING)
    try:
        stored_material = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise UnreadableRecord(REASON_CORRUPT) from None
    created_at = _old_require(doc, "created_at", str)
    rotated_at = _old_optional_str(doc, "rotated_at")
    deletion_date = _old_optional_str(doc, "deletion_date")
    for moment in (created_at, rotated_at, deletion_date):
        _old_check_timestamp(moment)
    created_by = _old_optional_str(doc, "created_by")
    record = KeyRecord(
        key_id=key_id,
        material=stored_material,
        version=_old_require(doc, "version", int),
        algorithm=sys.intern(_old_require(doc, "algorithm", str)),
        usage=sys.intern(_old_require(doc, "usage", str)),
        status=sys.intern(status),
        description=_old_optional_str(doc, "description"),
        metadata=metadata,
        created_at=created_at,
        rotated_at=rotated_at,
        created_by=sys.intern(created_by) if created_by is not None else None,
        deletion_date=deletion_date,
    )
    return StoredRecord(record=record, nonce=bytes(nonce_list), marker=marker)


def _verdict(decoder: Any, raw: bytes) -> tuple[object, ...]:
    try:
        stored = decoder(STEM, raw)
    except UnreadableRecord as problem:
        return ("unreadable", problem.reason)
    return ("ok", stored.record, stored.nonce, stored.marker)


def _same_verdict(raw: bytes) -> None:
    assert _verdict(decode_record, raw) == _verdict(old_decode_record, raw), raw[:400]


# ------------------------------------------------------------------------- generated records

FIELDS = (
    "format_version",
    "key_id",
    "version",
    "algorithm",
    "usage",
    "status",
    "description",
    "metadata",
    "created_at",
    "rotated_at",
    "created_by",
    "deletion_date",
    "encrypted_key_material",
    "nonce",
    "at_rest_protection",
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-300, max_value=300)
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
timestamps = st.sampled_from(
    [
        "2026-08-23T04:24:48+00:00[UTC]",
        "2026-08-23T04:24:48.5+00:00[UTC]",
        "2026-08-23T04:24:48.123456789+00:00[UTC]",
        "2026-08-23T04:24:48.1234567891+00:00[UTC]",
        "2026-08-23T04:24:48Z",
        "2026-08-23T04:24:48z",
        "2026-08-23T04:24:48",
        "2026-08-23 04:24:48+00:00[UTC]",
        " 2026-08-23T04:24:48+00:00[UTC] ",
        "2026-08-23T04:24:48+02:00[Europe/Paris]",
        "2026-08-23T04:24:48+00:00[UTC",
        "2026-02-30T04:24:48+00:00[UTC]",
        "2026-08-23T25:24:48+00:00[UTC]",
        "2026-08-23T04:24:48.+00:00[UTC]",
        "2026-08-23T04:24:48+0000[UTC]",
        "2026-8-23T04:24:48+00:00[UTC]",
        "+2026-08-23T04:24:48+00:00[UTC]",
        "not a date",
        "",
    ]
)
field_values = {
    "format_version": st.sampled_from([0, 1, 2, -1, True, 1.0, "1", None]),
    "key_id": st.sampled_from([STEM, "other-key", "", None, 1]),
    "version": st.sampled_from([1, 2, 0, True, 1.5, "1", None]),
    "algorithm": st.sampled_from(["AES_256", "", None, 5]),
    "usage": st.sampled_from(["EncryptDecrypt", "SignVerify", None, []]),
    "status": st.sampled_from([*KEY_STATUSES, "active", "", None, 3]),
    "description": st.none() | st.text(max_size=8) | st.integers(),
    "metadata": st.dictionaries(st.text(max_size=5), st.text(max_size=5) | json_values, max_size=3)
    | json_values,
    "created_at": timestamps | json_values,
    "rotated_at": timestamps | st.none(),
    "created_by": st.sampled_from(["local-kms", None, 7, ""]),
    "deletion_date": timestamps | st.none() | json_values,
    "encrypted_key_material": st.sampled_from(
        ["", "AAAA", "AAA", "A===", "@@@@", "é" * 4, "QUJD\n", None, 4]
    )
    | st.binary(max_size=50).map(lambda data: base64.b64encode(data).decode()),
    "nonce": st.lists(st.integers(min_value=-2, max_value=258), max_size=13)
    | st.lists(json_values, max_size=3)
    | json_values,
    "at_rest_protection": st.sampled_from([MARKER_ENCRYPTED, MARKER_PLAINTEXT, "other", None, 1]),
}


def _valid_document() -> dict[str, Any]:
    """A record as the store writes it, with fixed bytes (generation must be repeatable)."""
    return {
        "format_version": 1,
        "key_id": STEM,
        "version": 1,
        "algorithm": "AES_256",
        "usage": "EncryptDecrypt",
        "status": "Active",
        "description": "payments ledger key",
        "metadata": {"name": STEM, "env": "prod"},
        "created_at": "2026-08-23T04:24:48.123456789+00:00[UTC]",
        "rotated_at": None,
        "created_by": "local-kms",
        "deletion_date": None,
        "encrypted_key_material": base64.b64encode(bytes(range(48))).decode(),
        "nonce": [17, 203, 5, 99, 140, 2, 77, 250, 31, 8, 164, 66],
        "at_rest_protection": MARKER_ENCRYPTED,
    }


@st.composite
def damaged_documents(draw: st.DrawFn) -> bytes:
    document = _valid_document()
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        if draw(st.booleans()):
            document.pop(name, None)
        else:
            document[name] = draw(field_values[name])
    text = json.dumps(document, indent=2, ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")


@st.composite
def damaged_bytes(draw: st.DrawFn) -> bytes:
    raw = json.dumps(_valid_document(), indent=2).encode()
    how = draw(st.sampled_from(["cut", "flip", "duplicate", "bom", "surrogate", "insert"]))
    if how == "cut":
        return raw[: draw(st.integers(min_value=0, max_value=len(raw)))]
    if how == "flip":
        at = draw(st.integers(min_value=0, max_value=len(raw) - 1))
        return raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
    if how == "duplicate":
        name = draw(st.sampled_from(FIELDS))
        return raw.replace(b"{\n", b'{\n  "' + name.encode() + b'": null,\n', 1)
    if how == "bom":
        return b"\xef\xbb\xbf" + raw
    if how == "surrogate":
        return raw.replace(b'"payments', b'"\\ud800payments', 1)
    return raw.replace(b'"env"', draw(st.sampled_from([b'"env": 1, "x"', b'"env": "a", "env"'])))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_documents())
def test_decode_matches_the_previous_decoder_on_damaged_fields(raw: bytes) -> None:
    _same_verdict(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_bytes())
def test_decode_matches_the_previous_decoder_on_damaged_bytes(raw: bytes) -> None:
    _same_verdict(raw)


def test_decode_matches_on_valid_records() -> None:
    for ensure_ascii in (True, False):
        raw = json.dumps(_valid_document(), indent=2, ensure_ascii=ensure_ascii).encode()
        verdict = _verdict(decode_record, raw)
        assert verdict[0] == "ok"
        assert verdict == _verdict(old_decode_record, raw)


# ------------------------------------------------------------------------------ one-pass open


def test_open_reads_records_larger_than_one_read(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    store = LocalKeyStore(key_dir, MASTER)
    store.open()
    big = KeyRecord(
        key_id="big",
        material=os.urandom(32),
        description="x" * 200_000,
        created_at="2026-08-23T04:24:48+00:00[UTC]",
    )
    store.create(big)
    store.close()
    assert (key_dir / "big.key").stat().st_size > 3 * keystore_module._READ_CHUNK
    again = LocalKeyStore(key_dir, MASTER)
    again.open()
    assert again.get("big") == big
    again.close()


@pytest.mark.parametrize("open_at", [True, False])
def test_open_with_and_without_dir_fd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_at: bool
) -> None:
    key_dir = tmp_path / "keys"
    store = LocalKeyStore(key_dir, MASTER)
    store.open()
    records = [
        KeyRecord(key_id=f"k{index}", material=os.urandom(32), created_at="2026-08-23T04:24:48Z")
        for index in range(5)
    ]
    store.create_many(records)
    store.destroy("k4")
    store.close()
    (key_dir / "k1.key").write_bytes(b"{}")
    tombstone = dataclasses.replace(records[2], status="Deleted")
    (key_dir / "k2.key").write_bytes(encode_record(tombstone, None))
    (key_dir / "k3.tmp-0123abcd-0123-4567-89ab-0123456789ab").write_bytes(b"left over")
    monkeypatch.setattr(keystore_module, "_OPEN_AT", open_at)
    again = LocalKeyStore(key_dir, MASTER)
    again.open()
    assert again.key_ids() == ["k0", "k3"]
    assert again.get("k0") == records[0]
    assert again.unreadable_reasons == {"k1": REASON_CORRUPT}
    assert sorted(p.name for p in key_dir.iterdir()) == [
        ".master-key.salt",
        "k0.key",
        "k1.key",
        "k3.key",
    ]
    again.close()


# --------------------------------------------------------------------------- listing as text

texts = st.text(max_size=20)


@st.composite
def records(draw: st.DrawFn) -> KeyRecord:
    return KeyRecord(
        key_id=draw(texts.filter(bool)),
        material=b"\x00" * 32,
        version=draw(st.integers()),
        algorithm=draw(texts),
        usage=draw(texts),
        status=draw(st.sampled_from(KEY_STATUSES)),
        description=draw(st.none() | texts),
        metadata=draw(st.dictionaries(texts, texts, max_size=4)),
        created_at=draw(texts),
        rotated_at=draw(st.none() | texts),
        created_by=draw(st.none() | texts),
        deletion_date=draw(st.none() | texts),
    )


def _dumped(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@settings(max_examples=300, deadline=None)
@given(records())
def test_key_info_json_is_the_dumped_key_info(record: KeyRecord) -> None:
    assert key_info_json(record) == _dumped(key_info(KeyView.of(record)))


def _service(tmp_path: Path) -> KmsService:
    service = KmsService(tmp_path / "data", clock=lambda: datetime(2026, 3, 1, tzinfo=UTC))
    config = {
        "backend_type": "Local",
        "key_dir": str(tmp_path / "keys"),
        "master_key": "pw",
        "allow_insecure_dev_defaults": True,
    }
    assert service.configure(parse_configure_document(config)).success
    assert service.start().success
    return service


HEAD = {"success": True, "message": "keys listed successfully"}


def _expected(service: Any, query: ListQuery, head: dict[str, Any]) -> bytes:
    payload = dict(head)
    payload.update(list_page(service, query))
    return json_response(200, payload).body


def test_list_page_body_is_the_dumped_page(tmp_path: Path) -> None:
    service = _service(tmp_path)
    ids = [f"key-{index:02d}" for index in range(24)] + ["ünï-cødé", 'quote"d', "tab\tkey"]
    for index, key_id in enumerate(ids):
        tags = {"name": key_id, "team": ("red", "blue", "grün")[index % 3]}
        service.keys.create_key(f"key {index} \u2603" if index % 4 else None, tags)
        if index % 5 == 1:
            service.keys.set_enabled(key_id, False)
        if index % 7 == 2:
            service.keys.schedule_deletion(key_id, 7)
    key_dir = tmp_path / "keys"
    for broken in ("key-03", "key-10", "key-11"):
        (key_dir / f"{broken}.key").write_bytes(b"not json")
    assert service.start(force=True).success
    assert len(service.keys.require_store().unreadable_key_ids) == 3
    markers = [None, "", "key-02", "key-09", "key-10", "key-22", "zzz"]
    for marker in markers:
        for limit in (0, 1, 3, 8, 100):
            for status in (None, "Active", "Disabled", "PendingDeletion"):
                for usage in (None, "EncryptDecrypt", "SignVerify"):
                    query = ListQuery(marker=marker, limit=limit, status=status, usage=usage)
                    for head in (HEAD, {}):
                        assert list_page_body(service, query, head) == _expected(
                            service, query, head
                        ), (query, head)
    service.close()


def test_list_page_body_falls_back_on_a_lone_surrogate() -> None:
    record = KeyRecord(
        key_id="odd",
        material=b"\x00" * 32,
        description="lone \ud800 surrogate",
        created_at="2026-08-23T04:24:48Z",
    )
    keys = SimpleNamespace(list_records=lambda marker, limit: ([record], True, ["bad\udc80"]))
    service: Any = SimpleNamespace(keys=keys)
    query = ListQuery(marker=None, limit=10, status=None, usage=None)
    body = list_page_body(service, query, HEAD)
    assert body == _expected(service, query, HEAD)
    assert b"\\ud800" in body
