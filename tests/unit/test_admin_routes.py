"""Admin routes called directly with HttpRequest values over a real KmsService and key store."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kms_tui.embedded.admin_routes import ROUTES, handle_admin
from kms_tui.embedded.http import HttpRequest, HttpResponse
from kms_tui.embedded.service import KmsService


class FakeRefs:
    """Bucket references as a dict: key id → bucket names."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[str]] = {}

    def buckets_naming_key(self, key_id: str) -> list[str]:
        return list(self.by_key.get(key_id, []))


def make_request(
    method: str,
    path: str,
    body: Any = b"",
    query: tuple[tuple[str, str], ...] = (),
    raw_path: str | None = None,
) -> HttpRequest:
    payload = json.dumps(body).encode() if isinstance(body, dict | list) else body
    return HttpRequest(
        method=method,
        path=path,
        raw_path=raw_path or "/rustfs/admin/v3" + path,
        query=query,
        raw_query="&".join(f"{k}={v}" for k, v in query),
        headers=(),
        body=payload,
        request_id="REQ0123456789ABC",
    )


class Admin:
    """A service plus a helper that calls handle_admin and decodes the answer."""

    def __init__(self, service: KmsService, key_dir: Path) -> None:
        self.service = service
        self.key_dir = key_dir

    def call(
        self, method: str, path: str, body: Any = b"", query: tuple[tuple[str, str], ...] = ()
    ) -> HttpResponse:
        response = handle_admin(self.service, make_request(method, path, body, query))
        assert response is not None, f"{method} {path} not routed"
        return response

    def json(self, method: str, path: str, body: Any = b"", **kw: Any) -> tuple[int, Any]:
        response = self.call(method, path, body, **kw)
        return response.status, json.loads(response.body)

    def configure(self, **extra: Any) -> None:
        body = {
            "backend_type": "Local",
            "key_dir": str(self.key_dir),
            "master_key": "correct horse battery staple",
            "allow_insecure_dev_defaults": True,
        }
        body.update(extra)
        status, payload = self.json("POST", "/kms/configure", body)
        assert (status, payload["success"]) == (200, True), payload

    def running(self, **extra: Any) -> Admin:
        self.configure(**extra)
        status, payload = self.json("POST", "/kms/start", {})
        assert payload["status"] == "Running", payload
        return self

    def create(self, name: str | None = None, **fields: Any) -> str:
        body: dict[str, Any] = dict(fields)
        if name is not None:
            body.setdefault("tags", {})["name"] = name
        status, payload = self.json("POST", "/kms/keys", body)
        assert status == 200, payload
        return str(payload["key_id"])


def assert_xml(response: HttpResponse, status: int, code: str, message: str) -> None:
    assert response.status == status
    assert response.content_type == "application/xml"
    text = response.body.decode()
    assert f"<Code>{code}</Code>" in text
    assert message in text, text


def assert_e2(response: HttpResponse, status: int, message: str, **fields: Any) -> dict[str, Any]:
    assert response.status == status
    assert response.content_type == "application/json"
    payload: dict[str, Any] = json.loads(response.body)
    assert payload["success"] is False
    assert payload["message"] == message
    assert payload["error"]["message"] == message
    assert payload["error"]["request_id"] == "REQ0123456789ABC"
    for name, value in fields.items():
        assert payload[name] == value, name
    return payload


@pytest.fixture
def clock() -> list[datetime]:
    return [datetime(2026, 1, 1, tzinfo=UTC)]


@pytest.fixture
def refs() -> FakeRefs:
    return FakeRefs()


@pytest.fixture
def admin(tmp_path: Path, clock: list[datetime], refs: FakeRefs) -> Admin:
    service = KmsService(tmp_path / "data", references=refs, clock=lambda: clock[0])
    return Admin(service, tmp_path / "keys")


@pytest.fixture
def live(admin: Admin) -> Admin:
    return admin.running()


# ---------------------------------------------------------------- routing


def test_every_reference_route_is_registered() -> None:
    assert len(ROUTES) == 31  # 30 fixed routes of §6 (+ /kms/decrypt); describe is dynamic
    assert ("POST", "/kms/decrypt") in ROUTES


def test_unknown_routes_and_trailing_slash_are_not_matched(live: Admin) -> None:
    for method, path in [
        ("GET", "/kms/nope"),
        ("PUT", "/kms/keys"),
        ("GET", "/kms/keys/"),
        ("GET", "/kms/keys/a/b"),
        ("POST", "/kms/keys/abc"),
        ("GET", "/kms/configure"),
    ]:
        assert handle_admin(live.service, make_request(method, path)) is None, path


def test_describe_uses_raw_path_segment(live: Admin) -> None:
    live.create("a.b_c-1")
    request = make_request("GET", "/kms/keys/a.b_c-1")
    response = handle_admin(live.service, request)
    assert response is not None and response.status == 200
    encoded = make_request("GET", "/kms/keys/a b", raw_path="/rustfs/admin/v3/kms/keys/a%20b")
    response = handle_admin(live.service, encoded)
    assert response is not None
    assert_e2(response, 404, "Failed to describe key: Key not found: a%20b")


