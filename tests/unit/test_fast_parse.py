"""The listing's fast path gives exactly what the careful parser gives, or leaves it to it.

``KeyInfo.from_wire`` and ``KeyPage.from_wire`` try a fast path first and fall back to the
careful, field-by-field parser on any surprise. For well-formed and malformed answers alike
(decoded from JSON text, as the client gets them), the public parse must equal the careful
parse field by field, types and time zones included, or raise the same error with the same
message. ``_fast_timestamp`` is held to :func:`parse_timestamp` the same way.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kms_tui.api import models, wire
from kms_tui.api.errors import KmsResponseError
from kms_tui.api.models import KeyInfo, KeyPage
from kms_tui.api.wire import (
    KeyStatus,
    KeyUsage,
    RotationDueReason,
    _fast_timestamp,
    parse_timestamp,
)

MANY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GOOD_ITEM: dict[str, Any] = {
    "key_id": "bench-key-000001",
    "description": "Benchmark key 1 for the blue team",
    "algorithm": "AES_256",
    "usage": "EncryptDecrypt",
    "status": "Active",
    "version": 1,
    "metadata": {"team": "blue", "env": "stage"},
    "tags": {"team": "blue", "env": "stage"},
    "created_at": "2026-11-03T04:28:12.865268+00:00[UTC]",
    "rotated_at": None,
    "created_by": "local-kms",
    "rotation_due": False,
    "rotation_due_reason": "unsupported",
}
FIELDS = list(GOOD_ITEM)


# --- comparing outcomes ----------------------------------------------------------------------


def _value_signature(value: object) -> object:
    """What must match between two parses: the type, the value, and a datetime's zone."""
    if isinstance(value, datetime):
        return (type(value), value.isoformat(), repr(value.tzinfo), value.utcoffset())
    if isinstance(value, wire.WireEnum):
        return (type(value), value.value, value.known)
    if isinstance(value, KeyInfo):
        return _model_signature(value)
    if isinstance(value, tuple):
        return (tuple, tuple(_value_signature(item) for item in value))
    if hasattr(value, "items"):  # the read-only tag maps
        items = tuple(value.items())
        return (type(value), items, tuple((type(k), type(v)) for k, v in items))
    return (type(value), value)


def _model_signature(model: Any) -> object:
    return (
        type(model),
        tuple(
            (f.name, _value_signature(getattr(model, f.name))) for f in dataclasses.fields(model)
        ),
    )


def _outcome(parse: Any, data: object) -> object:
    try:
        result = parse(data)
    except Exception as err:  # the error is the outcome being compared
        return ("raised", type(err), str(err), getattr(err, "message", None))
    return ("parsed", _model_signature(result))


def _same(public: Any, careful: Any, data: object) -> None:
    assert _outcome(public, data) == _outcome(careful, data)


# --- strategies ------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)

_datetimes = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
_offsets = st.sampled_from(["+00:00", "Z", "z", "-01:30", "+08:00", "", "+0000", "+00"])
_suffixes = st.sampled_from(["", "", "[UTC]", "[Asia/Shanghai]", "[UTC", "UTC]", "]", "[u]"])


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """RFC 3339 as servers send it, and many near misses."""
    moment = draw(_datetimes)
    digits = draw(st.sampled_from([0, 0, 1, 3, 6, 9, 12]))
    fraction = "" if digits == 0 else "." + f"{moment.microsecond:06d}{'789123456'}"[:digits]
    separator = draw(st.sampled_from(["T", "T", "T", "t", " ", "_"]))
    day, time = moment.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds").split(" ")
    text = f"{day}{separator}{time}{fraction}{draw(_offsets)}{draw(_suffixes)}"
    cut = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=len(text))))
    return text if cut is None else text[:cut]


@st.composite
def server_timestamps(draw: st.DrawFn) -> str:
    """The spellings the servers send: RustFS (``Z``, nanoseconds) and the embedded server."""
    moment = draw(_datetimes)
    digits = draw(st.sampled_from([0, 1, 3, 6, 9]))
    fraction = "" if digits == 0 else "." + f"{moment.microsecond:06d}{'789'}"[:digits]
    zone = draw(st.sampled_from(["+00:00[UTC]", "Z", "+00:00", "-01:30", "+08:00"]))
    return f"{moment.replace(tzinfo=None).isoformat(timespec='seconds')}{fraction}{zone}"


