"""IAM identity policies as RustFS reads and applies them: parse, check, decide.

A policy is the JSON document RustFS and MinIO take: ``Version`` (``2012-10-17`` or absent),
``Statement`` (one object or a list), each with ``Effect`` (``Allow``/``Deny``), ``Action`` or
``NotAction`` (a string or a list), ``Resource`` or ``NotResource``, and an optional ``Sid``.
The rules below are RustFS's (``crates/policy``), restated:

* An action is a name RustFS knows (``kms:DisableKey``, ``s3:GetBucketEncryption``, …) or a
  service wildcard (``kms:*``, ``s3:*``; a bare ``*`` is ``s3:*``). ``s3:GetObjectVersion``
  also grants ``s3:GetObject``. ``admin:`` and ``sts:`` actions are taken by their shape: no
  route of kms-tui's server is gated by them.
* One statement names actions of one family only (``kms:`` with ``kms:``, ``s3:`` with
  ``s3:``). A KMS resource (``arn:aws:kms:::key/<id>``, ``arn:aws:kms:::key/app-*``,
  ``arn:aws:kms:::*``) belongs to a KMS statement only.
* A KMS statement with no KMS resource matches every key, and so does any KMS statement for a
  request that names no key (``GET /kms/keys``). ``kms:Backup`` and ``kms:Restore`` act on every
  key at once: a key-scoped Allow never grants them, a key-scoped Deny always refuses them.
* An S3 resource ``arn:aws:s3:::<pattern>`` is matched against ``bucket`` for bucket calls and
  ``bucket/key`` for object calls, the path cleaned first (``a/../b`` is ``b``); ``*`` matches
  any run of characters, ``/`` included, ``?`` exactly one. A non-KMS statement needs a
  resource.
* An explicit Deny wins over any Allow; with no Allow the answer is no.

``Condition`` blocks are refused when a policy is read: kms-tui evaluates none, and a
condition silently ignored would grant more than its author wrote.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = [
    "CANNED_POLICIES",
    "KMS_ACTIONS",
    "Policy",
    "PolicyError",
    "Request",
    "Statement",
    "parse_policy",
]

KMS_ACTIONS = (
    "kms:Configure",
    "kms:ServiceControl",
    "kms:ClearCache",
    "kms:GenerateDataKey",
    "kms:DeleteKey",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:RotateKey",
    "kms:UpdateKeyDescription",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ListKeys",
    "kms:DescribeKey",
    "kms:Decrypt",
    "kms:Backup",
    "kms:Restore",
)
S3_ACTIONS = frozenset(
    "s3:" + name
    for name in [
        "AbortMultipartUpload",
        "CreateBucket",
        "DeleteBucket",
        "ForceDeleteBucket",
        "DeleteBucketPolicy",
        "DeleteBucketPublicAccessBlock",
        "DeleteBucketCors",
        "DeleteObject",
        "GetBucketLocation",
        "GetBucketNotification",
        "GetBucketPolicy",
        "GetBucketPublicAccessBlock",
        "GetBucketCors",
        "GetBucketAcl",
        "PutBucketAcl",
        "GetObject",
        "GetObjectAcl",
        "GetObjectAttributes",
        "HeadBucket",
        "ListAllMyBuckets",
        "ListBucket",
        "GetBucketPolicyStatus",
        "ListBucketVersions",
        "ListBucketMultipartUploads",
        "ListenNotification",
        "ListenBucketNotification",
        "ListMultipartUploadParts",
        "PutBucketLifecycle",
        "GetBucketLifecycle",
        "PutBucketLogging",
        "GetBucketLogging",
        "PutBucketNotification",
        "PutBucketPolicy",
        "PutBucketPublicAccessBlock",
        "PutBucketCors",
        "PutObject",
        "PutObjectAcl",
        "DeleteObjectVersion",
        "DeleteObjectVersionTagging",
        "GetObjectVersion",
        "GetObjectVersionAttributes",
        "GetObjectVersionTagging",
        "PutObjectVersionTagging",
        "BypassGovernanceRetention",
        "PutObjectRetention",
        "GetObjectRetention",
        "GetObjectLegalHold",
        "PutObjectLegalHold",
        "GetBucketObjectLockConfiguration",
        "PutBucketObjectLockConfiguration",
        "GetBucketTagging",
        "PutBucketTagging",
        "GetObjectTagging",
        "PutObjectTagging",
        "DeleteObjectTagging",
        "PutBucketEncryption",
        "GetBucketEncryption",
        "PutBucketVersioning",
        "GetBucketVersioning",
        "GetReplicationConfiguration",
        "PutReplicationConfiguration",
        "ReplicateObject",
        "ReplicateDelete",
        "ReplicateTags",
        "GetObjectVersionForReplication",
        "RestoreObject",
        "ResetBucketReplicationState",
        "PutObjectFanOut",
        "GetBucketQuota",
    ]
)
# Spellings other tools use for an action RustFS names differently: named in the error.
_RUSTFS_SPELLING = {
    "s3:GetEncryptionConfiguration": "s3:GetBucketEncryption",
    "s3:PutEncryptionConfiguration": "s3:PutBucketEncryption",
    "kms:ListAliases": "kms:ListKeys",
    "kms:ScheduleKeyDeletion": "kms:DeleteKey",
    "kms:CancelKeyDeletion": "kms:DeleteKey",
    "kms:CreateKey": "kms:Configure",
}
_KMS_SET = frozenset(KMS_ACTIONS)
_SHAPE = re.compile(r"^(admin|sts):[A-Za-z*]+$")
_S3_ARN = "arn:aws:s3:::"
_KMS_ARN = "arn:aws:kms:::"
_KEY_SEGMENT = "key/"
_ALIAS_SEGMENT = "alias/"
_WHOLE_KMS = frozenset({"kms:Backup", "kms:Restore"})
_VERSIONS = ("2012-10-17", "")


class PolicyError(ValueError):
    """A policy document RustFS would not load; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Request:
    """What one call asks: its action and the resource it acts on.

    S3 calls name ``bucket`` (empty for ListBuckets) and ``key`` (empty for bucket calls); KMS
    calls name ``key_id``, empty when the call names no key (list, create, status).
    """

    action: str
    bucket: str = ""
    key: str = ""
    key_id: str = ""

    @classmethod
    def kms(cls, action: str, key_id: str = "") -> Request:
        return cls(action, key_id=key_id)

    @classmethod
    def s3(cls, action: str, bucket: str = "", key: str = "") -> Request:
        return cls(action, bucket=bucket, key=key)