# ---------------------------------------------------------------- not running (§5 table)


NOT_RUNNING_XML_500 = [
    ("GET", "/kms/status", b"", "KMS service not initialized"),
    ("POST", "/kms/status", b"", "KMS service not initialized"),
    ("GET", "/kms/config", b"", "KMS service not initialized"),
    ("POST", "/kms/clear-cache", b"", "KMS service not initialized"),
    ("POST", "/kms/create-key", b"", "kms service is not initialized"),
    ("POST", "/kms/key/create", b"", "kms service is not initialized"),
    ("GET", "/kms/describe-key", b"", "kms service is not initialized"),
    ("GET", "/kms/key/status", b"", "kms service is not initialized"),
    ("GET", "/kms/list-keys", b"", "kms service is not initialized"),
    (
        "POST",
        "/kms/generate-data-key",
        b'{"key_id":"k","key_spec":"Aes256"}',
        "KMS service not initialized",
    ),
]

NOT_RUNNING_E2 = [
    ("POST", "/kms/keys", b"", {"key_id": "", "key_metadata": None}),
    ("GET", "/kms/keys", b"", {"keys": [], "truncated": False, "next_marker": None}),
    ("GET", "/kms/keys/k", b"", {"key_metadata": None, "impact": None}),
    ("DELETE", "/kms/keys/delete", b'{"key_id":"k"}', {"key_id": "k", "deletion_date": None}),
    ("POST", "/kms/keys/cancel-deletion", b'{"key_id":"k"}', {"key_id": "k"}),
    ("POST", "/kms/keys/enable", b'{"key_id":"k"}', {"key_id": "k", "key_metadata": None}),
    ("POST", "/kms/keys/disable", b'{"key_id":"k"}', {"key_id": "k"}),
    ("POST", "/kms/keys/rotate", b'{"key_id":"k"}', {"key_id": "k"}),
    ("POST", "/kms/keys/update-description", b'{"key_id":"k","description":"d"}', {}),
    ("POST", "/kms/keys/tag", b'{"key_id":"k","tags":{"a":"b"}}', {"key_id": "k"}),
    ("POST", "/kms/keys/untag", b'{"key_id":"k","tag_keys":["a"]}', {"key_id": "k"}),
]


def _enter_state(admin: Admin, state: str) -> None:
    if state == "Configured":
        admin.configure()
    elif state == "Error":
        admin.json("POST", "/kms/start")
    elif state == "Stopped":
        admin.running()
        admin.json("POST", "/kms/stop")


@pytest.mark.parametrize("state", ["NotConfigured", "Configured", "Error", "Stopped"])
def test_routes_when_not_running(admin: Admin, state: str) -> None:
    _enter_state(admin, state)
    for method, path, body, message in NOT_RUNNING_XML_500:
        assert_xml(admin.call(method, path, body), 500, "InternalError", message)
    for method, path, body, fields in NOT_RUNNING_E2:
        assert_e2(admin.call(method, path, body), 503, "kms service is not running", **fields)
    status, payload = admin.json("GET", "/kms/service-status")
    expected_state = {"Stopped": "Configured"}.get(state, state)
    if state == "Error":
        assert payload["status"] == {"Error": "Cannot start KMS: no configuration provided"}
    else:
        assert payload["status"] == expected_state
    assert payload["healthy"] is None
    response = admin.call("POST", "/kms/decrypt", {"ciphertext_blob": "e30="})
    assert_e2(response, 503, "kms service is not running")
    status, payload = admin.json("GET", "/kms/backup")
    assert status == 200 and "unavailable_reason" in payload


def test_service_control_answers_have_no_content_type(admin: Admin) -> None:
    for path in ("/kms/configure", "/kms/reconfigure"):
        response = admin.call("POST", path)
        assert (response.status, response.content_type) == (400, None)
        assert response.body == b"Request body is required"
    for path in ("/kms/start", "/kms/stop", "/kms/service-status"):
        method = "GET" if path.endswith("status") else "POST"
        response = admin.call(method, path)
        assert response.status == 200
        assert response.content_type is None
        json.loads(response.body)


