"""The fuzz's one judge: which routes the server has, which 5xx it may answer, what is a crash.

Used by ``scripts/fuzz_server.py`` and by every fuzz test in the suite; there is no other list.

Routes come from the server's own tables, read when asked (so a route added there is covered at
once): ``admin_routes.ROUTES`` for the admin API, ``s3_routes._BUCKET_ROUTES`` for the bucket
operations (ListObjectsV2 included), ``s3_routes._OBJECT_ROUTES`` for the object operations,
plus the two routes the dispatchers match in code rather than in a table (describe,
``GET /kms/keys/{key_id}``, in ``handle_admin``; ListBuckets, ``GET /``, in ``s3_routes``).
A request is matched against them the way the server matches it (decoded path, the admin
prefixes) by :func:`target`; an S3 request by the server's own matcher,
``s3_routes.match_route`` (selecting query names, and for a PUT of an object the headers that
make it another operation: ``x-amz-copy-source``, SSE-C, unsupported ``STREAMING-*``), so
CopyObject, multipart uploads and SSE-C PUTs are unrouted and their 501 is documented.

A 5xx passes only when its status, route and body match one documented answer (reference §3, §5,
§6, §9); anything else is an undocumented 5xx. In particular a 501 ``NotImplemented`` is
documented only for a (method, path) the server does not route: a routed handler answering it is
a broken route. A 2xx on a request the tables do not route means the tables here no longer
describe the server ("off the route table"). The catch-all 500 ("We encountered an internal
error"), a traceback or a Python exception name in a body count as crashes; an XML or JSON answer
that does not parse counts as malformed.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import json
import pkgutil
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote
from xml.etree import ElementTree

import kms_tui.embedded
from kms_tui.embedded import admin_routes, s3_routes
from kms_tui.embedded.http import HttpRequest

PREFIXES = ("/rustfs/admin/v3", "/minio/admin/v3")
_ADMIN_ROOTS = ("/rustfs/admin", "/minio/admin")
INTERNAL_ERROR = "We encountered an internal error. Please try again."
NOT_IMPLEMENTED = re.compile(r"<Code>NotImplemented</Code>")
DESCRIBE_PATH = "/kms/keys/{key_id}"
BUCKET_PATH = "/{bucket}"
OBJECT_PATH = "/{bucket}/{key}"
# Routes that are routed but can never answer 2xx on the Local backend (CAPABILITIES_LOCAL).
NEVER_2XX_ON_LOCAL = frozenset({"POST /kms/keys/rotate"})


@dataclass(frozen=True, order=True)
class Route:
    """One (method, path pattern) the server routes to a handler."""

    family: str  # "admin" (path relative to /rustfs/admin/v3) or "s3"
    method: str
    path: str  # "/kms/keys/tag", DESCRIBE_PATH; for S3 "/", BUCKET_PATH or OBJECT_PATH
    subresources: tuple[str, ...] = ()  # S3 only: the query names that select the operation

    @property
    def label(self) -> str:
        """``POST /kms/keys/tag``, ``GET S3 /{bucket}?encryption``."""
        if self.family == "admin":
            return f"{self.method} {self.path}"
        query = "?" + "&".join(self.subresources) if self.subresources else ""
        return f"{self.method} S3 {self.path}{query}"


def routed() -> tuple[Route, ...]:
    """Every route the server has, read from its route tables now."""
    admin = [Route("admin", method, path) for method, path in admin_routes.ROUTES]
    admin.append(Route("admin", "GET", DESCRIBE_PATH))
    s3 = [Route("s3", "GET", "/")] + [
        Route("s3", method, BUCKET_PATH, tuple(sorted(names)))
        for method, names in s3_routes._BUCKET_ROUTES
    ]
    s3 += [
        Route("s3", method, OBJECT_PATH, tuple(sorted(names)))
        for method, names in s3_routes._OBJECT_ROUTES
    ]
    return tuple(admin + s3)


def catalogue() -> tuple[str, ...]:
    """The labels of every route that can answer 2xx on the Local backend."""
    return tuple(r.label for r in routed() if r.label not in NEVER_2XX_ON_LOCAL)


@dataclass(frozen=True)
class Target:
    """What a request addresses: its family, its route (if the server routes it) and path."""

    family: str  # "admin" (under a v3 prefix), "admin-other" (other admin roots), "s3"
    path: str  # decoded; admin-relative for "admin"
    route: Route | None  # None: the server routes this (method, path) nowhere


def target(
    method: str,
    raw_path: str,
    raw_query: str = "",
    headers: Iterable[tuple[str, str]] = (),
) -> Target:
    """Match a request (path as sent, percent-encoded; headers lower-case) to the route tables."""
    method = method.upper()
    path = unquote(raw_path)
    for prefix in PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            relative = path[len(prefix) :]
            raw_relative = raw_path[len(prefix) :] if raw_path.startswith(prefix) else quote(path)
            return Target("admin", relative, _admin_route(method, relative, raw_relative))
    if any(path == root or path.startswith(root + "/") for root in _ADMIN_ROOTS):
        return Target("admin-other", path, None)
    return Target("s3", path, _s3_route(method, path, raw_query, headers))


def _admin_route(method: str, path: str, raw_path: str) -> Route | None:
    if (method, path) in admin_routes.ROUTES:
        return Route("admin", method, path)
    if method == "GET":
        probe = HttpRequest(method, path, raw_path, (), "", (), b"", "")
        if admin_routes._path_key_id(probe) is not None:
            return Route("admin", "GET", DESCRIBE_PATH)
    return None


def _s3_route(
    method: str, path: str, raw_query: str, headers: Iterable[tuple[str, str]]
) -> Route | None:
    names = [name for name, _ in parse_qsl(raw_query, keep_blank_values=True)]
    matched = s3_routes.match_route(method, path, names, headers)
    if matched is None:
        return None
    pattern = {"root": "/", "bucket": BUCKET_PATH, "object": OBJECT_PATH}[matched.scope]
    return Route("s3", matched.method, pattern, tuple(sorted(matched.selectors)))


# ----------------------------------------------------------------------------- documented 5xx

RouteTest = Callable[[str, Route | None], bool]


def _admin(*paths: str) -> RouteTest:
    return lambda m, r: r is not None and r.family == "admin" and r.path in paths


def _admin_under(*prefixes: str) -> RouteTest:
    return lambda m, r: r is not None and r.family == "admin" and r.path.startswith(prefixes)


def _unrouted(m: str, r: Route | None) -> bool:
    return r is None


def _object(*methods: str) -> RouteTest:
    return lambda m, r: r is not None and r.path == OBJECT_PATH and r.method in methods


# (status, what the reference documents, route test, body pattern)
DOCUMENTED_5XX: tuple[tuple[int, str, RouteTest, re.Pattern[str]], ...] = (
    (
        501,
        "a (method, route) the server does not route (multipart, CopyObject): NotImplemented",
        _unrouted,
        NOT_IMPLEMENTED,
    ),
    (
        501,
        "the same on HEAD, which carries no body",
        lambda m, r: m == "HEAD" and r is None,
        re.compile(r"\A\Z"),
    ),
    (
        501,
        "rotate on Local: UnsupportedCapability (E2)",
        _admin("/kms/keys/rotate"),
        re.compile(r"is not supported by KMS backend 'local'"),
    ),
    (
        501,
        "backup or restore with a non-Local backend (E4)",
        _admin_under("/kms/backup", "/kms/restore"),
        re.compile(r"supported only for the local backend"),
    ),
    (
        503,
        "modern key routes, decrypt and backup while not running",
        lambda m, r: _admin_under("/kms/keys")(m, r) or _admin("/kms/decrypt", "/kms/backup")(m, r),
        re.compile(r'"message":"kms service is not running"'),
    ),
    (
        500,
        "status, config, clear-cache while not running",
        _admin("/kms/status", "/kms/config", "/kms/clear-cache"),
        re.compile(r"<Message>KMS service not initialized</Message>"),
    ),
    (
        500,
        "legacy create, describe, list while not running",
        _admin(
            "/kms/create-key",
            "/kms/key/create",
            "/kms/describe-key",
            "/kms/key/status",
            "/kms/list-keys",
        ),  # fmt: skip
        re.compile(r"<Message>kms service is not initialized</Message>"),
    ),
    (
        500,
        "generate-data-key: every failure",
        _admin("/kms/generate-data-key"),
        re.compile(
            r"<Message>(KMS service not initialized|failed to generate data key: .+)<", re.S
        ),
    ),
    (
        500,
        "cancel-deletion: every KMS failure (E2)",
        _admin("/kms/keys/cancel-deletion"),
        re.compile(r'"message":"Failed to cancel key deletion: '),
    ),
    (
        500,
        "legacy describe: every failure",
        _admin("/kms/describe-key", "/kms/key/status"),
        re.compile(r"<Message>failed to describe key: .+</Message>", re.S),
    ),
    (
        500,
        "legacy create: every KMS failure",
        _admin("/kms/create-key", "/kms/key/create"),
        re.compile(r"<Message>failed to create key: .+</Message>", re.S),
    ),
    (
        500,
        "modern create: every KMS failure (E2)",
        _admin("/kms/keys"),
        re.compile(r'"message":"failed to create key: '),
    ),
    (
        500,
        "PutBucketEncryption aws:kms with KMS down or no default key",
        lambda m, r: r is not None and r.label == "PUT S3 /{bucket}?encryption",
        re.compile(r"<Message>KMS (service not initialized|default key not configured)</Message>"),
    ),
    (
        503,
        "PutObject or GetObject of an encrypted object with the KMS stopped or not configured",
        _object("PUT", "GET"),
        re.compile(
            r"<Code>ServiceUnavailable</Code><Message>The service is unavailable\. Please retry\."
        ),
    ),
    (
        500,
        "PutObject under a disabled or pending-deletion key (RustFS's generic InternalError)",
        _object("PUT"),
        re.compile(
            r"<Code>InternalError</Code><Message>We encountered an internal error, please try "
            r"again\.</Message>"
        ),
    ),
    (
        500,
        "GetObject whose KMS key no longer exists or cannot unwrap its data key",
        _object("GET"),
        re.compile(r"<Code>InternalError</Code><Message>The object's (KMS key|data key) "),
    ),
)


def documented_5xx(
    method: str,
    raw_path: str,
    raw_query: str,
    status: int,
    text: str,
    headers: Iterable[tuple[str, str]] = (),
) -> str | None:
    """Which documented answer this 5xx is, or None when the reference has no such answer."""
    route = target(method, raw_path, raw_query, headers).route
    for allowed, why, route_test, pattern in DOCUMENTED_5XX:
        if status == allowed and route_test(method.upper(), route) and pattern.search(text):
            return why
    return None


def off_table(
    method: str,
    raw_path: str,
    raw_query: str,
    status: int,
    headers: Iterable[tuple[str, str]] = (),
) -> bool:
    """A 2xx on a request no table routes: the tables here no longer describe the server."""
    return 200 <= status < 300 and target(method, raw_path, raw_query, headers).route is None


# ----------------------------------------------------------------------------- crashes, shape


def _exception_names() -> list[str]:
    """Every builtin exception name and every exception class the server package defines."""
    names = {
        name
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, BaseException) and name != "Warning"
    }
    for module_info in pkgutil.iter_modules(kms_tui.embedded.__path__):
        module = importlib.import_module(f"kms_tui.embedded.{module_info.name}")
        names.update(
            name
            for name, value in inspect.getmembers(module, inspect.isclass)
            if issubclass(value, BaseException)
        )
    return sorted(names | {"JSONDecodeError", "ParseError", "InvalidTag", "InvalidToken"})


LEAK = re.compile(r"\b(" + "|".join(map(re.escape, _exception_names())) + r")\b")


def crash(text: str, sent: str) -> str | None:
    """Why a body shows a crash (catch-all 500, traceback, exception name not echoed), or None."""
    if INTERNAL_ERROR in text or "Traceback" in text:
        return "catch-all or traceback"
    leak = LEAK.search(text)
    if leak and leak.group(1).lower() not in sent.lower():
        return f"Python exception name {leak.group(1)!r}"
    return None


def _not_json(token: str) -> None:
    raise ValueError(f"{token} is not JSON")


def malformed(content_type: str | None, body: bytes) -> str | None:
    """Why an answer is not well-formed in its own family (XML, JSON), or None."""
    kind = (content_type or "").split(";")[0].strip()
    if kind == "application/xml" and body:
        try:
            ElementTree.fromstring(body)
        except ElementTree.ParseError as err:
            return f"XML that does not parse ({err})"
    if kind == "application/json" or (kind == "" and body.startswith(b"{")):
        try:
            json.loads(body.decode("utf-8"), parse_constant=_not_json)
        except ValueError as err:
            return f"JSON that does not parse ({err})"
    return None
