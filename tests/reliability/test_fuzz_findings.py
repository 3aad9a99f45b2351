"""Regression tests for what the route fuzz found, each as the smallest request that showed it.

* A lone UTF-16 surrogate escape (``"\\ud800"``) in a JSON body parsed in Python but could not be
  written back: any answer echoing it (``Key not found: \\ud800``) died as a generic 500. The real
  server (serde_json) refuses such a body while parsing; now so do we, with serde's words.
* An integer of more than 4,300 digits raised Python's digit-limit ValueError out of the parser
  (a generic 500); serde_json answers "number out of range". ``NaN`` / ``Infinity`` / ``1e999``,
  which serde_json refuses too, are refused the same way.
* A correctly signed query holding a percent escape that is not UTF-8 was refused with 403: the
  verifier decoded it to text (U+FFFD) before re-encoding it for the canonical request.
* An XML error echoing a key id with a control character (``\x0b``) was not well-formed XML, so
  an SDK (botocore parses errors with ElementTree) could not read it.
* Request paths went into the server log verbatim, so ``%0A`` could forge a log line.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from kms_tui.embedded.config import parse_configure_body
from kms_tui.embedded.http import json_response, text_response, xml_error
from tests.fakes.embedded import InProcessServer, local_config, signed_http

ADMIN = "/rustfs/admin/v3"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A signed client talking in-process to a Running server holding key ``k``."""
    server = InProcessServer.build(tmp_path / "data")
    body = json.dumps(local_config(tmp_path / "keys").to_wire()).encode()
    assert server.service.configure(parse_configure_body(body)).success
    assert server.service.start().success
    server.service.keys.create_key(None, {"name": "k"})
    try:
        async with signed_http("http://127.0.0.1", transport=server.transport()) as client:
            yield client
    finally:
        server.close()


@pytest.mark.parametrize(
    ("method", "route", "body", "message"),
    [
        (
            "POST",
            "/kms/keys/tag",
            rb'{"key_id": "\ud800", "tags": {"a": "b"}}',
            "invalid JSON: unexpected end of hex escape at line 1 column 19",
        ),
        (
            "POST",
            "/kms/keys",
            rb'{"description": "\udfff"}',
            "invalid JSON: lone leading surrogate in hex escape at line 1 column 23",
        ),
        (
            "POST",
            "/kms/keys",
            rb'{"tags": {"name": "\ud800\u0041"}}',
            "invalid JSON: lone leading surrogate in hex escape at line 1 column 31",
        ),
        (
            "POST",
            "/kms/generate-data-key",
            rb'{"key_id": "k", "key_spec": "Aes256", '
            rb'"encryption_context": {"\udbff": "x"}}',
            "invalid JSON: unexpected end of hex escape at line 1 column 69",
        ),
        (
            "DELETE",
            "/kms/keys/delete",
            rb'{"key_id": "\ud800"}',
            "invalid JSON: unexpected end of hex escape at line 1 column 19",
        ),
        (
            "DELETE",
            "/kms/keys/delete",
            b'{"key_id": "k", "pending_window_in_days": ' + b"7" * 5000 + b"}",
            "invalid JSON: number out of range at line 1 column 5042",
        ),
        (
            "DELETE",
            "/kms/keys/delete",
            b'{"key_id": "k", "pending_window_in_days": NaN}',
            "invalid JSON: expected value at line 1 column 43",
        ),
        (
            "DELETE",
            "/kms/keys/delete",
            b'{"key_id": "k", "pending_window_in_days": 1e999}',
            "invalid JSON: number out of range at line 1 column 43",
        ),
    ],
)
async def test_bodies_serde_refuses_are_a_400_not_a_500(
    http: httpx.AsyncClient, method: str, route: str, body: bytes, message: str
) -> None:
    answer = await http.request(method, ADMIN + route, content=body)
    assert answer.status_code == 400, answer.text
    assert f"<Message>{message}</Message>" in answer.text
    key = await http.get(ADMIN + "/kms/keys/k")
    assert key.json()["key_metadata"]["key_state"] == "Enabled"  # nothing was applied


async def test_configure_with_a_lone_surrogate_is_a_plain_text_400(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.post(ADMIN + "/kms/configure", content=rb'{"backend_type": "\ud800"}')
    assert answer.status_code == 400
    assert answer.text == "Invalid JSON: unexpected end of hex escape at line 1 column 25"


async def test_a_paired_surrogate_escape_is_an_ordinary_character(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.post(
        ADMIN + "/kms/keys/tag",
        content=rb'{"key_id": "k", '
        rb'"tags": {"emoji": "\ud83d\udd11"}}',
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["key_metadata"]["tags"]["emoji"] == "\U0001f511"


async def test_a_signed_query_with_a_non_utf8_escape_passes_the_signature_check(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.get(ADMIN + "/kms/keys?marker=%ED%A0%80&x=%FF")
    assert answer.status_code == 200, answer.text
    assert answer.json()["keys"] == []  # U+FFFD sorts after "k"


def test_answers_never_fail_to_render_unencodable_text() -> None:
    """Defence in depth: a surrogate that reaches a message is escaped, not a crash."""
    assert json_response(404, {"message": "Key not found: \ud800"}).body == (
        b'{"message":"Key not found: \\ud800"}'
    )
    assert b"<Message>x\\ud800</Message>" in xml_error(500, "InternalError", "x\ud800", "R").body
    assert text_response(400, "bad \udfff").body == b"bad ?"


async def test_xml_errors_echoing_control_characters_stay_well_formed(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.get(ADMIN + "/kms/describe-key", params={"keyId": "k\x0b\x1d\n!"})
    assert answer.status_code == 500  # legacy describe: every failure is a 500, as in RustFS
    message = ElementTree.fromstring(answer.content).findtext("Message")
    assert message == "failed to describe key: Key not found: k\\x0b\\x1d\n!"


async def test_request_paths_cannot_forge_server_log_lines(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="kms_tui.embedded.server"):
        await http.get(ADMIN + "/kms/keys/k%0AGET%20/forged%20-%3E%20200")
    lines = [record.getMessage() for record in caplog.records if "forged" in record.getMessage()]
    assert lines and all("\n" not in line for line in lines), lines
    assert "/kms/keys/k\\nGET /forged -> 200 -> 501" in lines[0]  # one line, newline escaped
