"""Which IAM action (and which key, bucket or object) each route of the server asks for.

Admin routes follow RustFS's route-policy table (reference §6); the key a single-key route acts
on is found as RustFS finds it, before the body is parsed for execution: the body's ``key_id``
(a body that is not a JSON object names no key), else the ``keyId`` query parameter when the
body is empty; the path segment of ``GET /kms/keys/{key_id}``; the first non-empty of ``keyId``,
``key-id``, ``key`` for the legacy describe. S3 routes take RustFS's S3 actions (HeadBucket and
ListObjectsV2 are ``s3:ListBucket``, HeadObject is ``s3:GetObject``, removing a bucket's
default encryption is ``s3:PutBucketEncryption``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable

from kms_tui.policy import Policy, Request

__all__ = ["LIST_ALL_MY_BUCKETS", "admin_request", "bucket_filter", "s3_request"]

LIST_ALL_MY_BUCKETS = "s3:ListAllMyBuckets"

# (method, path below /rustfs/admin/v3) -> (action, where the key id comes from)
_ADMIN: dict[tuple[str, str], tuple[str, str]] = {
    ("POST", "/kms/configure"): ("kms:Configure", ""),
    ("POST", "/kms/reconfigure"): ("kms:Configure", ""),
    ("POST", "/kms/start"): ("kms:ServiceControl", ""),
    ("POST", "/kms/stop"): ("kms:ServiceControl", ""),
    ("GET", "/kms/service-status"): ("kms:ServiceControl", ""),
    ("GET", "/kms/status"): ("kms:ServiceControl", ""),
    ("POST", "/kms/status"): ("kms:ServiceControl", ""),
    ("GET", "/kms/config"): ("kms:Configure", ""),
    ("POST", "/kms/clear-cache"): ("kms:ClearCache", ""),
    ("POST", "/kms/keys"): ("kms:Configure", ""),
    ("GET", "/kms/keys"): ("kms:ListKeys", ""),
    ("DELETE", "/kms/keys/delete"): ("kms:DeleteKey", "body"),
    ("POST", "/kms/keys/cancel-deletion"): ("kms:DeleteKey", "body"),
    ("POST", "/kms/generate-data-key"): ("kms:GenerateDataKey", "body"),
    ("POST", "/kms/create-key"): ("kms:Configure", ""),
    ("POST", "/kms/key/create"): ("kms:Configure", ""),
    ("GET", "/kms/describe-key"): ("kms:DescribeKey", "legacy"),
    ("GET", "/kms/key/status"): ("kms:DescribeKey", "legacy"),
    ("GET", "/kms/list-keys"): ("kms:ListKeys", ""),
    ("POST", "/kms/keys/enable"): ("kms:EnableKey", "body"),
    ("POST", "/kms/keys/disable"): ("kms:DisableKey", "body"),
    ("POST", "/kms/keys/rotate"): ("kms:RotateKey", "body"),
    ("POST", "/kms/keys/update-description"): ("kms:UpdateKeyDescription", "body"),
    ("POST", "/kms/keys/tag"): ("kms:TagResource", "body"),
    ("POST", "/kms/keys/untag"): ("kms:UntagResource", "body"),
    ("GET", "/kms/backup"): ("kms:Backup", ""),
    ("POST", "/kms/backup"): ("kms:Backup", ""),
    ("POST", "/kms/restore/dry-run"): ("kms:Restore", ""),
    ("POST", "/kms/restore"): ("kms:Restore", ""),
    ("POST", "/kms/restore/abort"): ("kms:Restore", ""),
    ("POST", "/kms/decrypt"): ("kms:Decrypt", "envelope"),  # kms-tui's extension
}
_KEYS_PREFIX = "/kms/keys/"

_BUCKET: dict[tuple[str, str], str] = {  # (method, selector) -> action
    ("PUT", ""): "s3:CreateBucket",
    ("HEAD", ""): "s3:ListBucket",
    ("DELETE", ""): "s3:DeleteBucket",
    ("GET", "encryption"): "s3:GetBucketEncryption",
    ("PUT", "encryption"): "s3:PutBucketEncryption",
    ("DELETE", "encryption"): "s3:PutBucketEncryption",
    ("GET", "list-type"): "s3:ListBucket",
    ("GET", ""): "s3:ListBucket",  # ListObjects (v1) answers NotImplemented after the gate
}
_OBJECT: dict[str, str] = {
    "PUT": "s3:PutObject",
    "GET": "s3:GetObject",
    "HEAD": "s3:GetObject",
    "DELETE": "s3:DeleteObject",
}


def _query(query: Iterable[tuple[str, str]], name: str) -> str | None:
    for key, value in query:
        if key == name:
            return value
    return None


def _body_key_id(body: bytes, query: Iterable[tuple[str, str]]) -> str:
    if not body:
        return _query(query, "keyId") or ""
    try:
        document = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(document, dict):
        return ""
    value = document.get("key_id", "")
    return value if isinstance(value, str) else ""


def _envelope_key_id(body: bytes) -> str:
    """The master key named inside a data-key envelope, for the decrypt extension."""
    try:
        document = json.loads(body)
        blob = base64.b64decode(document["ciphertext_blob"], validate=True)
        value = json.loads(blob)["master_key_id"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        return ""
    return value if isinstance(value, str) else ""


def admin_request(
    method: str, path: str, query: Iterable[tuple[str, str]], body: bytes
) -> Request | None:
    """The policy question for an admin route (``path`` below /rustfs/admin/v3), or None.

    None: the route is not gated by an action (account info) or does not exist (the server
    answers it as before, 501).
    """
    query = tuple(query)
    method = method.upper()
    found = _ADMIN.get((method, path))
    if found is None:
        if method == "GET" and path.startswith(_KEYS_PREFIX):
            segment = path[len(_KEYS_PREFIX) :]
            if segment and "/" not in segment:
                return Request.kms("kms:DescribeKey", segment)
        return None
    action, source = found
    if source == "body":
        return Request.kms(action, _body_key_id(body, query))
    if source == "legacy":
        for name in ("keyId", "key-id", "key"):
            value = _query(query, name)
            if value:
                return Request.kms(action, value)
        return Request.kms(action)
    if source == "envelope":
        return Request.kms(action, _envelope_key_id(body))
    return Request.kms(action)


def s3_request(method: str, path: str, query_names: Iterable[str]) -> Request | None:
    """The policy question for a path-style S3 request (``path`` decoded), or None.

    ``GET /`` is ListBuckets: :data:`LIST_ALL_MY_BUCKETS`, whose refusal narrows the listing
    to the buckets the account may list instead of refusing outright.
    """
    method = method.upper()
    rest = path[1:] if path.startswith("/") else path
    if not rest:
        return Request.s3(LIST_ALL_MY_BUCKETS) if method == "GET" else None
    bucket, _, key = rest.partition("/")
    if key:
        action = _OBJECT.get(method)
        return Request.s3(action, bucket, key) if action else None
    names = set(query_names)
    selector = next((name for name in ("encryption", "list-type") if name in names), "")
    action = _BUCKET.get((method, selector))
    return Request.s3(action, bucket) if action else None


def bucket_filter(policy: Policy) -> Callable[[str], bool]:
    """For a ListBuckets refused as a whole: the buckets the account may list or locate."""

    def visible(bucket: str) -> bool:
        return policy.allows(Request.s3("s3:ListBucket", bucket)) or policy.allows(
            Request.s3("s3:GetBucketLocation", bucket)
        )

    return visible
