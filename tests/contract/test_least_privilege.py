"""RustFS's restricted-account matrix against the embedded server, over real sockets.

Each account of RustFS's own negative-matrix e2e test (a key administrator, an auditor, a
key-scoped administrator, an account with no KMS grant), plus a key user and an account whose
Deny narrows an Allow, sends every admin route and every S3 route; the expected answer comes
from the grants written out below by hand (from the reference's route table and RustFS's role
templates), not from the server's policy code: 403 ``AccessDenied`` where refused, and never
``AccessDenied`` where allowed. Positive controls check that an allowed call really acted.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kms_tui.embedded.accounts import load_users
from kms_tui.embedded.server import EmbeddedServer
from tests.fakes.serve import (
    admin_call,
    configure_local_kms,
    create_key,
    run_serve_to_exit,
    running_serve,
    signed_headers,
    xml_code,
)

ROOT_ACCESS = "matrix-root"
ROOT_SECRET = "matrix-root-secret-0123456789"
SECRET = "restricted-secret-0123456789"
ENCRYPTION_XML = (
    b'<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>"
    b"</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
)

USERS_TOML = """
[[user]]
access_key = "keyadmin"
secret_key_env = "MATRIX_SECRET"
policies = ["KMSKeyAdministrator"]

[[user]]
access_key = "auditor"
secret_key_env = "MATRIX_SECRET"
policies = ["KMSAuditor"]

[[user]]
access_key = "scoped"
secret_key_env = "MATRIX_SECRET"
policy = '''
{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
 "Action": ["kms:DisableKey", "kms:EnableKey"], "Resource": ["arn:aws:kms:::key/key-a"]}]}
'''

[[user]]
access_key = "nokms"
secret_key_env = "MATRIX_SECRET"
policies = ["readwrite"]

[[user]]
access_key = "keyuser"
secret_key_env = "MATRIX_SECRET"
policies = ["KMSKeyUser", "readonly"]

[[user]]
access_key = "denier"
secret_key_env = "MATRIX_SECRET"
policies = ["consoleAdmin", "deny.json"]

