"""Objects of one bucket (`enter` on Buckets): listed page by page, each filled by its HEAD.

A listing carries no encryption, so every object is HEADed in the background (a HEAD never
calls the KMS), at most :data:`HEAD_CONCURRENCY` at a time, while the table stays usable. Each
object then shows its SSE algorithm and KMS key, and a mark when that key is missing (the object
is unreadable now), pending deletion (unreadable when the window ends) or disabled (no new
writes under it). SSE-S3 objects are judged by the KMS default key, whose data keys wrap them.
The key states come from one key listing when the screen opens.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, Static

from kms_tui.api.buckets import BucketEncryptionClient
from kms_tui.api.errors import KmsError, KmsNotFound
from kms_tui.api.s3_models import SSE_KMS, SSE_S3, ObjectHead
from kms_tui.api.wire import KeyState
from kms_tui.tui.error_text import error_text
from kms_tui.tui.formatting import format_date
from kms_tui.tui.key_usability import UNREADABLE, ShownState, key_state_of, unusable_reason
from kms_tui.tui.screens.base import KmsScreen
from kms_tui.tui.styles import style_path
from kms_tui.tui.widgets.footer import KmsFooter
from kms_tui.tui.widgets.object_table import WARNING_MARK, ObjectRow, ObjectTable, format_size

__all__ = ["HEAD_CONCURRENCY", "ObjectsScreen", "consequence"]

HEAD_CONCURRENCY = 16
PAGE_SIZE = 1000
_TICK_SECONDS = 0.25  # progress and repaint rate while the bucket fills (never per object)


def consequence(state: ShownState | None, reason: str) -> str:
    """What an unusable key means for the objects under it, in plain words."""
    if state is None:
        return "its key is missing: unreadable now"
    if state is KeyState.PENDING_DELETION:
        return f"its key is {reason}: unreadable when the window ends"
    if state is KeyState.DISABLED:
        return "its key is disabled: no new writes under it"
    return f"its key is {reason}"


def _count(number: int) -> str:
    return f"{number:,}"


class ObjectsScreen(KmsScreen):
    """One bucket's objects; `esc` goes back to Buckets (and stops the HEADs)."""

    CSS_PATH = style_path("objects.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="objects.back"),
        Binding("slash", "filter", "Filter", id="objects.filter"),
        Binding("r", "refresh_data", "Refresh", id="objects.refresh"),
    ]
    page_size: ClassVar[int] = PAGE_SIZE  # objects per ListObjectsV2 page (tests ask for fewer)

    def __init__(self, bucket: str, encryption_label: str = "") -> None:
        super().__init__()
        self.bucket = bucket
        self.encryption_label = encryption_label
        self.table = ObjectTable(id="objects-table")
        self.key_states: dict[str, ShownState] | None = None  # None until the keys are listed
        self.key_state_error: str | None = None
        self.list_error: str | None = None
        self.listed = 0
        self.headed = 0  # HEADs answered (or failed)
        self.head_errors = 0
        self.listing_done = False
        # A listing is under way (not Textual's `loading`, which would hide the whole screen,
        # header and status line included, behind a loading indicator until the last page).
        self.listing = False
        self._dirty = False
        self._judged_default: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="objects-body"):
            title = f"Objects of {self.bucket}"
            if self.encryption_label:
                title += f" · default encryption {self.encryption_label}"
            yield Static(title, id="objects-title", markup=False)
            yield Static("listing…", id="objects-status", markup=False)
            yield Input(placeholder="filter object keys", id="objects-filter")
            yield self.table
            yield Static("", id="objects-detail", markup=False)
        yield KmsFooter()

    def on_mount(self) -> None:
        self.query_one("#objects-filter", Input).display = False
        self.table.focus()
        self.set_interval(_TICK_SECONDS, self._tick)
        self._judged_default = self.default_key_id
        self.watch(self.kms_app, "service_status", self._service_status_changed, init=False)
        self.load_objects()

    def _service_status_changed(self, _status: object) -> None:
        """SSE-S3 objects follow the KMS default key: judge them again when it changes."""
        if self.default_key_id != self._judged_default:
            self._judged_default = self.default_key_id
            for row in self.table.rows:
                self._judge(row)
            self._dirty = True

    # --- loading ---------------------------------------------------------------------------

    def refresh_data(self) -> None:
        """`r`: list the bucket and the keys again."""
        self.load_objects()

    @work(exclusive=True, group="objects.load", exit_on_error=False)
    async def load_objects(self) -> None:
        """List every page into the table while a pool of HEADs fills in each object."""
        self.table.clear()
        self.listed = self.headed = self.head_errors = 0
        self.listing_done = False
        self.list_error = None
        self.listing = True
        self._show_status()
        try:
            client = await self.ctx.buckets()
        except KmsError as err:
            self._listing_failed(err)
            return
        queue: asyncio.Queue[ObjectRow | None] = asyncio.Queue()
        tasks = [asyncio.create_task(self._load_key_states())]
        tasks += [
            asyncio.create_task(self._head_worker(client, queue)) for _ in range(HEAD_CONCURRENCY)
        ]
        try:
            try:
                async for page in client.iter_object_pages(self.bucket, page_size=self.page_size):
                    rows = [ObjectRow.listed(summary) for summary in page]
                    self.table.add_rows(rows)
                    self.listed += len(rows)
                    for row in rows:
                        queue.put_nowait(row)
                    self._show_status()
                self.listing_done = True
            except KmsError as err:
                self._listing_failed(err)
            for _ in range(HEAD_CONCURRENCY):
                queue.put_nowait(None)
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
            self.listing = False
            self._dirty = True
            self._tick()

    def _listing_failed(self, err: KmsError) -> None:
        self.list_error = error_text(err)
        self.report_error("list objects", self.bucket, err)
        self._show_status()

    async def _load_key_states(self) -> None:
        """Every key's state, listed once: the marks need them, the HEADs do not wait."""
        states: dict[str, ShownState] = {}
        try:
            admin = await self.ctx.admin()
            async for page in admin.iter_keys(page_size=PAGE_SIZE):
                for info in page.keys:
                    states[info.key_id] = key_state_of(info.status)
                for key_id in page.unreadable_key_ids:
                    states[key_id] = UNREADABLE
        except KmsError as err:
            self.key_state_error = error_text(err)
            self._dirty = True
            return
        self.key_states = states
        self.key_state_error = None
        for row in self.table.rows:
            self._judge(row)
        self._dirty = True

    async def _head_worker(
        self, client: BucketEncryptionClient, queue: asyncio.Queue[ObjectRow | None]
    ) -> None:
        while True:
            row = await queue.get()
            if row is None:
                return
            try:
                head = await client.head_object(self.bucket, row.key)
            except KmsNotFound:
                row.head_error = "deleted since it was listed"
                self.head_errors += 1
            except KmsError as err:
                row.head_error = err.message
                self.head_errors += 1
            except ValueError as err:  # a listed key the client refuses to send
                row.head_error = str(err)
                self.head_errors += 1
            else:
                self._apply_head(row, head)
            self.headed += 1
            self._dirty = True

    def _apply_head(self, row: ObjectRow, head: ObjectHead) -> None:
        row.encryption = head.encryption
        row.size = head.size
        if head.last_modified is not None:
            row.last_modified = head.last_modified
        self._judge(row)

    def _judge(self, row: ObjectRow) -> None:
        """Which KMS key wraps the object's data key, and whether that key can still serve it."""
        encryption = row.encryption
        row.kms_key_id, row.via_default_key, row.key_state, row.warning = None, False, None, None
        if encryption is None or encryption.sse_c or encryption.algorithm is None:
            return
        if encryption.algorithm == SSE_KMS and encryption.kms_key_id:
            row.kms_key_id = encryption.kms_key_id
        elif encryption.algorithm in (SSE_KMS, SSE_S3):
            row.kms_key_id, row.via_default_key = self.default_key_id, True
        if row.kms_key_id is None or self.key_states is None:
            return
        row.key_state = self.key_states.get(row.kms_key_id)
        row.warning = unusable_reason(row.key_state)

    # --- progress (a steady tick, not per object) ------------------------------------------

    def _tick(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self._show_status()
        self._show_detail()
        self.table.refresh()

    @property
    def warned_count(self) -> int:
        """Objects under a key that is missing, pending deletion, disabled or unreadable."""
        return sum(1 for row in self.table.rows if row.warning is not None)

    def _show_status(self) -> None:
        table = self.table
        if self.list_error is not None:
            parts = [f"could not list {self.bucket}: {self.list_error} — press r to retry"]
        elif not self.listing_done:
            parts = [f"listing… {_count(self.listed)} objects so far"]
        else:
            parts = [f"{_count(self.listed)} object{'s' if self.listed != 1 else ''}"]
        if self.headed < self.listed:
            parts.append(f"HEAD {_count(self.headed)} of {_count(self.listed)} listed…")
        if self.head_errors:
            parts.append(f"{_count(self.head_errors)} HEAD failed")
        if table.filter_text:
            parts.append(f"{_count(table.visible_count)} match {table.filter_text!r}")
        warned = self.warned_count
        if warned:
            parts.append(f"{WARNING_MARK} {_count(warned)} under an unusable key")
        if self.key_state_error is not None:
            parts.append(f"key states unknown: {self.key_state_error}")
        self.query_one("#objects-status", Static).update(" · ".join(parts))

    @property
    def status_text(self) -> str:
        """The progress line as shown (tests read it)."""
        return str(self.query_one("#objects-status", Static).content)

    def on_object_table_object_highlighted(self, message: ObjectTable.ObjectHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#objects-detail", Static)
        row = self.table.highlighted
        if row is None:
            detail.update("no objects" if self.listing_done and not self.listed else "")
            return
        parts = [row.key, format_size(row.size)]
        if row.last_modified is not None:
            parts.append(f"modified {format_date(row.last_modified)} UTC")
        if row.head_error is not None:
            parts.append(f"{WARNING_MARK} HEAD failed: {row.head_error}")
        elif row.encryption is None:
            parts.append("encryption: waiting for its HEAD")
        elif not row.encryption.is_encrypted:
            parts.append("not encrypted")
        else:
            text = row.encryption.label
            if row.via_default_key:
                text += " under the KMS default key " + (row.kms_key_id or "(not known yet)")
            elif row.kms_key_id:
                text += f" under {row.kms_key_id}"
            parts.append(text)
        if row.warning is not None:
            parts.append(f"{WARNING_MARK} {consequence(row.key_state, row.warning)}")
        detail.update(" · ".join(parts))

    # --- filter and back -------------------------------------------------------------------

    def action_filter(self) -> None:
        """`/`: filter by object key as you type; `enter` keeps it, `esc` clears it."""
        box = self.query_one("#objects-filter", Input)
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "objects-filter":
            self.table.set_filter(event.value)
            self._show_status()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "objects-filter":
            event.stop()
            if not event.value:
                event.input.display = False
            self.table.focus()

    def action_back(self) -> None:
        """`esc`: clear a filter being typed, else go back to Buckets (the HEADs stop)."""
        box = self.query_one("#objects-filter", Input)
        if box.has_focus or box.value:
            box.value = ""
            box.display = False
            self.table.set_filter("")
            self.table.focus()
            self._show_status()
            return
        self.kms_app.action_go_back()
