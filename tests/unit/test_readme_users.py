"""The README's users file for ``kms-tui serve --users`` loads and means what the README says."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kms_tui.embedded.accounts import load_users
from kms_tui.policy import Request

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_users_toml() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Least privilege: restricted accounts", 1)[1]
    match = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert match, "the least-privilege section has a TOML example"
    return match.group(1)


def test_the_readme_users_file_loads_with_the_roles_it_describes(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "payroll-keys.json").write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["kms:ListKeys"],
                        "Resource": ["arn:aws:kms:::key/payroll-*"],
                    }
                ],
            }
        )
    )
    users_file = tmp_path / "users.toml"
    users_file.write_text(readme_users_toml())
    environ = {
        "KMS_AUDITOR_SECRET": "auditor-secret-123",
        "KMS_KEY_ADMIN_SECRET": "key-admin-secret-123",
        "KMS_PAYROLL_SECRET": "payroll-secret-123",
    }
    accounts = {account.access_key: account for account in load_users(users_file, environ)}
    assert set(accounts) == {"auditor", "key-admin", "payroll-operator"}

    def allows(who: str, action: str, key: str = "") -> bool:
        policy = accounts[who].policy
        assert policy is not None
        return policy.allows(Request.kms(action, key))

    assert allows("auditor", "kms:ListKeys") and not allows("auditor", "kms:DisableKey", "k")
    assert allows("key-admin", "kms:DisableKey", "k")
    assert not allows("key-admin", "kms:GenerateDataKey", "k")
    assert allows("payroll-operator", "kms:DisableKey", "payroll-1")
    assert not allows("payroll-operator", "kms:DisableKey", "payroll-root")  # the Deny wins
    assert allows("payroll-operator", "kms:EnableKey", "payroll-root")
    assert not allows("payroll-operator", "kms:DisableKey", "billing-1")
    payroll = accounts["payroll-operator"].policy
    assert payroll is not None
    assert payroll.allows(Request.s3("s3:GetObject", "reports", "q1.csv"))  # readonly