[[user]]
access_key = "nogrant"
secret_key_env = "MATRIX_SECRET"
"""

DENY_JSON = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Action": ["kms:DisableKey", "kms:DeleteKey"],
            "Resource": ["arn:aws:kms:::key/key-b"],
        },
        {
            "Effect": "Deny",
            "Action": ["s3:PutBucketEncryption"],
            "Resource": ["arn:aws:s3:::vault"],
        },
    ],
}

# The grants, written out by hand: (action, key id or "", bucket or "") -> allowed?
Grant = Callable[[str, str, str], bool]
KEY_ADMIN = {
    "kms:DescribeKey",
    "kms:ListKeys",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:RotateKey",
    "kms:DeleteKey",
}
GRANTS: dict[str, Grant] = {
    "keyadmin": lambda action, key, bucket: action in KEY_ADMIN,
    "auditor": lambda action, key, bucket: action in {"kms:DescribeKey", "kms:ListKeys"},
    "scoped": lambda action, key, bucket: (
        action in {"kms:DisableKey", "kms:EnableKey"} and key in ("key-a", "")
    ),
    "nokms": lambda action, key, bucket: action.startswith("s3:"),
    "keyuser": lambda action, key, bucket: (
        action in {"kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"}
        or action in {"s3:GetObject", "s3:GetBucketLocation"}
        or action == "s3:ListAllMyBuckets"  # narrowed to the buckets it may locate: all
    ),
    "denier": lambda action, key, bucket: (
        not (
            (action in {"kms:DisableKey", "kms:DeleteKey"} and key == "key-b")
            or (action == "s3:PutBucketEncryption" and bucket == "vault")
        )
    ),
    "nogrant": lambda action, key, bucket: False,
}


@dataclass(frozen=True)
class Call:
    """One route of the matrix: what is sent, and the action/key/bucket it asks for."""

    name: str
    method: str
    target: str  # path and query, from the server root
    body: bytes
    action: str
    key: str = ""
    bucket: str = ""


def _json(payload: object) -> bytes:
    return json.dumps(payload).encode()


def _admin(name: str, method: str, path: str, payload: object, action: str, key: str = "") -> Call:
    body = b"" if payload is None else _json(payload)
    return Call(name, method, "/rustfs/admin/v3" + path, body, action, key)


def _s3(name: str, method: str, target: str, action: str, bucket: str, body: bytes = b"") -> Call:
    return Call(name, method, target, body, action, bucket=bucket)


# The reference's route table (§6) with a request for each route; stop and configure-like
# routes come last so an account allowed them does not change what the others meet.
ADMIN_CALLS = [
    _admin("service-status", "GET", "/kms/service-status", None, "kms:ServiceControl"),
    _admin("status GET", "GET", "/kms/status", None, "kms:ServiceControl"),
    _admin("status POST", "POST", "/kms/status", {}, "kms:ServiceControl"),
    _admin("config", "GET", "/kms/config", None, "kms:Configure"),
    _admin("clear-cache", "POST", "/kms/clear-cache", {}, "kms:ClearCache"),
    _admin("create", "POST", "/kms/keys", {"tags": {"name": "made-here"}}, "kms:Configure"),
    _admin("list", "GET", "/kms/keys", None, "kms:ListKeys"),
    _admin("describe", "GET", "/kms/keys/key-a", None, "kms:DescribeKey", "key-a"),
    _admin("describe other", "GET", "/kms/keys/key-b", None, "kms:DescribeKey", "key-b"),
    _admin(
        "generate-data-key",
        "POST",
        "/kms/generate-data-key",
        {"key_id": "key-a", "key_spec": "Aes256"},
        "kms:GenerateDataKey",
        "key-a",
    ),
    _admin("legacy create", "POST", "/kms/create-key", {}, "kms:Configure"),
    _admin("mc create", "POST", "/kms/key/create", {}, "kms:Configure"),
    _admin(
        "legacy describe", "GET", "/kms/describe-key?keyId=key-a", None, "kms:DescribeKey", "key-a"
    ),
    _admin(
        "mc key status", "GET", "/kms/key/status?key-id=key-b", None, "kms:DescribeKey", "key-b"
    ),
    _admin("legacy list", "GET", "/kms/list-keys", None, "kms:ListKeys"),
    _admin("enable", "POST", "/kms/keys/enable", {"key_id": "key-a"}, "kms:EnableKey", "key-a"),
    _admin("disable", "POST", "/kms/keys/disable", {"key_id": "key-a"}, "kms:DisableKey", "key-a"),
    _admin(
        "disable other", "POST", "/kms/keys/disable", {"key_id": "key-b"}, "kms:DisableKey", "key-b"
    ),
    _admin(
        "enable by query", "POST", "/kms/keys/enable?keyId=key-b", None, "kms:EnableKey", "key-b"
    ),
    _admin("rotate", "POST", "/kms/keys/rotate", {"key_id": "key-a"}, "kms:RotateKey", "key-a"),
    _admin(
        "update-description",
        "POST",
        "/kms/keys/update-description",
        {"key_id": "key-a", "description": "new"},
        "kms:UpdateKeyDescription",
        "key-a",
    ),
    _admin(
        "tag",
        "POST",
        "/kms/keys/tag",
        {"key_id": "key-a", "tags": {"team": "x"}},
        "kms:TagResource",
        "key-a",
    ),
    _admin(
        "untag",
        "POST",
        "/kms/keys/untag",
        {"key_id": "key-a", "tag_keys": ["team"]},
        "kms:UntagResource",
        "key-a",
    ),
    _admin(
        "delete",
        "DELETE",
        "/kms/keys/delete",
        {"key_id": "key-b", "pending_window_in_days": 7},
        "kms:DeleteKey",
        "key-b",
    ),
    _admin(
        "cancel-deletion",
        "POST",
        "/kms/keys/cancel-deletion",
        {"key_id": "key-b"},
        "kms:DeleteKey",
        "key-b",
    ),
    _admin("backup status", "GET", "/kms/backup", None, "kms:Backup"),
    _admin("backup", "POST", "/kms/backup", {}, "kms:Backup"),
    _admin("restore dry-run", "POST", "/kms/restore/dry-run", {}, "kms:Restore"),
    _admin("restore", "POST", "/kms/restore", {}, "kms:Restore"),
    _admin("restore abort", "POST", "/kms/restore/abort", {}, "kms:Restore"),
    _admin("start", "POST", "/kms/start", {}, "kms:ServiceControl"),
    _admin("reconfigure", "POST", "/kms/reconfigure", {}, "kms:Configure"),
    _admin("configure", "POST", "/kms/configure", {}, "kms:Configure"),
    _admin("stop", "POST", "/kms/stop", {}, "kms:ServiceControl"),
]
S3_CALLS = [
    _s3("ListBuckets", "GET", "/", "s3:ListAllMyBuckets", ""),
    _s3("CreateBucket", "PUT", "/made-here", "s3:CreateBucket", "made-here"),
    _s3("HeadBucket", "HEAD", "/vault", "s3:ListBucket", "vault"),
    _s3("GetBucketEncryption", "GET", "/vault?encryption", "s3:GetBucketEncryption", "vault"),
    _s3(
        "PutBucketEncryption",
        "PUT",
        "/vault?encryption",
        "s3:PutBucketEncryption",
        "vault",
        ENCRYPTION_XML,
    ),
    _s3("ListObjectsV2", "GET", "/vault?list-type=2", "s3:ListBucket", "vault"),
    _s3("PutObject", "PUT", "/vault/new.txt", "s3:PutObject", "vault", b"new object"),
    _s3("GetObject", "GET", "/vault/kept.txt", "s3:GetObject", "vault"),
    _s3("HeadObject", "HEAD", "/vault/kept.txt", "s3:GetObject", "vault"),
    _s3("DeleteObject", "DELETE", "/vault/kept.txt", "s3:DeleteObject", "vault"),
    _s3(
        "DeleteBucketEncryption",
        "DELETE",
        "/vault?encryption",
        "s3:PutBucketEncryption",
        "vault",
    ),
    _s3("DeleteBucket", "DELETE", "/spare", "s3:DeleteBucket", "spare"),
]


def send(
    server: EmbeddedServer, access_key: str, method: str, target: str, body: bytes = b""
) -> httpx.Response:
    url = server.endpoint + target
    secret = ROOT_SECRET if access_key == ROOT_ACCESS else SECRET
    headers = {"content-type": "application/json"} if target.startswith("/rustfs") and body else {}
    signed = signed_headers(
        method, url, access_key=access_key, secret_key=secret, body=body, headers=headers
    )
    return httpx.request(method, url, content=body, headers=signed, timeout=30)


def refused(answer: httpx.Response) -> bool:
    """RustFS's refusal: 403 with an S3 XML AccessDenied (a HEAD answer has no body)."""
    if answer.status_code != 403:
        return False
    return answer.request.method == "HEAD" or xml_code(answer.content) == "AccessDenied"


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    (tmp_path / "deny.json").write_text(json.dumps(DENY_JSON))
    path = tmp_path / "users.toml"
    path.write_text(USERS_TOML)
    return path