@lru_cache(maxsize=1024)
def _pattern(text: str) -> re.Pattern[str]:
    parts = ("." if char == "?" else ".*" if char == "*" else re.escape(char) for char in text)
    return re.compile("".join(parts), re.DOTALL)


def _matches(pattern: str, name: str) -> bool:
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern == name
    return _pattern(pattern).fullmatch(name) is not None


def _family(action: str) -> str:
    return action.partition(":")[0]


def _clean(path: str) -> str:
    """Go's ``path.Clean``, as RustFS applies it before matching an S3 resource."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


@dataclass(frozen=True, slots=True)
class Statement:
    """One checked statement."""

    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    sid: str = ""
    families: frozenset[str] = field(default=frozenset(), compare=False)  # of Action only

    @property
    def is_kms(self) -> bool:
        return "kms" in self.families

    @property
    def _admin_like(self) -> bool:
        return bool(self.families) and self.families <= {"admin", "sts"}

    def _action_matches(self, action: str) -> bool:
        if self.actions and not any(self._grants(pattern, action) for pattern in self.actions):
            return False
        return not any(self._grants(pattern, action) for pattern in self.not_actions)

    @staticmethod
    def _grants(pattern: str, action: str) -> bool:
        if _matches(pattern, action):
            return True
        return pattern == "s3:GetObjectVersion" and action == "s3:GetObject"

    def _kms_scope_matches(self, request: Request) -> bool:
        if request.action in _WHOLE_KMS and (self.resources or self.not_resources):
            return self.effect == "Deny"
        kms = [r for r in self.resources if r.startswith(_KMS_ARN)]
        not_kms = [r for r in self.not_resources if r.startswith(_KMS_ARN)]
        if not kms and not not_kms:
            return True  # action-only statement: every key
        if not request.key_id:
            return True  # the call names no key: any key resource matches
        requested = _KEY_SEGMENT + request.key_id
        if kms and not any(_matches(r[len(_KMS_ARN) :], requested) for r in kms):
            return False
        return not any(_matches(r[len(_KMS_ARN) :], requested) for r in not_kms)

    def _s3_scope_matches(self, request: Request) -> bool:
        if not self.resources and not self.not_resources:
            return self._admin_like
        if self._admin_like:
            return True  # admin and sts statements are not scoped by S3 resources
        path = request.bucket + "/" + request.key if request.key else request.bucket + "/"
        resource = _clean(path)
        if resource == ".":
            return False

        def hit(patterns: Iterable[str]) -> bool:
            return any(
                pattern.startswith(_S3_ARN) and _matches(pattern[len(_S3_ARN) :], resource)
                for pattern in patterns
            )

        if self.resources and not hit(self.resources):
            return False
        return not (self.not_resources and hit(self.not_resources))

    def applies_to(self, request: Request) -> bool:
        """Whether this statement speaks about ``request`` (before its Effect is applied)."""
        if not self._action_matches(request.action):
            return False
        if self.is_kms:
            return self._kms_scope_matches(request)
        return self._s3_scope_matches(request)


@dataclass(frozen=True, slots=True)
class Policy:
    """Checked statements; :meth:`allows` is RustFS's decision."""

    statements: tuple[Statement, ...] = ()
    source: str = ""  # where it came from, for messages ("KMSAuditor", "auditor.json")

    def allows(self, request: Request) -> bool:
        """Deny statements first (any that applies refuses), then any Allow that applies."""
        if self.denies_explicitly(request):
            return False
        return any(s.effect == "Allow" and s.applies_to(request) for s in self.statements)

    def denies_explicitly(self, request: Request) -> bool:
        """Whether a Deny statement applies (an owner is refused only by these)."""
        return any(s.effect == "Deny" and s.applies_to(request) for s in self.statements)

    def merged(self, other: Policy) -> Policy:
        """Both policies' statements: what an account with both attached may do."""
        return Policy(self.statements + other.statements, f"{self.source}, {other.source}")

    def to_document(self) -> dict[str, Any]:
        """The policy as a JSON-ready document (what ``accountinfo`` answers)."""
        statements: list[dict[str, Any]] = []
        for s in self.statements:
            item: dict[str, Any] = {"Effect": s.effect}
            if s.sid:
                item["Sid"] = s.sid
            for name, values in (
                ("Action", s.actions),
                ("NotAction", s.not_actions),
                ("Resource", s.resources),
                ("NotResource", s.not_resources),
            ):
                if values:
                    item[name] = list(values)
            statements.append(item)
        return {"Version": "2012-10-17", "Statement": statements}


