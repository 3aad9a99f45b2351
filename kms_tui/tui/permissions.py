"""What the signed-in account may do: read from the server once, and learned from refusals.

RustFS says who signed and which IAM policy applies to them (``GET accountinfo``); when that
policy can be read, every action is judged by it before it is tried (per key where the policy
is key-scoped). Where it cannot (another server, a policy with conditions kms-tui does not
evaluate), nothing is greyed until the server refuses: the first ``AccessDenied`` for an action
marks that action as denied for this session. Either way a refusal is remembered with its
request id, so the screens can say "denied for this account" instead of failing again.
"""

from __future__ import annotations

from dataclasses import dataclass

from kms_tui.api.errors import KmsAccessDenied, KmsError
from kms_tui.api.service_models import AccountInfo
from kms_tui.policy import Policy, PolicyError, Request, parse_policy

__all__ = ["DENIED", "Permissions", "Refusal", "is_policy_refusal"]

DENIED = "denied for this account"


def is_policy_refusal(err: BaseException) -> bool:
    """The account's policy refused the call (a dialog asking again would be refused again)."""
    return isinstance(err, KmsAccessDenied) and err.is_policy_refusal


@dataclass(frozen=True, slots=True)
class Refusal:
    """One policy refusal the server answered."""

    action: str
    resource: str | None  # the key id or bucket the call named
    request_id: str | None


class Permissions:
    """One session's knowledge of its account's rights (rebuilt on profile switch)."""

    def __init__(self) -> None:
        self.account: str | None = None
        self.policy: Policy | None = None
        self.policy_note: str | None = None  # why the policy is not used, when it is not
        self.checked = False  # whether the account was asked for
        self._refused: dict[tuple[str, str | None], Refusal] = {}
        self._scoped_policy = False

    def __repr__(self) -> str:
        return (
            f"Permissions(account={self.account!r}, policy={'known' if self.policy else None}, "
            f"refused={sorted(action for action, _ in self._refused)!r})"
        )

    # --- learning ------------------------------------------------------------------------

    def learn_account(self, info: AccountInfo | None, note: str | None = None) -> None:
        """Take the server's account answer (None: it gave none, ``note`` says why)."""
        self.checked = True
        if info is None:
            self.policy_note = note
            return
        self.account = info.account_name
        if info.policy is None:
            self.policy_note = "the server sent no policy for this account"
            return
        try:
            self.policy = parse_policy(info.policy, "this account's policy")
            self._scoped_policy = any(
                resource.startswith("arn:aws:kms:::") and resource != "arn:aws:kms:::*"
                for statement in self.policy.statements
                for resource in statement.resources + statement.not_resources
            )
        except PolicyError as err:
            self.policy = None
            self.policy_note = f"its policy is not one kms-tui can judge ({err})"

    def learn_refusal(self, err: KmsError) -> bool:
        """Remember a policy refusal; True when it is news (an action not known refused)."""
        if not isinstance(err, KmsAccessDenied) or not err.is_policy_refusal or not err.action:
            return False
        key = (err.action, err.resource)
        if key in self._refused:
            return False
        known_before = self.denied(err.action, err.resource)
        self._refused[key] = Refusal(err.action, err.resource, err.request_id)
        return not known_before

    # --- asking ----------------------------------------------------------------------------

    @property
    def varies_by_resource(self) -> bool:
        """Whether a key's or bucket's id can change the answer (key-scoped grants or
        refusals): screens then re-judge their actions as the cursor moves."""
        return self._scoped_policy or any(resource for _, resource in self._refused)

    def denied(self, action: str, resource: str | None = None) -> bool:
        """Whether ``action`` (on the key or bucket ``resource``, if named) is refused.

        With the policy known, it decides (a key-scoped grant leaves the action open when no
        key is named); without it, one refusal of an action counts for the whole session.
        """
        if (action, resource) in self._refused or (action, None) in self._refused:
            return True
        if self.policy is not None:
            return not self.policy.allows(_request(action, resource))
        return any(refused == action for refused, _ in self._refused)

    def reason(self, action: str, resource: str | None = None) -> str | None:
        """``denied for this account (kms:DisableKey)``, or None when it may be tried."""
        if not self.denied(action, resource):
            return None
        return f"{DENIED} ({action})"


def _request(action: str, resource: str | None) -> Request:
    if action.startswith("s3:"):
        return Request.s3(action, resource or "")
    return Request.kms(action, resource or "")
