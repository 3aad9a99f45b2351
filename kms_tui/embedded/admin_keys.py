"""Modern key routes (/kms/keys*): JSON envelopes with ``success`` (family E2 on failure)."""

from __future__ import annotations

import json
from json.encoder import encode_basestring as _json_str
from typing import Any

from kms_tui.embedded import timefmt
from kms_tui.embedded.admin_bodies import FieldSpec
from kms_tui.embedded.admin_render import (
    KEY_USAGES,
    BodyParseFailed,
    QueryError,
    e1,
    e2,
    key_info,
    key_info_json,
    key_metadata,
    parse_body,
    parse_list_query,
)
from kms_tui.embedded.http import JSON_TYPE, HttpRequest, HttpResponse, json_response
from kms_tui.embedded.keyrecord import KeyRecord
from kms_tui.embedded.service import KmsService
from kms_tui.embedded.service_keys import DEFAULT_WINDOW_DAYS, KeyView, KmsOpError

__all__ = [
    "CREATE_SPECS",
    "cancel_deletion",
    "create_key",
    "delete_key",
    "describe_key",
    "lifecycle",
    "list_keys",
    "metadata_update",
]

CREATE_SPECS = (
    FieldSpec("key_usage", "enum", variants=KEY_USAGES),
    FieldSpec("description", "str"),
    FieldSpec("tags", "map"),
)
_KEY_ID_SPECS = (FieldSpec("key_id", "str", required=True, nullable=False),)
_DELETE_SPECS = (
    FieldSpec("key_id", "str", required=True, nullable=False),
    FieldSpec("pending_window_in_days", "u32"),
    FieldSpec("force_immediate", "bool"),
    FieldSpec("confirm_key_id", "str"),
)
_QUERY_IMMEDIATE_REFUSED = (
    "immediate deletion is no longer accepted as a query parameter; send it as a JSON body "
    "with force_immediate and confirm_key_id set to the key id"
)
_MISSING_KEY_ID = "missing required parameter: 'keyId'"
NOT_RUNNING_STATUS = 503


def _status_for(err: KmsOpError, table: dict[str, int], default: int = 500) -> int:
    if err.kind == "not_running":
        return NOT_RUNNING_STATUS
    return table.get(err.kind, default)


def _message(err: KmsOpError, prefix: str) -> str:
    return str(err) if err.kind == "not_running" else f"{prefix}{err}"


def _meta(view: KeyView, **extra: Any) -> dict[str, Any]:
    return key_metadata(view, origin="KMS", key_manager="CUSTOMER", **extra)


def create_key(service: KmsService, request: HttpRequest) -> HttpResponse:
    """POST /kms/keys; a duplicate id answers 409 (RustFS: 500), same envelope and message."""
    empty = {"key_id": "", "key_metadata": None}
    try:
        fields = (
            parse_body(request, CREATE_SPECS, "CreateKeyRequest") if request.body.strip() else {}
        )
    except BodyParseFailed as failed:
        return failed.response
    usage = fields.get("key_usage") or "EncryptDecrypt"
    try:
        view = service.keys.create_key(fields.get("description"), fields.get("tags") or {})
    except KmsOpError as err:
        status = _status_for(err, {"exists": 409})
        return e2(request, status, empty, _message(err, "failed to create key: "))
    metadata = _meta(view, creation_date=timefmt.format_zoned(service.now()))
    metadata["key_usage"] = usage  # Local echoes the requested usage, stores EncryptDecrypt
    return json_response(
        200,
        {
            "success": True,
            "message": "key created successfully",
            "key_id": view.key_id,
            "key_metadata": metadata,
        },
    )


_LIST_HEAD = {"success": True, "message": "keys listed successfully"}


def list_keys(service: KmsService, request: HttpRequest) -> HttpResponse:
    """GET /kms/keys."""
    empty: dict[str, Any] = {"keys": [], "truncated": False, "next_marker": None}
    try:
        query = parse_list_query(request)
    except QueryError as err:
        return e2(request, 400, empty, str(err))
    try:
        body = list_page_body(service, query, _LIST_HEAD)
    except KmsOpError as err:
        status = _status_for(err, {})
        return e2(request, status, empty, _message(err, "failed to list keys: "))
    return HttpResponse(200, body, JSON_TYPE)


def _selected(records: list[KeyRecord], query: Any) -> list[KeyRecord]:
    if query.status is None and query.usage is None:
        return records
    return [
        record
        for record in records
        if (query.status is None or record.status == query.status)
        and (query.usage is None or record.usage == query.usage)
    ]


def _check_page(
    query: Any, records: list[KeyRecord], truncated: bool, unreadable: list[str]
) -> None:
    if not query.marker and not truncated and not records and unreadable:
        raise KmsOpError(
            "internal",
            "Backend error: no key could be read; unreadable keys: " + ", ".join(unreadable),
        )