text_or_timestamp = timestamps() | server_timestamps() | st.text(max_size=40)
string_maps = st.dictionaries(
    st.sampled_from(["team", "env", "name", "owner", ""]) | st.text(max_size=5),
    st.sampled_from(["red", "prod", "dev", ""]) | st.text(max_size=5),
    max_size=4,
)


@st.composite
def good_items(draw: st.DrawFn) -> dict[str, Any]:
    """A listing item as a server may send it: optional fields present, null or left out."""
    metadata = draw(st.none() | string_maps)
    item: dict[str, Any] = {
        "key_id": draw(st.text(max_size=20)),
        "description": draw(st.none() | st.text(max_size=20)),
        "algorithm": draw(st.sampled_from(["AES_256", "AES_128", ""]) | st.text(max_size=8)),
        "usage": draw(
            st.sampled_from([u.value for u in KeyUsage] + ["WrapUnwrap", "encryptdecrypt"])
        ),
        "status": draw(st.sampled_from([s.value for s in KeyStatus] + ["Archived", ""])),
        "version": draw(st.integers(min_value=-(2**70), max_value=2**70)),
        "metadata": metadata,
        "tags": draw(st.just(metadata) | st.none() | string_maps),
        "created_at": draw(timestamps()),
        "rotated_at": draw(st.none() | timestamps()),
        "created_by": draw(st.none() | st.text(max_size=10)),
        "rotation_due": draw(st.booleans()),
        "rotation_due_reason": draw(
            st.none() | st.sampled_from([r.value for r in RotationDueReason] + ["hsm"])
        ),
    }
    for name in draw(st.sets(st.sampled_from(FIELDS), max_size=3)):
        del item[name]  # a missing field: fine when optional, an error when required
    return item


OPTIONAL = ["description", "metadata", "tags", "rotated_at", "created_by", "rotation_due_reason"]


