"""The route fuzz's one oracle (``scripts/fuzz_oracle.py``), and proof that it is not blind.

There is one fuzzer (``scripts/fuzz_server.py``, run at 1,000 requests by
``tests/reliability/test_fuzz_scale.py``) and one judge. These tests pin the judge down:

* the routes it knows are read from the server's own route tables (a route added there is known
  at once), and it matches a request to a route exactly as the server's dispatch does;
* a 501 ``NotImplemented`` passes only on a (method, path) the server does not route;
* a real route made to answer 501 (admin or S3) fails a fuzz run, reported as undocumented.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kms_tui.embedded import admin_routes, asgi, s3_routes
from kms_tui.embedded.http import HttpRequest, HttpResponse, json_response, xml_error
from scripts import fuzz_oracle, fuzz_server
from scripts.fuzz_oracle import Route, documented_5xx, routed, target
from scripts.fuzz_requests import OFF_TABLE
from scripts.fuzz_server import run_fuzz
from tests.fakes.embedded import InProcessServer, signed_http

ADMIN = "/rustfs/admin/v3"
NOT_IMPLEMENTED_XML = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>A header '
    "you provided implies functionality that is not implemented.</Message>"
    "<RequestId>R</RequestId></Error>"
)


def test_every_route_of_the_server_tables_is_known() -> None:
    labels = {route.label for route in routed()}
    for method, path in admin_routes.ROUTES:
        assert f"{method} {path}" in labels
    for method, names in s3_routes._BUCKET_ROUTES:
        query = "?" + "&".join(sorted(names)) if names else ""
        assert f"{method} S3 /{{bucket}}{query}" in labels
    for method, names in s3_routes._OBJECT_ROUTES:
        query = "?" + "&".join(sorted(names)) if names else ""
        assert f"{method} S3 /{{bucket}}/{{key}}{query}" in labels
    assert {"GET /kms/keys/{key_id}", "GET S3 /"} <= labels
    assert len(labels) == (
        len(admin_routes.ROUTES) + len(s3_routes._BUCKET_ROUTES) + len(s3_routes._OBJECT_ROUTES) + 2
    )
    assert "POST /kms/keys/rotate" not in fuzz_oracle.catalogue()  # Local cannot rotate


def test_a_route_added_to_the_table_is_known_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    new = ("POST", "/kms/keys/fz-added")
    assert target("POST", ADMIN + new[1]).route is None
    monkeypatch.setitem(admin_routes.ROUTES, new, lambda s, r: json_response(200, {}))
    assert Route("admin", *new) in routed()
    assert target("POST", ADMIN + new[1]).route == Route("admin", *new)
    assert documented_5xx("POST", ADMIN + new[1], "", 501, NOT_IMPLEMENTED_XML) is None


# (method, path as sent, query, the route label the server dispatches it to, or None)
MATCHES: list[tuple[str, str, str, str | None]] = [
    ("POST", ADMIN + "/kms/keys/tag", "", "POST /kms/keys/tag"),
    ("POST", "/minio/admin/v3/kms/keys/tag", "", "POST /kms/keys/tag"),
    ("POST", ADMIN + "/kms/keys/%74ag", "", "POST /kms/keys/tag"),
    ("GET", ADMIN + "/kms/keys", "limit=2", "GET /kms/keys"),
    ("GET", ADMIN + "/kms/keys/fz-alpha", "", "GET /kms/keys/{key_id}"),
    ("GET", ADMIN + "/kms/keys/a%2Fb", "", "GET /kms/keys/{key_id}"),
    ("GET", ADMIN + "/kms/keys/tag", "", "GET /kms/keys/{key_id}"),
    ("PATCH", ADMIN + "/kms/keys/tag", "", None),
    ("GET", ADMIN + "/kms/keys/tag/", "", None),
    ("GET", ADMIN + "/kms/keys/", "", None),
    ("GET", ADMIN + "/kms/keys/a/b", "", None),
    ("POST", ADMIN + "/KMS/keys/tag", "", None),
    ("HEAD", ADMIN + "/kms/status", "", None),
    ("POST", "/rustfs/admin/kms/keys/tag", "", None),
    ("POST", "/minio/admin/v2/kms/keys/tag", "", None),
    ("GET", "/", "", "GET S3 /"),
    ("PUT", "/", "", None),
    ("PUT", "/fz-bucket", "", "PUT S3 /{bucket}"),
    ("PUT", "/fz-bucket", "x-id=CreateBucket", "PUT S3 /{bucket}"),
    ("HEAD", "/fz-bucket", "", "HEAD S3 /{bucket}"),
    ("GET", "/fz-bucket", "encryption", "GET S3 /{bucket}?encryption"),
    ("PUT", "/fz-bucket", "encryption=&x-id=PutBucketEncryption", "PUT S3 /{bucket}?encryption"),
    ("GET", "/fz-bucket", "", None),  # ListObjects (v1)
    ("GET", "/fz-bucket", "acl", None),
    ("PUT", "/fz-bucket", "encryption&acl", None),
    ("GET", "/fz-bucket", "list-type=2", "GET S3 /{bucket}?list-type"),
    ("GET", "/fz-bucket", "list-type=2&prefix=a&max-keys=5", "GET S3 /{bucket}?list-type"),
    ("GET", "/fz-bucket", "list-type=2&acl", None),
    ("PUT", "/fz-bucket", "prefix=a", None),
    ("HEAD", "/fz-bucket/object", "", "HEAD S3 /{bucket}/{key}"),
    ("GET", "/fz-bucket/a%2Fb", "", "GET S3 /{bucket}/{key}"),
    ("PUT", "/fz-bucket/a/b", "x-id=PutObject", "PUT S3 /{bucket}/{key}"),
    ("DELETE", "/fz-bucket/a", "", "DELETE S3 /{bucket}/{key}"),
    ("POST", "/fz-bucket/a", "uploads", None),  # CreateMultipartUpload
    ("PUT", "/fz-bucket/a", "partNumber=1&uploadId=u", None),  # UploadPart
    ("POST", "/fz-bucket/a", "uploadId=u", None),  # CompleteMultipartUpload
    ("DELETE", "/fz-bucket/a", "uploadId=u", None),  # AbortMultipartUpload
    ("GET", "/fz-bucket/a", "tagging", None),
]


@pytest.mark.parametrize(("method", "path", "query", "label"), MATCHES)
def test_a_request_is_matched_to_its_route(
    method: str, path: str, query: str, label: str | None
) -> None:
    route = target(method, path, query).route
    assert (route.label if route else None) == label


@pytest.fixture
def server(tmp_path: Path) -> Iterator[InProcessServer]:
    built = InProcessServer.build(tmp_path / "data")
    try:
        yield built
    finally:
        built.close()


async def test_the_oracle_and_the_server_agree_on_what_is_routed(server: InProcessServer) -> None:
    """Unrouted, the server answers NotImplemented; routed, never (NotConfigured, no backend)."""
    samples = [(m, p, q) for m, p, q, _label in MATCHES]
    for route in routed():
        path = route.path.replace("{key_id}", "fz-alpha").replace("{bucket}", "fz-bucket")
        samples.append((route.method, (ADMIN if route.family == "admin" else "") + path,
                        "&".join(route.subresources)))  # fmt: skip
    async with signed_http("http://127.0.0.1", transport=server.transport()) as http:
        for method, path, query in samples:
            answer = await http.request(method, path + ("?" + query if query else ""))
            not_implemented = answer.status_code == 501 and (
                b"<Code>NotImplemented</Code>" in answer.content or method == "HEAD"
            )
            routed_here = target(method, path, query).route is not None
            assert not_implemented != routed_here, (method, path, query, answer.text)


@pytest.mark.parametrize(
    ("method", "path", "query", "status", "body", "documented"),
    [
        ("PATCH", ADMIN + "/kms/keys/tag", "", 501, NOT_IMPLEMENTED_XML, True),
        ("POST", ADMIN + "/kms/keys/tag/", "", 501, NOT_IMPLEMENTED_XML, True),
        ("POST", ADMIN + "/kms/keys/tag", "", 501, NOT_IMPLEMENTED_XML, False),  # a real route
        ("POST", "/minio/admin/v3/kms/keys/tag", "", 501, NOT_IMPLEMENTED_XML, False),
        ("GET", ADMIN + "/kms/keys/fz-alpha", "", 501, NOT_IMPLEMENTED_XML, False),
        ("GET", "/fz-bucket", "encryption", 501, NOT_IMPLEMENTED_XML, False),
        ("GET", "/fz-bucket", "acl", 501, NOT_IMPLEMENTED_XML, True),
        ("HEAD", "/fz-bucket/object", "", 501, "", False),  # HeadObject is a route
        ("HEAD", "/fz-bucket/object", "acl", 501, "", True),
        ("POST", "/fz-bucket/object", "uploads", 501, NOT_IMPLEMENTED_XML, True),
        ("HEAD", "/fz-bucket", "", 501, "", False),
        (
            "POST",
            ADMIN + "/kms/keys/rotate",
            "",
            501,
            "Operation 'rotate' is not supported by KMS backend 'local'",
            True,
        ),
        (
            "GET",
            ADMIN + "/kms/status",
            "",
            500,
            "<Message>KMS service not initialized</Message>",
            True,
        ),  # fmt: skip
        (
            "POST",
            ADMIN + "/kms/keys/cancel-deletion",
            "",
            500,
            '{"success":false,"message":"Failed to cancel key deletion: Key not found: k"}',
            True,
        ),
        (
            "POST",
            ADMIN + "/kms/keys/tag",
            "",
            500,
            '{"success":false,"message":"Failed to tag key: Backend error: x"}',
            False,
        ),
        (
            "GET",
            ADMIN + "/kms/keys",
            "",
            500,
            "<Message>We encountered an internal error.</Message>",
            False,
        ),  # fmt: skip
        ("GET", ADMIN + "/kms/status", "", 503, '"message":"kms service is not running"', False),
        (
            "PUT",
            "/fz-bucket",
            "encryption",
            500,
            "<Message>KMS default key not configured</Message>",
            True,
        ),  # fmt: skip
        (
            "PUT",
            "/fz-bucket",
            "",
            500,
            "<Message>KMS default key not configured</Message>",
            False,
        ),  # fmt: skip
        ("PUT", "/fz-bucket", "", 500, "<Message>cannot store the bucket change</Message>", False),
    ],
)
def test_only_the_5xx_the_reference_documents_pass_the_oracle(
    method: str, path: str, query: str, status: int, body: str, documented: bool
) -> None:
    assert (documented_5xx(method, path, query, status, body) is not None) == documented


def _not_implemented(request: HttpRequest) -> HttpResponse:
    """Exactly what the server answers a request it does not route."""
    return xml_error(
        501,
        "NotImplemented",
        "A header you provided implies functionality that is not implemented.",
        request.request_id,
    )


def _break_admin_tag(monkeypatch: pytest.MonkeyPatch) -> str:
    real = fuzz_server.handle_admin

    def handler(service: Any, request: HttpRequest) -> HttpResponse | None:
        if (request.method, request.path) == ("POST", "/kms/keys/tag"):
            return _not_implemented(request)
        return real(service, request)

    monkeypatch.setattr(fuzz_server, "handle_admin", handler)  # the fuzz's in-process apps only
    return "POST /kms/keys/tag"


def _break_s3_put_encryption(monkeypatch: pytest.MonkeyPatch) -> str:
    real = asgi.handle_s3

    def handler(store: Any, kms: Any, request: HttpRequest, **options: Any) -> Any:
        if request.method == "PUT" and request.has_query("encryption"):
            return _not_implemented(request)
        return real(store, kms, request, **options)

    monkeypatch.setattr(asgi, "handle_s3", handler)
    return "PUT S3 /{bucket}?encryption"


@pytest.mark.parametrize("breaker", [_break_admin_tag, _break_s3_put_encryption])
def test_a_real_route_answering_501_fails_the_fuzz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, breaker: Any
) -> None:
    """The blind spot is closed: a routed handler's 501 NotImplemented is undocumented."""
    broken = breaker(monkeypatch)
    slots = len(routed()) + len(OFF_TABLE)
    report = run_fuzz(2 * slots, seed_value=5, socket_share=0.0, workdir=tmp_path)
    summary = report.render()
    assert report.failed, summary
    assert report.undocumented_5xx, summary
    assert all("501" in line and "NotImplemented" in line for line in report.undocumented_5xx)
    assert broken in report.never_2xx(), summary
    assert not report.crashes and not report.malformed and not report.off_table, summary


def test_httpx_sends_the_path_the_oracle_judges() -> None:
    """The fuzz judges the request as sent: httpx keeps the raw path and query it was given."""
    request = httpx.Request("GET", "http://h" + ADMIN + "/kms/keys/a%2Fb?limit=2&x=%FF")
    assert request.url.raw_path == (ADMIN + "/kms/keys/a%2Fb?limit=2&x=%FF").encode()
