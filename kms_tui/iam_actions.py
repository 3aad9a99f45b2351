"""The IAM action each RustFS route asks for: one table for the server's gate and the client.

From the reference's route table (§6): ``(method, path below /rustfs/admin/v3)`` to ``(action,
where the key id comes from)``; the source is ``""`` (the call names no key), ``"body"`` (the
body's ``key_id``, else ``keyId`` when the body is empty), ``"legacy"`` (``keyId``, ``key-id`` or
``key``) or ``"envelope"`` (the master key inside a data-key envelope). ``GET /kms/keys/{id}`` is
``kms:DescribeKey`` on the path's key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "ADMIN_ROUTE_ACTIONS",
    "DESCRIBE_BY_PATH",
    "LIST_ALL_MY_BUCKETS",
    "admin_action",
    "admin_route",
    "s3_operation",
]

ADMIN_ROUTE_ACTIONS: Mapping[tuple[str, str], tuple[str, str]] = {
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
DESCRIBE_BY_PATH = "kms:DescribeKey"
_KEYS_PREFIX = "/kms/keys/"


def admin_route(method: str, path: str) -> tuple[str, str] | None:
    """``(action, key source)`` of an admin call (``path`` below /rustfs/admin/v3, no query);
    the source of ``GET /kms/keys/{id}`` is ``"path:<id>"``. None: no gated route."""
    found = ADMIN_ROUTE_ACTIONS.get((method.upper(), path))
    if found is not None:
        return found
    if method.upper() == "GET" and path.startswith(_KEYS_PREFIX):
        segment = path[len(_KEYS_PREFIX) :]
        if segment and "/" not in segment:
            return DESCRIBE_BY_PATH, "path:" + segment
    return None


def admin_action(method: str, path: str) -> str | None:
    """The action of an admin call (``path`` below /rustfs/admin/v3, no query), or None."""
    found = admin_route(method, path)
    return found[0] if found is not None else None


LIST_ALL_MY_BUCKETS = "s3:ListAllMyBuckets"
# RustFS's S3 actions: HeadBucket and ListObjectsV2 are s3:ListBucket, HeadObject is
# s3:GetObject, removing a bucket's default encryption is s3:PutBucketEncryption.
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


def s3_operation(method: str, path: str, query_names: Iterable[str]) -> tuple[str, str, str] | None:
    """``(action, bucket, key)`` of a path-style S3 request (``path`` decoded), or None."""
    method = method.upper()
    rest = path[1:] if path.startswith("/") else path
    if not rest:
        return (LIST_ALL_MY_BUCKETS, "", "") if method == "GET" else None
    bucket, _, key = rest.partition("/")
    if key:
        action = _OBJECT.get(method)
        return (action, bucket, key) if action else None
    names = set(query_names)
    selector = next((name for name in ("encryption", "list-type") if name in names), "")
    action = _BUCKET.get((method, selector))
    return (action, bucket, "") if action else None
