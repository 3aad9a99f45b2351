"""What the Keys screen does to keys: every change runs in a worker behind its dialog.

Each action has one shape: a dialog returns a typed request (None: cancelled), the client is
called inside ``try/except KmsError``, the result is reported and kept in the activity log, and
a refused form is reopened with what was typed plus the server's message.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from textual import work

from kms_tui.api.errors import KmsError
from kms_tui.api.models import KeyMetadata
from kms_tui.tui.dialogs.confirm import ConfirmDialog
from kms_tui.tui.dialogs.create_key import CreateKeyDialog, CreateKeyRequest
from kms_tui.tui.dialogs.edit_key import EditKeyDialog, EditKeyRequest, KeyEdits
from kms_tui.tui.dialogs.results import KeyResult, ResultsDialog
from kms_tui.tui.dialogs.schedule_deletion import (
    DeletionImpactDialog,
    ScheduleDeletionDialog,
    ScheduleDeletionRequest,
)
from kms_tui.tui.formatting import format_date
from kms_tui.tui.screens.base import KmsScreen, error_text
from kms_tui.tui.widgets.key_table import KeyRow, KeyTable

__all__ = ["KeyActionsScreen"]


class KeyActionsScreen(KmsScreen):
    """The change actions of the Keys screen (layout and loading live in ``keys.py``)."""

    @property
    def key_table(self) -> KeyTable:
        """The table of keys."""
        return self.query_one(KeyTable)

    def current_row(self) -> KeyRow | None:
        """The highlighted key, or None (with a note) when the table is empty."""
        row = self.key_table.highlighted
        if row is None:
            self.notify("no key is highlighted", severity="warning")
        return row

    def apply_metadata(self, metadata: KeyMetadata) -> None:
        """Show a key as an answer just reported it."""
        self.key_table.update_row(KeyRow.from_metadata(metadata))
        self.after_key_changed(metadata.key_id)

    def after_key_changed(self, key_id: str) -> None:
        """Hook: the Keys screen reloads the detail pane."""

    async def refetch(self, key_id: str) -> None:
        """Re-read one key after a change whose answer carried no metadata."""
        try:
            description = await (await self.ctx.admin()).describe_key(key_id)
        except KmsError:
            return  # the change itself succeeded; the next refresh shows the key
        self.apply_metadata(description.metadata)

    # --- create ----------------------------------------------------------------------------

    def action_create_key(self) -> None:
        """``c``: create a key."""
        self.create_key_flow()

    @work(exclusive=True, group="keys.change", exit_on_error=False)
    async def create_key_flow(self) -> None:
        initial: CreateKeyRequest | None = None
        server_error: str | None = None
        while True:
            request = await self.app.push_screen_wait(
                CreateKeyDialog(initial, server_error=server_error)
            )
            if request is None:
                return
            try:
                admin = await self.ctx.admin()
                metadata = await admin.create_key(
                    description=request.description, tags=dict(request.tags), name=request.name
                )
            except KmsError as err:
                self.report_error("create key", request.name, err)
                initial, server_error = request, error_text(err)
                continue
            except ValueError as err:
                initial, server_error = request, str(err)
                continue
            self.apply_metadata(metadata)
            self.key_table.move_to(metadata.key_id)
            self.key_table.focus()
            self.report_done("create key", metadata.key_id, f"created {metadata.key_id}")
            return

    # --- deletion --------------------------------------------------------------------------

    def action_schedule_deletion(self) -> None:
        """``d``: schedule deletion of the highlighted key, or of every marked key."""
        marked = sorted(self.key_table.marked)
        if marked:
            self.schedule_deletion_flow(marked)
            return
        row = self.current_row()
        if row is not None:
            self.schedule_deletion_flow([row.key_id])

    @work(exclusive=True, group="keys.change", exit_on_error=False)
    async def schedule_deletion_flow(self, key_ids: list[str]) -> None:
        initial: ScheduleDeletionRequest | None = None
        server_error: str | None = None
        while True:
            request = await self.app.push_screen_wait(
                ScheduleDeletionDialog(key_ids, initial=initial, server_error=server_error)
            )
            if request is None:
                return
            days = request.pending_window_days
            if len(key_ids) > 1:
                await self._bulk(
                    key_ids,
                    "schedule deletion",
                    functools.partial(self._schedule_one, days=days),
                )
                return
            key_id = key_ids[0]
            try:
                admin = await self.ctx.admin()
                deletion = await admin.schedule_key_deletion(key_id, pending_window_in_days=days)
            except KmsError as err:
                self.report_error("schedule deletion", key_id, err)
                initial, server_error = request, error_text(err)
                continue
            await self.refetch(key_id)
            when = format_date(deletion.deletion_date)
            self.report_done(
                "schedule deletion", key_id, f"{key_id} will be deleted {when} UTC ({days} d)"
            )
            await self.app.push_screen_wait(DeletionImpactDialog(deletion))
            return

    async def _schedule_one(self, admin: Any, key_id: str, days: int) -> str:
        deletion = await admin.schedule_key_deletion(key_id, pending_window_in_days=days)
        references = len(deletion.impact.references) if deletion.impact else 0
        note = f"; still named by {references} reference(s)" if references else ""
        return f"deletion {format_date(deletion.deletion_date)} UTC{note}"

    def action_cancel_deletion(self) -> None:
        """``u``: take the highlighted (or every marked) key out of PendingDeletion."""
        marked = sorted(self.key_table.marked)
        if marked:
            self.bulk_cancel_flow(marked)
            return
        row = self.current_row()
        if row is None:
            return
        if row.state != "PendingDeletion":
            self.notify(f"{row.key_id} is not pending deletion", severity="warning")
            return
        self.cancel_deletion_flow(row.key_id)

    @work(exclusive=True, group="keys.change", exit_on_error=False)
    async def cancel_deletion_flow(self, key_id: str) -> None:
        try:
            metadata = await (await self.ctx.admin()).cancel_key_deletion(key_id)
        except KmsError as err:
            self.report_error("cancel deletion", key_id, err)
            return
        self.apply_metadata(metadata)
        self.report_done("cancel deletion", key_id, f"{key_id} is {metadata.key_state.value}")

    @work(exclusive=True, group="keys.change", exit_on_error=False)
    async def bulk_cancel_flow(self, key_ids: list[str]) -> None:
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                f"Cancel deletion of {len(key_ids)} keys",
                "\n".join(key_ids[:12]) + ("\n…" if len(key_ids) > 12 else ""),
                "Cancel deletion",
                destructive=False,
            )
        )
        if not confirmed:
            return

        async def cancel_one(admin: Any, key_id: str) -> str:
            metadata = await admin.cancel_key_deletion(key_id)
            return f"now {metadata.key_state.value}"

        await self._bulk(key_ids, "cancel deletion", cancel_one)

    async def _bulk(
        self,
        key_ids: Sequence[str],
        action: str,
        call: Callable[[Any, str], Awaitable[str]],
    ) -> None:
        """Run one call per key, record each, refresh them, then show every outcome."""
        results: list[KeyResult] = []
        try:
            admin = await self.ctx.admin()
        except KmsError as err:
            self.report_error(action, None, err)
            return
        for key_id in key_ids:
            try:
                message = await call(admin, key_id)
            except KmsError as err:
                self.ctx.activity.record(
                    action, key_id, False, message=err.message, request_id=err.request_id
                )
                results.append(KeyResult(key_id, False, error_text(err)))
                continue
            self.ctx.activity.record(action, key_id, True, message=message)
            results.append(KeyResult(key_id, True, message))
            await self.refetch(key_id)
        self.key_table.clear_marks()
        dialog = ResultsDialog(f"{action.capitalize()}: {len(key_ids)} keys", results)
        self.notify(dialog.summary, title=action.capitalize())
        await self.app.push_screen_wait(dialog)

    # --- enable / disable / rotate ---------------------------------------------------------

    def action_toggle_enabled(self) -> None:
        """``e``: disable an enabled key (after a confirmation) or enable a disabled one."""
        row = self.current_row()
        if row is None:
            return
        if row.state not in ("Enabled", "Disabled"):
            self.notify(f"{row.key_id} is {row.state}; only enabled or disabled keys toggle")
            return
        self.toggle_enabled_flow(row.key_id, row.state == "Enabled")

    @work(exclusive=True, group="keys.change", exit_on_error=False)
    async def toggle_enabled_flow(self, key_id: str, disable: bool) -> None:
        action = "disable key" if disable else "enable key"
        if disable:
            confirmed = await self.app.push_screen_wait(
                ConfirmDialog(
                    f"Disable {key_id}?",
                    "Data encrypted under this key cannot be decrypted until it is enabled again.",
                    "Disable",
                )
            )
            if not confirmed:
                return
        try:
            admin = await self.ctx.admin()
            if disable:
                metadata = await admin.disable_key(key_id)
            else:
                metadata = await admin.enable_key(key_id)
        except KmsError as err:
            self.report_error(action, key_id, err)
            return
        if metadata is None:
            await self.refetch(key_id)
        else:
            self.apply_metadata(metadata)
        self.report_done(action, key_id, f"{key_id} {'disabled' if disable else 'enabled'}")

    def action_rotate_key(self) -> None:
        """``R``: rotate the highlighted key (where the backend can)."""
        row = self.current_row()
        if row is not None:
            self.rotate_flow(row.key_id)

    @work(exclusive=True, group="keys.change", exit_on_error=False)
    async def rotate_flow(self, key_id: str) -> None:
        confirmed = await self.app.push_screen_wait(
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
            metadata = await (await self.ctx.admin()).rotate_key(key_id)
        except KmsError as err:
            self.report_error("rotate key", key_id, err)
            return
        if metadata is None:
            await self.refetch(key_id)
        else:
            self.apply_metadata(metadata)
        self.report_done("rotate key", key_id, f"{key_id} rotated")

    # --- edit ------------------------------------------------------------------------------

    def action_edit_key(self) -> None:
        """``enter``/``t``: edit the highlighted key's description and tags."""
        row = self.current_row()
        if row is None:
            return
        if row.damaged:
            self.notify(f"{row.key_id} cannot be read, so it cannot be edited", severity="warning")
            return
        self.edit_key_flow(row)

    @work(exclusive=True, group="keys.change", exit_on_error=False)
    async def edit_key_flow(self, row: KeyRow) -> None:
        initial: EditKeyRequest | None = None
        server_error: str | None = None
        while True:
            request = await self.app.push_screen_wait(
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
                self.notify("nothing changed")
                return
            try:
                admin = await self.ctx.admin()
                if edits.description is not None:
                    await admin.update_key_description(row.key_id, edits.description)
                if edits.set_tags:
                    await admin.tag_key(row.key_id, dict(edits.set_tags))
                if edits.removed_tags:
                    await admin.untag_key(row.key_id, edits.removed_tags)
            except KmsError as err:
                self.report_error("edit key", row.key_id, err)
                initial, server_error = request, error_text(err)
                await self.refetch(row.key_id)  # part of the edit may have landed
                row = self.key_table.row(row.key_id) or row
                continue
            except ValueError as err:
                initial, server_error = request, str(err)
                continue
            await self.refetch(row.key_id)
            self.report_done("edit key", row.key_id, f"{row.key_id} updated")
            return

    # --- copy and data keys ----------------------------------------------------------------

    def action_copy_id(self) -> None:
        """``y``: copy the highlighted key id to the clipboard."""
        row = self.current_row()
        if row is None:
            return
        self.app.copy_to_clipboard(row.key_id)
        self.notify(f"copied {row.key_id}", title="Clipboard")

    def action_generate_data_key(self) -> None:
        """``g``: open the Data keys screen with the highlighted key chosen."""
        row = self.current_row()
        if row is None:
            return
        self.app.pending_datakey_key_id = row.key_id  # type: ignore[attr-defined]
        self.app.switch_mode("datakeys")
