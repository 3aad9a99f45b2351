"""Shared pieces of the admin routes: error families, key renderings and list-query parsing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring as _json_str
from typing import Any

from kms_tui.embedded.admin_bodies import BodyError, FieldSpec, decode_json, read_fields
from kms_tui.embedded.http import HttpRequest, HttpResponse, json_error, xml_error
from kms_tui.embedded.keyrecord import KEY_STATUSES, KeyRecord
from kms_tui.embedded.service_keys import KeyView

__all__ = [
    "BodyParseFailed",
    "ListQuery",
    "QueryError",
    "e1",
    "e2",
    "key_info",
    "key_info_json",
    "key_metadata",
    "parse_body",
    "parse_list_query",
]

STATUS_CODES = {
    400: "InvalidRequest",
    404: "KeyNotFound",
    409: "Conflict",
    412: "PreconditionFailed",
    500: "InternalError",
    501: "NotImplemented",
    503: "ServiceUnavailable",
}
KEY_STATES = {
    "Active": "Enabled",
    "Disabled": "Disabled",
    "PendingDeletion": "PendingDeletion",
    "Deleted": "Unavailable",
}
KEY_USAGES = ("EncryptDecrypt", "SignVerify")
MAX_PAGE = 1000
DEFAULT_PAGE = 100


class BodyParseFailed(Exception):
    """A body serde would refuse; answered as S3 XML 400 (family E1)."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__("body parse failed")
        self.response = response


class QueryError(Exception):
    """A bad list query parameter (400 in the route's own family)."""


def e1(request: HttpRequest, status: int, message: str, code: str | None = None) -> HttpResponse:
    """An S3 XML error (family E1)."""
    return xml_error(
        status, code or STATUS_CODES.get(status, "InternalError"), message, request.request_id
    )


def e2(request: HttpRequest, status: int, payload: dict[str, Any], message: str) -> HttpResponse:
    """A JSON ``success:false`` envelope of the route's own shape, plus the ``error`` object."""
    body = {"success": False, "message": message}
    body.update(payload)
    return json_error(
        status,
        body,
        code=STATUS_CODES.get(status, "InternalError"),
        message=message,
        request_id=request.request_id,
    )


def parse_body(request: HttpRequest, specs: Sequence[FieldSpec], type_name: str) -> dict[str, Any]:
    """Decode a JSON body with deny_unknown_fields; failures raise BodyParseFailed (E1 400)."""
    try:
        return read_fields(decode_json(request.body), specs, type_name=type_name)
    except BodyError as err:
        raise BodyParseFailed(e1(request, 400, f"invalid JSON: {err}")) from err


def key_metadata(
    view: KeyView, *, origin: str, key_manager: str, creation_date: str | None = None
) -> dict[str, Any]:
    """KeyMetadata as the Local backend renders it."""
    return {
        "key_id": view.key_id,
        "key_state": KEY_STATES.get(view.status, "Unavailable"),
        "key_usage": view.usage,
        "description": view.description,
        "creation_date": creation_date or view.created_at,
        "deletion_date": view.deletion_date if view.status == "PendingDeletion" else None,
        "origin": origin,
        "key_manager": key_manager,
        "tags": dict(view.tags),
    }


def key_info(view: KeyView) -> dict[str, Any]:
    """A list item; Local cannot rotate, so every verdict is ``unsupported``."""
    return {
        "key_id": view.key_id,
        "description": view.description,
        "algorithm": view.algorithm,
        "usage": view.usage,
        "status": view.status,
        "version": view.version,
        "metadata": dict(view.tags),
        "tags": dict(view.tags),
        "created_at": view.created_at,
        "rotated_at": view.rotated_at,
        "created_by": view.created_by,
        "rotation_due": False,
        "rotation_due_reason": "unsupported",
    }


# key_info's fields in its order; the two constant verdicts are written out.
_KEY_INFO_JSON = (
    '{"key_id":%s,"description":%s,"algorithm":%s,"usage":%s,"status":%s,"version":%d,'
    '"metadata":%s,"tags":%s,"created_at":%s,"rotated_at":%s,"created_by":%s,'
    '"rotation_due":false,"rotation_due_reason":"unsupported"}'
)


def key_info_json(record: KeyRecord) -> str:
    """``key_info(KeyView.of(record))`` as the text json_response writes for it.

    Compact separators, ``ensure_ascii=False``: each string through the json module's own
    string encoder, so the text is the same (tests/unit/test_store_open_fast.py compares them).
    A listing renders every key of a page, so this skips the view and the dicts. It reads the
    record's metadata fields only, never its material.
    """
    tags = record.metadata
    if tags:
        pairs = [_json_str(name) + ":" + _json_str(value) for name, value in tags.items()]
        tags_json = "{" + ",".join(pairs) + "}"
    else:
        tags_json = "{}"
    description = record.description
    rotated_at = record.rotated_at
    created_by = record.created_by
    return _KEY_INFO_JSON % (
        _json_str(record.key_id),
        "null" if description is None else _json_str(description),
        _json_str(record.algorithm),
        _json_str(record.usage),
        _json_str(record.status),
        record.version,
        tags_json,
        tags_json,
        _json_str(record.created_at),
        "null" if rotated_at is None else _json_str(rotated_at),
        "null" if created_by is None else _json_str(created_by),
    )


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Parsed list parameters (§8)."""

    marker: str | None
    limit: int
    status: str | None
    usage: str | None


def _loose(value: str) -> str:
    return value.replace("_", "").replace("-", "").lower()


def _enum_filter(request: HttpRequest, name: str, variants: Sequence[str]) -> str | None:
    raw = request.query_value(name)
    if raw is None:
        return None
    for variant in variants:
        if raw and _loose(raw) == _loose(variant):
            return variant
    raise QueryError(
        f"invalid value for '{name}': expected one of {', '.join(variants)}, got '{raw}'"
    )


def parse_list_query(request: HttpRequest) -> ListQuery:
    """limit (default 100, max 1000, digits only), marker, status and usage filters."""
    raw_limit = request.query_value("limit")
    limit = DEFAULT_PAGE
    if raw_limit is not None:
        if not raw_limit.isascii() or not raw_limit.isdigit():
            raise QueryError(f"invalid limit '{raw_limit}': expected a non-negative integer")
        limit = min(int(raw_limit), MAX_PAGE)
    status = _enum_filter(request, "status", KEY_STATUSES)
    usage = _enum_filter(request, "usage", KEY_USAGES)
    marker = request.query_value("marker") or None
    return ListQuery(marker=marker, limit=limit, status=status, usage=usage)
