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

from kms_tui.iam_actions import LIST_ALL_MY_BUCKETS, admin_route, s3_operation
from kms_tui.policy import Policy, Request

__all__ = ["LIST_ALL_MY_BUCKETS", "admin_request", "bucket_filter", "s3_request"]


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
    found = admin_route(method, path)
    if found is None:
        return None
    action, source = found
    if source.startswith("path:"):
        return Request.kms(action, source[len("path:") :])
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
    found = s3_operation(method, path, query_names)
    if found is None:
        return None
    action, bucket, key = found
    return Request.s3(action, bucket, key)


def bucket_filter(policy: Policy) -> Callable[[str], bool]:
    """For a ListBuckets refused as a whole: the buckets the account may list or locate."""

    def visible(bucket: str) -> bool:
        return policy.allows(Request.s3("s3:ListBucket", bucket)) or policy.allows(
            Request.s3("s3:GetBucketLocation", bucket)
        )

    return visible
