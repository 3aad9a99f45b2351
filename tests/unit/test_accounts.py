"""The users file of ``kms-tui serve --users FILE`` and the server's account lookup.

Expected answers come from the rules in ``kms_tui.embedded.accounts``'s docstring.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from kms_tui.embedded.accounts import Account, Accounts, UsersFileError, load_users
from kms_tui.policy import CANNED_POLICIES, Policy, Request

SECRET = "s3cr3t-value-one"
ENV = {"APP_SECRET": SECRET}

PAYROLL_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["kms:EnableKey", "kms:DisableKey", "kms:DeleteKey"],
            "Resource": ["arn:aws:kms:::key/payroll-*"],
        }
    ],
}

THREE_USERS = """
[[user]]
access_key = "auditor"
secret_key_env = "AUDITOR_SECRET"
policies = ["KMSAuditor", "readonly"]

[[user]]
access_key = "payroll-admin"
secret_key_env = "PAYROLL_SECRET"
policies = ["policies/payroll.json"]
policy = '''
{"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
  "Action": ["kms:DeleteKey"], "Resource": ["arn:aws:kms:::key/payroll-prod"]}]}
'''

[[user]]
access_key = "app@example.com"
secret_key_env = "APP_USER_SECRET"

[user.policy]
Version = "2012-10-17"

