"""The embedded server's accounts: the root credential, and restricted ones from a users file.

``kms-tui serve --users FILE`` reads a TOML file of accounts::

    [[user]]
    access_key = "auditor"
    secret_key_env = "KMS_AUDITOR_SECRET"    # the secret, from the environment
    policies = ["KMSAuditor"]                # canned policy names, or paths to policy JSON

    [[user]]
    access_key = "payroll-admin"
    secret_key = "only-if-this-file-is-0600"
    policy = '''
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
      "Action": ["kms:EnableKey", "kms:DisableKey"], "Resource": ["arn:aws:kms:::key/payroll-*"]}]}
    '''

Each account has an access key (3 to 128 characters of ``A-Z a-z 0-9 . _ - @ + =``), a
secret (8 or more characters) given by exactly one of ``secret_key_env`` and ``secret_key`` (a
secret in the file only when the file is private: mode 0600 and owned by the user, the same
rule as the console's own config), and the policies attached to it: ``policies`` names canned
policies (:data:`kms_tui.policy.CANNED_POLICIES`) or policy files (a name with ``/`` or ending
``.json``, relative to the users file), and ``policy`` is one inline document (JSON text or a
TOML table). An account with no policy may sign requests and is refused everything.
The root credential (``--access-key``/``RUSTFS_ACCESS_KEY``) stays the owner: always allowed.
"""

from __future__ import annotations

import hmac
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kms_tui.paths import exposure_of
from kms_tui.policy import CANNED_POLICIES, Policy, PolicyError, parse_policy

__all__ = ["Account", "Accounts", "UsersFileError", "load_users"]

_ACCESS_KEY = re.compile(r"[A-Za-z0-9._\-@+=]{3,128}")
_MIN_SECRET = 8
_USER_KEYS = frozenset({"access_key", "secret_key", "secret_key_env", "policies", "policy"})


class UsersFileError(ValueError):
    """A users file that cannot be used; the message names the file and the account."""


@dataclass(frozen=True, slots=True)
class Account:
    """One credential and what it may do (``policy`` None: the owner, allowed everything)."""

    access_key: str
    secret_key: str = field(repr=False)
    policy: Policy | None = None
    policy_names: tuple[str, ...] = ()

    @property
    def is_owner(self) -> bool:
        return self.policy is None


class Accounts:
    """Every credential the server accepts, looked up by access key."""

    def __init__(self, root_access_key: str, root_secret_key: str, users: Iterable[Account] = ()):
        self.root = Account(root_access_key, root_secret_key)
        self._users = {account.access_key: account for account in users}
        if root_access_key in self._users:
            raise UsersFileError(
                f"the users file names the root access key {root_access_key!r}; "
                "the root credential is always the administrator: pick another access key"
            )

    def __repr__(self) -> str:
        return f"Accounts(root={self.root.access_key!r}, users={sorted(self._users)!r})"

    @property
    def restricted(self) -> bool:
        """Whether any account other than the root exists."""
        return bool(self._users)

    def account(self, access_key: str) -> Account | None:
        """The account of ``access_key``, or None when there is none."""
        if hmac.compare_digest(access_key.encode(), self.root.access_key.encode()):
            return self.root
        return self._users.get(access_key)

    def secret_for(self, access_key: str) -> str | None:
        """The secret a request signed by ``access_key`` must have used."""
        found = self.account(access_key)
        return found.secret_key if found is not None else None