@pytest.fixture
def matrix_server(tmp_path: Path, users_file: Path) -> Iterator[EmbeddedServer]:
    """key-a and key-b, bucket vault with kept.txt, an empty bucket spare; six accounts."""
    users = load_users(users_file, {"MATRIX_SECRET": SECRET})
    server = EmbeddedServer(
        tmp_path / "data",
        access_key=ROOT_ACCESS,
        secret_key=ROOT_SECRET,
        log_file=tmp_path / "server.log",
        users=users,
    )
    server.start()
    try:
        configure_local_kms(server.endpoint, ROOT_ACCESS, ROOT_SECRET, tmp_path / "keys")
        for name in ("key-a", "key-b"):
            assert create_key(server.endpoint, ROOT_ACCESS, ROOT_SECRET, name).status_code == 200
        for bucket in ("vault", "spare"):
            assert send(server, ROOT_ACCESS, "PUT", f"/{bucket}").status_code == 200
        assert send(server, ROOT_ACCESS, "PUT", "/vault/kept.txt", b"kept").status_code == 200
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("account", sorted(GRANTS))
def test_every_route_answers_as_the_accounts_grants_say(
    matrix_server: EmbeddedServer, account: str
) -> None:
    grant = GRANTS[account]
    wrong: list[str] = []
    for call in S3_CALLS + ADMIN_CALLS:
        answer = send(matrix_server, account, call.method, call.target, call.body)
        expected = grant(call.action, call.key, call.bucket)
        if expected == refused(answer):
            wrong.append(
                f"{call.name}: expected {'allowed' if expected else 'AccessDenied'}, "
                f"got {answer.status_code} {answer.text[:120]!r}"
            )
    assert not wrong, f"{account}:\n" + "\n".join(wrong)
    # The root credential is refused nothing, whatever the users file says.
    for call in (ADMIN_CALLS[0], S3_CALLS[0], S3_CALLS[3]):
        assert not refused(send(matrix_server, ROOT_ACCESS, call.method, call.target, call.body))


