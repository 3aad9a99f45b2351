"""A fake RustFS admin server that answers the KMS routes the way the reference says RustFS does.

A raw ASGI app served by uvicorn on 127.0.0.1 (random port) in a background thread. Every
request is SigV4-verified with :func:`kms_tui.embedded.sigv4.verify_request` (S3 XML 403s on
failure, as RustFS) and recorded. Routes keep a small Local-backend state (service state
machine, keys) and reproduce the awkward parts of the wire: no Content-Type on
configure/reconfigure/start/stop/service-status, ``[UTC]`` timestamps with nine fractional
digits, S3 XML errors, E2 envelopes, E3 plain text, E4 backup JSON, 200 with ``success:false``
and 501 XML for ``/kms/decrypt``. Tests can script the next answers of any route.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import threading
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

from kms_tui.embedded.sigv4 import SigV4Error, verify_request

PREFIX = "/rustfs/admin/v3"
JSON = "application/json"
XML = "application/xml"
NOT_RUNNING = "kms service is not running"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def zoned(moment: datetime) -> str:
    """RustFS's Zoned format with nine fractional digits, as jiff writes them."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}417+00:00[UTC]"


def xml_error(code: str, message: str, request_id: str | None = None) -> bytes:
    """An s3s-style XML error body."""
    rid = f"<RequestId>{request_id}</RequestId>" if request_id else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message>{rid}</Error>"
    ).encode()


@dataclass
class Answer:
    """One response: status, body (dict/list → JSON), Content-Type (None: no header), delay."""

    status: int = 200
    body: Any = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


def json_answer(status: int, payload: Any, *, content_type: str | None = JSON) -> Answer:
    """A JSON answer; ``content_type=None`` for the routes where RustFS sends none."""
    return Answer(status, payload, content_type)


def xml_answer(status: int, code: str, message: str) -> Answer:
    """An S3 XML error answer."""
    return Answer(status, xml_error(code, message), XML)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it."""

    method: str
    raw_path: str
    query: str
    headers: dict[str, str]
    body: bytes
    json: Any
    signature_error: str | None

    @property
    def path(self) -> str:
        """The path below the admin prefix (``/kms/keys``)."""
        return self.raw_path.removeprefix(PREFIX)

    @property
    def params(self) -> dict[str, str]:
        """The decoded query parameters."""
        return dict(parse_qsl(self.query, keep_blank_values=True))


@dataclass
class FakeKey:
    """One key in the fake's Local backend."""

    key_id: str
    description: str | None
    tags: dict[str, str]
    created_at: datetime
    state: str = "Enabled"  # KeyState spelling
    deletion_date: datetime | None = None

    def metadata(self, origin: str = "KMS") -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "key_state": self.state,
            "key_usage": "EncryptDecrypt",
            "description": self.description,
            "creation_date": zoned(self.created_at),
            "deletion_date": zoned(self.deletion_date) if self.deletion_date else None,
            "origin": origin,
            "key_manager": "CUSTOMER",
            "tags": dict(self.tags),
        }

    def info(self) -> dict[str, Any]:
        status = {"Enabled": "Active", "Unavailable": "Deleted"}.get(self.state, self.state)
        return {
            "key_id": self.key_id,
            "description": self.description,
            "algorithm": "AES_256",
            "usage": "EncryptDecrypt",
            "status": status,
            "version": 1,
            "metadata": dict(self.tags),
            "tags": dict(self.tags),
            "created_at": zoned(self.created_at),
            "rotated_at": None,
            "created_by": "local-kms",
            "rotation_due": False,
        }


@dataclass
class _State:
    service: Any = "NotConfigured"  # "NotConfigured" | "Configured" | "Running" | {"Error": m}
    config: dict[str, Any] | None = None
    keys: dict[str, FakeKey] = field(default_factory=dict)
    allow_immediate_deletion: bool = False
    unreadable_key_ids: list[str] = field(default_factory=list)
    cache_hits: int = 0
    cache_misses: int = 0


