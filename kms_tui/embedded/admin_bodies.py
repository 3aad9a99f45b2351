"""Request-body decoding with serde-like error texts, so clients see RustFS's 400 messages."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BodyError",
    "FieldSpec",
    "decode_json",
    "lone_surrogate_error",
    "one_of",
    "read_fields",
]

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
_LONG_DIGITS = re.compile(r"\d{4301,}")  # past Python's default int digit limit
# In JSON that parsed, every backslash starts an escape, so this tokenises them left to right.
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)")


class BodyError(Exception):
    """A body that serde would refuse; ``str()`` is the serde-style message."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One accepted field: name, kind, whether required, and the enum variants if any."""

    name: str
    kind: str  # str | u32 | u64 | bool | map | list_str | object | enum
    required: bool = False
    nullable: bool = True
    variants: tuple[str, ...] = ()


def one_of(names: Sequence[str]) -> str:
    """serde's ``OneOf`` rendering of an expected-name list."""
    quoted = [f"`{name}`" for name in names]
    if not quoted:
        return "there are no fields"
    if len(quoted) == 1:
        return f"expected {quoted[0]}"
    if len(quoted) == 2:
        return f"expected {quoted[0]} or {quoted[1]}"
    return "expected one of " + ", ".join(quoted)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BodyError(f"duplicate field `{key}`")
        result[key] = value
    return result


class _NumberOutOfRange(ValueError):
    """A token serde_json would refuse; carries the token to place the error."""

    def __init__(self, message: str, token: str) -> None:
        super().__init__(message)
        self.token = token


def _reject_constant(token: str) -> Any:
    """serde_json has no NaN or Infinity literals."""
    raise _NumberOutOfRange("expected value", token)


def _finite_float(token: str) -> float:
    """serde_json refuses a float literal that overflows (``1e999``) instead of making inf."""
    value = float(token)
    if math.isinf(value):
        raise _NumberOutOfRange("number out of range", token)
    return value


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"at line {line} column {column}"


def lone_surrogate_error(text: str) -> str | None:
    """serde_json's refusal of an unpaired UTF-16 surrogate escape in parsed JSON, or None.

    Python's parser accepts ``"\\ud800"`` and yields a string no UTF-8 encoder can write; the
    real server refuses it while parsing, so we do too (and nothing downstream has to cope).
    """
    if "\\u" not in text:
        return None
    pending_high: re.Match[str] | None = None
    for escape in _ESCAPE.finditer(text):
        code = int(escape.group(1), 16) if escape.group(1) else None
        if pending_high is not None:
            if escape.start() != pending_high.end() or code is None:
                return f"unexpected end of hex escape {_position(text, pending_high.end())}"
            if not 0xDC00 <= code <= 0xDFFF:
                return f"lone leading surrogate in hex escape {_position(text, escape.end() - 1)}"
            pending_high = None
            continue
        if code is not None and 0xDC00 <= code <= 0xDFFF:
            return f"lone leading surrogate in hex escape {_position(text, escape.end() - 1)}"
        if code is not None and 0xD800 <= code <= 0xDBFF:
            pending_high = escape
    if pending_high is not None:
        return f"unexpected end of hex escape {_position(text, pending_high.end())}"
    return None


def decode_json(body: bytes) -> Any:
    """Parse JSON, turning syntax errors into serde-like text."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BodyError("invalid unicode code point") from err
    if not text.strip():
        raise BodyError("EOF while parsing a value at line 1 column 0")
    try:
        document = json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as err:
        raise BodyError(f"{err.msg} at line {err.lineno} column {err.colno}") from err
    except RecursionError as err:
        # serde_json stops at a nesting depth of 128; Python's parser runs out of stack later.
        raise BodyError("recursion limit exceeded at line 1 column 1") from err
    except _NumberOutOfRange as err:
        raise BodyError(f"{err} {_position(text, text.find(err.token))}") from None
    except ValueError as err:  # an integer past Python's digit limit; serde_json overflows too
        digits = _LONG_DIGITS.search(text)
        where = _position(text, digits.end() - 1 if digits else 0)
        raise BodyError(f"number out of range {where}") from err
    surrogate = lone_surrogate_error(text)
    if surrogate is not None:
        raise BodyError(surrogate)
    return document


def describe_value(value: Any) -> str:
    """serde's ``Unexpected`` rendering of a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f"string {json.dumps(value)}"
    if isinstance(value, list):
        return "sequence"
    return "map"


def _check_int(name: str, value: Any, maximum: int, type_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BodyError(f"invalid type: {describe_value(value)}, expected {type_name}")
    if value < 0 or value > maximum:
        raise BodyError(f"invalid value: integer `{value}`, expected {type_name}")
    return value


def _check_value(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        if spec.nullable and not spec.required:
            return None
        expected = {"str": "a string", "bool": "a boolean", "map": "a map"}.get(
            spec.kind, "a value"
        )
        raise BodyError(f"invalid type: null, expected {expected}")
    if spec.kind in ("str", "enum"):
        if not isinstance(value, str):
            raise BodyError(f"invalid type: {describe_value(value)}, expected a string")
        if spec.kind == "enum" and value not in spec.variants:
            raise BodyError(f"unknown variant `{value}`, {one_of(spec.variants)}")
        return value
    if spec.kind == "u32":
        return _check_int(spec.name, value, U32_MAX, "u32")
    if spec.kind == "u64":
        return _check_int(spec.name, value, U64_MAX, "u64")
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise BodyError(f"invalid type: {describe_value(value)}, expected a boolean")
        return value
    if spec.kind == "map":
        if not isinstance(value, dict):
            raise BodyError(f"invalid type: {describe_value(value)}, expected a map")
        for item in value.values():
            if not isinstance(item, str):
                raise BodyError(f"invalid type: {describe_value(item)}, expected a string")
        return dict(value)
    if spec.kind == "list_str":
        if not isinstance(value, list):
            raise BodyError(f"invalid type: {describe_value(value)}, expected a sequence")
        for item in value:
            if not isinstance(item, str):
                raise BodyError(f"invalid type: {describe_value(item)}, expected a string")
        return list(value)
    if spec.kind == "object":
        if not isinstance(value, dict):
            raise BodyError(f"invalid type: {describe_value(value)}, expected a map")
        return value
    raise AssertionError(f"unknown field kind {spec.kind}")


def read_fields(
    document: Any,
    specs: Sequence[FieldSpec],
    *,
    type_name: str,
    ignore: Sequence[str] = (),
) -> dict[str, Any]:
    """Check a JSON object against field specs (deny_unknown_fields), in document order."""
    if not isinstance(document, dict):
        raise BodyError(f"invalid type: {describe_value(document)}, expected struct {type_name}")
    by_name = {spec.name: spec for spec in specs}
    result: dict[str, Any] = {}
    for name, value in document.items():
        if name in ignore:
            continue
        spec = by_name.get(name)
        if spec is None:
            raise BodyError(f"unknown field `{name}`, {one_of([s.name for s in specs])}")
        result[name] = _check_value(spec, value)
    for spec in specs:
        if spec.required and spec.name not in result:
            raise BodyError(f"missing field `{spec.name}`")
    return result
