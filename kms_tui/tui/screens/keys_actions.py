"""What the Keys screen does to keys: every change runs in a worker behind its dialog.

The screen decides which keys an action applies to (and refuses what cannot apply); a
:class:`KeyActions` it owns does the rest. Each change has one shape: a dialog returns a typed
request (None: cancelled), the client is called inside ``try/except KmsError``, the result is
reported and kept in the activity log, and a refused form is reopened with what was typed plus
the server's message.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence

from kms_tui.api.admin import KmsAdminClient
from kms_tui.api.errors import KmsError
from kms_tui.api.impact import KeyImpact
from kms_tui.api.models import KeyMetadata
from kms_tui.tui.dialogs.confirm import ConfirmDialog
from kms_tui.tui.dialogs.create_key import CreateKeyDialog
from kms_tui.tui.dialogs.edit_key import EditKeyDialog, KeyEdits
from kms_tui.tui.dialogs.form_rules import (
    CreateKeyRequest,
    EditKeyRequest,
    ScheduleDeletionRequest,
)
from kms_tui.tui.dialogs.impact import ImpactDialog
from kms_tui.tui.dialogs.results import KeyResult, ResultsDialog
from kms_tui.tui.dialogs.schedule_deletion import (
    DeletionImpactDialog,
    ScanBeforeDeletion,
    ScheduleDeletionDialog,
)
from kms_tui.tui.error_text import error_text
from kms_tui.tui.formatting import MAX_WINDOW_DAYS, format_date
from kms_tui.tui.impact_results import ImpactScans, deletion_quote
from kms_tui.tui.screens.base import KmsScreen
from kms_tui.tui.widgets.key_table import KeyRow, KeyTable

__all__ = ["KeyActions"]

_BulkCall = Callable[[KmsAdminClient, str], Awaitable[str]]


class KeyActions:
    """The Keys screen's changes, each run as one worker of that screen (group ``keys.change``).

    ``key_changed`` is called with a key's id after the table shows its new state; ``scans``
    is the screen's record of impact scans, which the deletion confirmation quotes.
    """

    def __init__(
        self,
        screen: KmsScreen,
        table: KeyTable,
        key_changed: Callable[[str], None],
        scans: ImpactScans,
    ) -> None:
        self._screen = screen
        self._table = table
        self._key_changed = key_changed
        self._scans = scans

    def _start(self, flow: Callable[..., Awaitable[None]], *args: object) -> None:
        """Run ``flow`` as a worker of the screen; a newer change replaces a running one."""
        self._screen.run_worker(
            functools.partial(flow, *args),
            name=flow.__name__,
            group="keys.change",
            exclusive=True,
            exit_on_error=False,
        )

    def _apply(self, metadata: KeyMetadata) -> None:
        """Show a key as an answer just reported it."""
        self._table.update_row(KeyRow.from_metadata(metadata))
        self._key_changed(metadata.key_id)

    async def _refetch(self, key_id: str) -> None:
        """Re-read one key after a change whose answer carried no metadata."""
        try:
            description = await (await self._screen.ctx.admin()).describe_key(key_id)
        except KmsError:
            return  # the change itself succeeded; the next refresh shows the key
        self._apply(description.metadata)

    # --- create ----------------------------------------------------------------------------

    def create(self) -> None:
        """Ask for a new key and create it."""
        self._start(self._create)

    async def _create(self) -> None:
        screen = self._screen
        initial: CreateKeyRequest | None = None
        server_error: str | None = None
        while True:
            request = await screen.app.push_screen_wait(
                CreateKeyDialog(initial, server_error=server_error)
            )
            if request is None:
                return
            try:
                admin = await screen.ctx.admin()
                metadata = await admin.create_key(
                    description=request.description, tags=dict(request.tags), name=request.name
                )
            except KmsError as err:
                screen.report_error("create key", request.name, err)
                initial, server_error = request, error_text(err)
                continue
            except ValueError as err:
                initial, server_error = request, str(err)
                continue
            self._apply(metadata)
            self._table.move_to(metadata.key_id)
            self._table.focus()
            screen.report_done("create key", metadata.key_id, f"created {metadata.key_id}")
            return

    # --- impact ----------------------------------------------------------------------------

    def show_impact(self, key_ids: Sequence[str]) -> None:
        """Show what deleting the keys would take with it, and offer the object scan."""
        self._start(self._impact, list(key_ids), False)

    async def _impact(self, key_ids: list[str], start_scan: bool) -> None:
        """The impact dialog; the scan it returns is kept for the deletion confirmation."""
        screen = self._screen
        previous = self._scans.latest(key_ids[0]) if len(key_ids) == 1 else None
        record = await screen.app.push_screen_wait(
            ImpactDialog(
                key_ids,
                screen.ctx,
                default_key_id=screen.default_key_id,
                previous=previous,
                start_scan=start_scan,
            )
        )
        if record is not None and record is not previous:
            self._scans.remember(record)
            screen.ctx.activity.record(
                "impact scan",
                key_ids[0] if len(key_ids) == 1 else f"{len(key_ids)} keys",
                True,
                message=_scan_message(record.result.impacts.values(), record.partial),
            )

    # --- deletion --------------------------------------------------------------------------

    def schedule_deletion(self, key_ids: list[str]) -> None:
        """Ask for the window and a typed confirmation, then schedule deletion of the keys."""
        self._start(self._schedule_deletion, key_ids)

    async def _schedule_deletion(self, key_ids: list[str]) -> None:
        screen = self._screen
        initial: ScheduleDeletionRequest | None = None
        server_error: str | None = None
        while True:
            quote = deletion_quote(key_ids, self._scans)
            request = await screen.app.push_screen_wait(
                ScheduleDeletionDialog(
                    key_ids, initial=initial, server_error=server_error, impact_text=quote
                )
            )
            if request is None:
                return
            if isinstance(request, ScanBeforeDeletion):
                # One scan for every key, then the same form again with what was typed.
                initial = ScheduleDeletionRequest(
                    MAX_WINDOW_DAYS, request.window_text, request.confirmation_text
                )
                await self._impact(key_ids, True)
                continue
            days = request.pending_window_days
            if len(key_ids) > 1:
                await self._bulk(
                    key_ids, "schedule deletion", functools.partial(_schedule_one, days=days)
                )
                return
            key_id = key_ids[0]
            try:
                admin = await screen.ctx.admin()
                deletion = await admin.schedule_key_deletion(key_id, pending_window_in_days=days)
            except KmsError as err:
                screen.report_error("schedule deletion", key_id, err)
                initial, server_error = request, error_text(err)
                continue
            await self._refetch(key_id)
            when = format_date(deletion.deletion_date)
            screen.report_done(
                "schedule deletion", key_id, f"{key_id} will be deleted {when} UTC ({days} d)"
            )
            await screen.app.push_screen_wait(DeletionImpactDialog(deletion))
            return

    def cancel_deletion(self, key_id: str) -> None:
        """Take one key out of PendingDeletion."""
        self._start(self._cancel_deletion, key_id)

    async def _cancel_deletion(self, key_id: str) -> None:
        try:
            metadata = await (await self._screen.ctx.admin()).cancel_key_deletion(key_id)
        except KmsError as err:
            self._screen.report_error("cancel deletion", key_id, err)
            return
        self._apply(metadata)
        self._screen.report_done(
            "cancel deletion", key_id, f"{key_id} is {metadata.key_state.value}"
        )

    def cancel_deletions(self, key_ids: list[str]) -> None:
        """Confirm, then cancel the deletion of several keys."""
        self._start(self._cancel_deletions, key_ids)

    async def _cancel_deletions(self, key_ids: list[str]) -> None:
        confirmed = await self._screen.app.push_screen_wait(
            ConfirmDialog(
                f"Cancel deletion of {len(key_ids)} keys",
                "\n".join(key_ids[:12]) + ("\n…" if len(key_ids) > 12 else ""),
                "Cancel deletion",
                destructive=False,
            )
        )
        if confirmed:
            await self._bulk(key_ids, "cancel deletion", _cancel_one)

    async def _bulk(self, key_ids: Sequence[str], action: str, call: _BulkCall) -> None:
        """Run one call per key, record each, refresh them, then show every outcome."""
        screen = self._screen
        results: list[KeyResult] = []
        try:
            admin = await screen.ctx.admin()
        except KmsError as err:
            screen.report_error(action, None, err)
            return
        for key_id in key_ids:
            try:
                message = await call(admin, key_id)
            except KmsError as err:
                screen.ctx.activity.record(
                    action, key_id, False, message=err.message, request_id=err.request_id
                )
                results.append(KeyResult(key_id, False, error_text(err)))
                continue
            screen.ctx.activity.record(action, key_id, True, message=message)
            results.append(KeyResult(key_id, True, message))
            await self._refetch(key_id)
        self._table.clear_marks()
        dialog = ResultsDialog(f"{action.capitalize()}: {len(key_ids)} keys", results)
        screen.notify(dialog.summary, title=action.capitalize())
        await screen.app.push_screen_wait(dialog)

    # --- enable / disable / rotate ---------------------------------------------------------

    def set_enabled(self, key_id: str, *, enabled: bool) -> None:
        """Enable a key, or disable it after a confirmation."""
        self._start(self._set_enabled, key_id, enabled)

    async def _set_enabled(self, key_id: str, enabled: bool) -> None:
        screen = self._screen
        action = "enable key" if enabled else "disable key"
        if not enabled:
            confirmed = await screen.app.push_screen_wait(
                ConfirmDialog(
                    f"Disable {key_id}?",
                    "Data encrypted under this key cannot be decrypted until it is enabled again.",
                    "Disable",
                )
            )
            if not confirmed:
                return
        try:
            admin = await screen.ctx.admin()
            if enabled:
                metadata = await admin.enable_key(key_id)
            else:
                metadata = await admin.disable_key(key_id)
        except KmsError as err:
            screen.report_error(action, key_id, err)
            return
        await self._show_answer(key_id, metadata)
        screen.report_done(action, key_id, f"{key_id} {'enabled' if enabled else 'disabled'}")

    def rotate(self, key_id: str) -> None:
        """Confirm, then rotate one key."""
        self._start(self._rotate, key_id)

    async def _rotate(self, key_id: str) -> None:
        screen = self._screen
        confirmed = await screen.app.push_screen_wait(
            ConfirmDialog(
                f"Rotate {key_id}?",
                "New data keys will be wrapped by a new key version.",
                "Rotate",
                destructive=False,
            )
        )
        if not confirmed:
            return
        try:
            metadata = await (await screen.ctx.admin()).rotate_key(key_id)
        except KmsError as err:
            screen.report_error("rotate key", key_id, err)
            return
        await self._show_answer(key_id, metadata)
        screen.report_done("rotate key", key_id, f"{key_id} rotated")

    async def _show_answer(self, key_id: str, metadata: KeyMetadata | None) -> None:
        """Show the key as the answer has it, or read it again when the answer had nothing."""
        if metadata is None:
            await self._refetch(key_id)
        else:
            self._apply(metadata)

    # --- edit ------------------------------------------------------------------------------

    def edit(self, row: KeyRow) -> None:
        """Edit one key's description and tags."""
        self._start(self._edit, row)

    async def _edit(self, row: KeyRow) -> None:
        screen = self._screen
        initial: EditKeyRequest | None = None
        server_error: str | None = None
        while True:
            request = await screen.app.push_screen_wait(
                EditKeyDialog(
                    row.key_id,
                    row.description,
                    row.tags,
                    initial=initial,
                    server_error=server_error,
                )
            )
            if request is None:
                return
            edits = KeyEdits.between(row.description, row.tags, request)
            if edits.empty:
                screen.notify("nothing changed")
                return
            try:
                admin = await screen.ctx.admin()
                if edits.description is not None:
                    await admin.update_key_description(row.key_id, edits.description)
                if edits.set_tags:
                    await admin.tag_key(row.key_id, dict(edits.set_tags))
                if edits.removed_tags:
                    await admin.untag_key(row.key_id, edits.removed_tags)
            except KmsError as err:
                screen.report_error("edit key", row.key_id, err)
                initial, server_error = request, error_text(err)
                await self._refetch(row.key_id)  # part of the edit may have landed
                row = self._table.row(row.key_id) or row
                continue
            except ValueError as err:
                initial, server_error = request, str(err)
                continue
            await self._refetch(row.key_id)
            screen.report_done("edit key", row.key_id, f"{row.key_id} updated")
            return


def _scan_message(impacts: Iterable[KeyImpact], partial: bool) -> str:
    """The activity log's line for a scan: each key's object count."""
    counts = ", ".join(
        f"{impact.key_id}: {'at least ' if partial else ''}{impact.object_count:,} objects"
        for impact in impacts
    )
    return f"{'partial scan' if partial else 'scan'}: {counts}"


async def _schedule_one(admin: KmsAdminClient, key_id: str, days: int) -> str:
    deletion = await admin.schedule_key_deletion(key_id, pending_window_in_days=days)
    references = len(deletion.impact.references) if deletion.impact else 0
    note = f"; still named by {references} reference(s)" if references else ""
    return f"deletion {format_date(deletion.deletion_date)} UTC{note}"


async def _cancel_one(admin: KmsAdminClient, key_id: str) -> str:
    metadata = await admin.cancel_key_deletion(key_id)
    return f"now {metadata.key_state.value}"