def list_page(service: KmsService, query: Any) -> dict[str, Any]:
    """The list body shared with the legacy route (§8 rules, filters after the cut)."""
    records, truncated, unreadable = service.keys.list_records(query.marker, query.limit)
    _check_page(query, records, truncated, unreadable)
    return _page(records, _selected(records, query), truncated, unreadable)


def _page(
    records: list[KeyRecord], chosen: list[KeyRecord], truncated: bool, unreadable: list[str]
) -> dict[str, Any]:
    page: dict[str, Any] = {
        "keys": [key_info(KeyView.of(record)) for record in chosen],
        "truncated": truncated,
        "next_marker": records[-1].key_id if truncated and records else None,
    }
    if unreadable:
        page["unreadable_key_ids"] = unreadable
    return page


def _json_head(fields: dict[str, Any]) -> str:
    """``{"a":1,"b":2,`` for fields rendered before the page's own (``{`` when none)."""
    return (
        json.dumps(fields, separators=(",", ":"), ensure_ascii=False)[:-1] + "," if fields else "{"
    )


def list_page_body(service: KmsService, query: Any, head: dict[str, Any]) -> bytes:
    """``json_response(200, head | list_page(service, query)).body``, rendered directly.

    A page of 1,000 keys is written as text from the records (:func:`key_info_json`) rather
    than as 1,000 views and dicts handed to ``json.dumps``; the bytes are the same.
    """
    records, truncated, unreadable = service.keys.list_records(query.marker, query.limit)
    _check_page(query, records, truncated, unreadable)
    chosen = _selected(records, query)
    next_marker = records[-1].key_id if truncated and records else None
    parts = [
        _json_head(head),
        '"keys":[',
        ",".join([key_info_json(record) for record in chosen]),
        '],"truncated":true,"next_marker":' if truncated else '],"truncated":false,"next_marker":',
        "null" if next_marker is None else _json_str(next_marker),
    ]
    if unreadable:
        parts.append(',"unreadable_key_ids":')
        parts.append(json.dumps(unreadable, separators=(",", ":"), ensure_ascii=False))
    parts.append("}")
    try:
        return "".join(parts).encode()
    except UnicodeEncodeError:
        # A lone surrogate somewhere: json_response's escaped rendering, as before.
        payload = dict(head)
        payload.update(_page(records, chosen, truncated, unreadable))
        return json_response(200, payload).body


def describe_key(service: KmsService, request: HttpRequest, key_id: str) -> HttpResponse:
    """GET /kms/keys/{key_id}[?impact=true|false]."""
    empty = {"key_metadata": None, "impact": None}
    impact_raw = request.query_value("impact")
    if impact_raw is not None and impact_raw not in ("true", "false"):
        return e2(
            request,
            400,
            empty,
            f"invalid value for 'impact': expected true or false, got '{impact_raw}'",
        )
    try:
        view = service.keys.describe_key(key_id)
    except KmsOpError as err:
        status = _status_for(err, {"not_found": 404, "invalid": 400})
        return e2(request, status, empty, _message(err, "Failed to describe key: "))
    return json_response(
        200,
        {
            "success": True,
            "message": "Key described successfully",
            "key_metadata": _meta(view),
            "impact": service.keys.impact(key_id) if impact_raw == "true" else None,
        },
    )


def delete_key(service: KmsService, request: HttpRequest) -> HttpResponse:
    """DELETE /kms/keys/delete: body form, or the query form when the body is empty."""
    if request.body.strip():
        try:
            fields = parse_body(request, _DELETE_SPECS, "DeleteKeyRequest")
        except BodyParseFailed as failed:
            return failed.response
        key_id = fields["key_id"]
        window = fields.get("pending_window_in_days")
        force = bool(fields.get("force_immediate"))
        confirm = fields.get("confirm_key_id")
    else:
        key_id = request.query_value("keyId") or ""
        empty_q = {"key_id": key_id, "deletion_date": None, "impact": None}
        force_raw = request.query_value("force_immediate")
        if (force_raw is not None and force_raw != "false") or request.has_query("confirm_key_id"):
            return e2(request, 400, empty_q, _QUERY_IMMEDIATE_REFUSED)
        if not key_id:
            return e2(request, 400, empty_q, _MISSING_KEY_ID)
        window_raw = request.query_value("pending_window_in_days")
        window = (
            int(window_raw)
            if window_raw and window_raw.isascii() and window_raw.isdigit()
            else None
        )
        force, confirm = False, None
    days = DEFAULT_WINDOW_DAYS if window is None else window
    try:
        if force:
            service.keys.delete_immediately(key_id, confirm)
            deletion_date = None
        else:
            deletion_date = service.keys.schedule_deletion(key_id, days)
    except KmsOpError as err:
        status = _status_for(err, {"not_found": 404, "invalid": 400, "referenced": 409})
        impact = None
        if err.kind not in ("not_found", "not_running"):
            impact = service.keys.impact(key_id)
        return e2(
            request,
            status,
            {"key_id": key_id, "deletion_date": None, "impact": impact},
            _message(err, "Failed to delete key: "),
        )
    return json_response(
        200,
        {
            "success": True,
            "message": "key deleted successfully",
            "key_id": key_id,
            "deletion_date": deletion_date,
            "impact": service.keys.impact(key_id),
        },
    )


