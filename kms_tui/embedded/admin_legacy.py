"""Legacy key routes, generate-data-key (S3 XML errors) and our ``POST /kms/decrypt``."""

from __future__ import annotations

import base64
import binascii

from kms_tui.embedded import timefmt
from kms_tui.embedded.admin_bodies import FieldSpec
from kms_tui.embedded.admin_keys import CREATE_SPECS, list_page_body
from kms_tui.embedded.admin_render import (
    BodyParseFailed,
    QueryError,
    e1,
    e2,
    key_metadata,
    parse_body,
    parse_list_query,
)
from kms_tui.embedded.envelope import KEY_SPECS
from kms_tui.embedded.http import JSON_TYPE, HttpRequest, HttpResponse, json_response
from kms_tui.embedded.service import KmsService
from kms_tui.embedded.service_keys import KmsOpError

__all__ = [
    "decrypt",
    "generate_data_key",
    "legacy_create_key",
    "legacy_describe_key",
    "legacy_list_keys",
]

_NOT_INITIALIZED = "kms service is not initialized"
_GENERATE_SPECS = (
    FieldSpec("key_id", "str", required=True, nullable=False),
    FieldSpec("key_spec", "enum", required=True, nullable=False, variants=tuple(KEY_SPECS)),
    FieldSpec("encryption_context", "map"),
)
_DECRYPT_SPECS = (
    FieldSpec("ciphertext_blob", "str", required=True, nullable=False),
    FieldSpec("encryption_context", "map"),
)


def legacy_create_key(service: KmsService, request: HttpRequest) -> HttpResponse:
    """POST /kms/create-key and /kms/key/create: query ignored, body optional."""
    try:
        fields = (
            parse_body(request, CREATE_SPECS, "CreateKeyRequest") if request.body.strip() else {}
        )
    except BodyParseFailed as failed:
        return failed.response
    if not service.is_running:
        return e1(request, 500, _NOT_INITIALIZED)
    try:
        view = service.keys.create_key(fields.get("description"), fields.get("tags") or {})
    except KmsOpError as err:
        return e1(request, 500, f"failed to create key: {err}")
    metadata = key_metadata(
        view,
        origin="KMS",
        key_manager="CUSTOMER",
        creation_date=timefmt.format_zoned(service.now()),
    )
    metadata["key_usage"] = fields.get("key_usage") or "EncryptDecrypt"
    return json_response(200, {"key_id": view.key_id, "key_metadata": metadata})


def legacy_describe_key(service: KmsService, request: HttpRequest) -> HttpResponse:
    """GET /kms/describe-key and /kms/key/status: id from keyId, key-id or key."""
    if not service.is_running:
        return e1(request, 500, _NOT_INITIALIZED)
    key_id = next(
        (v for v in (request.query_value(n) for n in ("keyId", "key-id", "key")) if v), None
    )
    if key_id is None:
        return e1(request, 400, "missing required parameter: 'keyId'")
    try:
        view = service.keys.describe_key(key_id)
    except KmsOpError as err:
        return e1(request, 500, f"failed to describe key: {err}")
    return json_response(
        200, {"key_metadata": key_metadata(view, origin="KMS", key_manager="CUSTOMER")}
    )


def legacy_list_keys(service: KmsService, request: HttpRequest) -> HttpResponse:
    """GET /kms/list-keys: the §8 contract without success/message; errors are XML."""
    try:
        query = parse_list_query(request)
    except QueryError as err:
        return e1(request, 400, str(err), code="InvalidArgument")
    if not service.is_running:
        return e1(request, 500, _NOT_INITIALIZED)
    try:
        body = list_page_body(service, query, {})
    except KmsOpError as err:
        return e1(request, 500, f"failed to list keys: {err}")
    return HttpResponse(200, body, JSON_TYPE)


def generate_data_key(service: KmsService, request: HttpRequest) -> HttpResponse:
    """POST /kms/generate-data-key: every failure is 500 XML."""
    try:
        fields = parse_body(request, _GENERATE_SPECS, "GenerateDataKeyRequest")
    except BodyParseFailed as failed:
        return failed.response
    if not service.is_running:
        return e1(request, 500, "KMS service not initialized")
    key_id = fields["key_id"]
    try:
        plaintext, blob = service.keys.generate_data_key(
            key_id, fields["key_spec"], fields.get("encryption_context") or {}
        )
    except KmsOpError as err:
        return e1(request, 500, f"failed to generate data key: {err}")
    return json_response(
        200,
        {
            "key_id": key_id,
            "plaintext_key": base64.b64encode(plaintext).decode(),
            "ciphertext_blob": base64.b64encode(blob).decode(),
        },
    )


def decrypt(service: KmsService, request: HttpRequest) -> HttpResponse:
    """POST /kms/decrypt (our extension): unwrap a Local data-key envelope."""
    try:
        fields = parse_body(request, _DECRYPT_SPECS, "DecryptRequest")
    except BodyParseFailed as failed:
        return failed.response
    try:
        blob = base64.b64decode(fields["ciphertext_blob"], validate=True)
    except (binascii.Error, ValueError):
        return e2(request, 400, {}, "Invalid ciphertext blob: not valid base64")
    try:
        master_key_id, plaintext = service.keys.decrypt(
            blob, fields.get("encryption_context") or {}
        )
    except KmsOpError as err:
        status = {
            "not_running": 503,
            "not_found": 404,
            "context": 400,
            "bad_blob": 400,
            "invalid": 400,
        }.get(err.kind, 500)
        return e2(request, status, {}, str(err))
    return json_response(
        200, {"key_id": master_key_id, "plaintext": base64.b64encode(plaintext).decode()}
    )