def _strings(value: object, where: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return tuple(dict.fromkeys(value))
    raise PolicyError(f"{where}: {name} must be a string or a list of strings")


def _check_action(action: str, where: str) -> str:
    if action == "*":
        return "s3:*"
    if action in _KMS_SET or action in S3_ACTIONS or action in ("kms:*", "s3:*"):
        return action
    if _SHAPE.match(action):
        return action
    hint = _RUSTFS_SPELLING.get(action)
    if hint is not None:
        raise PolicyError(f"{where}: unknown action {action!r}; RustFS spells it {hint!r}")
    family = _family(action)
    if family in ("kms", "s3") and "*" in action:
        raise PolicyError(
            f"{where}: {action!r}: RustFS takes only whole action names or {family}:* "
            "(no partial wildcards)"
        )
    raise PolicyError(f"{where}: unknown action {action!r}")


def _check_resource(resource: str, where: str) -> None:
    if resource.startswith(_S3_ARN):
        pattern = resource[len(_S3_ARN) :]
        if not pattern or pattern.startswith("/"):
            raise PolicyError(f"{where}: invalid S3 resource {resource!r}")
        return
    if resource.startswith(_KMS_ARN):
        pattern = resource[len(_KMS_ARN) :]
        key = pattern[len(_KEY_SEGMENT) :] if pattern.startswith(_KEY_SEGMENT) else None
        alias = pattern[len(_ALIAS_SEGMENT) :] if pattern.startswith(_ALIAS_SEGMENT) else None
        if (
            pattern == "*"
            or (key and "/" not in key and "\\" not in key)
            or (alias and "\\" not in alias)
        ):
            return
        raise PolicyError(
            f"{where}: invalid KMS resource {resource!r} (use arn:aws:kms:::key/<id>, "
            "a key/<prefix>* pattern, or arn:aws:kms:::*)"
        )
    raise PolicyError(
        f"{where}: resource {resource!r} is neither arn:aws:s3:::… nor arn:aws:kms:::…"
    )


_STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal"}
)