class FakeRustFS:
    """The fake server; use as a context manager, read ``url`` and ``requests``."""

    def __init__(
        self,
        access_key: str = "fake-admin",
        secret_key: str = "fake-secret/Key+0123456789",
        *,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
    ) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self._ssl = (ssl_certfile, ssl_keyfile)
        self._lock = threading.Lock()
        self._scripts: dict[tuple[str, str], deque[Answer]] = defaultdict(deque)
        self.requests: list[RecordedRequest] = []
        self.state = _State()
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- test controls -------------------------------------------------------------------

    def reset(self) -> None:
        """Forget requests, scripts and state (between tests sharing one server)."""
        with self._lock:
            self._scripts.clear()
            self.requests.clear()
            self.state = _State()

    def script(self, method: str, path: str, *answers: Answer) -> None:
        """Queue answers for the next requests to ``method path`` (path below the prefix)."""
        with self._lock:
            self._scripts[(method.upper(), path)].extend(answers)

    def seed_running(self, key_ids: tuple[str, ...] = ()) -> None:
        """Put the service in Running with a Local config and the given keys."""
        self.state.config = {
            "backend_type": "Local",
            "key_dir": "/var/lib/rustfs/kms",
            "default_key_id": "rustfs-default",
        }
        self.state.service = "Running"
        for key_id in key_ids:
            self.state.keys[key_id] = FakeKey(key_id, None, {"name": key_id}, _now())

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """The recorded requests for one route."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    # --- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> FakeRustFS:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        certfile, keyfile = self._ssl
        config = uvicorn.Config(
            self,
            log_level="critical",
            access_log=False,
            lifespan="off",
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        self._thread.start()
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not server.started:
            if datetime.now(UTC) > deadline or not self._thread.is_alive():
                raise RuntimeError("fake RustFS did not start")
            threading.Event().wait(0.01)
        scheme = "https" if certfile else "http"
        self.url = f"{scheme}://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    # --- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        raw_path = raw_path.split("?", 1)[0]
        query = scope["query_string"].decode("latin-1")
        header_pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        method = scope["method"]
        request_id = uuid.uuid4().hex[:16].upper()

        signature_error = None
        try:
            verify_request(
                method=method,
                raw_path=raw_path,
                raw_query=query,
                headers=header_pairs,
                body=body,
                lookup_secret=lambda key: self.secret_key if key == self.access_key else None,
            )
        except SigV4Error as err:
            signature_error = f"{err.code}: {err.message}"
            answer = Answer(err.status, xml_error(err.code, err.message, request_id), XML)
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        record = RecordedRequest(
            method, raw_path, query, dict(header_pairs), body, parsed, signature_error
        )
        path = raw_path.removeprefix(PREFIX)
        with self._lock:
            self.requests.append(record)
            if signature_error is None:
                queued = self._scripts.get((method, path))
                scripted = queued.popleft() if queued else None
        if signature_error is None:
            answer = scripted or self._route(record)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        payload = answer.encoded()
        headers = [(b"x-amz-request-id", request_id.encode())]
        headers.append((b"content-length", str(len(payload)).encode()))
        if answer.content_type is not None:
            headers.append((b"content-type", answer.content_type.encode()))
        headers.extend((k.encode(), v.encode()) for k, v in answer.headers)
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    # --- routes --------------------------------------------------------------------------

    def _route(self, req: RecordedRequest) -> Answer:
        path, method = req.path, req.method
        handler = _ROUTES.get((method, path))
        if handler is not None:
            return handler(self, req)
        if method == "GET" and path.startswith("/kms/keys/") and path.count("/") == 3:
            return self._describe(req, path.rsplit("/", 1)[1])
        return xml_answer(
            501,
            "NotImplemented",
            "A header you provided implies functionality that is not implemented.",
        )

    @property
    def _running(self) -> bool:
        return self.state.service == "Running"

    def _op(self, success: bool, message: str) -> Answer:
        body = {"success": success, "message": message, "status": self.state.service}
        return json_answer(200, body, content_type=None)

    def _configure(self, req: RecordedRequest, *, reconfigure: bool) -> Answer:
        if not req.body:
            return Answer(400, "Request body is required", None)
        if not isinstance(req.json, dict) or "backend_type" not in req.json:
            return Answer(400, "Invalid JSON: missing field `backend_type` at line 1", None)
        body = req.json
        if body["backend_type"] in ("Static", "static"):
            return Answer(
                400,
                "Static KMS must be configured through RUSTFS_KMS_STATIC_SECRET_KEY or "
                "RUSTFS_KMS_STATIC_SECRET_KEY_FILE",
                None,
            )
        verb = "reconfigure" if reconfigure else "configure"
        if not reconfigure and self._running:
            return self._op(
                False,
                "Failed to configure KMS: Invalid operation: Cannot configure KMS while it is "
                "running; use reconfigure instead",
            )
        local = body["backend_type"] in ("Local", "local")
        if local and not body.get("master_key") and not body.get("allow_insecure_dev_defaults"):
            return self._op(
                False,
                f"Failed to {verb} KMS: Configuration error: Local KMS requires a master key "
                "outside explicit development mode; set RUSTFS_KMS_ALLOW_INSECURE_DEV_DEFAULTS="
                "true only for development",
            )
        self.state.config = body
        if reconfigure:
            self.state.service = "Running"
            return self._op(True, "KMS reconfigured and restarted successfully")
        self.state.service = "Configured"
        return self._op(True, "KMS configured successfully")

    def _start(self, req: RecordedRequest) -> Answer:
        force = isinstance(req.json, dict) and req.json.get("force") is True
        if self.state.config is None:
            self.state.service = {"Error": "Cannot start KMS: no configuration provided"}
            return self._op(False, "Failed to start or restart KMS service: no configuration")
        if self._running and not force:
            return self._op(False, "KMS service is already running. Use force=true to restart.")
        restarted = self._running
        self.state.service = "Running"
        word = "restarted" if restarted else "started"
        return self._op(True, f"KMS service {word} successfully")

    def _stop(self, req: RecordedRequest) -> Answer:
        self.state.service = "Configured" if self.state.config else "NotConfigured"
        return self._op(True, "KMS service stopped successfully")

    def _service_status(self, req: RecordedRequest) -> Answer:
        config = self.state.config
        summary = None
        if config is not None:
            summary = {
                "backend_type": "Local",
                "default_key_id": config.get("default_key_id"),
                "timeout_seconds": 30,
                "retry_attempts": 3,
                "enable_cache": True,
                "max_cached_keys": 1000,
                "cache_ttl_seconds": 300,
                "cache_summary": {"max_keys": 1000, "ttl_seconds": 300, "enable_metrics": True},
                "backend_summary": {
                    "backend_type": "local",
                    "key_dir": config.get("key_dir"),
                    "has_master_key": bool(config.get("master_key")),
                    "file_permissions": config.get("file_permissions", 384),
                },
            }
        body = {
            "status": self.state.service,
            "backend_type": "Local" if config else None,
            "healthy": True if self._running else None,
            "config_summary": summary,
        }
        return json_answer(200, body, content_type=None)

    def _not_initialized(self) -> Answer:
        return xml_answer(500, "InternalError", "KMS service not initialized")

    def _status(self, req: RecordedRequest) -> Answer:
        if not self._running:
            return self._not_initialized()
        caps = dict.fromkeys(
            ("encrypt", "decrypt", "generate_data_key", "enable_disable", "schedule_deletion"),
            True,
        )
        caps.update(physical_delete=True, update_key_metadata=True)
        caps.update(rotate=False, versioning=False, rewrap=False)
        return json_answer(
            200,
            {
                "backend_type": "local",
                "backend_status": "healthy",
                "cache_enabled": True,
                "cache_stats": {
                    "hit_count": self.state.cache_hits,
                    "miss_count": self.state.cache_misses,
                    "entry_count": len(self.state.keys),
                    "eviction_count": 0,
                },
                "default_key_id": (self.state.config or {}).get("default_key_id"),
                "capabilities": caps,
                "cluster_config": {
                    "consistent": True,
                    "nodes": [{"host": "local", "config_fingerprint": "ab" * 32}],
                },
            },
        )

    def _config(self, req: RecordedRequest) -> Answer:
        if not self._running:
            return self._not_initialized()
        return json_answer(
            200,
            {
                "backend": "local",
                "cache_enabled": True,
                "cache_max_keys": 1000,
                "cache_ttl_seconds": 300,
                "default_key_id": (self.state.config or {}).get("default_key_id"),
            },
        )

    def _clear_cache(self, req: RecordedRequest) -> Answer:
        if not self._running:
            return self._not_initialized()
        return json_answer(200, {"status": "success", "message": "cache cleared successfully"})

    # keys

    def _envelope(self, status: int, message: str, **fields: Any) -> Answer:
        return json_answer(status, {"success": status == 200, "message": message, **fields})

    def _create(self, req: RecordedRequest) -> Answer:
        if not self._running:
            return self._envelope(503, NOT_RUNNING, key_id="", key_metadata=None)
        body = req.json if isinstance(req.json, dict) else {}
        tags = dict(body.get("tags") or {})
        key_id = tags.get("name") or str(uuid.uuid4())
        if key_id in self.state.keys:
            return self._envelope(
                500,
                f"failed to create key: Key already exists: {key_id}",
                key_id="",
                key_metadata=None,
            )
        key = FakeKey(key_id, body.get("description"), tags, _now())
        self.state.keys[key_id] = key
        return self._envelope(
            200, "key created successfully", key_id=key_id, key_metadata=key.metadata()
        )

    def _list(self, req: RecordedRequest) -> Answer:
        if not self._running:
            return self._envelope(503, NOT_RUNNING, keys=[], truncated=False, next_marker=None)
        params = req.params
        raw_limit = params.get("limit", "100")
        if not raw_limit.isdigit():
            return self._envelope(
                400,
                f"invalid limit '{raw_limit}': expected a non-negative integer",
                keys=[],
                truncated=False,
                next_marker=None,
            )
        limit = min(int(raw_limit), 1000)
        marker = params.get("marker", "")
        ids = sorted(k for k in self.state.keys if k > marker)
        page = ids[:limit]
        truncated = len(ids) > limit and limit > 0
        extra: dict[str, Any] = {}
        if self.state.unreadable_key_ids:  # RustFS omits the field when it is empty
            extra["unreadable_key_ids"] = list(self.state.unreadable_key_ids)
        return self._envelope(
            200,
            "keys listed successfully",
            keys=[self.state.keys[k].info() for k in page],
            truncated=truncated,
            next_marker=page[-1] if truncated else None,
            **extra,
        )

    def _impact(self, key_id: str) -> dict[str, Any]:
        default = (self.state.config or {}).get("default_key_id")
        references = []
        if key_id == default:
            references.append(
                {"kind": "service-default-key", "id": key_id, "detail": "the KMS default key"}
            )
        return {
            "key_id": key_id,
            "completeness": "observed-only",
            "coverage": {
                "scanned": ["bucket-default-encryption", "service-default-key"],
                "not_scanned": ["object-envelopes", "in-progress-multipart-uploads"],
            },
            "references": references,
        }

    def _describe(self, req: RecordedRequest, key_id: str) -> Answer:
        if not self._running:
            return self._envelope(503, NOT_RUNNING, key_metadata=None, impact=None)
        impact = req.params.get("impact", "false")
        if impact not in ("true", "false"):
            return self._envelope(
                400, f"invalid impact value '{impact}'", key_metadata=None, impact=None
            )
        key = self.state.keys.get(key_id)
        if key is None:
            self.state.cache_misses += 1
            return self._envelope(
                404,
                f"Failed to describe key: Key not found: {key_id}",
                key_metadata=None,
                impact=None,
            )
        self.state.cache_hits += 1
        return self._envelope(
            200,
            "Key described successfully",
            key_metadata=key.metadata(),
            impact=self._impact(key_id) if impact == "true" else None,
        )

    def _key_from_body(self, req: RecordedRequest) -> str | None:
        if isinstance(req.json, dict) and isinstance(req.json.get("key_id"), str):
            return str(req.json["key_id"])
        return req.params.get("keyId")

    def _delete(self, req: RecordedRequest) -> Answer:
        empty: dict[str, Any] = {"key_id": "", "deletion_date": None, "impact": None}
        if not self._running:
            return self._envelope(503, NOT_RUNNING, **empty)
        body = req.json if isinstance(req.json, dict) else {}
        key_id = self._key_from_body(req) or ""
        empty["key_id"] = key_id
        key = self.state.keys.get(key_id)
        if key is None:
            return self._envelope(404, f"Failed to delete key: Key not found: {key_id}", **empty)
        if body.get("force_immediate"):
            if not self.state.allow_immediate_deletion or body.get("confirm_key_id") != key_id:
                return self._envelope(
                    400,
                    "Failed to delete key: Invalid operation: immediate deletion is not allowed",
                    **empty,
                )
            del self.state.keys[key_id]
            return self._envelope(
                200,
                "key deleted successfully",
                key_id=key_id,
                deletion_date=None,
                impact=self._impact(key_id),
            )
        days = body.get("pending_window_in_days", 30)
        if not isinstance(days, int) or not 7 <= days <= 30:
            return self._envelope(
                400,
                "Failed to delete key: Invalid operation: pending window must be 7..=30",
                **empty,
            )
        if key.state == "PendingDeletion":
            return self._envelope(
                400,
                f"Failed to delete key: Invalid operation: {key_id} is already pending deletion",
                **empty,
            )
        key.state = "PendingDeletion"
        key.deletion_date = _now() + timedelta(days=days)
        return self._envelope(
            200,
            "key deleted successfully",
            key_id=key_id,
            deletion_date=zoned(key.deletion_date),
            impact=self._impact(key_id),
        )

    def _cancel(self, req: RecordedRequest) -> Answer:
        if not self._running:
            return self._envelope(503, NOT_RUNNING, key_id="", key_metadata=None)
        key_id = self._key_from_body(req) or ""
        key = self.state.keys.get(key_id)
        if key is None or key.state != "PendingDeletion":
            reason = (
                f"Key not found: {key_id}"
                if key is None
                else "Invalid operation: not pending deletion"
            )
            return self._envelope(
                500, f"Failed to cancel key deletion: {reason}", key_id=key_id, key_metadata=None
            )
        key.state, key.deletion_date = "Enabled", None
        return self._envelope(
            200,
            "key deletion cancelled successfully",
            key_id=key_id,
            key_metadata=key.metadata("AWS_KMS"),
        )

    def _lifecycle(self, req: RecordedRequest) -> Answer:
        action = req.path.rsplit("/", 1)[1]
        if not self._running:
            return self._envelope(503, NOT_RUNNING, key_id="", key_metadata=None)
        if action in ("update-description", "tag", "untag") and not req.body:
            return xml_answer(400, "InvalidRequest", "a request body is required")
        key_id = self._key_from_body(req) or ""
        key = self.state.keys.get(key_id)
        verb = {"update-description": "update key description", "untag": "untag key"}.get(
            action, f"{action} key"
        )
        if key is None:
            return self._envelope(
                404, f"Failed to {verb}: Key not found: {key_id}", key_id=key_id, key_metadata=None
            )
        body = req.json if isinstance(req.json, dict) else {}
        if action == "rotate":
            return self._envelope(
                501,
                "Failed to rotate key: Operation 'rotate' is not supported by KMS backend 'local'",
                key_id=key_id,
                key_metadata=None,
            )
        if key.state == "PendingDeletion":
            return self._envelope(
                400,
                f"Failed to {verb}: Invalid operation: key {key_id} is pending deletion",
                key_id=key_id,
                key_metadata=None,
            )
        names = set(body.get("tags") or {}) | set(body.get("tag_keys") or [])
        if "name" in names:
            return self._envelope(
                400,
                "Tag 'name' identifies the key and cannot be updated or removed",
                key_id=key_id,
                key_metadata=None,
            )
        message = {
            "enable": "key enabled successfully",
            "disable": "key disabled successfully",
            "update-description": "key description updated",
            "tag": "key tags updated",
            "untag": "key tags removed",
        }[action]
        if action == "enable":
            key.state = "Enabled"
        elif action == "disable":
            key.state = "Disabled"
        elif action == "update-description":
            key.description = body.get("description") or None
        elif action == "tag":
            key.tags.update(body.get("tags") or {})
        else:
            for name in body.get("tag_keys") or []:
                key.tags.pop(name, None)
        return self._envelope(200, message, key_id=key_id, key_metadata=key.metadata())

    def _generate(self, req: RecordedRequest) -> Answer:
        if not self._running:
            return xml_answer(500, "InternalError", "KMS service not initialized")
        body = req.json if isinstance(req.json, dict) else {}
        spec = body.get("key_spec")
        sizes = {"Aes256": 32, "Aes128": 16, "ChaCha20": 32}
        if spec not in sizes:
            return xml_answer(400, "InvalidRequest", f"invalid JSON: unknown variant `{spec}`")
        key_id = str(body.get("key_id"))
        key = self.state.keys.get(key_id)
        if key is None or key.state != "Enabled":
            reason = f"Key not found: {key_id}" if key is None else f"Key {key_id} is not enabled"
            return xml_answer(500, "InternalError", f"failed to generate data key: {reason}")
        plaintext = os.urandom(sizes[spec])
        envelope = json.dumps(
            {"key_id": key_id, "ciphertext": base64.b64encode(os.urandom(48)).decode()}
        )
        return json_answer(
            200,
            {
                "key_id": key_id,
                "plaintext_key": base64.b64encode(plaintext).decode(),
                "ciphertext_blob": base64.b64encode(envelope.encode()).decode(),
            },
        )

    # backup

    def _backup_status(self, req: RecordedRequest) -> Answer:
        service = self.state.service
        debug = service if isinstance(service, str) else f'Error("{service["Error"]}")'
        return json_answer(
            200,
            {
                "service_status": debug,
                "backend": "local" if self.state.config else None,
                "responsibility": "full-material" if self.state.config else None,
                "export_supported": self.state.config is not None,
                "deployment_identity": "deploy-1",
                "backup_root": "/var/backups/kms",
                "backup_kek_configured": True,
                "backup_kek_id": "kek-1",
                "backup_kek_version": 1,
                "target_key_dir": (self.state.config or {}).get("key_dir"),
            },
        )

    def _backup(self, req: RecordedRequest) -> Answer:
        if self.state.config is None:
            return json_answer(409, {"success": False, "message": "kms is not configured"})
        if not self._running:
            return json_answer(503, {"success": False, "message": NOT_RUNNING})
        body = req.json if isinstance(req.json, dict) else {}
        return json_answer(
            200,
            {
                "backup_id": body.get("backup_id") or f"backup-{uuid.uuid4().hex}",
                "snapshot_generation": 7,
                "deployment_identity": "deploy-1",
                "artifact_count": len(self.state.keys) + 1,
                "manifest_digest": "cd" * 32,
                "backup_kek_id": "kek-1",
                "backup_kek_version": 1,
                "sanitized_config_included": True,
            },
        )

    def _dry_run(self, req: RecordedRequest) -> Answer:
        if self.state.config is None:
            return json_answer(409, {"success": False, "message": "kms is not configured"})
        return json_answer(
            200,
            {
                "report": {
                    "backup_id": "backup-1",
                    "target_deployment_identity": "deploy-1",
                    "blockers": [],
                    "conflicts": [
                        {"key_id": "k1", "kind": "key-already-exists", "detail": "k1 exists"}
                    ],
                    "external_mismatches": [],
                },
                "config_comparison": {
                    "bundle": {"backend": "local"},
                    "current": {"backend": "local"},
                    "identical": True,
                },
            },
        )

    def _restore(self, req: RecordedRequest) -> Answer:
        if self.state.config is None:
            return json_answer(409, {"success": False, "message": "kms is not configured"})
        if self._running:
            return json_answer(
                409, {"success": False, "message": "stop the KMS service before restoring"}
            )
        body = req.json if isinstance(req.json, dict) else {}
        if body.get("confirm_backup_id") != "backup-1":
            return json_answer(
                400, {"success": False, "message": "confirm_backup_id does not match the bundle"}
            )
        return json_answer(
            200,
            {
                "backup_id": "backup-1",
                "snapshot_generation": 7,
                "restored_key_ids": ["k1", "k2"],
                "salt_restored": True,
                "resumed": False,
            },
        )

    def _abort(self, req: RecordedRequest) -> Answer:
        key_dir = (self.state.config or {}).get("key_dir")
        body = req.json if isinstance(req.json, dict) else {}
        if key_dir is None or body.get("confirm_target_key_dir") != key_dir:
            return json_answer(
                400, {"success": False, "message": "confirm_target_key_dir does not match"}
            )
        return json_answer(200, {"target_key_dir": key_dir, "aborted": True})


def _now() -> datetime:
    return datetime.now(UTC)


_ROUTES: dict[tuple[str, str], Callable[[FakeRustFS, RecordedRequest], Answer]] = {
    ("POST", "/kms/configure"): lambda s, r: s._configure(r, reconfigure=False),
    ("POST", "/kms/reconfigure"): lambda s, r: s._configure(r, reconfigure=True),
    ("POST", "/kms/start"): FakeRustFS._start,
    ("POST", "/kms/stop"): FakeRustFS._stop,
    ("GET", "/kms/service-status"): FakeRustFS._service_status,
    ("GET", "/kms/status"): FakeRustFS._status,
    ("POST", "/kms/status"): FakeRustFS._status,
    ("GET", "/kms/config"): FakeRustFS._config,
    ("POST", "/kms/clear-cache"): FakeRustFS._clear_cache,
    ("POST", "/kms/keys"): FakeRustFS._create,
    ("GET", "/kms/keys"): FakeRustFS._list,
    ("DELETE", "/kms/keys/delete"): FakeRustFS._delete,
    ("POST", "/kms/keys/cancel-deletion"): FakeRustFS._cancel,
    ("POST", "/kms/keys/enable"): FakeRustFS._lifecycle,
    ("POST", "/kms/keys/disable"): FakeRustFS._lifecycle,
    ("POST", "/kms/keys/rotate"): FakeRustFS._lifecycle,
    ("POST", "/kms/keys/update-description"): FakeRustFS._lifecycle,
    ("POST", "/kms/keys/tag"): FakeRustFS._lifecycle,
    ("POST", "/kms/keys/untag"): FakeRustFS._lifecycle,
    ("POST", "/kms/generate-data-key"): FakeRustFS._generate,
    ("GET", "/kms/backup"): FakeRustFS._backup_status,
    ("POST", "/kms/backup"): FakeRustFS._backup,
    ("POST", "/kms/restore/dry-run"): FakeRustFS._dry_run,
    ("POST", "/kms/restore"): FakeRustFS._restore,
    ("POST", "/kms/restore/abort"): FakeRustFS._abort,
}


@contextmanager
def running_fake(**kwargs: Any) -> Iterator[FakeRustFS]:
    """Start a fake RustFS for the duration of a ``with`` block."""
    with FakeRustFS(**kwargs) as fake:
        yield fake