def test_state_machine_transitions(admin: Admin) -> None:
    status, payload = admin.json("POST", "/kms/stop")
    assert payload == {
        "success": True,
        "message": "KMS service stopped successfully",
        "status": "NotConfigured",
    }
    status, payload = admin.json("POST", "/kms/start")
    assert payload == {
        "success": False,
        "message": "Failed to start or restart KMS service: Cannot start KMS: no configuration "
        "provided",
        "status": {"Error": "Cannot start KMS: no configuration provided"},
    }
    admin.configure()
    status, payload = admin.json("POST", "/kms/start", {})
    assert payload == {
        "success": True,
        "message": "KMS service started successfully",
        "status": "Running",
    }
    status, payload = admin.json("POST", "/kms/start")
    assert payload["success"] is False
    assert payload["message"] == "KMS service is already running. Use force=true to restart."
    status, payload = admin.json("POST", "/kms/start", {"force": True})
    assert payload["message"] == "KMS service restarted successfully"
    assert payload["status"] == "Running"
    status, payload = admin.json(
        "POST", "/kms/configure", {"backend_type": "Local", "key_dir": str(admin.key_dir)}
    )
    assert status == 200 and payload["success"] is False
    assert payload["message"] == (
        "Failed to configure KMS: Cannot configure KMS while it is running; use reconfigure instead"
    )
    assert payload["status"] == "Running"
    status, payload = admin.json("POST", "/kms/stop")
    assert payload["status"] == "Configured"


def test_start_body_unknown_field_is_plain_text(admin: Admin) -> None:
    admin.configure()
    response = admin.call("POST", "/kms/start", {"forse": True})
    assert (response.status, response.content_type) == (400, None)
    assert response.body.decode() == "Invalid JSON: unknown field `forse`, expected `force`"