[[user.policy.Statement]]
Effect = "Allow"
Action = ["kms:GenerateDataKey", "kms:Decrypt"]
Resource = ["arn:aws:kms:::key/app-*"]
"""
THREE_ENV = {
    "AUDITOR_SECRET": "auditor-secret-1",
    "PAYROLL_SECRET": "payroll-secret-2",
    "APP_USER_SECRET": "app-user-secret-3",
}


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def user(body: str) -> str:
    return "[[user]]\n" + body.strip() + "\n"


def failure(path: Path, environ: Mapping[str, str] = ENV) -> str:
    """Load ``path``, expect a UsersFileError naming the file; return its message."""
    with pytest.raises(UsersFileError) as caught:
        load_users(path, environ=environ)
    message = str(caught.value)
    assert str(path) in message, message
    return message


def kms(action: str, key_id: str = "") -> Request:
    return Request.kms(action, key_id)


def policy_of(account: Account) -> Policy:
    assert account.policy is not None
    return account.policy


# --- a full file --------------------------------------------------------------------------------


@pytest.fixture
def three_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Account, ...]:
    conf = tmp_path / "conf"
    write(conf / "policies" / "payroll.json", json.dumps(PAYROLL_POLICY), 0o644)
    users = write(conf / "users.toml", THREE_USERS, 0o644)  # no inline secret: 0644 is fine
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # policy files are relative to the users file, not the cwd
    return load_users(users, environ=THREE_ENV)


def test_three_users_load(three_users: tuple[Account, ...]) -> None:
    assert [a.access_key for a in three_users] == ["auditor", "payroll-admin", "app@example.com"]
    assert [a.secret_key for a in three_users] == [
        "auditor-secret-1",
        "payroll-secret-2",
        "app-user-secret-3",
    ]
    assert all(not a.is_owner for a in three_users)


def test_policy_names_listed(three_users: tuple[Account, ...]) -> None:
    auditor, payroll, app = three_users
    assert auditor.policy_names == ("KMSAuditor", "readonly")
    assert payroll.policy_names == ("policies/payroll.json", "inline")
    assert app.policy_names == ("inline",)


def test_canned_policies_are_merged(three_users: tuple[Account, ...]) -> None:
    auditor = policy_of(three_users[0])
    assert auditor.allows(kms("kms:ListKeys"))
    assert auditor.allows(kms("kms:DescribeKey", "any"))
    assert not auditor.allows(kms("kms:DeleteKey", "any"))
    assert not auditor.allows(kms("kms:GenerateDataKey", "any"))
    assert auditor.allows(Request.s3("s3:GetObject", "b", "k"))  # from readonly
    assert not auditor.allows(Request.s3("s3:PutObject", "b", "k"))


def test_policy_file_and_inline_json(three_users: tuple[Account, ...]) -> None:
    payroll = policy_of(three_users[1])
    assert payroll.allows(kms("kms:DeleteKey", "payroll-dev"))
    assert payroll.allows(kms("kms:EnableKey", "payroll-prod"))
    assert not payroll.allows(kms("kms:DeleteKey", "payroll-prod"))  # the inline Deny
    assert not payroll.allows(kms("kms:EnableKey", "app-1"))
    assert not payroll.allows(kms("kms:DescribeKey", "payroll-dev"))


def test_inline_toml_table(three_users: tuple[Account, ...]) -> None:
    app = policy_of(three_users[2])
    assert app.allows(kms("kms:GenerateDataKey", "app-1"))
    assert app.allows(kms("kms:Decrypt", "app-2"))
    assert not app.allows(kms("kms:GenerateDataKey", "payroll-1"))
    assert not app.allows(kms("kms:DescribeKey", "app-1"))


def test_policy_file_named_by_json_suffix(tmp_path: Path) -> None:
    write(tmp_path / "auditor.json", json.dumps(PAYROLL_POLICY))
    path = write(
        tmp_path / "users.toml",
        user('access_key = "ops"\nsecret_key_env = "APP_SECRET"\npolicies = ["auditor.json"]'),
    )
    (account,) = load_users(path, environ=ENV)
    assert account.policy_names == ("auditor.json",)
    assert policy_of(account).allows(kms("kms:DisableKey", "payroll-1"))


def test_policies_and_inline_policy_combine(tmp_path: Path) -> None:
    path = write(
        tmp_path / "users.toml",
        user(
            'access_key = "ops"\nsecret_key_env = "APP_SECRET"\npolicies = ["KMSKeyUser"]\n'
            'policy = \'{"Statement": {"Effect": "Deny", "Action": "kms:Decrypt"}}\''
        ),
    )
    (account,) = load_users(path, environ=ENV)
    assert account.policy_names == ("KMSKeyUser", "inline")
    p = policy_of(account)
    assert p.allows(kms("kms:GenerateDataKey", "k"))
    assert not p.allows(kms("kms:Decrypt", "k"))


def test_empty_file_has_no_users(tmp_path: Path) -> None:
    assert load_users(write(tmp_path / "users.toml", ""), environ=ENV) == ()


# --- secrets ------------------------------------------------------------------------------------


def test_secret_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path / "u.toml", user('access_key = "ops"\nsecret_key_env = "APP_SECRET"'))
    (account,) = load_users(path, environ={"APP_SECRET": "from-the-env"})
    assert account.secret_key == "from-the-env"


def test_environ_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMS_TUI_TEST_USER_SECRET", "process-env-secret")
    path = write(
        tmp_path / "u.toml", user('access_key = "ops"\nsecret_key_env = "KMS_TUI_TEST_USER_SECRET"')
    )
    (account,) = load_users(path)
    assert account.secret_key == "process-env-secret"


@pytest.mark.parametrize("environ", [{}, {"NOPE_SECRET": ""}, {"OTHER": "long-enough"}])
def test_missing_variable_is_named(tmp_path: Path, environ: dict[str, str]) -> None:
    path = write(tmp_path / "u.toml", user('access_key = "ops"\nsecret_key_env = "NOPE_SECRET"'))
    message = failure(path, environ)
    assert "NOPE_SECRET" in message
    assert "ops" in message


def test_both_secret_sources_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "u.toml",
        user('access_key = "ops"\nsecret_key = "inline-secret"\nsecret_key_env = "APP_SECRET"'),
    )
    assert "exactly one" in failure(path)


def test_no_secret_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "u.toml", user('access_key = "ops"\npolicies = ["KMSAuditor"]'))
    assert "exactly one" in failure(path)


@pytest.mark.parametrize("secret", ["", "a", "1234567", "seven77"])
def test_short_secret_refused(tmp_path: Path, secret: str) -> None:
    path = write(tmp_path / "u.toml", user('access_key = "ops"\nsecret_key_env = "S"'))
    environ = {"S": secret}
    message = failure(path, environ)
    assert "8" in message or "not set" in message


def test_short_inline_secret_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "u.toml", user('access_key = "ops"\nsecret_key = "1234567"'))
    assert "at least 8" in failure(path)


def test_eight_character_secret_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "u.toml", user('access_key = "ops"\nsecret_key_env = "S"'))
    (account,) = load_users(path, environ={"S": "12345678"})
    assert account.secret_key == "12345678"


@pytest.mark.parametrize("value", ["3", "[]", '""'])
def test_secret_fields_must_be_strings(tmp_path: Path, value: str) -> None:
    for field in ("secret_key", "secret_key_env"):
        path = write(tmp_path / f"u-{field}.toml", user(f'access_key = "ops"\n{field} = {value}'))
        failure(path)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_inline_secret_needs_a_private_file(tmp_path: Path, mode: int) -> None:
    path = write(
        tmp_path / "u.toml", user('access_key = "ops"\nsecret_key = "inline-secret"'), mode
    )
    message = failure(path)
    assert "chmod 600" in message
    assert "secret_key_env" in message
    assert "inline-secret" not in message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_inline_secret_in_private_file_loads(tmp_path: Path, mode: int) -> None:
    path = write(
        tmp_path / "u.toml", user('access_key = "ops"\nsecret_key = "inline-secret"'), mode
    )
    (account,) = load_users(path, environ={})
    assert account.secret_key == "inline-secret"


def test_environment_secrets_allow_a_readable_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "u.toml", user('access_key = "ops"\nsecret_key_env = "APP_SECRET"'), 0o644
    )
    (account,) = load_users(path, environ=ENV)
    assert account.secret_key == SECRET


def test_one_inline_secret_makes_the_whole_file_private(tmp_path: Path) -> None:
    text = user('access_key = "one"\nsecret_key_env = "APP_SECRET"') + user(
        'access_key = "two"\nsecret_key = "inline-secret"'
    )
    assert "chmod 600" in failure(write(tmp_path / "u.toml", text, 0o644))


# --- access keys --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "access_key",
    ["", "ab", "a" * 129, "has space", "slash/key", "colon:key", "ünïcode", "tab\tkey", "quote'"],
)
def test_bad_access_key_refused(tmp_path: Path, access_key: str) -> None:
    path = write(
        tmp_path / "u.toml",
        user(f'access_key = {json.dumps(access_key)}\nsecret_key_env = "APP_SECRET"'),
    )
    assert "access_key" in failure(path)


def test_non_string_access_key_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "u.toml", user('access_key = 12345\nsecret_key_env = "APP_SECRET"'))
    assert "access_key" in failure(path)


@pytest.mark.parametrize("access_key", ["abc", "a" * 128, "A.b_c-d@e+f=g", "0123456789"])
def test_good_access_key_accepted(tmp_path: Path, access_key: str) -> None:
    path = write(
        tmp_path / "u.toml",
        user(f'access_key = {json.dumps(access_key)}\nsecret_key_env = "APP_SECRET"'),
    )
    (account,) = load_users(path, environ=ENV)
    assert account.access_key == access_key


def test_repeated_access_key_refused(tmp_path: Path) -> None:
    body = 'access_key = "ops"\nsecret_key_env = "APP_SECRET"'
    message = failure(write(tmp_path / "u.toml", user(body) + user(body)))
    assert "repeated" in message
    assert "'ops'" in message
    assert "user 2" in message


# --- unknown and malformed content --------------------------------------------------------------


def test_unknown_user_key_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "u.toml",
        user('access_key = "ops"\nsecret_key_env = "APP_SECRET"\npolices = ["KMSAuditor"]'),
    )
    message = failure(path)
    assert "unknown key 'polices'" in message
    assert "ops" in message


def test_unknown_top_level_key_refused(tmp_path: Path) -> None:
    text = "users = []\n" + user('access_key = "ops"\nsecret_key_env = "APP_SECRET"')
    assert "unknown key 'users'" in failure(write(tmp_path / "u.toml", text))


def test_single_user_table_refused(tmp_path: Path) -> None:
    text = '[user]\naccess_key = "ops"\nsecret_key_env = "APP_SECRET"\n'
    assert "[[user]]" in failure(write(tmp_path / "u.toml", text))


def test_unknown_canned_policy_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(
        tmp_path / "u.toml",
        user('access_key = "ops"\nsecret_key_env = "APP_SECRET"\npolicies = ["KMSAdmin"]'),
    )
    message = failure(path)
    assert "'KMSAdmin'" in message
    for name in CANNED_POLICIES:
        assert name in message


@pytest.mark.parametrize("value", ['"KMSAuditor"', '[""]', "[1]", "{}"])
def test_policies_must_be_a_list_of_names(tmp_path: Path, value: str) -> None:
    path = write(
        tmp_path / "u.toml",
        user(f'access_key = "ops"\nsecret_key_env = "APP_SECRET"\npolicies = {value}'),
    )
    assert "policies" in failure(path)


def test_missing_policy_file_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "u.toml",
        user('access_key = "ops"\nsecret_key_env = "APP_SECRET"\npolicies = ["missing.json"]'),
    )
    message = failure(path)
    assert "cannot read policy file" in message
    assert str(tmp_path / "missing.json") in message


def test_bad_policy_file_names_the_statement(tmp_path: Path) -> None:
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "kms:ListKeys"},
            {"Effect": "Allow", "Action": "kms:Nonsense"},
        ],
    }
    write(tmp_path / "bad.json", json.dumps(bad))
    path = write(
        tmp_path / "u.toml",
        user('access_key = "ops"\nsecret_key_env = "APP_SECRET"\npolicies = ["bad.json"]'),
    )
    message = failure(path)
    assert "statement 2" in message
    assert "kms:Nonsense" in message
    assert str(tmp_path / "bad.json") in message


def test_policy_file_that_is_not_json_refused(tmp_path: Path) -> None:
    write(tmp_path / "bad.json", "{not json")
    path = write(
        tmp_path / "u.toml",
        user('access_key = "ops"\nsecret_key_env = "APP_SECRET"\npolicies = ["bad.json"]'),
    )
    assert "not valid JSON" in failure(path)


def test_bad_inline_policy_refused(tmp_path: Path) -> None:
    inline = '{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}'
    path = write(
        tmp_path / "u.toml",
        user(f'access_key = "ops"\nsecret_key_env = "APP_SECRET"\npolicy = \'{inline}\''),
    )
    message = failure(path)
    assert "statement 1" in message
    assert "Resource" in message
    assert "ops" in message


@pytest.mark.parametrize("value", ["3", "[1, 2]", "'{not json'"])
def test_inline_policy_must_be_json_text_or_table(tmp_path: Path, value: str) -> None:
    path = write(
        tmp_path / "u.toml",
        user(f'access_key = "ops"\nsecret_key_env = "APP_SECRET"\npolicy = {value}'),
    )
    assert "policy" in failure(path)


@pytest.mark.parametrize(
    "text", ["[[user]\n", 'access_key = "a"\naccess_key = "b"\n', "= 1\n", "[[user]]\nx = \n"]
)
def test_invalid_toml_refused(tmp_path: Path, text: str) -> None:
    assert "not valid TOML" in failure(write(tmp_path / "u.toml", text))


def test_non_utf8_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "u.toml"
    path.write_bytes(b'[[user]]\naccess_key = "\xff\xfe"\n')
    assert "not valid TOML" in failure(path)


def test_missing_users_file_refused(tmp_path: Path) -> None:
    assert "cannot read" in failure(tmp_path / "nope.toml")


def test_error_names_the_user(tmp_path: Path) -> None:
    text = user('access_key = "first"\nsecret_key_env = "APP_SECRET"') + user(
        'access_key = "second"\nsecret_key_env = "MISSING"'
    )
    message = failure(write(tmp_path / "u.toml", text))
    assert "user 2 (second)" in message


# --- accounts -----------------------------------------------------------------------------------


def test_account_without_policy_is_refused_everything(tmp_path: Path) -> None:
    path = write(tmp_path / "u.toml", user('access_key = "nobody"\nsecret_key_env = "APP_SECRET"'))
    (account,) = load_users(path, environ=ENV)
    assert account.policy_names == ()
    assert not account.is_owner
    p = policy_of(account)
    assert not p.allows(kms("kms:ListKeys"))
    assert not p.allows(kms("kms:DescribeKey", "k"))
    assert not p.allows(Request.s3("s3:ListBucket", "b"))
    assert not p.allows(Request.s3("s3:ListAllMyBuckets"))
    accounts = Accounts("root-access", "root-secret-value", [account])
    assert accounts.account("nobody") is account
    assert accounts.secret_for("nobody") == SECRET
    assert accounts.restricted


def test_users_may_not_take_the_root_access_key() -> None:
    clash = Account("rustfsadmin", "other-secret", Policy(()))
    with pytest.raises(UsersFileError, match="rustfsadmin"):
        Accounts("rustfsadmin", "root-secret-value", [clash])


def test_root_account_is_the_owner() -> None:
    restricted = Account(
        "auditor", "auditor-secret", CANNED_POLICIES["KMSAuditor"], ("KMSAuditor",)
    )
    accounts = Accounts("rustfsadmin", "root-secret-value", [restricted])
    root = accounts.account("rustfsadmin")
    assert root is accounts.root
    assert root is not None and root.is_owner
    assert root.policy is None
    assert accounts.secret_for("rustfsadmin") == "root-secret-value"
    found = accounts.account("auditor")
    assert found is restricted
    assert not found.is_owner
    assert accounts.secret_for("auditor") == "auditor-secret"


@pytest.mark.parametrize(
    "access_key", ["unknown", "", "RUSTFSADMIN", "rustfsadmin ", "audito", "AUDITOR"]
)
def test_unknown_access_key(access_key: str) -> None:
    restricted = Account("auditor", "auditor-secret", Policy(()))
    accounts = Accounts("rustfsadmin", "root-secret-value", [restricted])
    assert accounts.account(access_key) is None
    assert accounts.secret_for(access_key) is None


def test_root_only_is_not_restricted() -> None:
    accounts = Accounts("rustfsadmin", "root-secret-value")
    assert not accounts.restricted
    assert accounts.account("rustfsadmin") is accounts.root


def test_reprs_hide_secrets(tmp_path: Path) -> None:
    path = write(tmp_path / "u.toml", user('access_key = "ops"\nsecret_key = "inline-secret"'))
    loaded = load_users(path, environ={})
    accounts = Accounts("rustfsadmin", "root-secret-value", loaded)
    texts = [repr(accounts), str(accounts), repr(loaded), repr(accounts.root), str(loaded[0])]
    for text in texts:
        assert "inline-secret" not in text
        assert "root-secret-value" not in text
    assert "ops" in repr(accounts)
    assert "rustfsadmin" in repr(accounts)
    assert "ops" in repr(loaded[0])


# --- slips found by these tests, now fixed ------------------------------------------------------


def test_access_key_with_trailing_newline_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "u.toml", user('access_key = "abc\\n"\nsecret_key_env = "APP_SECRET"'))
    failure(path)


def test_tilde_policy_path_does_not_depend_on_how_the_users_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    write(home / "p.json", json.dumps(PAYROLL_POLICY))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path / "u.toml",
        user('access_key = "ops"\nsecret_key_env = "APP_SECRET"\npolicies = ["~/p.json"]'),
    )
    outcomes = []
    for path in (Path("u.toml"), tmp_path / "u.toml"):
        try:
            load_users(path, environ=ENV)
            outcomes.append(True)
        except UsersFileError:
            outcomes.append(False)
    assert outcomes == [True, True]