def _statement(raw: object, where: str) -> Statement:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where}: a statement must be a JSON object")
    unknown = sorted(set(raw) - _STATEMENT_KEYS)
    if unknown:
        raise PolicyError(f"{where}: unknown field {unknown[0]!r}")
    if "Condition" in raw:
        raise PolicyError(
            f"{where}: Condition is not supported by kms-tui's server (it would be ignored, "
            "granting more than written); remove it, or test this policy on RustFS itself"
        )
    if "Principal" in raw:
        raise PolicyError(f"{where}: Principal belongs in bucket policies, not an account's")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f'{where}: Effect must be "Allow" or "Deny", not {effect!r}')
    sid = raw.get("Sid", "")
    if not isinstance(sid, str):
        raise PolicyError(f"{where}: Sid must be a string")
    actions = tuple(_check_action(a, where) for a in _strings(raw.get("Action"), where, "Action"))
    not_actions = tuple(
        _check_action(a, where) for a in _strings(raw.get("NotAction"), where, "NotAction")
    )
    if not actions and not not_actions:
        raise PolicyError(f"{where}: a statement needs Action (or NotAction)")
    if actions and not_actions:
        raise PolicyError(f"{where}: give Action or NotAction, not both")
    families = frozenset(_family(a) for a in actions)  # a NotAction statement has none
    if len(families) > 1:
        raise PolicyError(
            f"{where}: one statement mixes {' and '.join(sorted(f + ':' for f in families))} "
            "actions; put each family in a statement of its own"
        )
    resources = _strings(raw.get("Resource"), where, "Resource")
    not_resources = _strings(raw.get("NotResource"), where, "NotResource")
    for resource in resources + not_resources:
        _check_resource(resource, where)
    if resources and not_resources:
        raise PolicyError(f"{where}: give Resource or NotResource, not both")
    if not resources and not not_resources and not (families & {"kms", "admin", "sts"}):
        raise PolicyError(
            f"{where}: a statement needs a Resource (arn:aws:s3:::…) unless its Action names "
            "kms:, admin: or sts: actions"
        )
    if any(r.startswith(_KMS_ARN) for r in resources + not_resources) and families != {"kms"}:
        raise PolicyError(f"{where}: a KMS resource goes with kms: actions only")
    return Statement(effect, actions, not_actions, resources, not_resources, sid, families)


def parse_policy(document: str | bytes | Mapping[str, Any], source: str = "policy") -> Policy:
    """Check a policy document (JSON text or parsed) as RustFS would, or raise PolicyError."""
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except ValueError as err:
            raise PolicyError(f"{source}: not valid JSON ({err})") from None
    if not isinstance(document, Mapping):
        raise PolicyError(f"{source}: a policy must be a JSON object")
    unknown = sorted(set(document) - {"Version", "Id", "ID", "Statement"})
    if unknown:
        raise PolicyError(f"{source}: unknown field {unknown[0]!r}")
    version = document.get("Version", "")
    if version not in _VERSIONS:
        raise PolicyError(f'{source}: Version must be "2012-10-17", not {version!r}')
    raw = document.get("Statement")
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise PolicyError(f"{source}: Statement must be a statement or a non-empty list of them")
    statements = tuple(
        _statement(item, f"{source}: statement {index + 1}") for index, item in enumerate(raw)
    )
    return Policy(statements, source)


def _canned(name: str, *statements: dict[str, Any]) -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, name)


_ALL_BUCKETS = {"Resource": ["arn:aws:s3:::*"]}
CANNED_POLICIES: Mapping[str, Policy] = {
    "consoleAdmin": _canned(
        "consoleAdmin",
        {"Effect": "Allow", "Action": ["admin:*"]},
        {"Effect": "Allow", "Action": ["kms:*"]},
        {"Effect": "Allow", "Action": ["s3:*"], **_ALL_BUCKETS},
    ),
    "readwrite": _canned("readwrite", {"Effect": "Allow", "Action": ["s3:*"], **_ALL_BUCKETS}),
    "readonly": _canned(
        "readonly",
        {
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:GetObject", "s3:GetBucketQuota"],
            **_ALL_BUCKETS,
        },
    ),
    "writeonly": _canned(
        "writeonly", {"Effect": "Allow", "Action": ["s3:PutObject"], **_ALL_BUCKETS}
    ),
    "KMSKeyAdministrator": _canned(
        "KMSKeyAdministrator",
        {
            "Effect": "Allow",
            "Action": [
                "kms:DescribeKey",
                "kms:ListKeys",
                "kms:EnableKey",
                "kms:DisableKey",
                "kms:RotateKey",
                "kms:DeleteKey",
            ],
            "Resource": ["arn:aws:kms:::*"],
        },
    ),
    "KMSKeyUser": _canned(
        "KMSKeyUser",
        {
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"],
            "Resource": ["arn:aws:kms:::*"],
        },
    ),
    "KMSAuditor": _canned(
        "KMSAuditor",
        {
            "Effect": "Allow",
            "Action": ["kms:DescribeKey", "kms:ListKeys"],
            "Resource": ["arn:aws:kms:::*"],
        },
    ),
}