def test_start_failure_on_unreadable_key_dir_is_error_state(admin: Admin, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    admin.configure(key_dir=str(blocker / "keys"))
    status, payload = admin.json("POST", "/kms/start")
    assert payload["success"] is False
    assert payload["message"].startswith(
        "Failed to start or restart KMS service: Failed to create KMS backend: "
    )
    assert payload["status"]["Error"].startswith("Failed to create KMS backend: ")


# ---------------------------------------------------------------- status / config / cache


def test_status_config_and_clear_cache_when_running(admin: Admin) -> None:
    live = admin.running(default_key_id="main", cache_ttl_seconds=100000, max_cached_keys=5)
    key = live.create("main")
    for _ in range(3):
        live.json("GET", f"/kms/keys/{key}")
    status, payload = live.json("GET", "/kms/status")
    assert status == 200
    assert payload["backend_type"] == "local"
    assert payload["backend_status"] == "healthy"
    assert payload["cache_enabled"] is True
    assert payload["cache_stats"] == {
        "hit_count": 2,
        "miss_count": 1,
        "entry_count": 1,
        "eviction_count": 0,
    }
    assert payload["default_key_id"] == "main"
    assert list(payload["capabilities"]) == [
        "encrypt",
        "decrypt",
        "generate_data_key",
        "rotate",
        "enable_disable",
        "schedule_deletion",
        "versioning",
        "physical_delete",
        "update_key_metadata",
        "rewrap",
    ]
    assert payload["capabilities"]["rotate"] is False
    assert payload["capabilities"]["physical_delete"] is True
    node = payload["cluster_config"]["nodes"][0]
    assert payload["cluster_config"]["consistent"] is True
    assert node["host"] == "local" and len(node["config_fingerprint"]) == 64
    assert "error" not in node
    status, post_payload = live.json("POST", "/kms/status")
    assert post_payload["cluster_config"] == payload["cluster_config"]
    status, config = live.json("GET", "/kms/config")
    assert config == {
        "backend": "local",
        "cache_enabled": True,
        "cache_max_keys": 5,
        "cache_ttl_seconds": 86400,
        "default_key_id": "main",
    }
    status, cleared = live.json("POST", "/kms/clear-cache")
    assert (status, cleared) == (
        200,
        {"status": "success", "message": "cache cleared successfully"},
    )
    live.json("GET", f"/kms/keys/{key}")
    stats = live.json("GET", "/kms/status")[1]["cache_stats"]
    assert stats == {"hit_count": 2, "miss_count": 2, "entry_count": 1, "eviction_count": 0}


def test_cache_is_invalidated_by_key_changes(live: Admin) -> None:
    key = live.create("k", description="before")
    live.json("GET", "/kms/keys/k")
    live.json("POST", "/kms/keys/update-description", {"key_id": key, "description": "after"})
    status, payload = live.json("GET", "/kms/keys/k")
    assert payload["key_metadata"]["description"] == "after"
    live.json("POST", "/kms/keys/disable", {"key_id": key})
    assert live.json("GET", "/kms/keys/k")[1]["key_metadata"]["key_state"] == "Disabled"


def test_cache_disabled_reports_null_stats(admin: Admin) -> None:
    admin.running(enable_cache=False)
    admin.create("k")
    admin.json("GET", "/kms/keys/k")
    payload = admin.json("GET", "/kms/status")[1]
    assert payload["cache_enabled"] is False and payload["cache_stats"] is None


def test_service_status_summary_never_has_secrets(live: Admin) -> None:
    response = live.call("GET", "/kms/service-status")
    assert b"correct horse" not in response.body
    payload = json.loads(response.body)
    assert payload["backend_type"] == "Local"
    assert payload["healthy"] is True
    assert payload["config_summary"]["backend_summary"] == {
        "backend_type": "local",
        "key_dir": str(live.key_dir),
        "has_master_key": True,
        "file_permissions": 384,
    }
    assert payload["config_summary"]["cache_summary"] == {
        "max_keys": 1000,
        "ttl_seconds": 300,
        "enable_metrics": True,
    }


# ---------------------------------------------------------------- create / describe


def test_create_key_shapes(live: Admin, clock: list[datetime]) -> None:
    status, payload = live.json(
        "POST",
        "/kms/keys",
        {"key_usage": "SignVerify", "description": "d", "tags": {"name": "app", "env": "t"}},
    )
    assert status == 200
    assert payload["success"] is True and payload["message"] == "key created successfully"
    assert payload["key_id"] == "app"
    meta = payload["key_metadata"]
    assert list(meta) == [
        "key_id",
        "key_state",
        "key_usage",
        "description",
        "creation_date",
        "deletion_date",
        "origin",
        "key_manager",
        "tags",
    ]
    assert meta["key_usage"] == "SignVerify"  # echoed, stored as EncryptDecrypt
    assert (meta["origin"], meta["key_manager"], meta["key_state"]) == (
        "KMS",
        "CUSTOMER",
        "Enabled",
    )
    assert meta["creation_date"] == "2026-01-01T00:00:00+00:00[UTC]"
    listed = live.json("GET", "/kms/keys")[1]["keys"][0]
    assert listed["usage"] == "EncryptDecrypt"
    random_id = live.create()
    assert len(random_id) == 36 and random_id.count("-") == 4


def test_create_key_errors(live: Admin) -> None:
    live.create("dup")
    assert_e2(
        live.call("POST", "/kms/keys", {"tags": {"name": "dup"}}),
        409,
        "failed to create key: Key already exists: dup",
        key_id="",
        key_metadata=None,
    )
    response = live.call("POST", "/kms/keys", {"tags": {"name": "a/b"}})
    assert response.status == 500 and json.loads(response.body)["success"] is False
    assert_xml(
        live.call("POST", "/kms/keys", {"KeyUsage": "EncryptDecrypt"}),
        400,
        "InvalidRequest",
        "invalid JSON: unknown field `KeyUsage`, expected one of `key_usage`, `description`, "
        "`tags`",
    )
    assert_xml(
        live.call("POST", "/kms/keys", {"key_usage": "ENCRYPT_DECRYPT"}),
        400,
        "InvalidRequest",
        "unknown variant `ENCRYPT_DECRYPT`, expected `EncryptDecrypt` or `SignVerify`",
    )
    assert_xml(live.call("POST", "/kms/keys", b"{"), 400, "InvalidRequest", "invalid JSON: ")


def test_describe_key_and_impact(admin: Admin, refs: FakeRefs) -> None:
    live = admin.running(default_key_id="k")
    live.create("k")
    refs.by_key["k"] = ["logs", "data"]
    status, payload = live.json("GET", "/kms/keys/k")
    assert (status, payload["message"], payload["impact"]) == (
        200,
        "Key described successfully",
        None,
    )
    status, payload = live.json("GET", "/kms/keys/k", query=(("impact", "true"),))
    impact = payload["impact"]
    assert impact["completeness"] == "exact"
    assert impact["coverage"] == {
        "scanned": ["bucket-default-encryption", "service-default-key"],
        "not_scanned": ["object-envelopes", "in-progress-multipart-uploads"],
    }
    assert impact["references"][:2] == [
        {
            "kind": "bucket-default-encryption",
            "id": "data",
            "detail": "bucket default encryption names this key",
        },
        {
            "kind": "bucket-default-encryption",
            "id": "logs",
            "detail": "bucket default encryption names this key",
        },
    ]
    assert impact["references"][2]["kind"] == "service-default-key"
    assert live.json("GET", "/kms/keys/k", query=(("impact", "false"),))[1]["impact"] is None
    for bad in ("TRUE", "1", ""):
        response = live.call("GET", "/kms/keys/k", query=(("impact", bad),))
        assert response.status == 400 and json.loads(response.body)["impact"] is None
    assert_e2(
        live.call("GET", "/kms/keys/missing"),
        404,
        "Failed to describe key: Key not found: missing",
        key_metadata=None,
        impact=None,
    )


# ---------------------------------------------------------------- listing (§8)


def test_pagination_with_filters_and_empty_truncated_pages(live: Admin) -> None:
    ids = [f"key-{i:02d}" for i in range(7)]
    for key_id in ids:
        live.create(key_id)
    for key_id in ids[:4]:
        live.json("POST", "/kms/keys/disable", {"key_id": key_id})
    status, page = live.json("GET", "/kms/keys", query=(("limit", "2"), ("status", "active")))
    assert page["keys"] == [] and page["truncated"] is True and page["next_marker"] == "key-01"
    assert "unreadable_key_ids" not in page
    seen: list[str] = []
    marker: str | None = None
    pages = 0
    while True:
        query: tuple[tuple[str, str], ...] = (("limit", "2"), ("status", "ACTIVE"))
        if marker:
            query += (("marker", marker),)
        page = live.json("GET", "/kms/keys", query=query)[1]
        pages += 1
        seen += [k["key_id"] for k in page["keys"]]
        if not page["truncated"]:
            assert page["next_marker"] is None
            break
        marker = page["next_marker"]
    assert seen == ids[4:] and pages == 4
    page = live.json("GET", "/kms/keys", query=(("usage", "encrypt-decrypt"),))[1]
    assert len(page["keys"]) == 7 and page["truncated"] is False
    page = live.json("GET", "/kms/keys", query=(("usage", "SIGN_VERIFY"),))[1]
    assert page["keys"] == []
    page = live.json("GET", "/kms/keys", query=(("marker", "key-05"),))[1]
    assert [k["key_id"] for k in page["keys"]] == ["key-06"]
    page = live.json("GET", "/kms/keys", query=(("marker", ""), ("limit", "0")))[1]
    assert (page["keys"], page["truncated"], page["next_marker"]) == ([], False, None)
    page = live.json("GET", "/kms/keys", query=(("limit", "99999999999999999999"),))[1]
    assert len(page["keys"]) == 7
    item = page["keys"][0]
    assert item["rotation_due"] is False and item["rotation_due_reason"] == "unsupported"
    assert item["metadata"] == item["tags"] == {"name": "key-00"}
    assert item["created_by"] == "local-kms" and item["version"] == 1


def test_default_and_maximum_page_sizes(live: Admin) -> None:
    from kms_tui.embedded.keyrecord import KeyRecord

    store = live.service.keys.require_store()
    store.create_many(
        KeyRecord(key_id=f"bulk-{i:04d}", material=bytes(32), created_at="2026-01-01T00:00:00Z")
        for i in range(1005)
    )
    page = live.json("GET", "/kms/keys")[1]
    assert len(page["keys"]) == 100 and page["next_marker"] == "bulk-0099"
    page = live.json("GET", "/kms/keys", query=(("limit", "5000"),))[1]
    assert len(page["keys"]) == 1000 and page["truncated"] is True


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("limit", "abc", "invalid limit 'abc': expected a non-negative integer"),
        ("limit", "-1", "invalid limit '-1': expected a non-negative integer"),
        ("limit", "1.5", "invalid limit '1.5': expected a non-negative integer"),
        ("limit", "", "invalid limit '': expected a non-negative integer"),
        (
            "status",
            "x",
            "invalid value for 'status': expected one of Active, Disabled, PendingDeletion, "
            "Deleted, got 'x'",
        ),
        (
            "usage",
            "",
            "invalid value for 'usage': expected one of EncryptDecrypt, SignVerify, got ''",
        ),
    ],
)
def test_list_query_errors(live: Admin, name: str, value: str, message: str) -> None:
    assert_e2(live.call("GET", "/kms/keys", query=((name, value),)), 400, message, keys=[])
    assert_xml(
        live.call("GET", "/kms/list-keys", query=((name, value),)), 400, "InvalidArgument", message
    )


