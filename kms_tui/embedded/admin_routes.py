"""Admin routes under /rustfs/admin/v3: dispatch plus the service-control and status routes."""

from __future__ import annotations

import logging
from collections.abc import Callable

from kms_tui.embedded import admin_keys, admin_legacy, backup
from kms_tui.embedded.admin_bodies import BodyError, FieldSpec, decode_json, read_fields
from kms_tui.embedded.admin_render import e1
from kms_tui.embedded.config import ConfigInputError, KmsConfig, parse_configure_body
from kms_tui.embedded.http import HttpRequest, HttpResponse, json_response, text_response
from kms_tui.embedded.service import KmsService, OpResult

__all__ = ["CAPABILITIES_LOCAL", "ROUTES", "handle_admin"]

log = logging.getLogger("kms_tui.embedded")

Handler = Callable[[KmsService, HttpRequest], HttpResponse]

CAPABILITIES_LOCAL = {
    "encrypt": True,
    "decrypt": True,
    "generate_data_key": True,
    "rotate": False,
    "enable_disable": True,
    "schedule_deletion": True,
    "versioning": False,
    "physical_delete": True,
    "update_key_metadata": True,
    "rewrap": False,
}
_NOT_INITIALIZED = "KMS service not initialized"
_KEYS_PREFIX = "/kms/keys/"


def _control_answer(service: KmsService, result: OpResult) -> HttpResponse:
    payload = {
        "success": result.success,
        "message": result.message,
        "status": service.status_json(),
    }
    return json_response(200, payload, content_type=None)


def _configure_like(
    service: KmsService, request: HttpRequest, apply: Callable[[KmsConfig], OpResult]
) -> HttpResponse:
    try:
        requested = parse_configure_body(request.body)
        result = apply(requested)
    except ConfigInputError as err:
        return text_response(400, str(err))
    return _control_answer(service, result)


def configure(service: KmsService, request: HttpRequest) -> HttpResponse:
    """POST /kms/configure."""
    return _configure_like(service, request, service.configure)


def reconfigure(service: KmsService, request: HttpRequest) -> HttpResponse:
    """POST /kms/reconfigure."""
    return _configure_like(service, request, service.reconfigure)


def start(service: KmsService, request: HttpRequest) -> HttpResponse:
    """POST /kms/start with an optional ``{"force": bool}``."""
    force = False
    if request.body.strip():
        try:
            fields = read_fields(
                decode_json(request.body),
                (FieldSpec("force", "bool"),),
                type_name="StartKmsRequest",
            )
        except BodyError as err:
            return text_response(400, f"Invalid JSON: {err}")
        force = bool(fields.get("force"))
    return _control_answer(service, service.start(force=force))


def stop(service: KmsService, request: HttpRequest) -> HttpResponse:
    """POST /kms/stop (no body read)."""
    return _control_answer(service, service.stop())


def service_status(service: KmsService, request: HttpRequest) -> HttpResponse:
    """GET /kms/service-status: always 200, no Content-Type, never secrets."""
    config = service.config
    payload = {
        "status": service.status_json(),
        "backend_type": config.wire_backend if config is not None else None,
        "healthy": service.health() if service.is_running else None,
        "config_summary": config.config_summary() if config is not None else None,
    }
    return json_response(200, payload, content_type=None)


def kms_status(service: KmsService, request: HttpRequest) -> HttpResponse:
    """GET|POST /kms/status: Running only; cache counters, capabilities, fingerprint."""
    config = service.config
    if not service.is_running or config is None:
        return e1(request, 500, _NOT_INITIALIZED)
    stats = service.cache_stats()
    payload = {
        "backend_type": config.backend,
        "backend_status": "healthy" if service.health() else "unhealthy",
        "cache_enabled": config.enable_cache,
        "cache_stats": stats.to_json() if stats is not None else None,
        "default_key_id": config.default_key_id,
        "capabilities": dict(CAPABILITIES_LOCAL),
        "cluster_config": {
            "consistent": True,
            "nodes": [{"host": "local", "config_fingerprint": config.fingerprint()}],
        },
    }
    return json_response(200, payload)


