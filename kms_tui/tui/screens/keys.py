"""The Keys screen (``2``): every key streamed in page by page, filter, sort, details, actions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from kms_tui.api.errors import KmsError
from kms_tui.api.models import KeyInfo
from kms_tui.api.prefetch import prefetched
from kms_tui.api.service_models import Capabilities
from kms_tui.api.wire import KeyState
from kms_tui.tui.error_text import error_text, explain
from kms_tui.tui.impact_results import ImpactScans
from kms_tui.tui.key_usability import unusable_reason
from kms_tui.tui.screens.base import KmsScreen
from kms_tui.tui.styles import style_path
from kms_tui.tui.widgets.footer import KmsFooter
from kms_tui.tui.widgets.key_detail import KeyDetail
from kms_tui.tui.widgets.key_table import KeyRow, KeyTable

if TYPE_CHECKING:
    from kms_tui.tui.screens.keys_actions import KeyActions

__all__ = ["KeysScreen"]

PAGE_SIZE = 1000
FIRST_PAGE_SIZE = 100  # a screenful and more, drawn before the rest streams in
_DESCRIBE_CONCURRENCY = 8
_DETAIL_DELAY_SECONDS = 0.15
_COUNTDOWN_TICK_SECONDS = 30.0

# action -> (its label in read-only notes, None: it changes nothing; the capability it needs)
_ACTIONS: dict[str, tuple[str | None, str | None]] = {
    "create_key": ("create key", None),
    "schedule_deletion": ("schedule deletion", "schedule_deletion"),
    "cancel_deletion": ("cancel deletion", "schedule_deletion"),
    "toggle_enabled": ("enable/disable", "enable_disable"),
    "rotate_key": ("rotate", "rotate"),
    "edit_key": ("edit", "update_key_metadata"),
    "generate_data_key": (None, "generate_data_key"),
}
_LACKING: dict[str, str] = {
    "schedule_deletion": "this backend cannot schedule key deletion",
    "enable_disable": "this backend cannot enable or disable keys",
    "rotate": "this backend cannot rotate keys",
    "update_key_metadata": "this backend cannot change key metadata",
    "generate_data_key": "this backend cannot generate data keys",
}


def _count(number: int) -> str:
    return f"{number:,}"


class KeysScreen(KmsScreen):
    """All master keys; the table is the focus, the detail pane follows the cursor.

    The screen decides what an action applies to; :attr:`key_actions` makes the change.
    """

    CSS_PATH = style_path("keys.tcss")
    # Focused as the screen mounts, so the footer's first composition already shows the
    # table's keys (a focus set in on_mount came after it and made the footer compose twice).
    AUTO_FOCUS = "#key-table"
    # The footer has room for the main actions; the rest are in help (?) and the palette (:).
    IAM_ACTIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        "create_key": ("kms:Configure",),
        "schedule_deletion": ("kms:DeleteKey",),
        "cancel_deletion": ("kms:DeleteKey",),
        "toggle_enabled": ("kms:EnableKey", "kms:DisableKey"),
        "rotate_key": ("kms:RotateKey",),
        "edit_key": ("kms:UpdateKeyDescription", "kms:TagResource", "kms:UntagResource"),
        "generate_data_key": ("kms:GenerateDataKey",),
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh_data", "Refresh", id="screen.refresh", show=False),
        Binding("slash", "filter", "Filter", id="keys.filter"),
        Binding("c", "create_key", "Create", id="keys.create"),
        Binding("d", "schedule_deletion", "Delete", id="keys.schedule_deletion"),
        Binding("u", "cancel_deletion", "Undelete", id="keys.cancel_deletion"),
        Binding("e", "toggle_enabled", "Enable/disable", id="keys.toggle_enabled"),
        Binding("R", "rotate_key", "Rotate", id="keys.rotate", show=False),
        Binding("enter,t", "edit_key", "Edit", id="keys.edit", show=False),
        Binding("y", "copy_id", "Copy id", id="keys.copy_id", show=False),
        Binding("g", "generate_data_key", "Data key", id="keys.generate_data_key"),
        Binding("i", "show_impact", "Impact", id="keys.impact"),
    ]

    def __init__(self) -> None:
        super().__init__()
        # A listing is under way (not Textual's `loading`, which would hide the whole screen,
        # header and status line included, behind a loading indicator until the last page).
        self.listing = False
        self.loaded_count = 0
        self.unreadable_count = 0  # listed by the server but their records cannot be read
        self.load_error: str | None = None
        self._deletion_dates: dict[str, datetime] = {}
        self._pending_jump: str | None = None
        self.key_table = KeyTable(id="key-table", clock=self._clock)
        # The latest object scan per key: the deletion confirmation quotes it.
        self.impact_scans = ImpactScans()
        self._key_actions: KeyActions | None = None

    @property
    def key_actions(self) -> KeyActions:
        """The screen's changes to keys; its dialogs are imported at the first use, not before
        the first frame (see :meth:`_warm_up`)."""
        if self._key_actions is None:
            from kms_tui.tui.screens.keys_actions import KeyActions

            self._key_actions = KeyActions(
                self, self.key_table, self._key_changed, self.impact_scans
            )
        return self._key_actions

    def compose(self) -> ComposeResult:
        yield Static("connecting…", id="keys-status", markup=False)
        yield Input(placeholder="filter id, description, tags", id="keys-filter")
        yield self.key_table
        yield KeyDetail(id="key-detail", clock=self._clock)
        yield KmsFooter()

    def _clock(self) -> datetime:
        return self.ctx.clock()

    def on_mount(self) -> None:
        self.query_one("#keys-filter", Input).display = False
        self.key_table.focus()
        self.watch(self.kms_app, "capabilities", self._capabilities_changed, init=False)
        self.set_interval(_COUNTDOWN_TICK_SECONDS, self.key_table.refresh)
        self.load_keys()

    def _capabilities_changed(self, _capabilities: Capabilities | None) -> None:
        self.refresh_bindings()

    # --- loading ---------------------------------------------------------------------------

    def refresh_data(self) -> None:
        """``r``: reload every key."""
        self.load_keys()

    @work(exclusive=True, group="keys.load", exit_on_error=False)
    async def load_keys(self) -> None:
        """Stream every page into the table, then fill in the deletion dates of pending keys."""
        table = self.key_table
        self.listing = True
        self.loaded_count = 0
        self.unreadable_count = 0
        self.load_error = None
        first_load = table.total_count == 0
        collected: list[KeyRow] = []
        pending: list[str] = []
        self._show_status()
        try:
            admin = await self.ctx.admin()
            # The server renders the next page while this one becomes rows on the screen.
            pages = prefetched(
                admin.iter_keys(page_size=PAGE_SIZE, first_page_size=FIRST_PAGE_SIZE)
            )
            async with contextlib.aclosing(pages):
                async for page in pages:
                    rows = [self._row(info) for info in page.keys]
                    rows.extend(KeyRow.unreadable(key_id) for key_id in page.unreadable_key_ids)
                    self.unreadable_count += len(page.unreadable_key_ids)
                    pending.extend(
                        row.key_id for row in rows if row.state is KeyState.PENDING_DELETION
                    )
                    self.loaded_count += len(rows)
                    if first_load:
                        table.add_rows(rows)
                    else:
                        collected.extend(rows)
                    self._show_status()
        except KmsError as err:
            self.listing = False
            self.load_error = error_text(err)
            self.report_error("list keys", None, err)
            self._show_status()
            return
        if not first_load:
            table.replace_all(collected)
        self.listing = False
        self._show_status()
        if self._pending_jump is not None:
            self.jump_to_key(self._pending_jump)
        if table.highlighted is None:
            self.query_one(KeyDetail).show_nothing("No keys." if not table.total_count else "")
        await self._fill_deletion_dates(pending)
        if self._key_actions is None:
            self._warm_up()

    @work(thread=True, group="keys.warm-up", exit_on_error=False)
    def _warm_up(self) -> None:
        """Import the key actions and their dialogs off the UI thread, once the keys are shown,
        so the first ``n``/``d``/``i`` press opens its dialog without waiting for imports."""
        import kms_tui.tui.screens.keys_actions  # noqa: F401

    def _row(self, info: KeyInfo) -> KeyRow:
        return KeyRow.from_info(info, self._deletion_dates.get(info.key_id))

    async def _fill_deletion_dates(self, key_ids: Sequence[str]) -> None:
        """Listings carry no deletion date; describe the pending keys (a few at a time)."""
        missing = [key_id for key_id in key_ids if key_id not in self._deletion_dates]
        if not missing:
            return
        admin = await self.ctx.admin()
        gate = asyncio.Semaphore(_DESCRIBE_CONCURRENCY)

        async def describe(key_id: str) -> KeyRow | None:
            async with gate:
                try:
                    description = await admin.describe_key(key_id)
                except KmsError:
                    return None
            return KeyRow.from_metadata(description.metadata)

        found = await asyncio.gather(*(describe(key_id) for key_id in missing))
        rows = [row for row in found if row is not None]
        for row in rows:
            if row.deletion_date is not None:
                self._deletion_dates[row.key_id] = row.deletion_date
        if rows:
            self.key_table.add_rows(rows)

    def _show_status(self) -> None:
        table = self.key_table
        if self.load_error is not None:
            text = f"could not list keys: {self.load_error} — press r to retry"
        elif self.listing:
            text = f"loading {_count(self.loaded_count)} / …"
        else:
            total = table.total_count
            text = f"{_count(total)} keys"
            if table.filter_text:
                text = f"{_count(table.visible_count)} of {text} match {table.filter_text!r}"
        if self.unreadable_count:
            text += (
                f" · ⚠ {_count(self.unreadable_count)} unreadable "
                "(the server cannot read their records; see its log)"
            )
        marked = len(table.marked)
        if marked:
            text += f" · {marked} marked (d: delete all, u: cancel deletion of all)"
        if self.ctx.read_only:
            text += " · read-only"
        self.query_one("#keys-status", Static).update(text)

    @property
    def status_text(self) -> str:
        """The status line (progress, counts, marks) as shown."""
        return str(self.query_one("#keys-status", Static).content)

    # --- filter ----------------------------------------------------------------------------

    def action_filter(self) -> None:
        """``/``: filter as you type; Enter keeps the filter, Esc clears it."""
        box = self.query_one("#keys-filter", Input)
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "keys-filter":
            self.key_table.set_filter(event.value)
            self._show_status()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "keys-filter":
            event.stop()
            if not event.value:
                event.input.display = False
            self.key_table.focus()

    def on_key(self, event: events.Key) -> None:
        box = self.query_one("#keys-filter", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            event.prevent_default()
            box.value = ""
            box.display = False
            self.key_table.set_filter("")
            self.key_table.focus()
            self._show_status()
            return
        self._explain_disabled(event.key)

    def _explain_disabled(self, key: str) -> None:
        """A disabled binding does nothing in Textual; say why instead of staying silent."""
        active = self.active_bindings.get(key)
        if active is None or active.enabled or active.node is not self:
            return
        reason = self.disabled_reason(active.binding.action)
        if reason is not None:
            self.notify(reason, title="Not available", severity="warning")

    # --- availability ----------------------------------------------------------------------

    def disabled_reason(self, action: str) -> str | None:
        """Why ``action`` cannot run in this session or on this backend, or None if it can."""
        if action not in _ACTIONS:
            return None
        label, capability = _ACTIONS[action]
        if label is not None and self.ctx.read_only:
            return f"read-only session: {label} is disabled"
        capabilities = self.kms_app.capabilities
        if capability and capabilities is not None and not getattr(capabilities, capability, True):
            return _LACKING[capability]
        return self.permission_reason(action)

    def permission_resource(self, iam_action: str) -> str | None:
        """Key actions name the highlighted key (create names none)."""
        if iam_action == "kms:Configure" or not self.is_mounted:
            return None
        row = self.key_table.highlighted
        return row.key_id if row is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.disabled_reason(action) is not None:
            return None
        return True

    # --- actions: which keys, then KeyActions makes the change ------------------------------

    def current_row(self) -> KeyRow | None:
        """The highlighted key, or None (with a note) when the table is empty."""
        row = self.key_table.highlighted
        if row is None:
            self.notify("no key is highlighted", severity="warning")
        return row

    def action_create_key(self) -> None:
        """``c``: create a key."""
        self.key_actions.create()

    def action_schedule_deletion(self) -> None:
        """``d``: schedule deletion of the highlighted key, or of every marked key."""
        marked = sorted(self.key_table.marked)
        if marked:
            self.key_actions.schedule_deletion(marked)
            return
        row = self.current_row()
        if row is not None:
            self.key_actions.schedule_deletion([row.key_id])

    def action_cancel_deletion(self) -> None:
        """``u``: take the highlighted (or every marked) key out of PendingDeletion."""
        marked = sorted(self.key_table.marked)
        if marked:
            self.key_actions.cancel_deletions(marked)
            return
        row = self.current_row()
        if row is None:
            return
        if row.state is not KeyState.PENDING_DELETION:
            self.notify(f"{row.key_id} is not pending deletion", severity="warning")
            return
        self.key_actions.cancel_deletion(row.key_id)

    def action_toggle_enabled(self) -> None:
        """``e``: disable an enabled key (after a confirmation) or enable a disabled one."""
        row = self.current_row()
        if row is None:
            return
        if row.state not in (KeyState.ENABLED, KeyState.DISABLED):
            reason = unusable_reason(row.state, row.deletion_date)
            self.notify(f"{row.key_id} is {reason}; only enabled or disabled keys toggle")
            return
        needed = "kms:EnableKey" if row.state is KeyState.DISABLED else "kms:DisableKey"
        denied = self.ctx.permissions.reason(needed, row.key_id)
        if denied is not None:
            self.notify(f"{row.key_id}: {denied}", title="Not available", severity="warning")
            return
        self.key_actions.set_enabled(row.key_id, enabled=row.state is KeyState.DISABLED)

    def action_rotate_key(self) -> None:
        """``R``: rotate the highlighted key (where the backend can)."""
        row = self.current_row()
        if row is not None:
            self.key_actions.rotate(row.key_id)

    def action_edit_key(self) -> None:
        """``enter``/``t``: edit the highlighted key's description and tags."""
        row = self.current_row()
        if row is None:
            return
        if row.damaged:
            self.notify(f"{row.key_id} cannot be read, so it cannot be edited", severity="warning")
            return
        self.key_actions.edit(row)

    def action_copy_id(self) -> None:
        """``y``: copy the highlighted key id to the clipboard."""
        row = self.current_row()
        if row is None:
            return
        self.app.copy_to_clipboard(row.key_id)
        self.notify(f"copied {row.key_id}", title="Clipboard")

    async def action_generate_data_key(self) -> None:
        """``g``: open the Data keys screen with the highlighted key chosen."""
        from kms_tui.tui.screens.datakeys import DataKeysScreen  # loaded when first needed

        row = self.current_row()
        if row is None:
            return
        app = self.kms_app
        await app.switch_mode("datakeys")
        screen = app.mode_screens["datakeys"]
        if isinstance(screen, DataKeysScreen):
            screen.use_key(row.key_id)

    # --- detail pane -----------------------------------------------------------------------

    def on_key_table_key_highlighted(self, message: KeyTable.KeyHighlighted) -> None:
        detail = self.query_one(KeyDetail)
        row = self.key_table.row(message.key_id) if message.key_id else None
        if row is None:
            detail.show_nothing("No key matches the filter." if self.key_table.total_count else "")
            return
        detail.show_row(row)
        if self.ctx.permissions.varies_by_resource:
            self.refresh_bindings()  # a key-scoped account may act on some keys only
        if not row.damaged:
            self.load_detail(row.key_id, impact=False)

    def on_key_table_marks_changed(self, message: KeyTable.MarksChanged) -> None:
        self._show_status()

    def _key_changed(self, key_id: str) -> None:
        """An action changed a key: keep its deletion date, refresh the status and details."""
        row = self.key_table.row(key_id)
        if row is not None and row.deletion_date is not None:
            self._deletion_dates[key_id] = row.deletion_date
        else:
            self._deletion_dates.pop(key_id, None)
        self._show_status()
        highlighted = self.key_table.highlighted
        if highlighted is not None and highlighted.key_id == key_id:
            self.query_one(KeyDetail).description = None
            self.load_detail(key_id, impact=False, delay=0)

    def action_show_impact(self) -> None:
        """``i``: the server's impact report (detail pane) and the impact dialog: buckets whose
        default names the key, then the object scan; for every marked key at once if any."""
        marked = sorted(self.key_table.marked)
        if marked:
            self.key_actions.show_impact(marked)
            return
        row = self.current_row()
        if row is not None and not row.damaged:
            self.load_detail(row.key_id, impact=True, delay=0)
            self.key_actions.show_impact([row.key_id])

    @work(exclusive=True, group="keys.detail", exit_on_error=False)
    async def load_detail(
        self, key_id: str, *, impact: bool, delay: float = _DETAIL_DELAY_SECONDS
    ) -> None:
        if delay:
            await asyncio.sleep(delay)  # a newer highlight cancels this one first
        detail = self.query_one(KeyDetail)
        try:
            description = await (await self.ctx.admin()).describe_key(key_id, impact=impact)
        except KmsError as err:
            if self.kms_app.learn_refusal(err):
                self.ctx.activity.record(
                    "describe key", key_id, False, message=explain(err), request_id=err.request_id
                )
            denied = self.ctx.permissions.reason("kms:DescribeKey", key_id)
            detail.show_error(key_id, denied or error_text(err))
            return
        if detail.key_id == key_id:
            detail.show_description(description)

    # --- palette hooks ---------------------------------------------------------------------

    def command_key_ids(self) -> Sequence[str]:
        return self.key_table.all_key_ids if self.is_mounted else ()

    def jump_to_key(self, key_id: str) -> None:
        if self.key_table.move_to(key_id):
            self._pending_jump = None
            self.key_table.focus()
        else:
            self._pending_jump = key_id if self.listing else None