def test_unreadable_keys_are_listed_and_all_unreadable_is_500(admin: Admin) -> None:
    admin.running()  # creates the salt
    admin.json("POST", "/kms/stop")
    (admin.key_dir / "broken.key").write_text("{not json")
    assert admin.json("POST", "/kms/start")[1]["status"] == "Running"
    response = admin.call("GET", "/kms/keys")
    assert response.status == 500
    assert "broken" in json.loads(response.body)["message"]
    assert_xml(admin.call("GET", "/kms/list-keys"), 500, "InternalError", "failed to list keys")
    admin.create("good")
    page = admin.json("GET", "/kms/keys")[1]
    assert page["unreadable_key_ids"] == ["broken"]
    assert [k["key_id"] for k in page["keys"]] == ["good"]


# ---------------------------------------------------------------- deletion


def test_schedule_deletion_body_form(live: Admin, refs: FakeRefs) -> None:
    live.create("k")
    refs.by_key["k"] = ["b"]
    status, payload = live.json(
        "DELETE", "/kms/keys/delete", {"key_id": "k", "pending_window_in_days": 7}
    )
    assert status == 200
    assert payload["message"] == "key deleted successfully"
    assert payload["deletion_date"] == "2026-01-08T00:00:00+00:00[UTC]"
    assert payload["impact"]["references"][0]["id"] == "b"
    meta = live.json("GET", "/kms/keys/k")[1]["key_metadata"]
    assert meta["key_state"] == "PendingDeletion"
    assert meta["deletion_date"] == "2026-01-08T00:00:00+00:00[UTC]"
    payload = assert_e2(
        live.call("DELETE", "/kms/keys/delete", {"key_id": "k"}),
        400,
        "Failed to delete key: Invalid operation: Key k is already pending deletion",
        key_id="k",
        deletion_date=None,
    )
    assert payload["impact"]["key_id"] == "k"
    for action in ("enable", "disable"):
        response = live.call("POST", f"/kms/keys/{action}", {"key_id": "k"})
        assert response.status == 400
    status, payload = live.json("POST", "/kms/keys/cancel-deletion", {"key_id": "k"})
    assert payload["message"] == "key deletion cancelled successfully"
    meta = payload["key_metadata"]
    assert (meta["key_state"], meta["deletion_date"], meta["origin"]) == (
        "Enabled",
        None,
        "AWS_KMS",
    )


