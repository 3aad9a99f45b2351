"""IAM identity policies: parsing checks, the decision rules, and the canned policies.

The expected answers come from the rules stated in ``kms_tui.policy``'s docstring and from
RustFS's own resource-matching cases, not from the module's code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kms_tui.policy import (
    CANNED_POLICIES,
    KMS_ACTIONS,
    Policy,
    PolicyError,
    Request,
    parse_policy,
)

V = "2012-10-17"


def policy(*statements: Mapping[str, Any]) -> Policy:
    return parse_policy({"Version": V, "Statement": list(statements)}, "test")


def allow(action: str | list[str], resource: str | list[str] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action}
    if resource is not None:
        statement["Resource"] = resource
    return statement


def deny(action: str | list[str], resource: str | list[str] | None = None) -> dict[str, Any]:
    return {**allow(action, resource), "Effect": "Deny"}


def refused(document: Mapping[str, Any] | str, *fragments: str) -> str:
    """Parse ``document``, expect a PolicyError, check the message holds every fragment."""
    with pytest.raises(PolicyError) as caught:
        parse_policy(document, "doc.json")
    message = str(caught.value)
    assert message.startswith("doc.json"), message
    for fragment in fragments:
        assert fragment in message, message
    return message


def statement_refused(statement: Mapping[str, Any], *fragments: str) -> str:
    return refused({"Version": V, "Statement": [statement]}, "statement 1", *fragments)


# --- S3 resources: RustFS's own matching cases -------------------------------------------------

RUSTFS_S3_CASES = [
    ("arn:aws:s3:::*", "mybucket", True),
    ("arn:aws:s3:::*", "mybucket/myobject", True),
    ("arn:aws:s3:::mybucket*", "mybucket", True),
    ("arn:aws:s3:::mybucket*", "mybucket/myobject", True),
    ("arn:aws:s3:::*/*", "mybucket/myobject", True),
    ("arn:aws:s3:::mybucket/*", "mybucket/myobject", True),
    ("arn:aws:s3:::mybucket*/myobject", "mybucket/myobject", True),
    ("arn:aws:s3:::mybucket*/myobject", "mybucket100/myobject", True),
    ("arn:aws:s3:::mybucket?0/2010/photos/*", "mybucket20/2010/photos/1.jpg", True),
    ("arn:aws:s3:::mybucket", "mybucket", True),
    ("arn:aws:s3:::mybucket?0", "mybucket30", True),
    ("arn:aws:s3:::*/*", "mybucket", False),
    ("arn:aws:s3:::mybucket/*", "mybucket10/myobject", False),
    ("arn:aws:s3:::mybucket?0/2010/photos/*", "mybucket0/2010/photos/1.jpg", False),
    ("arn:aws:s3:::mybucket", "mybucket/myobject", False),
    ("arn:aws:s3:::attacker-bucket/*", "attacker-bucket/../victim-bucket/evil.txt", False),
]


def s3_request(path: str) -> tuple[str, Request]:
    """An object call (bucket and key split at the first /) or a bucket call."""
    bucket, slash, key = path.partition("/")
    if slash:
        return "s3:GetObject", Request.s3("s3:GetObject", bucket, key)
    return "s3:ListBucket", Request.s3("s3:ListBucket", bucket)


@pytest.mark.parametrize(("pattern", "path", "expected"), RUSTFS_S3_CASES)
def test_s3_resource_matching_follows_rustfs(pattern: str, path: str, expected: bool) -> None:
    action, request = s3_request(path)
    assert policy(allow(action, pattern)).allows(request) is expected


@pytest.mark.parametrize(("pattern", "path", "expected"), RUSTFS_S3_CASES)
def test_s3_deny_uses_the_same_matching(pattern: str, path: str, expected: bool) -> None:
    action, request = s3_request(path)
    p = policy(allow(action, "arn:aws:s3:::*"), deny(action, pattern))
    assert p.denies_explicitly(request) is expected
    assert p.allows(request) is not expected


def test_s3_allow_is_for_the_named_action_only() -> None:
    p = policy(allow("s3:GetObject", "arn:aws:s3:::mybucket/*"))
    assert p.allows(Request.s3("s3:GetObject", "mybucket", "a/b.txt"))
    assert not p.allows(Request.s3("s3:PutObject", "mybucket", "a/b.txt"))
    assert not p.allows(Request.s3("s3:DeleteObject", "mybucket", "a/b.txt"))
    assert not p.allows(Request.kms("kms:ListKeys"))


def test_s3_path_is_cleaned_before_matching() -> None:
    p = policy(allow("s3:GetObject", "arn:aws:s3:::victim/*"))
    # attacker/../victim/x is victim/x once cleaned: granted by the victim pattern
    assert p.allows(Request.s3("s3:GetObject", "attacker", "../victim/x"))
    assert p.allows(Request.s3("s3:GetObject", "victim", "a/./b"))
    assert not p.allows(Request.s3("s3:GetObject", "victim", "../attacker/x"))


def test_s3_question_mark_is_exactly_one_character() -> None:
    p = policy(allow("s3:ListBucket", "arn:aws:s3:::b?"))
    assert p.allows(Request.s3("s3:ListBucket", "b1"))
    assert not p.allows(Request.s3("s3:ListBucket", "b"))
    assert not p.allows(Request.s3("s3:ListBucket", "b12"))


def test_s3_pattern_characters_are_literal() -> None:
    p = policy(allow("s3:ListBucket", "arn:aws:s3:::my.bucket"))
    assert p.allows(Request.s3("s3:ListBucket", "my.bucket"))
    assert not p.allows(Request.s3("s3:ListBucket", "myxbucket"))


def test_s3_not_resource_excludes_the_matches() -> None:
    p = policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"}
    )
    assert p.allows(Request.s3("s3:GetObject", "public", "x"))
    assert not p.allows(Request.s3("s3:GetObject", "secret", "x"))


# --- KMS key scoping ----------------------------------------------------------------------------


def test_kms_single_key_resource() -> None:
    p = policy(allow("kms:DescribeKey", "arn:aws:kms:::key/key-a"))
    assert p.allows(Request.kms("kms:DescribeKey", "key-a"))
    assert not p.allows(Request.kms("kms:DescribeKey", "key-b"))
    assert not p.allows(Request.kms("kms:DescribeKey", "key-ab"))
    assert not p.allows(Request.kms("kms:DisableKey", "key-a"))


def test_kms_prefix_resource() -> None:
    p = policy(allow("kms:*", "arn:aws:kms:::key/app-*"))
    assert p.allows(Request.kms("kms:DescribeKey", "app-1"))
    assert p.allows(Request.kms("kms:DeleteKey", "app-"))
    assert not p.allows(Request.kms("kms:DescribeKey", "payroll-1"))
    assert not p.allows(Request.kms("kms:DescribeKey", "xapp-1"))


def test_kms_whole_service_resource_matches_every_key() -> None:
    p = policy(allow("kms:*", "arn:aws:kms:::*"))
    for key_id in ("a", "app-1", "payroll-prod", "x" * 60):
        assert p.allows(Request.kms("kms:DescribeKey", key_id))
        assert p.allows(Request.kms("kms:DisableKey", key_id))


def test_kms_statement_without_resource_matches_every_key() -> None:
    p = policy(allow("kms:DescribeKey"))
    assert p.allows(Request.kms("kms:DescribeKey", "anything"))
    assert p.allows(Request.kms("kms:DescribeKey"))
    assert not p.allows(Request.kms("kms:DeleteKey", "anything"))


def test_kms_request_without_key_matches_a_key_scoped_statement() -> None:
    p = policy(allow(["kms:ListKeys", "kms:GenerateDataKey"], "arn:aws:kms:::key/key-a"))
    assert p.allows(Request.kms("kms:ListKeys"))
    assert p.allows(Request.kms("kms:GenerateDataKey"))
    assert not p.allows(Request.kms("kms:GenerateDataKey", "key-b"))
    d = policy(allow("kms:*"), deny("kms:ListKeys", "arn:aws:kms:::key/key-a"))
    assert d.denies_explicitly(Request.kms("kms:ListKeys"))
    assert not d.allows(Request.kms("kms:ListKeys"))


def test_kms_alias_resource_matches_no_key() -> None:
    p = policy(allow("kms:DescribeKey", "arn:aws:kms:::alias/my-alias"))
    assert not p.allows(Request.kms("kms:DescribeKey", "my-alias"))
    assert not p.allows(Request.kms("kms:DescribeKey", "alias/my-alias"))
    star = policy(allow("kms:DescribeKey", "arn:aws:kms:::alias/*"))
    assert not star.allows(Request.kms("kms:DescribeKey", "key-a"))


@pytest.mark.parametrize("action", ["kms:Backup", "kms:Restore"])
@pytest.mark.parametrize(
    ("resource", "key_id"),
    [
        ("arn:aws:kms:::key/key-a", "key-a"),
        ("arn:aws:kms:::key/*", "key-a"),
        ("arn:aws:kms:::key/app-*", "app-1"),
    ],
)
def test_kms_backup_restore_never_granted_by_key_scoped_allow(
    action: str, resource: str, key_id: str
) -> None:
    p = policy(allow(["kms:Backup", "kms:Restore", "kms:DescribeKey"], resource))
    assert not p.allows(Request.kms(action))
    assert not p.allows(Request.kms(action, key_id))
    # the same statement does grant its key-level action on that key
    assert p.allows(Request.kms("kms:DescribeKey", key_id))


@pytest.mark.parametrize("action", ["kms:Backup", "kms:Restore"])
def test_kms_backup_restore_granted_by_unscoped_allow(action: str) -> None:
    assert policy(allow(action)).allows(Request.kms(action))
    assert policy(allow("kms:*")).allows(Request.kms(action))


@pytest.mark.parametrize("action", ["kms:Backup", "kms:Restore"])
@pytest.mark.parametrize(
    "resource", ["arn:aws:kms:::key/key-a", "arn:aws:kms:::key/nothing-matches-*"]
)
def test_kms_backup_restore_always_refused_by_key_scoped_deny(action: str, resource: str) -> None:
    p = policy(allow("kms:*"), deny(action, resource))
    assert p.denies_explicitly(Request.kms(action))
    assert not p.allows(Request.kms(action))
    # the deny is about Backup/Restore only
    assert p.allows(Request.kms("kms:DescribeKey", "key-a"))


def test_kms_deny_prefix_overrides_allow_all() -> None:
    p = policy(allow("kms:*", "arn:aws:kms:::*"), deny("kms:*", "arn:aws:kms:::key/payroll-*"))
    assert p.allows(Request.kms("kms:DisableKey", "app-1"))
    assert not p.allows(Request.kms("kms:DisableKey", "payroll-1"))
    assert p.denies_explicitly(Request.kms("kms:DescribeKey", "payroll-prod"))
    assert not p.denies_explicitly(Request.kms("kms:DescribeKey", "app-1"))
    # statement order does not matter
    q = policy(deny("kms:*", "arn:aws:kms:::key/payroll-*"), allow("kms:*", "arn:aws:kms:::*"))
    assert not q.allows(Request.kms("kms:DisableKey", "payroll-1"))
    assert q.allows(Request.kms("kms:DisableKey", "app-1"))


def test_kms_not_resource() -> None:
    p = policy(
        {
            "Effect": "Allow",
            "Action": "kms:DescribeKey",
            "NotResource": "arn:aws:kms:::key/secret-*",
        }
    )
    assert p.allows(Request.kms("kms:DescribeKey", "public-1"))
    assert not p.allows(Request.kms("kms:DescribeKey", "secret-1"))
    d = policy(
        allow("kms:*"),
        {"Effect": "Deny", "Action": "kms:DeleteKey", "NotResource": "arn:aws:kms:::key/scratch-*"},
    )
    assert d.allows(Request.kms("kms:DeleteKey", "scratch-1"))
    assert not d.allows(Request.kms("kms:DeleteKey", "prod-1"))
    assert d.allows(Request.kms("kms:DescribeKey", "prod-1"))


def test_no_allow_means_no() -> None:
    p = policy(deny("kms:DeleteKey"))
    assert not p.allows(Request.kms("kms:DescribeKey", "a"))
    assert not p.allows(Request.kms("kms:DeleteKey", "a"))
    assert not Policy().allows(Request.kms("kms:ListKeys"))
    assert not Policy().denies_explicitly(Request.kms("kms:ListKeys"))


def test_denies_explicitly_only_for_a_matching_deny() -> None:
    p = policy(deny("kms:DeleteKey", "arn:aws:kms:::key/a"))
    assert p.denies_explicitly(Request.kms("kms:DeleteKey", "a"))
    assert not p.denies_explicitly(Request.kms("kms:DeleteKey", "b"))
    assert not p.denies_explicitly(Request.kms("kms:DisableKey", "a"))
    # an Allow is never an explicit deny, and a non-match is not one either
    assert not policy(allow("kms:*")).denies_explicitly(Request.kms("kms:DeleteKey", "a"))


# --- actions ------------------------------------------------------------------------------------


def test_kms_star_grants_every_kms_action_and_no_s3() -> None:
    p = policy(allow("kms:*"))
    for action in KMS_ACTIONS:
        assert p.allows(Request.kms(action, "k")), action
    assert not p.allows(Request.s3("s3:GetObject", "b", "k"))
    assert not p.allows(Request.s3("s3:ListAllMyBuckets"))


def test_s3_star_grants_s3_actions_and_no_kms() -> None:
    p = policy(allow("s3:*", "arn:aws:s3:::*"))
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteBucket", "s3:PutBucketEncryption"):
        assert p.allows(Request.s3(action, "b", "k")), action
    for action in KMS_ACTIONS:
        assert not p.allows(Request.kms(action, "k")), action


def test_bare_star_is_s3_star() -> None:
    p = policy(allow("*", "arn:aws:s3:::*"))
    assert p.statements[0].actions == ("s3:*",)
    assert p.allows(Request.s3("s3:GetObject", "b", "k"))
    assert p.allows(Request.s3("s3:ListBucket", "b"))
    for action in KMS_ACTIONS:
        assert not p.allows(Request.kms(action, "k")), action
    # being s3:*, a bare * needs a Resource like any s3 statement
    statement_refused(allow("*"), "Resource")
    # and cannot sit with kms: actions
    statement_refused(allow(["*", "kms:ListKeys"]), "kms:", "s3:")


def test_get_object_version_grants_get_object() -> None:
    p = policy(allow("s3:GetObjectVersion", "arn:aws:s3:::b/*"))
    assert p.allows(Request.s3("s3:GetObject", "b", "k"))
    assert p.allows(Request.s3("s3:GetObjectVersion", "b", "k"))
    assert not p.allows(Request.s3("s3:PutObject", "b", "k"))
    # and not the other way round
    q = policy(allow("s3:GetObject", "arn:aws:s3:::b/*"))
    assert not q.allows(Request.s3("s3:GetObjectVersion", "b", "k"))


def test_not_action_s3() -> None:
    p = policy({"Effect": "Allow", "NotAction": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/*"})
    assert p.allows(Request.s3("s3:GetObject", "b", "k"))
    assert p.allows(Request.s3("s3:PutObject", "b", "k"))
    assert not p.allows(Request.s3("s3:DeleteObject", "b", "k"))
    assert not p.allows(Request.s3("s3:GetObject", "other", "k"))


def test_not_action_deny() -> None:
    p = policy(
        allow("s3:*", "arn:aws:s3:::*"),
        {
            "Effect": "Deny",
            "NotAction": ["s3:GetObject", "s3:ListBucket"],
            "Resource": "arn:aws:s3:::*",
        },
    )
    assert p.allows(Request.s3("s3:GetObject", "b", "k"))
    assert p.allows(Request.s3("s3:ListBucket", "b"))
    assert not p.allows(Request.s3("s3:PutObject", "b", "k"))
    assert p.denies_explicitly(Request.s3("s3:DeleteBucket", "b"))


def test_unknown_action_refused_clearly() -> None:
    statement_refused(allow("s3:GetObjekt", "arn:aws:s3:::*"), "unknown action", "s3:GetObjekt")
    statement_refused(allow("kms:Encrypt"), "unknown action", "kms:Encrypt")
    statement_refused(allow("ec2:RunInstances", "arn:aws:s3:::*"), "ec2:RunInstances")
    # action names are case-sensitive
    statement_refused(allow("kms:listkeys"), "kms:listkeys")


@pytest.mark.parametrize(
    ("action", "rustfs"),
    [
        ("s3:PutEncryptionConfiguration", "s3:PutBucketEncryption"),
        ("s3:GetEncryptionConfiguration", "s3:GetBucketEncryption"),
        ("kms:CreateKey", "kms:Configure"),
        ("kms:ScheduleKeyDeletion", "kms:DeleteKey"),
    ],
)
def test_other_spellings_name_the_rustfs_one(action: str, rustfs: str) -> None:
    resource = "arn:aws:s3:::*" if action.startswith("s3:") else "arn:aws:kms:::*"
    statement_refused(allow(action, resource), action, rustfs)


@pytest.mark.parametrize("action", ["kms:*Key", "kms:Describe*", "s3:Get*", "s3:*Object"])
def test_partial_wildcards_refused(action: str) -> None:
    resource = "arn:aws:s3:::*" if action.startswith("s3:") else "arn:aws:kms:::*"
    statement_refused(allow(action, resource), action, "partial wildcard")


@pytest.mark.parametrize(
    "action", ["admin:*", "admin:ServerInfo", "admin:CreateUser", "sts:AssumeRole", "sts:*"]
)
def test_admin_and_sts_actions_accepted_by_shape(action: str) -> None:
    p = policy(allow(action))
    assert p.statements[0].actions == (action,)
    assert p.allows(Request(action))
    assert not p.allows(Request.kms("kms:ListKeys"))
    assert not p.allows(Request.s3("s3:GetObject", "b", "k"))


def test_admin_action_shape_is_checked() -> None:
    statement_refused(allow("admin:"), "admin:")
    statement_refused(allow("admin:Server-Info"), "admin:Server-Info")


def test_every_kms_action_is_known() -> None:
    assert len(KMS_ACTIONS) == 16
    assert len(set(KMS_ACTIONS)) == 16
    p = policy(allow(list(KMS_ACTIONS)))
    for action in KMS_ACTIONS:
        assert p.allows(Request.kms(action)), action


# --- document checks ----------------------------------------------------------------------------


def test_mixed_families_in_one_statement_refused() -> None:
    statement_refused(
        allow(["kms:ListKeys", "s3:GetObject"], "arn:aws:s3:::*"), "mixes", "kms:", "s3:"
    )
    # the same actions in two statements are fine
    p = policy(allow("kms:ListKeys"), allow("s3:GetObject", "arn:aws:s3:::*"))
    assert p.allows(Request.kms("kms:ListKeys"))
    assert p.allows(Request.s3("s3:GetObject", "b", "k"))


def test_kms_resource_with_s3_actions_refused() -> None:
    statement_refused(allow("s3:GetObject", "arn:aws:kms:::*"), "KMS resource")
    statement_refused(
        allow("s3:GetObject", ["arn:aws:s3:::*", "arn:aws:kms:::key/a"]), "KMS resource"
    )
    statement_refused(allow("admin:*", "arn:aws:kms:::*"), "KMS resource")


def test_s3_statement_without_resource_refused() -> None:
    statement_refused(allow("s3:GetObject"), "Resource")
    statement_refused(allow("s3:*"), "Resource")
    statement_refused({"Effect": "Allow", "Action": "s3:GetObject", "Resource": []}, "Resource")


def test_action_and_not_action_refused() -> None:
    statement_refused(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "NotAction": "s3:PutObject",
            "Resource": "arn:aws:s3:::*",
        },
        "Action",
        "NotAction",
    )


def test_statement_without_action_refused() -> None:
    statement_refused({"Effect": "Allow", "Resource": "arn:aws:s3:::*"}, "Action")
    statement_refused({"Effect": "Allow", "Action": [], "Resource": "arn:aws:s3:::*"}, "Action")


def test_resource_and_not_resource_refused() -> None:
    statement_refused(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::a/*",
            "NotResource": "arn:aws:s3:::b/*",
        },
        "NotResource",
    )


def test_condition_refused() -> None:
    statement_refused(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        },
        "Condition",
    )
    # even an empty one: the field itself is refused
    statement_refused({**allow("kms:ListKeys"), "Condition": {}}, "Condition")


def test_principal_refused() -> None:
    statement_refused({**allow("s3:GetObject", "arn:aws:s3:::*"), "Principal": "*"}, "Principal")


def test_unknown_statement_field_refused() -> None:
    statement_refused({**allow("kms:ListKeys"), "Actions": "kms:DescribeKey"}, "'Actions'")


@pytest.mark.parametrize("effect", ["allow", "DENY", "Permit", None, 1])
def test_bad_effect_refused(effect: object) -> None:
    statement_refused({"Effect": effect, "Action": "kms:ListKeys"}, "Effect")


@pytest.mark.parametrize("version", ["2008-10-17", "2012-10-18", 2012, None, "latest"])
def test_bad_version_refused(version: object) -> None:
    refused({"Version": version, "Statement": [allow("kms:ListKeys")]}, "Version")


def test_version_may_be_absent() -> None:
    p = parse_policy({"Statement": [allow("kms:ListKeys")]})
    assert p.allows(Request.kms("kms:ListKeys"))


def test_unknown_top_level_field_refused() -> None:
    refused({"Version": V, "Statement": [allow("kms:ListKeys")], "Statements": []}, "Statements")


def test_statement_as_single_object_accepted() -> None:
    p = parse_policy({"Version": V, "Statement": allow("kms:ListKeys")})
    assert len(p.statements) == 1
    assert p.allows(Request.kms("kms:ListKeys"))
    assert not p.allows(Request.kms("kms:DescribeKey", "a"))


@pytest.mark.parametrize("statement", [[], None, "Allow", 3, ["not an object"]])
def test_bad_statement_container_refused(statement: object) -> None:
    refused({"Version": V, "Statement": statement}, "tatement")


def test_json_text_and_bytes_accepted() -> None:
    text = json.dumps({"Version": V, "Statement": [allow("kms:ListKeys")]})
    for document in (text, text.encode()):
        p = parse_policy(document)
        assert p.allows(Request.kms("kms:ListKeys"))


@pytest.mark.parametrize("text", ["{", "", "not json", '{"Version": "2012-10-17",}'])
def test_invalid_json_is_a_policy_error(text: str) -> None:
    refused(text, "not valid JSON")


@pytest.mark.parametrize("text", ["[]", '"text"', "42", "null"])
def test_json_that_is_not_an_object_refused(text: str) -> None:
    refused(text, "JSON object")


@pytest.mark.parametrize(
    "resource",
    ["*", "arn:aws:iam:::user/x", "arn:aws:s4:::b", "mybucket", "arn:aws:kms:us-east-1::key/a"],
)
def test_resources_neither_s3_nor_kms_refused(resource: str) -> None:
    statement_refused(allow("s3:GetObject", resource), resource)


@pytest.mark.parametrize("resource", ["arn:aws:s3:::", "arn:aws:s3:::/bucket"])
def test_malformed_s3_resources_refused(resource: str) -> None:
    statement_refused(allow("s3:GetObject", resource), "invalid S3 resource")


@pytest.mark.parametrize(
    "resource",
    [
        "arn:aws:kms:::key/",
        "arn:aws:kms:::key/a/b",
        "arn:aws:kms:::foo",
        "arn:aws:kms:::",
        "arn:aws:kms:::keys/a",
        "arn:aws:kms:::key/a\\b",
    ],
)
def test_malformed_kms_resources_refused(resource: str) -> None:
    statement_refused(allow("kms:DescribeKey", resource), "invalid KMS resource")


@pytest.mark.parametrize(
    "resource",
    ["arn:aws:kms:::*", "arn:aws:kms:::key/a", "arn:aws:kms:::key/app-*", "arn:aws:kms:::alias/x"],
)
def test_well_formed_kms_resources_accepted(resource: str) -> None:
    assert policy(allow("kms:DescribeKey", resource)).statements[0].resources == (resource,)


def test_action_and_resource_must_be_strings() -> None:
    statement_refused({"Effect": "Allow", "Action": 3}, "Action")
    statement_refused({"Effect": "Allow", "Action": ["kms:ListKeys", 3]}, "Action")
    statement_refused(
        {"Effect": "Allow", "Action": "kms:ListKeys", "Resource": {"a": 1}}, "Resource"
    )
    statement_refused({**allow("kms:ListKeys"), "Sid": 5}, "Sid")


def test_error_names_the_statement() -> None:
    message = refused(
        {"Version": V, "Statement": [allow("kms:ListKeys"), allow("kms:Nope")]},
        "statement 2",
        "kms:Nope",
    )
    assert "statement 1" not in message


def test_source_names_the_policy() -> None:
    with pytest.raises(PolicyError, match=r"^payroll\.json: statement 1"):
        parse_policy({"Statement": [allow("kms:Nope")]}, "payroll.json")
    assert parse_policy({"Statement": [allow("kms:ListKeys")]}, "mine").source == "mine"


# --- canned policies ----------------------------------------------------------------------------


def test_canned_policy_names() -> None:
    assert set(CANNED_POLICIES) == {
        "consoleAdmin",
        "readwrite",
        "readonly",
        "writeonly",
        "KMSKeyAdministrator",
        "KMSKeyUser",
        "KMSAuditor",
    }
    for name, canned in CANNED_POLICIES.items():
        assert canned.source == name


def kms_allowed(p: Policy, key_id: str = "some-key") -> set[str]:
    return {action for action in KMS_ACTIONS if p.allows(Request.kms(action, key_id))}


def test_kms_key_administrator() -> None:
    admin = CANNED_POLICIES["KMSKeyAdministrator"]
    expected = {
        "kms:DescribeKey",
        "kms:ListKeys",
        "kms:EnableKey",
        "kms:DisableKey",
        "kms:RotateKey",
        "kms:DeleteKey",
    }
    assert kms_allowed(admin) == expected
    assert kms_allowed(admin, "") == expected
    for action in ("kms:Configure", "kms:ServiceControl", "kms:Backup", "kms:GenerateDataKey"):
        assert not admin.allows(Request.kms(action, "some-key")), action
        assert not admin.allows(Request.kms(action)), action
    assert not admin.allows(Request.s3("s3:GetObject", "b", "k"))


def test_kms_auditor() -> None:
    auditor = CANNED_POLICIES["KMSAuditor"]
    assert kms_allowed(auditor) == {"kms:ListKeys", "kms:DescribeKey"}
    assert kms_allowed(auditor, "") == {"kms:ListKeys", "kms:DescribeKey"}
    assert not auditor.allows(Request.s3("s3:ListBucket", "b"))


def test_kms_key_user() -> None:
    user = CANNED_POLICIES["KMSKeyUser"]
    expected = {"kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"}
    assert kms_allowed(user) == expected
    assert kms_allowed(user, "") == expected


def test_readwrite() -> None:
    rw = CANNED_POLICIES["readwrite"]
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteBucket"):
        assert rw.allows(Request.s3(action, "any-bucket", "any/key")), action
    assert rw.allows(Request.s3("s3:ListBucket", "any-bucket"))
    assert rw.allows(Request.s3("s3:ListAllMyBuckets"))
    assert kms_allowed(rw) == set()
    assert kms_allowed(rw, "") == set()


def test_console_admin_allows_everything() -> None:
    admin = CANNED_POLICIES["consoleAdmin"]
    assert kms_allowed(admin) == set(KMS_ACTIONS)
    assert kms_allowed(admin, "") == set(KMS_ACTIONS)
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteBucket", "s3:PutBucketEncryption"):
        assert admin.allows(Request.s3(action, "b", "k")), action
    assert admin.allows(Request.s3("s3:ListAllMyBuckets"))
    assert admin.allows(Request("admin:ServerInfo"))


def test_readonly() -> None:
    ro = CANNED_POLICIES["readonly"]
    assert ro.allows(Request.s3("s3:GetObject", "b", "k"))
    assert ro.allows(Request.s3("s3:GetBucketLocation", "b"))
    assert not ro.allows(Request.s3("s3:PutObject", "b", "k"))
    assert not ro.allows(Request.s3("s3:DeleteObject", "b", "k"))
    assert kms_allowed(ro) == set()


def test_writeonly() -> None:
    wo = CANNED_POLICIES["writeonly"]
    assert wo.allows(Request.s3("s3:PutObject", "b", "k"))
    assert not wo.allows(Request.s3("s3:GetObject", "b", "k"))
    assert kms_allowed(wo) == set()


# --- to_document and merged ---------------------------------------------------------------------

SAMPLE_REQUESTS = (
    [Request.kms(action, key_id) for action in KMS_ACTIONS for key_id in ("", "a", "payroll-1")]
    + [
        Request.s3(action, bucket, key)
        for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject")
        for bucket, key in (("b", "k"), ("secret", "k"), ("b", "d/e"))
    ]
    + [Request.s3("s3:ListBucket", b) for b in ("b", "secret")]
    + [Request.s3("s3:ListAllMyBuckets"), Request("admin:ServerInfo")]
)


def decisions(p: Policy, requests: Iterable[Request] = SAMPLE_REQUESTS) -> list[bool]:
    return [p.allows(r) for r in requests]


CUSTOM = policy(
    {**allow("kms:*", "arn:aws:kms:::*"), "Sid": "AllKeys"},
    deny("kms:*", "arn:aws:kms:::key/payroll-*"),
    {"Effect": "Allow", "NotAction": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/*"},
    {"Effect": "Deny", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::b/*"},
    allow("*", "arn:aws:s3:::b"),
)


@pytest.mark.parametrize(
    "original", [*CANNED_POLICIES.values(), CUSTOM], ids=[*CANNED_POLICIES, "custom"]
)
def test_to_document_round_trips(original: Policy) -> None:
    document = original.to_document()
    assert document["Version"] == V
    text = json.dumps(document)  # JSON-ready
    again = parse_policy(text, "again")
    assert again.statements == original.statements
    assert decisions(again) == decisions(original)


def test_to_document_keeps_fields() -> None:
    document = CUSTOM.to_document()
    statements = document["Statement"]
    assert statements[0] == {
        "Effect": "Allow",
        "Sid": "AllKeys",
        "Action": ["kms:*"],
        "Resource": ["arn:aws:kms:::*"],
    }
    assert statements[2]["NotAction"] == ["s3:DeleteObject"]
    assert "Action" not in statements[2]
    assert statements[3]["NotResource"] == ["arn:aws:s3:::b/*"]
    assert statements[4]["Action"] == ["s3:*"]


def test_sample_decisions_are_not_trivial() -> None:
    # guards the round-trip test: the custom policy both allows and refuses some samples
    results = decisions(CUSTOM)
    assert any(results)
    assert not all(results)


def test_merged_combines_decisions() -> None:
    kms = policy(allow("kms:ListKeys"))
    s3 = policy(allow("s3:GetObject", "arn:aws:s3:::*"))
    both = kms.merged(s3)
    assert both.allows(Request.kms("kms:ListKeys"))
    assert both.allows(Request.s3("s3:GetObject", "b", "k"))
    assert not both.allows(Request.kms("kms:DeleteKey", "a"))
    assert both.source == "test, test"
    for request in SAMPLE_REQUESTS:
        expected = kms.allows(request) or s3.allows(request)
        assert both.allows(request) is expected
        assert s3.merged(kms).allows(request) is expected


def test_merged_deny_from_either_wins() -> None:
    admin = CANNED_POLICIES["consoleAdmin"]
    no_payroll = policy(deny("kms:*", "arn:aws:kms:::key/payroll-*"))
    for merged in (admin.merged(no_payroll), no_payroll.merged(admin)):
        assert not merged.allows(Request.kms("kms:DeleteKey", "payroll-1"))
        assert merged.allows(Request.kms("kms:DeleteKey", "app-1"))
        assert merged.denies_explicitly(Request.kms("kms:DescribeKey", "payroll-x"))
    assert admin.merged(no_payroll).source == "consoleAdmin, test"


# --- properties ---------------------------------------------------------------------------------

KEY_ALPHABET = "abc019-_."
KEY_LEVEL_ACTIONS = [a for a in KMS_ACTIONS if a not in ("kms:Backup", "kms:Restore")]


@settings(max_examples=300, deadline=None)
@given(
    key_id=st.text(KEY_ALPHABET, min_size=1, max_size=8),
    prefix=st.text(KEY_ALPHABET, min_size=1, max_size=3),
    action=st.sampled_from(KEY_LEVEL_ACTIONS),
)
def test_deny_prefix_refuses_exactly_the_prefixed_ids(
    key_id: str, prefix: str, action: str
) -> None:
    p = policy(allow("kms:*", "arn:aws:kms:::*"), deny("kms:*", f"arn:aws:kms:::key/{prefix}*"))
    request = Request.kms(action, key_id)
    assert p.allows(request) is not key_id.startswith(prefix)
    assert p.denies_explicitly(request) is key_id.startswith(prefix)


@settings(max_examples=300, deadline=None)
@given(
    key_id=st.text(KEY_ALPHABET, min_size=1, max_size=8),
    other=st.text(KEY_ALPHABET, min_size=1, max_size=8),
)
def test_exact_key_resource_matches_only_that_key(key_id: str, other: str) -> None:
    p = policy(allow("kms:DescribeKey", f"arn:aws:kms:::key/{key_id}"))
    assert p.allows(Request.kms("kms:DescribeKey", key_id))
    assert p.allows(Request.kms("kms:DescribeKey", other)) is (other == key_id)


def wildcard_oracle(pattern: str, name: str) -> bool:
    """``*`` any run (``/`` included), ``?`` one character, anything else itself."""
    if not pattern:
        return not name
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        return any(wildcard_oracle(rest, name[i:]) for i in range(len(name) + 1))
    if not name:
        return False
    return (head == "?" or head == name[0]) and wildcard_oracle(rest, name[1:])


SEGMENT = st.text("ab.", min_size=1, max_size=3).filter(lambda s: s not in (".", ".."))


@settings(max_examples=400, deadline=None)
@given(
    pattern=st.text("ab./*?", min_size=1, max_size=8).filter(lambda s: not s.startswith("/")),
    bucket=SEGMENT,
    segments=st.lists(SEGMENT, max_size=3),
)
def test_s3_wildcards_match_like_the_oracle(pattern: str, bucket: str, segments: list[str]) -> None:
    key = "/".join(segments)
    if key:
        request = Request.s3("s3:GetObject", bucket, key)
        path = f"{bucket}/{key}"
    else:
        request = Request.s3("s3:GetObject", bucket)
        path = bucket
    p = policy(allow("s3:GetObject", f"arn:aws:s3:::{pattern}"))
    assert p.allows(request) is wildcard_oracle(pattern, path)


# --- slips found by these tests, now fixed ------------------------------------------------------


def test_doubled_s3_prefix_is_not_an_action() -> None:
    statement_refused(allow("s3:s3:", "arn:aws:s3:::*"), "unknown action")