def _key_id_from(request: HttpRequest) -> str | BodyParseFailed | None:
    if request.body.strip():
        try:
            return str(parse_body(request, _KEY_ID_SPECS, "KeyIdRequest")["key_id"])
        except BodyParseFailed as failed:
            return failed
    return request.query_value("keyId") or None


def cancel_deletion(service: KmsService, request: HttpRequest) -> HttpResponse:
    """POST /kms/keys/cancel-deletion: every KMS error is 500 here, as in RustFS."""
    key_id = _key_id_from(request)
    if isinstance(key_id, BodyParseFailed):
        return key_id.response
    if key_id is None:
        return e2(request, 400, {"key_id": "", "key_metadata": None}, _MISSING_KEY_ID)
    try:
        view = service.keys.cancel_deletion(key_id)
    except KmsOpError as err:
        return e2(
            request,
            _status_for(err, {}),
            {"key_id": key_id, "key_metadata": None},
            _message(err, "Failed to cancel key deletion: "),
        )
    return json_response(
        200,
        {
            "success": True,
            "message": "key deletion cancelled successfully",
            "key_id": key_id,
            "key_metadata": key_metadata(view, origin="AWS_KMS", key_manager="CUSTOMER"),
        },
    )


_LIFECYCLE = {
    "enable": ("key enabled successfully", "Failed to enable key: "),
    "disable": ("key disabled successfully", "Failed to disable key: "),
    "rotate": ("key rotated successfully", "Failed to rotate key: "),
}
_ERROR_TABLE = {"not_found": 404, "unsupported": 501, "invalid": 400}


def lifecycle(service: KmsService, request: HttpRequest, action: str) -> HttpResponse:
    """POST /kms/keys/enable | disable | rotate."""
    success_message, prefix = _LIFECYCLE[action]
    key_id = _key_id_from(request)
    if isinstance(key_id, BodyParseFailed):
        return key_id.response
    if key_id is None:
        return e2(request, 400, {"key_id": "", "key_metadata": None}, _MISSING_KEY_ID)
    try:
        if action == "rotate":
            view = service.keys.rotate(key_id)
        else:
            view = service.keys.set_enabled(key_id, action == "enable")
    except KmsOpError as err:
        return e2(
            request,
            _status_for(err, _ERROR_TABLE),
            {"key_id": key_id, "key_metadata": None},
            _message(err, prefix),
        )
    return json_response(
        200,
        {
            "success": True,
            "message": success_message,
            "key_id": key_id,
            "key_metadata": _meta(view),
        },
    )


_METADATA_ROUTES: dict[str, tuple[tuple[FieldSpec, ...], str, str, str]] = {
    "update-description": (
        (
            FieldSpec("key_id", "str", required=True, nullable=False),
            FieldSpec("description", "str", required=True, nullable=False),
        ),
        "UpdateKeyDescriptionRequest",
        "key description updated",
        "Failed to update key description: ",
    ),
    "tag": (
        (
            FieldSpec("key_id", "str", required=True, nullable=False),
            FieldSpec("tags", "map", required=True, nullable=False),
        ),
        "TagKeyRequest",
        "key tags updated",
        "Failed to tag key: ",
    ),
    "untag": (
        (
            FieldSpec("key_id", "str", required=True, nullable=False),
            FieldSpec("tag_keys", "list_str", required=True, nullable=False),
        ),
        "UntagKeyRequest",
        "key tags removed",
        "Failed to untag key: ",
    ),
}


def metadata_update(service: KmsService, request: HttpRequest, action: str) -> HttpResponse:
    """POST /kms/keys/update-description | tag | untag (body required)."""
    specs, type_name, success_message, prefix = _METADATA_ROUTES[action]
    if not request.body.strip():
        return e1(request, 400, "a request body is required")
    try:
        fields = parse_body(request, specs, type_name)
    except BodyParseFailed as failed:
        return failed.response
    key_id = fields["key_id"]
    try:
        if action == "update-description":
            view = service.keys.update_metadata(
                key_id, description=fields["description"], set_description=True
            )
        elif action == "tag":
            view = service.keys.update_metadata(key_id, tags=fields["tags"])
        else:
            view = service.keys.update_metadata(key_id, remove_tags=fields["tag_keys"])
    except KmsOpError as err:
        return e2(
            request,
            _status_for(err, _ERROR_TABLE),
            {"key_id": key_id, "key_metadata": None},
            _message(err, prefix),
        )
    return json_response(
        200,
        {
            "success": True,
            "message": success_message,
            "key_id": key_id,
            "key_metadata": _meta(view),
        },
    )
