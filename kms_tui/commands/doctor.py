"""``kms-tui doctor``: every check an operator makes by hand, in order, with a fix for each failure.

1. the endpoint answers (an unsigned request: anything that answers HTTP counts)
2. the credentials are accepted (a signed request)
3. the clocks agree (the server's ``Date`` against this machine's clock; SigV4 allows 15 min)
4. the KMS is configured and running
5. the backend is healthy
6. the default key exists and is enabled
7. no bucket's default encryption names a key that is missing, disabled or pending deletion
8. every node has the same configuration
9. with ``--probe BUCKET`` (writes, so refused in read-only mode): the bucket really encrypts a
   new object as its default says

A check that cannot run because an earlier one failed is ``skipped``. Outcomes: ``ok``,
``warning`` (works, but worth a look), ``failed``, ``skipped``. Exit 0 when none failed, else 1.
JSON: ``{"ok": bool, "server": str, "checks": [{"id", "title", "outcome", "detail", "fix"}]}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kms_tui.api.doctor import Check, checks
from kms_tui.commands.errors import EXIT_FAILED
from kms_tui.commands.output import Output, Style
from kms_tui.commands.runner import Context

if TYPE_CHECKING:
    from kms_tui.api.admin import KmsAdminClient
    from kms_tui.api.buckets import BucketEncryptionClient
    from kms_tui.api.errors import KmsError
    from kms_tui.commands.session import Session

__all__ = ["Check", "run_doctor"]


@dataclass(frozen=True, slots=True)
class _Target:
    """A command session as the checklist sees it."""

    session: Session

    @property
    def endpoint(self) -> str:
        return self.session.endpoint

    @property
    def verify(self) -> bool | str:
        return self.session.connection.verify

    @property
    def admin(self) -> KmsAdminClient:
        return self.session.admin

    @property
    def buckets(self) -> BucketEncryptionClient:
        return self.session.buckets

    @property
    def label(self) -> str:
        return self.session.label

    @property
    def bootstrap_error(self) -> KmsError | None:
        return self.session.bootstrap_error


_MARKS = {
    "ok": ("ok  ", Style.GOOD),
    "warning": ("warn", Style.WARN),
    "failed": ("FAIL", Style.BAD),
    "skipped": ("skip", Style.DIM),
}


def _render(out: Output, results: list[Check]) -> None:
    for check in results:
        out.line(_MARKS[check.outcome], f"  {check.title}: {check.detail}")
        if check.fix and check.outcome in ("failed", "warning"):
            out.line(("      fix: ", Style.HEADER), check.fix)


async def run_doctor(ctx: Context) -> int:
    """Run the checklist; exit 1 when any check failed."""
    probe: str | None = ctx.args.probe
    if probe:
        ctx.refuse_if_read_only("write a probe object (doctor --probe)")
    async with ctx.session(keep_bootstrap_error=True) as session:
        results = await checks(_Target(session), probe)
        server = session.label
    failed = any(check.outcome == "failed" for check in results)
    if ctx.out.json:
        ctx.out.document(
            {"ok": not failed, "server": server, "checks": [c.record() for c in results]}
        )
    else:
        _render(ctx.out, results)
    return EXIT_FAILED if failed else 0