def _policy_file(base: Path, name: str, where: str) -> Policy:
    path = base / Path(name).expanduser()  # an absolute or ~ path stands on its own
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise UsersFileError(f"{where}: cannot read policy file {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise UsersFileError(f"{where}: policy file {path} is not UTF-8 text") from None
    try:
        return parse_policy(text, str(path))
    except PolicyError as err:
        raise UsersFileError(f"{where}: {err}") from None


def _policies(
    body: Mapping[str, Any], base: Path, where: str
) -> tuple[Policy | None, tuple[str, ...]]:
    names = body.get("policies", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise UsersFileError(f"{where}: policies must be a list of policy names or files")
    found: list[Policy] = []
    for name in names:
        if "/" in name or name.endswith(".json"):
            found.append(_policy_file(base, name, where))
        elif name in CANNED_POLICIES:
            found.append(CANNED_POLICIES[name])
        else:
            known = ", ".join(sorted(CANNED_POLICIES))
            raise UsersFileError(
                f"{where}: no canned policy {name!r} (known: {known}; a file name needs a / or "
                ".json)"
            )
    shown = list(names)
    inline = body.get("policy")
    if inline is not None:
        if not isinstance(inline, str | dict):
            raise UsersFileError(f"{where}: policy must be JSON text or a table")
        try:
            found.append(parse_policy(inline, f"{where}: policy"))
        except PolicyError as err:
            raise UsersFileError(str(err)) from None
        shown.append("inline")
    if not found:
        return Policy((), "no policy"), ()
    merged = found[0]
    for extra in found[1:]:
        merged = merged.merged(extra)
    return merged, tuple(shown)


def _account(
    body: object, index: int, base: Path, environ: Mapping[str, str]
) -> tuple[Account, bool]:
    where = f"user {index}"
    if not isinstance(body, dict):
        raise UsersFileError(f"{where}: each [[user]] must be a table")
    access_key = body.get("access_key")
    if not isinstance(access_key, str) or not _ACCESS_KEY.fullmatch(access_key):
        raise UsersFileError(
            f"{where}: access_key must be 3 to 128 characters of A-Z a-z 0-9 . _ - @ + ="
        )
    where = f"user {index} ({access_key})"
    unknown = sorted(set(body) - _USER_KEYS)
    if unknown:
        raise UsersFileError(f"{where}: unknown key {unknown[0]!r}")
    inline_secret = body.get("secret_key")
    variable = body.get("secret_key_env")
    if (inline_secret is None) == (variable is None):
        raise UsersFileError(f"{where}: give exactly one of secret_key_env and secret_key")
    if variable is not None:
        if not isinstance(variable, str) or not variable:
            raise UsersFileError(f"{where}: secret_key_env must name an environment variable")
        secret = environ.get(variable, "")
        if not secret:
            raise UsersFileError(f"{where}: the environment variable {variable} is not set")
    else:
        if not isinstance(inline_secret, str):
            raise UsersFileError(f"{where}: secret_key must be a string")
        secret = inline_secret
    if len(secret) < _MIN_SECRET:
        raise UsersFileError(f"{where}: the secret key must be at least {_MIN_SECRET} characters")
    policy, names = _policies(body, base, where)
    return Account(access_key, secret, policy, names), inline_secret is not None


def load_users(path: Path, environ: Mapping[str, str] | None = None) -> tuple[Account, ...]:
    """Read and check a users file; any problem is a :class:`UsersFileError`."""
    env = os.environ if environ is None else environ
    try:
        with path.open("rb") as handle:
            file_stat = os.fstat(handle.fileno())
            raw = handle.read()
    except OSError as err:
        raise UsersFileError(f"{path}: cannot read it: {err.strerror}") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise UsersFileError(f"{path}: not valid TOML: {err}") from None
    unknown = sorted(set(document) - {"user"})
    if unknown:
        raise UsersFileError(f"{path}: unknown key {unknown[0]!r} (accounts go in [[user]] tables)")
    users = document.get("user", [])
    if not isinstance(users, list):
        raise UsersFileError(f"{path}: accounts go in [[user]] tables")
    accounts: list[Account] = []
    seen: set[str] = set()
    inline_secret = False
    try:
        for index, body in enumerate(users, start=1):
            account, inline = _account(body, index, path.parent, env)
            if account.access_key in seen:
                raise UsersFileError(f"user {index}: access key {account.access_key!r} is repeated")
            seen.add(account.access_key)
            inline_secret = inline_secret or inline
            accounts.append(account)
    except UsersFileError as err:
        raise UsersFileError(f"{path}: {err}") from None
    if inline_secret:
        problem = exposure_of(file_stat)
        if problem is not None:
            raise UsersFileError(
                f"{path}: holds a secret_key but {problem}; run `chmod 600 {path}` as its owner, "
                "or name an environment variable with secret_key_env instead"
            )
    return tuple(accounts)