def test_allowed_calls_really_act_and_refused_ones_change_nothing(
    matrix_server: EmbeddedServer,
) -> None:
    def state(key: str) -> str:
        answer = admin_call(
            matrix_server.endpoint, ROOT_ACCESS, ROOT_SECRET, "GET", f"/kms/keys/{key}"
        )
        return str(answer.json()["key_metadata"]["key_state"])

    disable_b = _json({"key_id": "key-b"})
    disable_a = _json({"key_id": "key-a"})
    # RustFS's e2e: the key administrator disables and enables any key.
    answer = send(matrix_server, "keyadmin", "POST", "/rustfs/admin/v3/kms/keys/disable", disable_b)
    assert answer.status_code == 200 and answer.json()["success"]
    assert state("key-b") == "Disabled"
    assert send(
        matrix_server, "keyadmin", "POST", "/rustfs/admin/v3/kms/keys/enable", disable_b
    ).json()["success"]
    # The auditor lists every key and may not disable one.
    listed = send(matrix_server, "auditor", "GET", "/rustfs/admin/v3/kms/keys")
    assert {key["key_id"] for key in listed.json()["keys"]} == {"key-a", "key-b"}
    assert refused(
        send(matrix_server, "auditor", "POST", "/rustfs/admin/v3/kms/keys/disable", disable_a)
    )
    assert state("key-a") == "Enabled"
    # The key-scoped account: key-a yes, key-b no, rotate of key-a no.
    assert send(
        matrix_server, "scoped", "POST", "/rustfs/admin/v3/kms/keys/disable", disable_a
    ).json()["success"]
    assert state("key-a") == "Disabled"
    assert refused(
        send(matrix_server, "scoped", "POST", "/rustfs/admin/v3/kms/keys/disable", disable_b)
    )
    assert state("key-b") == "Enabled"
    # The Deny on key-b overrides consoleAdmin's kms:*; key-a stays reachable.
    assert refused(
        send(matrix_server, "denier", "POST", "/rustfs/admin/v3/kms/keys/disable", disable_b)
    )
    assert state("key-b") == "Enabled"
    assert send(
        matrix_server, "denier", "POST", "/rustfs/admin/v3/kms/keys/enable", disable_a
    ).json()["success"]
    assert state("key-a") == "Enabled"
    # The key user generates a data key and reads the object; it may not write one.
    data_key = send(
        matrix_server,
        "keyuser",
        "POST",
        "/rustfs/admin/v3/kms/generate-data-key",
        _json({"key_id": "key-a", "key_spec": "Aes256"}),
    )
    assert data_key.status_code == 200 and data_key.json()["key_id"] == "key-a"
    assert send(matrix_server, "keyuser", "GET", "/vault/kept.txt").content == b"kept"
    assert refused(send(matrix_server, "keyuser", "PUT", "/vault/other.txt", b"x" * 300_000))
    assert send(matrix_server, ROOT_ACCESS, "HEAD", "/vault/other.txt").status_code == 404


def test_an_unauthorised_malformed_body_is_refused_before_it_is_parsed(
    matrix_server: EmbeddedServer,
) -> None:
    path = "/rustfs/admin/v3/kms/keys/disable"
    assert refused(send(matrix_server, "auditor", "POST", path, b"{not json"))
    assert refused(send(matrix_server, "nogrant", "POST", "/rustfs/admin/v3/kms/configure", b"<"))
    # The same bodies from accounts allowed the action reach the parser: its 400, not a 403.
    assert send(matrix_server, "keyadmin", "POST", path, b"{not json").status_code == 400
    configure = send(matrix_server, ROOT_ACCESS, "POST", "/rustfs/admin/v3/kms/configure", b"<")
    assert configure.status_code == 400 and configure.text.startswith("Invalid JSON")


def test_list_buckets_narrows_to_what_the_account_may_see(
    matrix_server: EmbeddedServer, tmp_path: Path
) -> None:
    assert refused(send(matrix_server, "auditor", "GET", "/"))  # no bucket visible at all
    listed = send(matrix_server, "nokms", "GET", "/")
    assert listed.status_code == 200
    assert "<Name>vault</Name>" in listed.text and "<Name>spare</Name>" in listed.text