@st.composite
def server_items(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed item with known enum values: the fast path must take every one."""
    metadata = draw(st.none() | string_maps)
    item: dict[str, Any] = {
        "key_id": draw(st.text(max_size=20)),
        "description": draw(st.none() | st.text(max_size=20)),
        "algorithm": draw(st.sampled_from(["AES_256", "AES_128"]) | st.text(max_size=8)),
        "usage": draw(st.sampled_from([u.value for u in KeyUsage])),
        "status": draw(st.sampled_from([s.value for s in KeyStatus])),
        "version": draw(st.integers(min_value=-(2**70), max_value=2**70)),
        "metadata": metadata,
        "tags": draw(st.just(metadata) | st.none() | string_maps),
        "created_at": draw(server_timestamps()),
        "rotated_at": draw(st.none() | server_timestamps()),
        "created_by": draw(st.none() | st.text(max_size=10)),
        "rotation_due": draw(st.booleans()),
        "rotation_due_reason": draw(
            st.none() | st.sampled_from([r.value for r in RotationDueReason])
        ),
    }
    for name in draw(st.sets(st.sampled_from(OPTIONAL), max_size=3)):
        del item[name]
    return item


@st.composite
def bad_items(draw: st.DrawFn) -> object:
    """A well-formed item with one to three fields replaced by any JSON value, or junk."""
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        return draw(json_values)
    item = draw(server_items() | good_items())  # mostly fast-path items, so the break is seen
    for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2)):
        item[name] = draw(json_values | text_or_timestamp)
    if draw(st.booleans()):
        item[draw(st.text(max_size=5))] = draw(json_values)  # unknown fields are ignored
    return item


any_items = server_items() | good_items() | bad_items()
ITEM_KINDS = [server_items(), good_items(), any_items]


def _from_json(value: object) -> Any:
    """The value as the client sees it: decoded from JSON text."""
    return json.loads(json.dumps(value))


# --- properties ------------------------------------------------------------------------------


@MANY
@given(server_items())
def test_server_items_take_the_fast_path_and_parse_the_same(item: dict[str, Any]) -> None:
    wire_item = _from_json(item)
    fast = models._fast_key_info(wire_item)
    assert fast is not None
    assert _model_signature(fast) == _model_signature(models._careful_key_info(wire_item))
    _same(KeyInfo.from_wire, models._careful_key_info, wire_item)


@MANY
@given(good_items())
def test_well_formed_items_parse_the_same(item: dict[str, Any]) -> None:
    _same(KeyInfo.from_wire, models._careful_key_info, _from_json(item))


@MANY
@given(server_items(), st.sampled_from(FIELDS), json_values | text_or_timestamp)
def test_one_broken_field_fails_the_same(item: dict[str, Any], name: str, value: object) -> None:
    """A fast-path item with one field replaced: parsed the same, or the same error."""
    _same(KeyInfo.from_wire, models._careful_key_info, _from_json(dict(item, **{name: value})))


@MANY
@given(any_items)
def test_any_item_parses_or_fails_the_same(item: object) -> None:
    _same(KeyInfo.from_wire, models._careful_key_info, _from_json(item))


@st.composite
def pages(draw: st.DrawFn) -> object:
    page: dict[str, Any] = {
        "success": True,
        "keys": draw(st.lists(draw(st.sampled_from(ITEM_KINDS)), max_size=6)),
        "truncated": draw(st.booleans()),
        "next_marker": draw(st.none() | st.text(max_size=10)),
    }
    if draw(st.booleans()):
        page["unreadable_key_ids"] = draw(st.none() | st.lists(st.text(max_size=5), max_size=3))
    if draw(st.integers(min_value=0, max_value=3)) == 0:  # break the page itself
        page[draw(st.sampled_from(["keys", "truncated", "next_marker", "unreadable_key_ids"]))] = (
            draw(json_values)
        )
    if draw(st.integers(min_value=0, max_value=20)) == 0:
        return draw(json_values)
    return page


@MANY
@given(pages())
def test_any_page_parses_or_fails_the_same(page: object) -> None:
    _same(KeyPage.from_wire, models._careful_key_page, _from_json(page))


@MANY
@given(text_or_timestamp)
def test_fast_timestamp_agrees_with_parse_timestamp(text: str) -> None:
    fast = _fast_timestamp(text)
    if fast is None:
        return  # the careful parser decides, and it is tested on its own
    careful = parse_timestamp(text)
    assert _value_signature(fast) == _value_signature(careful)


# --- examples --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-03T04:28:12.865268+00:00[UTC]",
        "2026-11-03T04:28:12+00:00[UTC]",
        "2026-11-03T04:28:12.865268123+00:00[UTC]",
        "2026-11-03T04:28:12.5Z",
        "2026-11-03T04:28:12Z",
        "2026-11-03T04:28:12+00:00",
        "2026-11-03T12:28:12.25+08:00",
    ],
)
def test_fast_timestamp_takes_the_spellings_servers_send(text: str) -> None:
    fast = _fast_timestamp(text)
    assert fast is not None
    assert _value_signature(fast) == _value_signature(parse_timestamp(text))


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-03t04:28:12Z",
        "2026-11-03T04:28:12z",
        "2026-11-03 04:28:12+00:00",
        "2026-11-03T04:28:12",
        "2026-11-03T08:00:00+08:00[Asia/Shanghai]",
        "2026-11-03T04:28:12+00:00]",
        "2026-13-03T04:28:12Z",
        "2026-11-03",
        "",
    ],
)
def test_fast_timestamp_leaves_the_rest_to_parse_timestamp(text: str) -> None:
    assert _fast_timestamp(text) is None


def test_the_benchmark_item_takes_the_fast_path() -> None:
    item = _from_json(GOOD_ITEM)
    fast = models._fast_key_info(item)
    assert fast is not None
    assert _model_signature(fast) == _model_signature(models._careful_key_info(item))
    assert type(fast) is KeyInfo
    assert fast.tags is fast.metadata  # equal maps share one read-only mapping
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.key_id = "other"  # type: ignore[misc]
    assert not hasattr(fast, "__dict__")
    assert fast == models._careful_key_info(item)
    assert repr(fast) == repr(models._careful_key_info(item))
    assert dataclasses.replace(fast, version=2).version == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": True}, "version"),
        ({"version": 1.0}, "version"),
        ({"usage": 3}, "usage"),
        ({"status": ["Active"]}, "status"),
        ({"tags": {"team": 1}}, "tags.team"),
        ({"metadata": ["team"]}, "metadata"),
        ({"created_at": "2026-11-03 04:28:12+00:00"}, "created_at"),
        ({"rotated_at": 0}, "rotated_at"),
        ({"rotation_due_reason": {}}, "rotation_due_reason"),
        ({"description": False}, "description"),
        ({"key_id": None}, "key_id"),
        ({"rotation_due": "yes"}, "rotation_due"),
        ({"rotation_due": 0}, "rotation_due"),
        ({"algorithm": 256}, "algorithm"),
        ({"created_by": []}, "created_by"),
    ],
)
def test_bad_fields_still_raise_the_careful_error(change: dict[str, Any], field: str) -> None:
    item = _from_json(dict(GOOD_ITEM, **change))
    assert models._fast_key_info(item) is None
    with pytest.raises(KmsResponseError) as caught:
        KeyInfo.from_wire(item)
    assert f"keys[].{field} " in caught.value.message
    page = {"keys": [_from_json(GOOD_ITEM), item], "truncated": False}
    with pytest.raises(KmsResponseError) as in_page:
        KeyPage.from_wire(page)
    assert in_page.value.message == caught.value.message


def test_page_errors_come_in_the_careful_order() -> None:
    """A non-object item later in the page is reported before a bad field earlier in it."""
    page = _from_json({"keys": [dict(GOOD_ITEM, version="1"), GOOD_ITEM, 7], "truncated": False})
    with pytest.raises(KmsResponseError, match=r"key listing\.keys\[\] should be an object"):
        KeyPage.from_wire(page)


def test_unknown_enum_values_take_the_careful_path_per_item() -> None:
    page = KeyPage.from_wire(
        _from_json(
            {
                "keys": [GOOD_ITEM, dict(GOOD_ITEM, status="Archived", key_id="k2"), GOOD_ITEM],
                "truncated": True,
                "next_marker": "k3",
            }
        )
    )
    assert [k.status.known for k in page.keys] == [True, False, True]
    assert page.keys[1].status == "Archived"
    assert page.next_marker == "k3"


def test_builder_has_exactly_the_slots_of_key_info() -> None:
    names = tuple(f.name for f in dataclasses.fields(KeyInfo))
    assert models._KeyInfoBuilder.__slots__ == names
    assert KeyInfo.__slots__ == names


def test_map_cache_stays_bounded_and_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "_MAP_CACHE_LIMIT", 8)
    monkeypatch.setattr(wire, "_MAP_CACHE", {})
    monkeypatch.setattr(models, "_MAP_CACHE", wire._MAP_CACHE)
    for index in range(50):
        item = _from_json(dict(GOOD_ITEM, tags={"name": f"key-{index}"}, metadata=None))
        info = KeyInfo.from_wire(item)
        assert dict(info.tags) == {"name": f"key-{index}"}
        assert len(wire._MAP_CACHE) <= 8
    again = KeyInfo.from_wire(_from_json(dict(GOOD_ITEM, tags={"name": "key-49"})))
    assert dict(again.tags) == {"name": "key-49"}


def test_tags_are_copied_not_shared_with_the_wire() -> None:
    item = _from_json(GOOD_ITEM)
    info = KeyInfo.from_wire(item)
    item["tags"]["team"] = "changed"
    item["metadata"]["team"] = "changed"
    assert info.tags == {"team": "blue", "env": "stage"}
    assert info.metadata == {"team": "blue", "env": "stage"}


def test_zone_offsets_survive_the_fast_path() -> None:
    item = _from_json(dict(GOOD_ITEM, created_at="2026-01-01T08:00:00+08:00"))
    info = KeyInfo.from_wire(item)
    assert info.created_at.utcoffset() == timedelta(hours=8)
    assert info.created_at.tzinfo == timezone(timedelta(hours=8))
    assert info.created_at == datetime(2026, 1, 1, tzinfo=UTC)
