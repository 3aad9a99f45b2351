"""The bounded route fuzz (``scripts/fuzz_server.py``) at a thousand requests, and its oracle.

The full run (10,000 requests and more) is reported in the closing note; this keeps a smaller,
seeded run in the suite: no 5xx the reference does not document, no crash, no correctly signed
request refused, no answer that does not parse, and most of the catalogue answered 2xx at least
once. Two more tests make sure
the harness can fail: a handler that raises is reported as a crash and an undocumented 5xx.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kms_tui.embedded.http import HttpRequest, HttpResponse
from scripts import fuzz_server
from scripts.fuzz_oracle import CATALOGUE, documented_5xx
from scripts.fuzz_server import run_fuzz

pytestmark = pytest.mark.slow


def test_a_thousand_fuzzed_requests_give_no_undocumented_5xx_and_no_crash(
    tmp_path: Path,
) -> None:
    """1,000 signed requests, a tenth of them over a loopback socket."""
    report = run_fuzz(1000, seed_value=7, socket_share=0.1, workdir=tmp_path)
    summary = report.render()
    assert report.sent == 1000, summary
    assert not report.undocumented_5xx, summary
    assert not report.crashes, summary
    assert report.log_tracebacks == 0, summary
    assert not report.signature_refused, summary
    assert not report.malformed, summary
    assert 0 < report.over_socket < report.sent, summary
    assert sum(n for status, n in report.statuses.items() if 200 <= status < 300) > 150, summary
    reached = [route for route in CATALOGUE if report.succeeded_routes[route]]
    assert len(reached) >= len(CATALOGUE) * 2 // 3, summary


def test_a_raising_handler_is_reported_as_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The oracle is not blind: an exception in a handler shows up in every column it should."""
    real_handler = fuzz_server.handle_admin

    def handler_failing_on_get(service: Any, request: HttpRequest) -> HttpResponse | None:
        if request.method == "GET":
            raise RuntimeError("planted failure")
        return real_handler(service, request)

    monkeypatch.setattr(fuzz_server, "handle_admin", handler_failing_on_get)
    report = run_fuzz(120, seed_value=3, socket_share=0.0, workdir=tmp_path)
    assert report.undocumented_5xx, report.render()
    assert any("catch-all" in crash for crash in report.crashes), report.render()
    assert any("logged with a traceback" in crash for crash in report.crashes), report.render()


@pytest.mark.parametrize(
    ("method", "route", "status", "body", "documented"),
    [
        ("POST", "/kms/keys/tag", 501, "<Code>NotImplemented</Code>", True),
        ("GET", "/kms/status", 500, "<Message>KMS service not initialized</Message>", True),
        (
            "POST",
            "/kms/keys/cancel-deletion",
            500,
            '{"success":false,"message":"Failed to cancel key deletion: Key not found: k"}',
            True,
        ),
        (
            "POST",
            "/kms/keys/tag",
            500,
            '{"success":false,"message":"Failed to tag key: Backend error: x"}',
            False,
        ),
        ("GET", "/kms/keys", 500, "<Message>We encountered an internal error.</Message>", False),
        ("GET", "/kms/status", 503, '"message":"kms service is not running"', False),
        ("PUT", "/fz-bucket", 500, "<Message>cannot store the bucket change</Message>", False),
    ],
)
def test_only_the_5xx_the_reference_documents_pass_the_oracle(
    method: str, route: str, status: int, body: str, documented: bool
) -> None:
    assert (documented_5xx(method, route, status, body) is not None) == documented
