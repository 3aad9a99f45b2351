"""The async RustFS KMS admin client: one method per modern admin route, typed answers.

Every request is SigV4-signed (service ``s3``) by :class:`~kms_tui.api.auth.SigV4Auth`.
Answers are decoded by :func:`decode_answer` and parsed into :mod:`kms_tui.api.models`;
every failure, on the wire or in transport, becomes a :class:`~kms_tui.api.errors.KmsError`.
Only GETs are retried (connection errors, timeouts, 502/503/504); a POST or DELETE never is.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import random
import re
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar
from urllib.parse import quote, unquote

import httpx

from kms_tui.api.auth import SigV4Auth
from kms_tui.api.errors import (
    KmsAccessDenied,
    KmsConnectionError,
    KmsError,
    KmsResponseError,
    KmsTimeoutError,
    describe_body,
    error_from_response,
    is_html,
)
from kms_tui.api.models import (
    DataKey,
    DecryptedDataKey,
    KeyDeletion,
    KeyDescription,
    KeyMetadata,
    KeyPage,
)
from kms_tui.api.service_models import (
    AccountInfo,
    CacheClearResult,
    KmsConfigInfo,
    KmsStatus,
    ServiceOperationResult,
    ServiceStatus,
)
from kms_tui.api.wire import ConflictPolicy, KeySpec
from kms_tui.iam_actions import admin_action

if TYPE_CHECKING:
    # Configuration and backup models load when those calls are made, not with the client
    # (about 20 ms of class building that the start-up path and the key listing never use).
    from kms_tui.api.backends import BackendConfig
    from kms_tui.api.backup_models import (
        BackupResult,
        BackupStatus,
        RestoreAbortResult,
        RestoreDryRun,
        RestoreResult,
    )

__all__ = ["ADMIN_PREFIX", "KmsAdminClient", "decode_answer", "gc_paused", "validate_key_id"]

ADMIN_PREFIX = "/rustfs/admin/v3"
_RETRY_STATUSES = frozenset({502, 503, 504})
_T = TypeVar("_T")
# httpx's words for a body that stopped before its Content-Length (or last chunk).
_CUT_SHORT = re.compile(r"complete message body|incomplete chunked", re.IGNORECASE)
_UNTRUSTED_CERT_HINT = (
    "the server's TLS certificate is not trusted ({detail}). Set `ca_bundle` in the profile to "
    "the CA certificate that signed it, or set `verify_tls = false` to skip verification "
    "(insecure)"
)


def validate_key_id(key_id: object, field: str = "key_id") -> str:
    """Refuse ids the server cannot address: empty, ``.``/``..``, or holding ``/``, ``\\``, NUL."""
    if not isinstance(key_id, str):
        raise ValueError(f"{field} must be a string, got {type(key_id).__name__}")
    if not key_id:
        raise ValueError(f"{field} must not be empty")
    if key_id in (".", ".."):
        raise ValueError(f"{field} must not be '.' or '..'")
    for bad, label in (("/", "'/'"), ("\\", "'\\'"), ("\x00", "a NUL character")):
        if bad in key_id:
            raise ValueError(f"{field} must not contain {label}")
    return key_id


def _string_map(value: object, field: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{field} must be a mapping of strings to strings")
    result: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str):
            raise ValueError(f"{field}: every key must be a string, got {type(name).__name__}")
        if not isinstance(item, str):
            raise ValueError(f"{field}[{name!r}] must be a string, got {type(item).__name__}")
        result[name] = item
    return result


def _key_spec(value: object) -> KeySpec:
    if isinstance(value, str):
        spec = KeySpec(value)
        if spec.known:
            return spec
    allowed = ", ".join(member.value for member in KeySpec)
    raise ValueError(f"key_spec must be one of {allowed}, got {value!r}")


def _content_type(response: httpx.Response) -> str | None:
    value = response.headers.get("content-type")
    return str(value) if value is not None else None


def _named_key(
    path: str, params: Mapping[str, str] | None, body: Mapping[str, Any] | None
) -> str | None:
    """The key an admin call names, as the server's gate reads it (None: no key)."""
    if body and isinstance(body.get("key_id"), str):
        return str(body["key_id"])
    for name in ("keyId", "key-id", "key"):
        if params and params.get(name):
            return params[name]
    prefix = "/kms/keys/"
    if path.startswith(prefix) and "/" not in path[len(prefix) :]:
        return unquote(path[len(prefix) :])
    return None


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector while a page of answers becomes objects.

    A listing page is thousands of new, acyclic objects (the JSON, then the models); the
    collector would run several times over them, and over everything the process already
    holds, for nothing: about a quarter of the parsing time of a 1,000-key page. Reference
    counting still frees what is dropped. A collector that was off stays off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def decode_answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a successful answer, or the matching :class:`KmsError`.

    Content-Type is not trusted (RustFS omits it on several routes); the body's shape decides.
    A 2xx with ``success: false`` is a failure too.
    """
    status = response.status_code
    request_id = response.headers.get("x-amz-request-id")
    body = response.content
    if status < 200 or 300 <= status < 400:
        where = response.headers.get("location")
        detail = f" to {where}" if where else ""
        raise KmsResponseError(
            f"unexpected HTTP {status}{detail}; is the endpoint a RustFS admin API?",
            status=status,
            request_id=request_id,
        )
    if status >= 400:
        raise error_from_response(
            status, body, content_type=_content_type(response), request_id=request_id
        )

    def unreadable(reason: str) -> KmsResponseError:
        return KmsResponseError(
            f"unreadable answer from the server: {reason}", status=status, request_id=request_id
        )

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise unreadable("the body is not UTF-8 text") from None
    stripped = text.lstrip()
    if not stripped:
        raise unreadable("the body is empty")
    if stripped.startswith("<"):
        if is_html(body):
            raise unreadable(
                f"it is not JSON but {describe_body(body)}; is the endpoint a RustFS server, "
                "not a proxy or login page?"
            )
        raise unreadable("expected JSON, got XML")
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as err:
        raise unreadable(f"invalid or truncated JSON ({err.msg} at {err.pos})") from None
    if not isinstance(data, dict):
        raise unreadable(f"expected a JSON object, got a {type(data).__name__}")
    if data.get("success") is False:
        raise error_from_response(
            status, body, content_type=_content_type(response), request_id=request_id
        )
    return data


def _is_untrusted_certificate(err: BaseException) -> str | None:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current.verify_message or str(current)
        if "CERTIFICATE_VERIFY_FAILED" in str(current):
            return "certificate verify failed"
        current = current.__cause__ or current.__context__
    return None


def _transport_error(
    err: httpx.TransportError, method: str, url: str, timeout: float | None = None
) -> KmsError:
    if isinstance(err, httpx.TimeoutException):
        kind = type(err).__name__.replace("Timeout", " timeout").lower().strip()
        limit = f" after {timeout:g} s; timeout_seconds in the profile sets it" if timeout else ""
        return KmsTimeoutError(f"{method} {url}: the server did not answer in time ({kind}{limit})")
    untrusted = _is_untrusted_certificate(err)
    if untrusted is not None:
        return KmsConnectionError(
            f"{method} {url}: " + _UNTRUSTED_CERT_HINT.format(detail=untrusted)
        )
    detail = str(err) or type(err).__name__
    if isinstance(err, httpx.RemoteProtocolError) and _CUT_SHORT.search(detail):
        # The server answered, then hung up mid-body: an unreadable answer, not a lost link.
        return KmsResponseError(
            f"{method} {url}: the server's answer was cut short, the connection closed before "
            f"the whole body arrived ({detail})"
        )
    if isinstance(err, httpx.RemoteProtocolError) and "without sending a response" in detail:
        detail = "it closed the connection without answering"
    return KmsConnectionError(f"{method} {url}: could not reach the server ({detail})")


def _ca_context(ca_bundle: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as err:
        raise ValueError(
            f"verify: cannot load the CA bundle {ca_bundle!r} ({err}); check `ca_bundle`"
        ) from err


def _with_query(path: str, params: Mapping[str, str] | None) -> str:
    """Append a query encoded as SigV4 canonicalises it (``%20``, never ``+``, for a space)."""
    if not params:
        return path
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params.items())
    return f"{path}?{query}"


class KmsAdminClient:
    """Async client for the RustFS KMS admin API (``/rustfs/admin/v3/kms/...``)."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        region: str = "us-east-1",
        session_token: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        verify: bool | str = True,
        backoff_base: float = 0.1,
        backoff_cap: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._timeout_seconds = timeout
        tls: bool | ssl.SSLContext
        if self.endpoint.startswith("http://"):
            tls = False  # plain HTTP, no redirects followed: no certificate to check or CAs to load
        else:
            tls = verify if isinstance(verify, bool) else _ca_context(verify)
        self._http = httpx.AsyncClient(
            base_url=self.endpoint + ADMIN_PREFIX,
            auth=SigV4Auth(access_key, secret_key, region=region, session_token=session_token),
            timeout=timeout,
            verify=tls,
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"KmsAdminClient(endpoint={self.endpoint!r}, region={self.region!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # --- plumbing ------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2.0**attempt))
        return ceiling * (0.5 + random.random() / 2)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        content = b""
        headers: dict[str, str] = {}
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        attempts = 1 + self.retries if method == "GET" else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = await self._http.request(
                    method, _with_query(path, params), content=content, headers=headers
                )
            except httpx.TransportError as err:
                if last:
                    raise _transport_error(err, method, path, self._timeout_seconds) from err
            else:
                if last or response.status_code not in _RETRY_STATUSES:
                    return response
            await asyncio.sleep(self._backoff(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _call(
        self,
        method: str,
        path: str,
        parse: Callable[[dict[str, Any]], _T],
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        bulk: bool = False,
    ) -> _T:
        response = await self._send(method, path, params=params, body=body)
        with gc_paused() if bulk else contextlib.nullcontext():
            try:
                data = decode_answer(response)
            except KmsAccessDenied as err:
                if err.is_policy_refusal:
                    err.action = admin_action(method, path)
                    err.resource = _named_key(path, params, body)
                raise
            try:
                return parse(data)
            except KmsResponseError as err:
                raise KmsResponseError(
                    err.message,
                    status=response.status_code,
                    request_id=response.headers.get("x-amz-request-id"),
                ) from err

    # --- service -------------------------------------------------------------------------

    async def service_status(self) -> ServiceStatus:
        """The service state machine, backend, health and configuration summary."""
        return await self._call("GET", "/kms/service-status", ServiceStatus.from_wire)

    async def status(self) -> KmsStatus:
        """Backend health, cache counters, capabilities, cluster consistency (needs Running)."""
        return await self._call("GET", "/kms/status", KmsStatus.from_wire)

    async def get_config(self) -> KmsConfigInfo:
        """The running backend and cache settings (needs Running)."""
        return await self._call("GET", "/kms/config", KmsConfigInfo.from_wire)

    async def configure(self, config: BackendConfig) -> ServiceOperationResult:
        """Configure a stopped service; it stays stopped until :meth:`start`."""
        return await self._call(
            "POST", "/kms/configure", ServiceOperationResult.from_wire, body=config.to_wire()
        )

    async def reconfigure(self, config: BackendConfig) -> ServiceOperationResult:
        """Replace the whole configuration and restart with it."""
        return await self._call(
            "POST", "/kms/reconfigure", ServiceOperationResult.from_wire, body=config.to_wire()
        )

    async def start(self, force: bool = False) -> ServiceOperationResult:
        """Start the service; ``force`` restarts a running one."""
        return await self._call(
            "POST", "/kms/start", ServiceOperationResult.from_wire, body={"force": bool(force)}
        )

    async def stop(self) -> ServiceOperationResult:
        """Stop the service (always succeeds)."""
        return await self._call("POST", "/kms/stop", ServiceOperationResult.from_wire)

    async def clear_cache(self) -> CacheClearResult:
        """Drop cached key metadata (the hit/miss counters keep counting)."""
        return await self._call("POST", "/kms/clear-cache", CacheClearResult.from_wire)

    # --- keys ----------------------------------------------------------------------------

    async def create_key(
        self,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> KeyMetadata:
        """Create a key; ``name`` becomes the ``name`` tag, which the server uses as the id."""
        body: dict[str, Any] = {"key_usage": "EncryptDecrypt"}
        if description is not None:
            if not isinstance(description, str):
                raise ValueError("description must be a string")
            body["description"] = description
        all_tags = _string_map(tags, "tags") if tags is not None else {}
        if name is not None:
            validate_key_id(name, "name")
            if all_tags.get("name", name) != name:
                raise ValueError("name disagrees with tags['name']; give only one of them")
            all_tags["name"] = name
        elif "name" in all_tags:
            validate_key_id(all_tags["name"], "tags['name']")
        if all_tags:
            body["tags"] = all_tags
        return await self._call(
            "POST", "/kms/keys", lambda d: KeyMetadata.from_wire(d.get("key_metadata")), body=body
        )

    async def describe_key(self, key_id: str, *, impact: bool = False) -> KeyDescription:
        """One key's metadata, and what still references it when ``impact`` is true."""
        path = "/kms/keys/" + quote(validate_key_id(key_id), safe="!$&'()*+,;=:@-._~")
        params = {"impact": "true"} if impact else None
        return await self._call("GET", path, KeyDescription.from_wire, params=params)

    async def list_keys(self, *, limit: int | None = None, marker: str | None = None) -> KeyPage:
        """One page of keys; see :meth:`iter_keys` for all of them."""
        params: dict[str, str] = {}
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise ValueError("limit must be a whole number of 0 or more")
            params["limit"] = str(limit)
        if marker is not None:
            if not isinstance(marker, str):
                raise ValueError("marker must be a string")
            if marker:
                params["marker"] = marker
        return await self._call(
            "GET", "/kms/keys", KeyPage.from_wire, params=params or None, bulk=True
        )

    async def iter_keys(
        self, *, page_size: int = 1000, first_page_size: int | None = None
    ) -> AsyncIterator[KeyPage]:
        """Every page of keys in order, following ``next_marker`` while ``truncated``.

        ``first_page_size`` asks for a smaller first page, so a screen has rows to show sooner.
        A short or empty page does not end the listing (filters apply after the page is cut);
        a server that repeats a marker raises :class:`KmsResponseError` instead of looping.
        """
        for name, size in (("page_size", page_size), ("first_page_size", first_page_size)):
            if size is None and name == "first_page_size":
                continue
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"{name} must be a whole number of 1 or more")
        marker: str | None = None
        seen: set[str] = set()
        limit = first_page_size or page_size
        while True:
            page = await self.list_keys(limit=limit, marker=marker)
            limit = page_size
            yield page
            if not page.truncated:
                return
            if not page.next_marker:
                raise KmsResponseError(
                    "unreadable answer from the server: a truncated key page has no next_marker"
                )
            if page.next_marker in seen:
                raise KmsResponseError(
                    "the server repeated the listing marker "
                    f"{page.next_marker!r}; stopping instead of looping forever"
                )
            seen.add(page.next_marker)
            marker = page.next_marker

    async def schedule_key_deletion(
        self, key_id: str, *, pending_window_in_days: int = 30
    ) -> KeyDeletion:
        """Schedule deletion after 7 to 30 days; the answer carries the impact report."""
        days = pending_window_in_days
        if isinstance(days, bool) or not isinstance(days, int) or not 7 <= days <= 30:
            raise ValueError(
                f"pending_window_in_days must be a whole number from 7 to 30, got {days!r}"
            )
        body = {"key_id": validate_key_id(key_id), "pending_window_in_days": days}
        return await self._call("DELETE", "/kms/keys/delete", KeyDeletion.from_wire, body=body)

    async def delete_key_immediately(self, key_id: str) -> KeyDeletion:
        """Destroy a key now (the server must allow it and nothing may reference the key)."""
        validate_key_id(key_id)
        body = {"key_id": key_id, "force_immediate": True, "confirm_key_id": key_id}
        return await self._call("DELETE", "/kms/keys/delete", KeyDeletion.from_wire, body=body)

    async def cancel_key_deletion(self, key_id: str) -> KeyMetadata:
        """Take a key out of PendingDeletion (it comes back Enabled)."""
        return await self._call(
            "POST",
            "/kms/keys/cancel-deletion",
            lambda d: KeyMetadata.from_wire(d.get("key_metadata")),
            body={"key_id": validate_key_id(key_id)},
        )

    async def _key_update(self, route: str, body: dict[str, Any]) -> KeyMetadata | None:
        def parse(data: dict[str, Any]) -> KeyMetadata | None:
            metadata = data.get("key_metadata")
            return None if metadata is None else KeyMetadata.from_wire(metadata)

        return await self._call("POST", f"/kms/keys/{route}", parse, body=body)

    async def enable_key(self, key_id: str) -> KeyMetadata | None:
        """Enable a key; the metadata is re-read best-effort and may be None."""
        return await self._key_update("enable", {"key_id": validate_key_id(key_id)})

    async def disable_key(self, key_id: str) -> KeyMetadata | None:
        """Disable a key; the metadata is re-read best-effort and may be None."""
        return await self._key_update("disable", {"key_id": validate_key_id(key_id)})

    async def rotate_key(self, key_id: str) -> KeyMetadata | None:
        """Rotate a key where the backend can (not Local or Static)."""
        return await self._key_update("rotate", {"key_id": validate_key_id(key_id)})

    async def update_key_description(self, key_id: str, description: str) -> KeyMetadata | None:
        """Set a key's description; an empty string clears it."""
        if not isinstance(description, str):
            raise ValueError("description must be a string")
        body = {"key_id": validate_key_id(key_id), "description": description}
        return await self._key_update("update-description", body)

    async def tag_key(self, key_id: str, tags: Mapping[str, str]) -> KeyMetadata | None:
        """Add or overwrite tags; ``name`` is reserved and refused."""
        checked = _string_map(tags, "tags")
        if "name" in checked:
            raise ValueError("tags: 'name' identifies the key and cannot be changed")
        body = {"key_id": validate_key_id(key_id), "tags": checked}
        return await self._key_update("tag", body)

    async def untag_key(self, key_id: str, tag_keys: Iterable[str]) -> KeyMetadata | None:
        """Remove tags by key; ``name`` is reserved and refused."""
        if isinstance(tag_keys, str):
            raise ValueError("tag_keys must be a list of tag names, not one string")
        if not isinstance(tag_keys, Iterable):
            raise ValueError(f"tag_keys must be a list of tag names, got {type(tag_keys).__name__}")
        names = list(tag_keys)
        for item in names:
            if not isinstance(item, str):
                raise ValueError(f"tag_keys must hold strings, got {type(item).__name__}")
        if "name" in names:
            raise ValueError("tag_keys: 'name' identifies the key and cannot be removed")
        body = {"key_id": validate_key_id(key_id), "tag_keys": names}
        return await self._key_update("untag", body)

    # --- data keys -----------------------------------------------------------------------

    async def generate_data_key(
        self,
        key_id: str,
        *,
        key_spec: KeySpec | str = KeySpec.AES_256,
        encryption_context: Mapping[str, str] | None = None,
    ) -> DataKey:
        """A fresh data key wrapped by ``key_id`` (plaintext and ciphertext as bytes)."""
        body: dict[str, Any] = {
            "key_id": validate_key_id(key_id),
            "key_spec": _key_spec(key_spec).value,
        }
        if encryption_context is not None:
            body["encryption_context"] = _string_map(encryption_context, "encryption_context")
        return await self._call("POST", "/kms/generate-data-key", DataKey.from_wire, body=body)

    async def decrypt(
        self, ciphertext_blob: bytes, *, encryption_context: Mapping[str, str] | None = None
    ) -> DecryptedDataKey:
        """Unwrap a data key (RustFS itself answers 501 → :class:`KmsNotSupported`)."""
        if not isinstance(ciphertext_blob, bytes | bytearray) or not ciphertext_blob:
            raise ValueError("ciphertext_blob must be non-empty bytes")
        body: dict[str, Any] = {"ciphertext_blob": base64.b64encode(ciphertext_blob).decode()}
        if encryption_context is not None:
            body["encryption_context"] = _string_map(encryption_context, "encryption_context")
        return await self._call("POST", "/kms/decrypt", DecryptedDataKey.from_wire, body=body)

    # --- the signed-in account -------------------------------------------------------------

    async def account_info(self) -> AccountInfo:
        """Who these credentials are and the IAM policy the server applies to them.

        ``GET /rustfs/admin/v3/accountinfo`` needs no KMS action; servers without it answer
        404 or 501 (:class:`KmsNotFound` / :class:`KmsNotSupported`).
        """
        return await self._call("GET", "/accountinfo", AccountInfo.from_wire)

    # --- backup and restore --------------------------------------------------------------

    async def backup_status(self) -> BackupStatus:
        """Whether a backup can be taken now, and where it would go."""
        from kms_tui.api.backup_models import BackupStatus

        return await self._call("GET", "/kms/backup", BackupStatus.from_wire)

    async def create_backup(self, backup_id: str | None = None) -> BackupResult:
        """Write a backup bundle on the server (Local backend only)."""
        from kms_tui.api.backup_models import BackupResult

        body: dict[str, Any] | None = None
        if backup_id is not None:
            body = {"backup_id": _backup_id(backup_id)}
        return await self._call("POST", "/kms/backup", BackupResult.from_wire, body=body)

    async def restore_dry_run(
        self, bundle: str, *, observed_generation: int | None = None
    ) -> RestoreDryRun:
        """What restoring ``bundle`` would do: blockers, conflicts, config differences."""
        from kms_tui.api.backup_models import RestoreDryRun

        body = _restore_body(bundle, observed_generation)
        return await self._call("POST", "/kms/restore/dry-run", RestoreDryRun.from_wire, body=body)

    async def restore(
        self,
        bundle: str,
        *,
        confirm_backup_id: str,
        confirm_conflict_policy: ConflictPolicy | str,
        observed_generation: int | None = None,
    ) -> RestoreResult:
        """Restore a bundle into a stopped service; both confirmations are required."""
        from kms_tui.api.backup_models import RestoreResult

        body = _restore_body(bundle, observed_generation)
        if not isinstance(confirm_backup_id, str) or not confirm_backup_id:
            raise ValueError("confirm_backup_id must be the bundle's backup id")
        policy = (
            ConflictPolicy(confirm_conflict_policy)
            if isinstance(confirm_conflict_policy, str)
            else None
        )
        if policy is None or not policy.known:
            allowed = ", ".join(member.value for member in ConflictPolicy)
            raise ValueError(f"confirm_conflict_policy must be one of {allowed}")
        body["confirm_backup_id"] = confirm_backup_id
        body["confirm_conflict_policy"] = policy.value
        return await self._call("POST", "/kms/restore", RestoreResult.from_wire, body=body)

    async def abort_restore(self, confirm_target_key_dir: str) -> RestoreAbortResult:
        """Abandon an interrupted restore; the key dir must match the configured one."""
        if not isinstance(confirm_target_key_dir, str) or not confirm_target_key_dir:
            raise ValueError("confirm_target_key_dir must be the configured key directory")
        from kms_tui.api.backup_models import RestoreAbortResult

        return await self._call(
            "POST",
            "/kms/restore/abort",
            RestoreAbortResult.from_wire,
            body={"confirm_target_key_dir": confirm_target_key_dir},
        )


def _backup_id(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("backup_id must be a non-empty string")
    if len(value) > 128:
        raise ValueError("backup_id must be at most 128 characters")
    if value.startswith("."):
        raise ValueError("backup_id must not start with '.'")
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
    if not set(value) <= allowed:
        raise ValueError("backup_id may only hold letters, digits, '.', '_' and '-'")
    return value


def _restore_body(bundle: object, observed_generation: object) -> dict[str, Any]:
    if not isinstance(bundle, str) or not bundle:
        raise ValueError("bundle must be a non-empty string")
    body: dict[str, Any] = {"bundle": bundle}
    if observed_generation is not None:
        if (
            isinstance(observed_generation, bool)
            or not isinstance(observed_generation, int)
            or observed_generation < 0
        ):
            raise ValueError("observed_generation must be a whole number of 0 or more")
        body["observed_generation"] = observed_generation
    return body