@pytest.mark.parametrize("days", [6, 31, 0])
def test_window_out_of_range(live: Admin, days: int) -> None:
    live.create("k")
    response = live.call(
        "DELETE", "/kms/keys/delete", {"key_id": "k", "pending_window_in_days": days}
    )
    assert response.status == 400
    assert "pending_window_in_days" in json.loads(response.body)["message"]


def test_delete_query_form_rules(live: Admin) -> None:
    live.create("q1")
    live.create("q2")
    status, payload = live.json(
        "DELETE", "/kms/keys/delete", query=(("keyId", "q1"), ("pending_window_in_days", "x"))
    )
    assert payload["deletion_date"] == "2026-01-31T00:00:00+00:00[UTC]"  # unparsable → 30
    refused = (
        "immediate deletion is no longer accepted as a query parameter; send it as a JSON body "
        "with force_immediate and confirm_key_id set to the key id"
    )
    for query in (
        (("keyId", "q2"), ("force_immediate", "true")),
        (("keyId", "q2"), ("confirm_key_id", "q2")),
    ):
        assert_e2(live.call("DELETE", "/kms/keys/delete", query=query), 400, refused)
    status, payload = live.json(
        "DELETE", "/kms/keys/delete", query=(("keyId", "q2"), ("force_immediate", "false"))
    )
    assert status == 200
    assert_e2(
        live.call("DELETE", "/kms/keys/delete", query=(("key-id", "q2"),)),
        400,
        "missing required parameter: 'keyId'",
    )
    assert_e2(
        live.call("DELETE", "/kms/keys/delete", {"key_id": "nope"}),
        404,
        "Failed to delete key: Key not found: nope",
        impact=None,
    )
    assert_xml(
        live.call("DELETE", "/kms/keys/delete", {"key_id": "q1", "window": 7}),
        400,
        "InvalidRequest",
        "unknown field `window`",
    )


def test_immediate_deletion_refused_without_server_switch(live: Admin) -> None:
    live.create("k")
    response = live.call(
        "DELETE",
        "/kms/keys/delete",
        {"key_id": "k", "force_immediate": True, "confirm_key_id": "k"},
    )
    assert response.status == 400
    assert "RUSTFS_KMS_ALLOW_IMMEDIATE_DELETION" in json.loads(response.body)["message"]
    assert live.service.key_exists("k")


def test_immediate_deletion_rules(tmp_path: Path, refs: FakeRefs) -> None:
    service = KmsService(tmp_path / "data", references=refs, allow_immediate_deletion=True)
    admin = Admin(service, tmp_path / "keys").running(default_key_id="default")
    for key_id in ("k", "used", "default"):
        admin.create(key_id)
    refs.by_key["used"] = ["bucket-a"]
    response = admin.call("DELETE", "/kms/keys/delete", {"key_id": "k", "force_immediate": True})
    assert response.status == 400 and service.key_exists("k")
    response = admin.call(
        "DELETE",
        "/kms/keys/delete",
        {"key_id": "k", "force_immediate": True, "confirm_key_id": "x"},
    )
    assert response.status == 400 and service.key_exists("k")
    for key_id in ("used", "default"):
        body = {"key_id": key_id, "force_immediate": True, "confirm_key_id": key_id}
        payload = assert_e2(
            admin.call("DELETE", "/kms/keys/delete", body), 409, _referenced_message(admin, key_id)
        )
        assert payload["impact"]["references"]
        assert service.key_exists(key_id)
    body = {"key_id": "k", "force_immediate": True, "confirm_key_id": "k"}
    status, payload = admin.json("DELETE", "/kms/keys/delete", body)
    assert (status, payload["deletion_date"], payload["message"]) == (
        200,
        None,
        "key deleted successfully",
    )
    assert not service.key_exists("k")
    assert not (admin.key_dir / "k.key").exists()


def _referenced_message(admin: Admin, key_id: str) -> str:
    response = admin.call(
        "DELETE",
        "/kms/keys/delete",
        {"key_id": key_id, "force_immediate": True, "confirm_key_id": key_id},
    )
    message = str(json.loads(response.body)["message"])
    assert message.startswith(
        f"Failed to delete key: Key {key_id} is still referenced by configuration and its "
        "material must not be destroyed: "
    )
    return message


