"""What each fault becomes in the clients the console uses, through the misbehaving server in
front of a real embedded server: the error class (which decides connected vs disconnected) and a
message an operator understands. Plus the Buckets screen against an HTML answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.buckets import BucketEncryptionClient
from kms_tui.api.errors import (
    KmsAccessDenied,
    KmsBackendError,
    KmsClockSkewError,
    KmsConnectionError,
    KmsError,
    KmsOperationFailed,
    KmsResponseError,
    KmsTimeoutError,
)
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.factory import build_app
from kms_tui.settings import Connection, Settings
from kms_tui.tui.error_text import error_text
from tests.fakes.misbehaving import (
    Fault,
    MisbehavingServer,
    drop,
    hang,
    html,
    misbehaving,
    skew,
    status,
    success_false,
    truncated,
    wrong_shape_json,
    xml_error,
)
from tests.tui.conftest import APP_SIZE, fixed_clock
from tests.tui.helpers import open_buckets, wait_until

BUCKET = "fault-bucket"


@pytest.fixture
def front(kms_server: EmbeddedServer) -> Iterator[MisbehavingServer]:
    with misbehaving(kms_server.endpoint) as server:
        yield server


@pytest.fixture
async def admin(
    front: MisbehavingServer, kms_server: EmbeddedServer
) -> AsyncIterator[KmsAdminClient]:
    async with KmsAdminClient(
        front.url, kms_server.access_key, kms_server.secret_key, timeout=1.0, retries=0
    ) as client:
        yield client


@pytest.fixture
async def s3(
    front: MisbehavingServer, kms_server: EmbeddedServer
) -> AsyncIterator[BucketEncryptionClient]:
    async with BucketEncryptionClient(
        front.url, kms_server.access_key, kms_server.secret_key, timeout=1.0, retries=0
    ) as client:
        await client.create_bucket(BUCKET)
        await client.put_bucket_encryption(BUCKET, algorithm="AES256")
        yield client


ADMIN_FAULTS = [
    pytest.param(status(500, "oops"), KmsBackendError, "oops", id="500-text"),
    pytest.param(
        html(500, "500 Internal Server Error"),
        KmsBackendError,
        'HTTP 500 with an HTML page "500 Internal Server Error" instead of an API answer',
        id="500-html",
    ),
    pytest.param(truncated(), KmsResponseError, "answer was cut short", id="truncated"),
    pytest.param(html(), KmsResponseError, "it is not JSON but an HTML page", id="html-200"),
    pytest.param(wrong_shape_json(), KmsResponseError, "got a list", id="wrong-shape"),
    pytest.param(xml_error(), KmsBackendError, "We encountered an internal error", id="xml"),
    pytest.param(success_false("no"), KmsOperationFailed, "no", id="success-false"),
    pytest.param(skew(), KmsClockSkewError, "request time", id="skew"),
    pytest.param(
        hang(), KmsTimeoutError, "did not answer in time (read timeout after 1 s", id="hang"
    ),
    pytest.param(drop(), KmsConnectionError, "closed the connection without answering", id="drop"),
]


@pytest.mark.parametrize(("fault", "expected", "phrase"), ADMIN_FAULTS)
async def test_admin_client_maps_each_fault(
    front: MisbehavingServer,
    admin: KmsAdminClient,
    fault: Fault,
    expected: type[KmsError],
    phrase: str,
) -> None:
    assert (await admin.service_status()).state == "Running"  # passthrough first
    front.set("GET", "/kms/service-status", fault)
    with pytest.raises(KmsError) as caught:
        await admin.service_status()
    assert type(caught.value) is expected
    assert phrase in caught.value.message
    front.heal()
    assert (await admin.service_status()).state == "Running"


S3_FAULTS = [
    pytest.param(status(500, "oops", "text/plain"), KmsBackendError, "oops", id="500-text"),
    pytest.param(
        html(502, "502 Bad Gateway"),
        KmsBackendError,
        'answered an HTML page "502 Bad Gateway" instead of S3 XML',
        id="502-html",
    ),
    # A 200 whose body is cut short or is not XML is an unreadable answer, not a server failure.
    pytest.param(truncated(), KmsResponseError, "cut short: 60 of 160 bytes", id="truncated"),
    pytest.param(
        html(), KmsResponseError, 'an HTML page "Sign in - Corporate Portal"', id="html-200"
    ),
    pytest.param(
        wrong_shape_json(), KmsResponseError, "answered JSON instead of S3 XML", id="json"
    ),
    pytest.param(
        xml_error(403, "AccessDenied", "Access Denied"), KmsAccessDenied, "Access Denied", id="403"
    ),
    pytest.param(skew(), KmsClockSkewError, "request time", id="skew"),
]


@pytest.mark.parametrize(("fault", "expected", "phrase"), S3_FAULTS)
async def test_bucket_client_maps_each_fault(
    front: MisbehavingServer,
    s3: BucketEncryptionClient,
    fault: Fault,
    expected: type[KmsError],
    phrase: str,
) -> None:
    front.set("GET", f"/{BUCKET}", fault)
    with pytest.raises(KmsError) as caught:
        await s3.get_bucket_encryption(BUCKET)
    assert type(caught.value) is expected
    assert phrase in caught.value.message
    front.heal()
    encryption = await s3.get_bucket_encryption(BUCKET)
    assert encryption is not None and encryption.is_sse_s3


async def test_html_200_is_not_read_as_an_empty_bucket_list(
    front: MisbehavingServer, s3: BucketEncryptionClient
) -> None:
    # botocore alone parses a login page as "no buckets"; that must be an error instead.
    front.set("GET", "/", html())
    with pytest.raises(KmsResponseError, match="HTML page"):
        await s3.list_buckets()


@pytest.mark.parametrize(
    ("err", "hint"),
    [
        (KmsClockSkewError("skewed", status=403), "clocks of this machine and the server differ"),
        (KmsAccessDenied("x", code="SignatureDoesNotMatch"), "secret key does not belong"),
        (KmsAccessDenied("x", code="InvalidAccessKeyId"), "does not know this access key"),
        (KmsAccessDenied("Access Denied", status=403), "access denied: these credentials"),
        (KmsBackendError("oops", status=500), "failed while handling the request (HTTP 500)"),
        (KmsOperationFailed("no"), "the server reported that the operation failed"),
    ],
)
def test_error_text_puts_the_explanation_before_the_servers_words(err: KmsError, hint: str) -> None:
    err.request_id = "RID-1"
    text = error_text(err)
    explanation, _, rest = text.partition(" (server: ")
    assert hint in explanation
    assert rest.startswith(f"{err.message})")
    assert f"(server: {err.message})" in text
    assert text.endswith("(request id RID-1)")


def test_error_text_keeps_plain_messages_plain() -> None:
    err = KmsTimeoutError("GET /kms/status: the server did not answer in time")
    assert error_text(err) == err.message


async def test_buckets_screen_reports_an_html_answer_and_keeps_running(
    kms_server: EmbeddedServer, front: MisbehavingServer, s3: BucketEncryptionClient
) -> None:
    connection = Connection(
        name="faults",
        endpoint=front.url,
        region="us-east-1",
        access_key=kms_server.access_key,
        secret_key=kms_server.secret_key,
        timeout_seconds=1.0,
    )
    app = build_app(connection, Settings(poll_interval_seconds=0.3), clock=fixed_clock)
    notes: list[tuple[str, str]] = []
    original = app.notify

    def notify(message: str, **kwargs: Any) -> None:
        notes.append((kwargs.get("title", ""), str(message)))
        original(message, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_buckets(pilot)
        await wait_until(pilot, lambda: BUCKET in screen.rows, f"{BUCKET} listed")
        front.set("GET", "/", html(title="Maintenance"))
        await pilot.press("r")
        await wait_until(
            pilot,
            lambda: any(t == "list buckets failed" for t, _ in notes),
            "the list buckets failure notified",
        )
        message = next(m for t, m in notes if t == "list buckets failed")
        assert 'an HTML page "Maintenance" instead of S3 XML' in message
        entry = next(e for e in app.context.activity.entries if e.action == "list buckets")
        assert not entry.ok and "HTML page" in entry.message
        assert BUCKET in screen.rows  # what was shown stays
        await pilot.press("2")
        await wait_until(pilot, lambda: app.current_mode == "keys", "the Keys screen")
        assert app.is_running


def test_misbehaving_server_relays_bytes_it_does_not_break(
    front: MisbehavingServer,
) -> None:
    # Unsigned, so the real server behind refuses it: proof the answer is the upstream's own.
    answer = httpx.get(front.url + "/rustfs/admin/v3/kms/service-status", timeout=5)
    assert answer.status_code == 403 and b"<Code>AccessDenied</Code>" in answer.content
    assert front.requests_to("GET", "/kms/service-status")[0].fault == "passthrough"
