"""The Buckets screen's encryption check (`v`, and "Check all buckets" in the palette).

Each bucket gets a probe object written without SSE headers, read back and deleted
(:func:`kms_tui.api.verify.check_bucket_encryption`), a few buckets at a time, as one worker of
the screen. Every verdict goes into the activity log with its request id; a failed check whose
default names a key that cannot serve (disabled, pending deletion, missing) says so.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.errors import KmsError, KmsNotFound
from kms_tui.api.s3_models import SSE_S3
from kms_tui.api.verify import CheckResult, Verdict, check_bucket_encryption
from kms_tui.tui.dialogs.check import CheckOutcome, CheckResultsDialog, summary_text
from kms_tui.tui.key_usability import unusable_reason
from kms_tui.tui.screens.base import KmsScreen

__all__ = ["CHECK_CONCURRENCY", "BucketChecks"]

CHECK_CONCURRENCY = 4
ACTION = "check encryption"


class BucketChecks:
    """Runs checks for one screen; ``progress`` gets a status line while they run (None: done)."""

    def __init__(self, screen: KmsScreen, progress: Callable[[str | None], None]) -> None:
        self._screen = screen
        self._progress = progress
        self.running = False

    def start(self, buckets: Sequence[str] | None) -> None:
        """Check ``buckets`` (None: every bucket on the server) and show the verdicts."""
        flow: Callable[[], Awaitable[None]] = functools.partial(
            self._run, tuple(buckets) if buckets is not None else None
        )
        self._screen.run_worker(
            flow,
            name=ACTION,
            group="buckets.check",
            exclusive=True,
            exit_on_error=False,
        )

    async def _run(self, buckets: tuple[str, ...] | None) -> None:
        screen = self._screen
        try:
            client = await screen.ctx.buckets()
            names = buckets or tuple(bucket.name for bucket in await client.list_buckets())
        except KmsError as err:
            screen.report_error(ACTION, None, err)
            return
        if not names:
            screen.notify("there are no buckets to check", title="Encryption check")
            return
        default_key_id = screen.default_key_id
        gate = asyncio.Semaphore(CHECK_CONCURRENCY)
        finished = 0
        self.running = True
        self._progress(f"checking {len(names)} bucket{'s' if len(names) != 1 else ''}…")

        async def check(name: str) -> CheckOutcome:
            nonlocal finished
            async with gate:
                try:
                    result = await check_bucket_encryption(
                        client, name, default_key_id=default_key_id, clock=screen.ctx.clock
                    )
                except ValueError as err:  # a listed name the client will not send
                    result = CheckResult(name, Verdict.FAILED, str(err), screen.ctx.clock())
                note = await self._key_note(result) if result.verdict is Verdict.FAILED else None
            outcome = CheckOutcome(result, note)
            screen.ctx.activity.record(
                ACTION, name, outcome.ok, message=outcome.message, request_id=result.request_id
            )
            finished += 1
            self._progress(f"checked {finished} of {len(names)} buckets…")
            return outcome

        try:
            outcomes = await asyncio.gather(*(check(name) for name in names))
        finally:
            self.running = False
            self._progress(None)
        all_ok = all(outcome.ok for outcome in outcomes)
        screen.notify(
            summary_text(outcomes),
            title="Encryption check",
            severity="information" if all_ok else "warning",
        )
        await screen.app.push_screen_wait(CheckResultsDialog(outcomes))

    async def _key_note(self, result: CheckResult) -> str | None:
        """Why the default's key cannot serve new objects, when the key states say it cannot."""
        key_id = result.expected_key_id
        if key_id is None:
            return None
        try:
            admin: KmsAdminClient = await self._screen.ctx.admin()
            description = await admin.describe_key(key_id)
        except KmsNotFound:
            reason: str | None = unusable_reason(None)
        except KmsError:
            return None
        else:
            reason = unusable_reason(description.metadata.key_state)
        if reason is None:
            return None
        if result.expected_algorithm == SSE_S3:
            return f"the KMS default key {key_id}, which SSE-S3 uses, is {reason}"
        return f"the default's key {key_id} is {reason}"