def test_cancel_deletion_errors_are_all_500(live: Admin) -> None:
    live.create("k")
    assert_e2(
        live.call("POST", "/kms/keys/cancel-deletion", {"key_id": "k"}),
        500,
        "Failed to cancel key deletion: Invalid operation: Key k is not pending deletion",
    )
    assert_e2(
        live.call("POST", "/kms/keys/cancel-deletion", query=(("keyId", "zz"),)),
        500,
        "Failed to cancel key deletion: Key not found: zz",
    )
    assert_e2(
        live.call("POST", "/kms/keys/cancel-deletion"), 400, "missing required parameter: 'keyId'"
    )


# ---------------------------------------------------------------- lifecycle & metadata


def test_enable_disable_rotate(live: Admin) -> None:
    live.create("k")
    for _ in range(2):
        status, payload = live.json("POST", "/kms/keys/disable", {"key_id": "k"})
        assert (status, payload["message"]) == (200, "key disabled successfully")
        assert payload["key_metadata"]["key_state"] == "Disabled"
    status, payload = live.json("POST", "/kms/keys/enable", query=(("keyId", "k"),))
    assert (payload["message"], payload["key_metadata"]["key_state"]) == (
        "key enabled successfully",
        "Enabled",
    )
    assert_e2(
        live.call("POST", "/kms/keys/rotate", {"key_id": "k"}),
        501,
        "Failed to rotate key: Operation 'rotate' is not supported by KMS backend 'local'",
        key_id="k",
        key_metadata=None,
    )
    assert_e2(
        live.call("POST", "/kms/keys/enable", {"key_id": "nope"}),
        404,
        "Failed to enable key: Key not found: nope",
    )
    assert_e2(live.call("POST", "/kms/keys/disable"), 400, "missing required parameter: 'keyId'")
    assert_xml(
        live.call("POST", "/kms/keys/enable", {"keyId": "k"}),
        400,
        "InvalidRequest",
        "unknown field",
    )


def test_metadata_updates(live: Admin) -> None:
    live.create("k", description="old", tags={"env": "dev"})
    status, payload = live.json(
        "POST", "/kms/keys/tag", {"key_id": "k", "tags": {"team": "a", "env": "prod"}}
    )
    assert payload["message"] == "key tags updated"
    assert payload["key_metadata"]["tags"] == {"name": "k", "env": "prod", "team": "a"}
    status, payload = live.json(
        "POST", "/kms/keys/untag", {"key_id": "k", "tag_keys": ["team", "absent"]}
    )
    assert payload["message"] == "key tags removed"
    assert payload["key_metadata"]["tags"] == {"name": "k", "env": "prod"}
    status, payload = live.json(
        "POST", "/kms/keys/update-description", {"key_id": "k", "description": ""}
    )
    assert payload["message"] == "key description updated"
    assert payload["key_metadata"]["description"] is None
    reserved = "Tag 'name' identifies the key and cannot be updated or removed"
    assert_e2(
        live.call("POST", "/kms/keys/tag", {"key_id": "k", "tags": {"name": "x"}}),
        400,
        f"Failed to tag key: {reserved}",
    )
    assert_e2(
        live.call("POST", "/kms/keys/untag", {"key_id": "k", "tag_keys": ["name"]}),
        400,
        f"Failed to untag key: {reserved}",
    )
    for path in ("/kms/keys/tag", "/kms/keys/untag", "/kms/keys/update-description"):
        assert_xml(live.call("POST", path), 400, "InvalidRequest", "a request body is required")
    assert_xml(
        live.call("POST", "/kms/keys/tag", {"key_id": "k", "Tags": {}}),
        400,
        "InvalidRequest",
        "unknown field `Tags`",
    )
    assert_e2(
        live.call("POST", "/kms/keys/tag", {"key_id": "no", "tags": {"a": "b"}}),
        404,
        "Failed to tag key: Key not found: no",
    )


# ---------------------------------------------------------------- legacy routes


def test_legacy_routes(live: Admin) -> None:
    for path in ("/kms/create-key", "/kms/key/create"):
        response = live.call("POST", path, query=(("key-id", "ignored"),))
        payload = json.loads(response.body)
        assert response.status == 200 and set(payload) == {"key_id", "key_metadata"}
        assert payload["key_id"] != "ignored"
    live.create("k")
    for name in ("keyId", "key-id", "key"):
        for path in ("/kms/describe-key", "/kms/key/status"):
            status, payload = live.json("GET", path, query=((name, "k"),))
            assert set(payload) == {"key_metadata"} and payload["key_metadata"]["key_id"] == "k"
    assert_xml(
        live.call("GET", "/kms/describe-key", query=(("keyId", ""),)),
        400,
        "InvalidRequest",
        "missing required parameter: 'keyId'",
    )
    assert_xml(
        live.call("GET", "/kms/describe-key", query=(("keyId", "nope"),)),
        500,
        "InternalError",
        "failed to describe key: Key not found: nope",
    )
    status, payload = live.json("GET", "/kms/list-keys", query=(("limit", "1"),))
    assert set(payload) == {"keys", "truncated", "next_marker"}
    assert payload["truncated"] is True
    assert_xml(
        live.call("POST", "/kms/create-key", {"tags": {"name": "k"}}),
        500,
        "InternalError",
        "failed to create key: Key already exists: k",
    )
    assert_xml(
        live.call("POST", "/kms/create-key", {"Description": "x"}),
        400,
        "InvalidRequest",
        "unknown field `Description`",
    )


