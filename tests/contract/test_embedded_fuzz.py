"""Property fuzz of every admin and S3 route of the embedded server with signed garbage.

Bodies (random bytes, truncated JSON, wrong types, unknown fields, huge numbers, deep nesting,
non-UTF-8), query strings (random and repeated parameters, percent-garbage) and headers (odd
content types, duplicate headers) go to every route of the catalogue, both admin prefixes, in
each service state. Every request is correctly signed so it reaches the handlers. No answer may
be a 5xx other than the documented ones in ``ALLOWED_5XX``, and no body may leak a traceback or
a Python exception class name.
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kms_tui.embedded.admin_bodies
import kms_tui.embedded.backup
import kms_tui.embedded.buckets
import kms_tui.embedded.config
import kms_tui.embedded.envelope
import kms_tui.embedded.keystore
import kms_tui.embedded.server
import kms_tui.embedded.service
import kms_tui.embedded.sigv4
from kms_tui.embedded.admin_routes import ROUTES
from tests.fakes.embedded import (
    MASTER_KEY,
    InProcessServer,
    local_config,
    running_server,
    signed_http,
)

pytestmark = pytest.mark.slow

PREFIXES = ("/rustfs/admin/v3", "/minio/admin/v3")
DESCRIBE_IDS = ("fuzz-key", "absent", "a%2Fb", "%ZZ", "..", "%00", "k%20y")
ADMIN_ROUTES: tuple[tuple[str, str], ...] = tuple(sorted(ROUTES)) + tuple(
    ("GET", f"/kms/keys/{key_id}") for key_id in DESCRIBE_IDS
)
BUCKETS = ("fuzz-bucket", "other-bucket", "no-such-bucket", "Bad_Name", "a", "x" * 70)
S3_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/", ""),
    *((m, f"/{b}", "") for b in BUCKETS for m in ("PUT", "HEAD", "DELETE")),
    *((m, f"/{b}", "encryption") for b in BUCKETS for m in ("GET", "PUT", "DELETE")),
)
FIELD_NAMES = (
    "key_id", "key_spec", "encryption_context", "description", "tags", "tag_keys", "key_usage",
    "pending_window_in_days", "force_immediate", "confirm_key_id", "force", "backend_type",
    "key_dir", "master_key", "file_permissions", "default_key_id", "timeout_seconds",
    "retry_attempts", "enable_cache", "max_cached_keys", "cache_ttl_seconds",
    "allow_insecure_dev_defaults", "address", "auth_method", "region", "ciphertext_blob",
    "backup_id", "bundle", "observed_generation", "confirm_backup_id", "confirm_conflict_policy",
    "confirm_target_key_dir", "KeyUsage", "name",
)  # fmt: skip
ENUM_WORDS = (
    "Local", "local", "VaultKV2", "vault-transit", "Static", "AWS", "Aes256", "Aes128",
    "ChaCha20", "AES_256", "EncryptDecrypt", "ENCRYPT_DECRYPT", "SignVerify", "fail",
    "restore-into-empty-target", "Token", "fuzz-key", "", "name", ".", "..", "a/b",
)  # fmt: skip
QUERY_NAMES = (
    "keyId", "key-id", "key", "limit", "marker", "status", "usage", "impact", "force_immediate",
    "confirm_key_id", "pending_window_in_days", "encryption", "x-id", "",
)  # fmt: skip
CONTENT_TYPES = (
    None, "application/json", "application/xml", "text/plain", "",
    "application/json; charset=utf-16",
    "multipart/form-data; boundary=", "application/x-www-form-urlencoded", "*/*", ";;;", "a/b/c",
)  # fmt: skip
NUMBER_WORDS = ("0", "1000", "5000", "-1", "abc", "true", "TRUE", "99999999999")
GARBAGE_QUERY = ("%", "%zz", "%ff", "%E2%82", "a+b", "&&", "", "a!b", "x:y", "[", "%2f")

# The documented 5xx answers (reference §5, §6, §9): (status, route test, body pattern).
ALLOWED_5XX: tuple[tuple[int, str, Callable[[str, str], bool], re.Pattern[str]], ...] = (
    (501, "any route: unknown method/path or S3 feature, S3 XML NotImplemented",
     lambda m, p: True, re.compile(r"<Code>NotImplemented</Code>")),
    (501, "HEAD on an unsupported S3 feature: NotImplemented, without a body as HEAD has none",
     lambda m, p: m == "HEAD", re.compile(r"\A\Z")),
    (501, "rotate on Local: UnsupportedCapability E2",
     lambda m, p: p == "/kms/keys/rotate", re.compile(r"is not supported by KMS backend 'local'")),
    (503, "modern key routes, decrypt and backup while not running",
     lambda m, p: p.startswith("/kms/keys") or p in ("/kms/decrypt", "/kms/backup"),
     re.compile(r'"message":"kms service is not running"')),
    (500, "status, config, clear-cache while not running: XML 'KMS service not initialized'",
     lambda m, p: p in ("/kms/status", "/kms/config", "/kms/clear-cache"),
     re.compile(r"<Code>InternalError</Code><Message>KMS service not initialized</Message>")),
    (500, "legacy create/describe/list while not running: XML 'kms service is not initialized'",
     lambda m, p: p in ("/kms/create-key", "/kms/key/create", "/kms/describe-key",
                        "/kms/key/status", "/kms/list-keys"),
     re.compile(r"<Code>InternalError</Code><Message>kms service is not initialized</Message>")),
    (500, "generate-data-key: every failure is XML InternalError",
     lambda m, p: p == "/kms/generate-data-key",
     re.compile(r"<Message>(KMS service not initialized|failed to generate data key: .+)<")),
    (500, "cancel-deletion: every KMS error is a 500 E2 envelope",
     lambda m, p: p == "/kms/keys/cancel-deletion",
     re.compile(r'"message":"Failed to cancel key deletion: ')),
    (500, "legacy describe: every failure is XML 'failed to describe key'",
     lambda m, p: p in ("/kms/describe-key", "/kms/key/status"),
     re.compile(r"<Message>failed to describe key: .+</Message>")),
    (500, "legacy create: XML 'failed to create key' (e.g. an invalid name tag)",
     lambda m, p: p in ("/kms/create-key", "/kms/key/create"),
     re.compile(r"<Message>failed to create key: .+</Message>")),
    (500, "modern create: any KMS failure is a 500 E2 'failed to create key'",
     lambda m, p: p == "/kms/keys",
     re.compile(r'"message":"failed to create key: ')),
    (500, "S3 PutBucketEncryption aws:kms while KMS is down or has no default key",
     lambda m, p: m == "PUT" and not p.startswith("/kms/"),
     re.compile(r"<Message>KMS (service not initialized|default key not configured)</Message>")),
)  # fmt: skip


def _python_exception_names() -> frozenset[str]:
    """Every builtin exception name plus every exception class the server package defines."""
    names = {
        name
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    for module in (
        kms_tui.embedded.admin_bodies,
        kms_tui.embedded.backup,
        kms_tui.embedded.buckets,
        kms_tui.embedded.config,
        kms_tui.embedded.envelope,
        kms_tui.embedded.keystore,
        kms_tui.embedded.server,
        kms_tui.embedded.service,
        kms_tui.embedded.sigv4,
    ):
        for name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException):
                names.add(name)
    names.update({"JSONDecodeError", "ParseError", "InvalidTag", "InvalidToken"})
    return frozenset(names)


EXCEPTION_NAMES = _python_exception_names()
LEAK = re.compile(r"\b(" + "|".join(sorted(map(re.escape, EXCEPTION_NAMES))) + r")\b")


@dataclass(frozen=True)
class FuzzRequest:
    """One request to send: method, path, raw query, headers (duplicates kept), body, state."""

    state: str
    method: str
    path: str
    route: str  # path relative to the admin v3 root, or the S3 path
    query: str
    canonical_query: bool
    headers: tuple[tuple[str, str], ...]
    body: bytes


# ---------------------------------------------------------------------------- strategies

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**32, 2**64, -1, 0, 7, 30, 31, 10**400]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(ENUM_WORDS),
    st.text(max_size=12),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=6)), inner,
                        max_size=3),
    ),
    max_leaves=8,
)  # fmt: skip
json_object = st.dictionaries(
    st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)), json_value, max_size=6
)


def _dump(value: Any) -> bytes:
    try:
        return json.dumps(value).encode()
    except ValueError:  # 10**400 as a float etc.
        return b"{}"


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A malformed or odd body of one of the families the brief lists."""
    kind = draw(st.sampled_from(
        ["empty", "bytes", "object", "truncated", "value", "deep", "non_utf8", "huge", "xml"]
    ))  # fmt: skip
    if kind == "empty":
        return draw(st.sampled_from([b"", b" ", b"\n", b"{}", b"null", b"[]"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "object":
        return _dump(draw(json_object))
    if kind == "truncated":
        whole = _dump(draw(json_object))
        return whole[: draw(st.integers(min_value=0, max_value=max(len(whole) - 1, 0)))]
    if kind == "value":
        return _dump(draw(json_value))
    if kind == "deep":
        depth = draw(st.integers(min_value=50, max_value=20000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return (opener * depth + "1" + closer * depth).encode()
    if kind == "non_utf8":
        junk = draw(st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]))
        field = draw(st.sampled_from(FIELD_NAMES)).encode()
        return b'{"' + field + b'": "' + junk + b'"}'
    if kind == "huge":
        field = draw(st.sampled_from(FIELD_NAMES))
        digits = draw(st.sampled_from(["1" * 400, "9" * 30, "-" + "9" * 30, "1e999", "1.5e308"]))
        return f'{{"{field}": {digits}}}'.encode()
    root = draw(st.sampled_from(["ServerSideEncryptionConfiguration", "CreateBucketConfiguration"]))
    algorithm = draw(st.sampled_from(["AES256", "aws:kms", "bogus", ""]))
    key = draw(st.sampled_from(["", "<KMSMasterKeyID>fuzz-key</KMSMasterKeyID>",
                                "<KMSMasterKeyID>absent</KMSMasterKeyID>"]))  # fmt: skip
    xml = (
        f"<{root}><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>{algorithm}"
        f"</SSEAlgorithm>{key}</ApplyServerSideEncryptionByDefault></Rule></{root}>"
    ).encode()
    return xml[: draw(st.integers(min_value=1, max_value=len(xml)))]


_query_text = st.text(max_size=10)


@st.composite
def queries(draw: st.DrawFn) -> tuple[str, bool]:
    """(raw query, canonical?): known and random names, repeats, blank values, percent-garbage.

    A canonical query is percent-encoded the way a SigV4 signer expects (botocore signs the raw
    query as given) and must pass auth; one in five queries carries garbage (``%zz``, ``&&``,
    raw reserved characters, ``+``), where the signature layer may refuse it first.
    """
    garbage = draw(st.integers(min_value=0, max_value=4)) == 0

    def part(text: str) -> str:
        if garbage and draw(st.booleans()):
            return draw(st.sampled_from(GARBAGE_QUERY))
        return quote(text, safe="-_.~")

    pairs = draw(
        st.lists(
            st.tuples(
                st.one_of(st.sampled_from(QUERY_NAMES), _query_text),
                st.one_of(
                    st.none(),
                    st.sampled_from(ENUM_WORDS),
                    st.sampled_from(NUMBER_WORDS),
                    _query_text,
                ),
            ),
            max_size=5,
        )
    )  # fmt: skip
    rendered = [
        part(name) if value is None else f"{part(name)}={part(value)}" for name, value in pairs
    ]
    if not garbage:
        rendered = [item for item in rendered if item]  # an empty segment is not canonical
    if rendered and draw(st.booleans()):
        rendered.append(rendered[0])  # a repeated parameter
    return "&".join(rendered), not garbage


_header_value = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20
).map(str.strip)


@st.composite
def header_sets(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    """An odd Content-Type and duplicated unsigned headers (signed ones are signed once)."""
    headers: list[tuple[str, str]] = []
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type is not None:
        headers.append(("content-type", content_type))
    for name in draw(st.lists(st.sampled_from(["accept", "x-fuzz", "user-agent"]), max_size=3)):
        headers.append((name, draw(_header_value)))
        headers.append((name, draw(_header_value)))
    return tuple(headers)


@st.composite
def fuzz_requests(draw: st.DrawFn) -> FuzzRequest:
    """One signed request to one route of the catalogue or the S3 subset."""
    state = draw(st.sampled_from(["NotConfigured", "Configured", "Running"]))
    if draw(st.integers(min_value=0, max_value=9)) < 8:
        method, route = draw(st.sampled_from(ADMIN_ROUTES))
        if draw(st.integers(min_value=0, max_value=19)) == 0:
            method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
        path = draw(st.sampled_from(PREFIXES)) + route
        query, canonical = draw(queries())
    else:
        method, route, sub = draw(st.sampled_from(S3_ROUTES))
        path = route
        extra, canonical = draw(queries())
        query = "&".join(part for part in (sub, extra) if part)
    return FuzzRequest(
        state, method, path, route, query, canonical, draw(header_sets()), draw(bodies())
    )


# ---------------------------------------------------------------------------- the harness


class StatefulServers:
    """Three in-process apps kept in NotConfigured, Configured and Running between examples."""

    def __init__(self, base: Path) -> None:
        self._base = base
        self._generation = 0
        self.servers = {state: self._fresh(state) for state in ("NotConfigured", "Configured")}
        self.servers["Running"] = self._fresh("Running")
        self.current = "Running"

    def _key_dir(self, state: str) -> Path:
        return self._base / f"keys-{state}"

    def _fresh(self, state: str) -> InProcessServer:
        self._generation += 1
        server = InProcessServer.build(self._base / f"data-{state}-{self._generation}")
        if state != "NotConfigured":
            config = parse_local(self._key_dir(state))
            assert server.service.configure(config).success
        if state == "Running":
            assert server.service.start().success
            server.service.create_key("fuzz key", {"name": "fuzz-key"})
            assert server.buckets is not None
            server.buckets.create("fuzz-bucket")
        return server

    def ensure(self, state: str) -> InProcessServer:
        """Route to the app for ``state``, back in that state if the last example moved it."""
        self.current = state
        server = self.servers[state]
        status = server.service.status_json()
        if status == state:
            return server
        if state == "Running" and server.service.config is not None:
            assert server.service.start().success
            return server
        if state == "Configured" and server.service.config is not None:
            server.service.stop()
            return server
        server.close()
        self.servers[state] = self._fresh(state)
        return self.servers[state]

    def close(self) -> None:
        for server in self.servers.values():
            server.close()


class _RoutedTransport(httpx.AsyncBaseTransport):
    """Send each request in-process to the app of the state the current example asked for."""

    def __init__(self, servers: StatefulServers) -> None:
        self._servers = servers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        app = self._servers.servers[self._servers.current]
        return await app.transport().handle_async_request(request)


def parse_local(key_dir: Path) -> Any:
    """The embedded service's own config object for a Local backend under tmp."""
    from kms_tui.embedded.config import parse_configure_body

    body = json.dumps(local_config(key_dir).to_wire()).encode()
    return parse_configure_body(body)


def _safe_body(request: FuzzRequest, key_dir: Path) -> bytes:
    """Never let a fuzzed configure point the (root-run) server at a real directory."""
    if request.route not in ("/kms/configure", "/kms/reconfigure"):
        return request.body
    try:
        document = json.loads(request.body)
    except (ValueError, RecursionError):
        return request.body
    if isinstance(document, dict) and isinstance(document.get("key_dir"), str):
        document["key_dir"] = str(key_dir)
        if "master_key" in document:
            document["master_key"] = MASTER_KEY
        return json.dumps(document).encode()
    return request.body


def violation(request: FuzzRequest, response: httpx.Response) -> str | None:
    """Why this answer breaks the contract, or None."""
    text = response.content.decode("utf-8", errors="replace")
    if "Traceback" in text:
        return "traceback in body"
    leak = LEAK.search(text)
    if leak:
        return f"Python exception name {leak.group(1)!r} in body"
    status = response.status_code
    if status < 500:
        return None
    for allowed_status, _why, route_test, pattern in ALLOWED_5XX:
        if (
            status == allowed_status
            and route_test(request.method, request.route)
            and (pattern.search(text))
        ):
            return None
    return f"undocumented HTTP {status}"


async def _send(client: httpx.AsyncClient, request: FuzzRequest, body: bytes) -> httpx.Response:
    url = request.path + ("?" + request.query if request.query else "")
    built = client.build_request(request.method, url, content=body, headers=list(request.headers))
    return await client.send(built)


@dataclass
class Tally:
    """What the fuzz saw, reported in assertion messages."""

    statuses: Counter[int]
    failures: list[str]
    auth_failures: int = 0
    garbage_refused: int = 0
    examples: int = 0

    def summary(self) -> str:
        return (
            f"{self.examples} examples, statuses {dict(sorted(self.statuses.items()))}, "
            f"{self.auth_failures} auth failures on canonical queries, {self.garbage_refused} "
            f"percent-garbage queries refused by SigV4, {len(self.failures)} violations"
        )


def run_fuzz(
    runner: asyncio.Runner,
    client: httpx.AsyncClient,
    servers: StatefulServers | None,
    key_dir: Path,
    max_examples: int,
) -> Tally:
    """Drive ``max_examples`` hypothesis examples through ``client`` and tally the answers."""
    tally = Tally(Counter(), [])

    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(fuzz_requests())
    def one(request: FuzzRequest) -> None:
        if servers is not None:
            servers.ensure(request.state)
        body = _safe_body(request, key_dir)
        response = runner.run(_send(client, request, body))
        tally.examples += 1
        tally.statuses[response.status_code] += 1
        if response.status_code == 403 and b"SignatureDoesNotMatch" in response.content:
            if request.canonical_query:
                tally.auth_failures += 1
                tally.failures.append(
                    f"signature refused: {request.method} {request.path}?"
                    f"{request.query} headers={request.headers}"
                )
            else:
                tally.garbage_refused += 1
        problem = violation(request, response)
        if problem is not None:
            tally.failures.append(
                f"{problem}: {request.method} {request.path}?{request.query} "
                f"[{request.state}] body={body[:80]!r} -> {response.content[:200]!r}"
            )

    one()
    return tally


@pytest.fixture
def stateful(tmp_path: Path) -> Iterator[StatefulServers]:
    """Three in-process apps, one per service state."""
    servers = StatefulServers(tmp_path)
    try:
        yield servers
    finally:
        servers.close()


def test_fuzz_every_route_in_process(stateful: StatefulServers, tmp_path: Path) -> None:
    """About 2,500 signed malformed requests through httpx.ASGITransport, in all three states."""
    with asyncio.Runner() as runner:
        client = signed_http("http://127.0.0.1", transport=_RoutedTransport(stateful))
        try:
            tally = run_fuzz(runner, client, stateful, tmp_path / "keys-fuzz", 2500)
        finally:
            runner.run(client.aclose())
    assert tally.examples == 2500, tally.summary()
    assert not tally.failures, tally.summary() + "\n" + "\n".join(tally.failures[:20])
    assert tally.auth_failures == 0, tally.summary()
    assert sum(n for status, n in tally.statuses.items() if status < 300) > 100, tally.summary()


def test_fuzz_every_route_over_the_socket(tmp_path: Path) -> None:
    """A smaller run over a real EmbeddedServer on 127.0.0.1 (Running state)."""
    key_dir = tmp_path / "keys"
    with running_server(tmp_path / "data") as server, asyncio.Runner() as runner:
        service = server.service
        assert service.configure(parse_local(key_dir)).success
        assert service.start().success
        service.create_key("fuzz key", {"name": "fuzz-key"})
        client = signed_http(server.endpoint)
        try:
            tally = run_fuzz(runner, client, None, key_dir, 300)
        finally:
            runner.run(client.aclose())
    assert tally.examples == 300, tally.summary()
    assert not tally.failures, tally.summary() + "\n" + "\n".join(tally.failures[:20])
    assert tally.auth_failures == 0, tally.summary()
