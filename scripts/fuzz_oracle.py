"""The fuzz's judge: which 5xx answers the RustFS reference documents, and what is a crash.

A 5xx passes only when its status, route and body match one documented answer (reference §3, §5,
§6, §9); anything else is an undocumented 5xx. The catch-all 500 ("We encountered an internal
error"), a traceback or a Python exception name in a body count as crashes; an XML or JSON
answer that does not parse counts as malformed.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Callable
from xml.etree import ElementTree

from kms_tui.embedded.admin_routes import ROUTES

PREFIXES = ("/rustfs/admin/v3", "/minio/admin/v3")
INTERNAL_ERROR = "We encountered an internal error. Please try again."


# (status, what the reference documents, route test, body pattern); route is admin-relative
# (e.g. "/kms/keys") or the S3 path.
DOCUMENTED_5XX: tuple[tuple[int, str, Callable[[str, str], bool], re.Pattern[str]], ...] = (
    (
        501,
        "unknown route or method, unsupported S3 feature: XML NotImplemented",
        lambda m, r: True,
        re.compile(r"<Code>NotImplemented</Code>"),
    ),
    (501, "the same on HEAD, which carries no body", lambda m, r: m == "HEAD", re.compile(r"\A\Z")),
    (
        501,
        "rotate on Local: UnsupportedCapability (E2)",
        lambda m, r: r == "/kms/keys/rotate",
        re.compile(r"is not supported by KMS backend 'local'"),
    ),
    (
        501,
        "backup or restore with a non-Local backend (E4)",
        lambda m, r: r.startswith(("/kms/backup", "/kms/restore")),
        re.compile(r"supported only for the local backend"),
    ),
    (
        503,
        "modern key routes, decrypt and backup while not running",
        lambda m, r: r.startswith("/kms/keys") or r in ("/kms/decrypt", "/kms/backup"),
        re.compile(r'"message":"kms service is not running"'),
    ),
    (
        500,
        "status, config, clear-cache while not running",
        lambda m, r: r in ("/kms/status", "/kms/config", "/kms/clear-cache"),
        re.compile(r"<Message>KMS service not initialized</Message>"),
    ),
    (
        500,
        "legacy create, describe, list while not running",
        lambda m, r: (
            r
            in (
                "/kms/create-key",
                "/kms/key/create",
                "/kms/describe-key",
                "/kms/key/status",
                "/kms/list-keys",
            )
        ),
        re.compile(r"<Message>kms service is not initialized</Message>"),
    ),
    (
        500,
        "generate-data-key: every failure",
        lambda m, r: r == "/kms/generate-data-key",
        re.compile(
            r"<Message>(KMS service not initialized|failed to generate data key: .+)<", re.S
        ),
    ),
    (
        500,
        "cancel-deletion: every KMS failure (E2)",
        lambda m, r: r == "/kms/keys/cancel-deletion",
        re.compile(r'"message":"Failed to cancel key deletion: '),
    ),
    (
        500,
        "legacy describe: every failure",
        lambda m, r: r in ("/kms/describe-key", "/kms/key/status"),
        re.compile(r"<Message>failed to describe key: .+</Message>", re.S),
    ),
    (
        500,
        "legacy create: every KMS failure",
        lambda m, r: r in ("/kms/create-key", "/kms/key/create"),
        re.compile(r"<Message>failed to create key: .+</Message>", re.S),
    ),
    (
        500,
        "modern create: every KMS failure (E2)",
        lambda m, r: r == "/kms/keys",
        re.compile(r'"message":"failed to create key: '),
    ),
    (
        500,
        "PutBucketEncryption aws:kms with KMS down or no default key",
        lambda m, r: m == "PUT" and not r.startswith("/kms/"),
        re.compile(r"<Message>KMS (service not initialized|default key not configured)</Message>"),
    ),
)

_EXCEPTION_NAMES = sorted(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException) and name != "Warning"
) + ["KeyStoreError", "KmsOpError", "BodyError", "EnvelopeError", "SigV4Error", "InvalidTag"]
LEAK = re.compile(r"\b(" + "|".join(map(re.escape, _EXCEPTION_NAMES)) + r")\b")


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


def admin_route(path: str) -> str:
    """The route as the reference names it: admin-relative, or the S3 path itself."""
    for prefix in PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return path


def route_label(method: str, path: str, query: str) -> str:
    """``METHOD /route`` as the catalogue names it (describe and the S3 operations folded)."""
    route = admin_route(path)
    if route.startswith("/kms/keys/") and (method, route) not in ROUTES:
        route = "/kms/keys/{key_id}"
    elif not route.startswith("/kms/"):
        route = "S3 /{bucket}" + ("?encryption" if "encryption" in query else "")
        route = "S3 /" if path == "/" else route
    return f"{method} {route}"


def documented_5xx(method: str, route: str, status: int, text: str) -> str | None:
    """Which documented answer this 5xx is, or None when the reference has no such answer."""
    for allowed, why, route_test, pattern in DOCUMENTED_5XX:
        if status == allowed and route_test(method, route) and pattern.search(text):
            return why
    return None


# Every route that can answer 2xx (rotate cannot on Local: 501 UnsupportedCapability).
CATALOGUE = sorted(
    [f"{method} {route}" for method, route in ROUTES if route != "/kms/keys/rotate"]
    + ["GET /kms/keys/{key_id}", "GET S3 /"]
    + [f"{m} S3 /{{bucket}}" for m in ("PUT", "HEAD", "DELETE")]
    + [f"{m} S3 /{{bucket}}?encryption" for m in ("GET", "PUT", "DELETE")]
)