def test_account_info_names_the_account_its_policy_and_its_buckets(
    matrix_server: EmbeddedServer,
) -> None:
    info = send(matrix_server, "auditor", "GET", "/rustfs/admin/v3/accountinfo").json()
    assert info["account_name"] == "auditor"
    policy = json.loads(info["policy"])
    assert policy["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["kms:DescribeKey", "kms:ListKeys"],
            "Resource": ["arn:aws:kms:::*"],
        }
    ]
    assert info["buckets"] == []
    rw = send(matrix_server, "nokms", "GET", "/rustfs/admin/v3/accountinfo").json()
    assert {(b["name"], b["access"]["read"], b["access"]["write"]) for b in rw["buckets"]} == {
        ("vault", True, True),
        ("spare", True, True),
    }
    root = send(matrix_server, ROOT_ACCESS, "GET", "/rustfs/admin/v3/accountinfo").json()
    assert root["account_name"] == ROOT_ACCESS
    assert {"Effect": "Allow", "Action": ["kms:*"]} in json.loads(root["policy"])["Statement"]


def test_unknown_keys_and_wrong_secrets_are_refused_as_before(
    matrix_server: EmbeddedServer,
) -> None:
    url = matrix_server.endpoint + "/rustfs/admin/v3/kms/keys"
    for access, secret, code in (
        ("stranger", SECRET, "InvalidAccessKeyId"),
        ("auditor", "not-the-secret-at-all", "SignatureDoesNotMatch"),
    ):
        headers = signed_headers("GET", url, access_key=access, secret_key=secret)
        answer = httpx.get(url, headers=headers, timeout=30)
        assert answer.status_code == 403 and xml_code(answer.content) == code


def test_serve_users_runs_the_accounts_and_never_logs_a_secret(
    tmp_path: Path, users_file: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RUSTFS_", "XDG_"))},
        "MATRIX_SECRET": SECRET,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
    }
    with running_serve(
        tmp_path / "data",
        "--users",
        str(users_file),
        access_key=ROOT_ACCESS,
        secret_key=ROOT_SECRET,
        env=env,
    ) as served:
        configure_local_kms(served.endpoint, ROOT_ACCESS, ROOT_SECRET, tmp_path / "keys")
        url = served.endpoint + "/rustfs/admin/v3/kms/keys"
        ok = httpx.get(
            url, headers=signed_headers("GET", url, access_key="auditor", secret_key=SECRET)
        )
        assert ok.status_code == 200
        no = admin_call(
            served.endpoint, "auditor", SECRET, "POST", "/kms/keys/disable", {"key_id": "x"}
        )
        assert no.status_code == 403 and xml_code(no.content) == "AccessDenied"
        served.stop()
        log = served.stderr_text()
    assert "account auditor: KMSAuditor" in log
    assert "kms:DisableKey refused to auditor" in log
    assert SECRET not in log and ROOT_SECRET not in log


def test_serve_refuses_a_bad_users_file_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "users.toml"
    bad.write_text('[[user]]\naccess_key = "auditor"\nsecret_key = "inline-secret-123"\n')
    bad.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    done = run_serve_to_exit(tmp_path / "data", "--users", str(bad))
    assert done.returncode == 2
    assert "chmod 600" in done.stderr
    assert "inline-secret-123" not in done.stderr


def test_the_commands_under_an_auditor_list_refuse_and_say_why(
    matrix_server: EmbeddedServer, tmp_path: Path
) -> None:
    from tests.commands.support import base_env, run_cli

    env = base_env(tmp_path / "home", {"RUSTFS_ACCESS_KEY": "auditor", "RUSTFS_SECRET_KEY": SECRET})
    endpoint = ("--endpoint", matrix_server.endpoint)
    listed = run_cli(*endpoint, "keys", "list", "--json", env=env)
    assert listed.code == 0
    assert {key["key_id"] for key in listed.json["keys"]} == {"key-a", "key-b"}
    refused_disable = run_cli(*endpoint, "keys", "disable", "key-a", "--json", env=env)
    assert refused_disable.code == 1  # the server refused: the documented exit code
    assert refused_disable.json["error"]["code"] == "AccessDenied"
    doctor = run_cli(*endpoint, "doctor", "--json", env=env)
    assert doctor.code == 1
    checks = {check["id"]: check for check in doctor.json["checks"]}
    assert checks["credentials"]["outcome"] == "ok"
    assert checks["service"]["outcome"] == "failed"
    assert "denied for this account (kms:ServiceControl)" in checks["service"]["detail"]
    assert all(checks[name]["outcome"] == "skipped" for name in ("backend", "default_key"))