# ---------------------------------------------------------------- data keys


def test_generate_data_key_and_decrypt(live: Admin) -> None:
    live.create("k")
    for spec, length in (("Aes256", 32), ("Aes128", 16), ("ChaCha20", 32)):
        status, payload = live.json(
            "POST",
            "/kms/generate-data-key",
            {"key_id": "k", "key_spec": spec, "encryption_context": {"bucket": "b"}},
        )
        assert status == 200 and set(payload) == {"key_id", "plaintext_key", "ciphertext_blob"}
        plaintext = base64.b64decode(payload["plaintext_key"])
        assert len(plaintext) == length
        blob = payload["ciphertext_blob"]
        for context in ({"bucket": "b"}, {}, {"bucket": "b", "extra": "x"}):
            status, out = live.json(
                "POST", "/kms/decrypt", {"ciphertext_blob": blob, "encryption_context": context}
            )
            assert (status, out["key_id"], base64.b64decode(out["plaintext"])) == (
                200,
                "k",
                plaintext,
            )
    response = live.call(
        "POST", "/kms/decrypt", {"ciphertext_blob": blob, "encryption_context": {"bucket": "c"}}
    )
    assert_e2(
        response,
        400,
        "Encryption context mismatch: Context mismatch for key 'bucket': expected 'b', got 'c'",
    )
    response = live.call(
        "POST", "/kms/decrypt", {"ciphertext_blob": blob, "encryption_context": {"x": "y"}}
    )
    assert response.status == 400
    assert json.loads(response.body)["message"].startswith("Encryption context mismatch: ")
    assert live.call("POST", "/kms/decrypt", {"ciphertext_blob": "!!"}).status == 400
    not_envelope = base64.b64encode(b'{"a":1}').decode()
    assert live.call("POST", "/kms/decrypt", {"ciphertext_blob": not_envelope}).status == 400
    document = json.loads(base64.b64decode(blob))
    document["master_key_id"] = "gone"
    foreign = base64.b64encode(json.dumps(document).encode()).decode()
    assert_e2(
        live.call("POST", "/kms/decrypt", {"ciphertext_blob": foreign}),
        404,
        "Key not found: gone",
    )


def test_generate_data_key_errors(live: Admin) -> None:
    live.create("k")
    assert_xml(
        live.call("POST", "/kms/generate-data-key", {"key_id": "k", "key_spec": "AES_256"}),
        400,
        "InvalidRequest",
        "invalid JSON: unknown variant `AES_256`, expected one of `Aes256`, `Aes128`, `ChaCha20`",
    )
    assert_xml(
        live.call("POST", "/kms/generate-data-key", {"key_id": "k"}),
        400,
        "InvalidRequest",
        "missing field `key_spec`",
    )
    assert_xml(
        live.call("POST", "/kms/generate-data-key", {"key_id": "nope", "key_spec": "Aes256"}),
        500,
        "InternalError",
        "failed to generate data key: Key not found: nope",
    )
    live.json("POST", "/kms/keys/disable", {"key_id": "k"})
    assert_xml(
        live.call("POST", "/kms/generate-data-key", {"key_id": "k", "key_spec": "Aes256"}),
        500,
        "InternalError",
        "failed to generate data key: Invalid operation: Key k is disabled",
    )
    live.json("POST", "/kms/keys/enable", {"key_id": "k"})
    live.json("DELETE", "/kms/keys/delete", {"key_id": "k"})
    response = live.call("POST", "/kms/generate-data-key", {"key_id": "k", "key_spec": "Aes256"})
    assert_xml(response, 500, "InternalError", "failed to generate data key: ")


def test_sweep_after_routes(live: Admin, clock: list[datetime], refs: FakeRefs) -> None:
    for key_id in ("gone", "kept", "young"):
        live.create(key_id)
    live.json("DELETE", "/kms/keys/delete", {"key_id": "gone", "pending_window_in_days": 7})
    live.json("DELETE", "/kms/keys/delete", {"key_id": "kept", "pending_window_in_days": 7})
    live.json("DELETE", "/kms/keys/delete", {"key_id": "young", "pending_window_in_days": 30})
    refs.by_key["kept"] = ["bucket"]
    clock[0] += timedelta(days=8)
    assert live.service.keys.sweep_expired() == ["gone"]
    assert live.call("GET", "/kms/keys/gone").status == 404
    assert live.call("GET", "/kms/keys/kept").status == 200
    assert live.call("GET", "/kms/keys/young").status == 200