def kms_config(service: KmsService, request: HttpRequest) -> HttpResponse:
    """GET /kms/config: Running only."""
    config = service.config
    if not service.is_running or config is None:
        return e1(request, 500, _NOT_INITIALIZED)
    return json_response(
        200,
        {
            "backend": config.backend,
            "cache_enabled": config.enable_cache,
            "cache_max_keys": config.max_cached_keys,
            "cache_ttl_seconds": config.cache_ttl_seconds,
            "default_key_id": config.default_key_id,
        },
    )


def clear_cache(service: KmsService, request: HttpRequest) -> HttpResponse:
    """POST /kms/clear-cache: 200 (not 204); counters are kept."""
    if not service.is_running:
        return e1(request, 500, _NOT_INITIALIZED)
    service.cache.clear()
    return json_response(200, {"status": "success", "message": "cache cleared successfully"})


ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/kms/configure"): configure,
    ("POST", "/kms/reconfigure"): reconfigure,
    ("POST", "/kms/start"): start,
    ("POST", "/kms/stop"): stop,
    ("GET", "/kms/service-status"): service_status,
    ("GET", "/kms/status"): kms_status,
    ("POST", "/kms/status"): kms_status,
    ("GET", "/kms/config"): kms_config,
    ("POST", "/kms/clear-cache"): clear_cache,
    ("POST", "/kms/keys"): admin_keys.create_key,
    ("GET", "/kms/keys"): admin_keys.list_keys,
    ("DELETE", "/kms/keys/delete"): admin_keys.delete_key,
    ("POST", "/kms/keys/cancel-deletion"): admin_keys.cancel_deletion,
    ("POST", "/kms/generate-data-key"): admin_legacy.generate_data_key,
    ("POST", "/kms/create-key"): admin_legacy.legacy_create_key,
    ("POST", "/kms/key/create"): admin_legacy.legacy_create_key,
    ("GET", "/kms/describe-key"): admin_legacy.legacy_describe_key,
    ("GET", "/kms/key/status"): admin_legacy.legacy_describe_key,
    ("GET", "/kms/list-keys"): admin_legacy.legacy_list_keys,
    ("POST", "/kms/keys/enable"): lambda s, r: admin_keys.lifecycle(s, r, "enable"),
    ("POST", "/kms/keys/disable"): lambda s, r: admin_keys.lifecycle(s, r, "disable"),
    ("POST", "/kms/keys/rotate"): lambda s, r: admin_keys.lifecycle(s, r, "rotate"),
    ("POST", "/kms/keys/update-description"): (
        lambda s, r: admin_keys.metadata_update(s, r, "update-description")
    ),
    ("POST", "/kms/keys/tag"): lambda s, r: admin_keys.metadata_update(s, r, "tag"),
    ("POST", "/kms/keys/untag"): lambda s, r: admin_keys.metadata_update(s, r, "untag"),
    ("GET", "/kms/backup"): backup.backup_status,
    ("POST", "/kms/backup"): backup.create_backup,
    ("POST", "/kms/restore/dry-run"): backup.restore_dry_run,
    ("POST", "/kms/restore"): backup.restore,
    ("POST", "/kms/restore/abort"): backup.restore_abort,
    ("POST", "/kms/decrypt"): admin_legacy.decrypt,
}


def _path_key_id(request: HttpRequest) -> str | None:
    """The raw (not percent-decoded) ``{key_id}`` segment of ``/kms/keys/{key_id}``."""
    if not request.path.startswith(_KEYS_PREFIX):
        return None
    raw = request.raw_path or request.path
    index = raw.rfind(_KEYS_PREFIX)
    segment = raw[index + len(_KEYS_PREFIX) :] if index >= 0 else ""
    if not segment or "/" in segment:
        return None
    return segment


def handle_admin(service: KmsService, request: HttpRequest) -> HttpResponse | None:
    """Answer one admin request, or None when no route matches method and path."""
    handler = ROUTES.get((request.method.upper(), request.path))
    if handler is not None:
        return handler(service, request)
    if request.method.upper() == "GET":
        key_id = _path_key_id(request)
        if key_id is not None:
            return admin_keys.describe_key(service, request, key_id)
    return None
