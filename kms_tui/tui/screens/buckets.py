"""Buckets (`4`): every bucket's default encryption, with a warning where its KMS key is unusable.

A bucket whose default names a disabled, pending or missing key gets a warning mark
(:mod:`kms_tui.tui.screens.bucket_rows` reads them), since new objects there would fail.
`enter` opens a bucket's objects; `v` checks that the highlighted (or every marked) bucket
really encrypts new objects with its default (:mod:`kms_tui.tui.screens.buckets_check`).
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from kms_tui.api.buckets import BucketEncryption
from kms_tui.api.errors import KmsError
from kms_tui.tui.dialogs.bucket_encryption import BucketEncryptionDialog
from kms_tui.tui.dialogs.confirm import ConfirmDialog
from kms_tui.tui.dialogs.create_bucket import CreateBucketDialog
from kms_tui.tui.error_text import error_text
from kms_tui.tui.formatting import format_date
from kms_tui.tui.screens.base import KmsScreen
from kms_tui.tui.screens.bucket_rows import BucketRow, read_bucket_rows
from kms_tui.tui.screens.buckets_check import BucketChecks
from kms_tui.tui.screens.objects import ObjectsScreen
from kms_tui.tui.styles import style_path
from kms_tui.tui.widgets.footer import KmsFooter

__all__ = ["BucketsScreen"]

WARNING_MARK = "⚠"
MARKED = "●"
_CHANGES = frozenset({"create_bucket", "edit_encryption", "remove_encryption"})


class BucketsScreen(KmsScreen):
    """Buckets and their default encryption; set (SSE-S3 / SSE-KMS), remove, create."""

    CSS_PATH = style_path("buckets.tcss")
    IAM_ACTIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        "create_bucket": ("s3:CreateBucket",),
        "edit_encryption": ("s3:PutBucketEncryption",),
        "remove_encryption": ("s3:PutBucketEncryption",),
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh_data", "Refresh", id="buckets.refresh"),
        Binding("c", "create_bucket", "Create bucket", id="buckets.create"),
        Binding("e", "edit_encryption", "Set encryption", id="buckets.edit_encryption"),
        Binding("d", "remove_encryption", "Remove encryption", id="buckets.remove_encryption"),
        # Before the table's own enter (select), so the footer shows it and it always opens.
        Binding("enter", "open_objects", "Objects", id="buckets.objects", priority=True),
        Binding("space", "toggle_mark", "Mark", id="buckets.mark", show=False),
        Binding("v", "check_encryption", "Check encryption", id="buckets.check"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, BucketRow] = {}
        self.marked: set[str] = set()
        self.loaded = False
        self.check_progress: str | None = None
        self.checks = BucketChecks(self, self._checking)

    def compose(self) -> ComposeResult:
        with Vertical(id="buckets-body"):
            yield Static("", id="buckets-readonly", markup=False)
            yield Static("loading buckets…", id="buckets-status", markup=False)
            yield DataTable(id="buckets-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="buckets-detail", markup=False)
        yield KmsFooter()

    def on_mount(self) -> None:
        table = self.query_one("#buckets-table", DataTable)
        table.add_column(" ", key="mark", width=2)
        table.add_column("bucket", key="bucket")
        table.add_column("created", key="created")
        table.add_column("encryption", key="encryption")
        table.add_column("KMS key", key="key")
        table.add_column("key state", key="key_state")
        if self.ctx.read_only:
            banner = self.query_one("#buckets-readonly", Static)
            banner.update(
                "read-only session: creating buckets, setting or removing encryption and the "
                "encryption check (it writes a probe object) are disabled"
            )
            banner.add_class("visible")
        self.load_buckets()

    def on_screen_resume(self) -> None:
        if self.loaded:
            self.load_buckets()

    # --- loading ---------------------------------------------------------------------------

    def refresh_data(self) -> None:
        """`r`: read every bucket and key state again."""
        self.load_buckets()

    @work(exclusive=True, group="buckets", exit_on_error=False)
    async def load_buckets(self) -> None:
        """List buckets, read each one's encryption, then check the keys they name."""
        status = self.query_one("#buckets-status", Static)
        status.update("loading buckets…")
        try:
            rows = await read_bucket_rows(await self.ctx.buckets(), self.ctx.admin)
        except KmsError as err:
            status.update(f"could not list buckets: {error_text(err)}")
            self.report_error("list buckets", None, err)
            return
        self._show_rows(rows)

    def _show_rows(self, rows: list[BucketRow]) -> None:
        table = self.query_one("#buckets-table", DataTable)
        highlighted = self.highlighted_bucket
        table.clear()
        self.rows = {row.name: row for row in rows}
        self.marked &= self.rows.keys()
        for row in rows:
            table.add_row(
                self._mark_text(row),
                row.name,
                format_date(row.creation_date),
                row.encryption_label,
                row.key_label,
                row.problem or row.key_warning or "",
                key=row.name,
            )
        if highlighted in self.rows:
            self.select_bucket(highlighted)
        self.loaded = True
        self._show_status()
        self._show_detail()

    def _mark_text(self, row: BucketRow) -> str:
        marked = MARKED if row.name in self.marked else ""
        return marked + (WARNING_MARK if row.key_warning or row.problem else "")

    def _show_status(self) -> None:
        rows = self.rows.values()
        warned = sum(1 for row in rows if row.key_warning)
        text = f"{len(self.rows)} bucket{'s' if len(self.rows) != 1 else ''}"
        if warned:
            text += f", {warned} with an unusable KMS key {WARNING_MARK}"
        if self.marked:
            text += f" · {len(self.marked)} marked (v checks all marked)"
        if self.check_progress:
            text += f" · {self.check_progress}"
        self.query_one("#buckets-status", Static).update(text)

    def _checking(self, progress: str | None) -> None:
        self.check_progress = progress
        if self.loaded:
            self._show_status()

    # --- selection -------------------------------------------------------------------------

    @property
    def highlighted_bucket(self) -> str | None:
        """The bucket under the cursor, if any."""
        table = self.query_one("#buckets-table", DataTable)
        if not table.row_count:
            return None
        row_key, _column = table.coordinate_to_cell_key(table.cursor_coordinate)
        return None if row_key.value is None else str(row_key.value)

    def select_bucket(self, name: str) -> None:
        """Move the cursor to ``name`` (tests and the palette use it)."""
        table = self.query_one("#buckets-table", DataTable)
        table.move_cursor(row=table.get_row_index(name))

    @on(DataTable.RowHighlighted, "#buckets-table")
    def _row_highlighted(self) -> None:
        self._show_detail()
        if self.ctx.permissions.varies_by_resource:
            self.refresh_bindings()

    @on(DataTable.RowSelected, "#buckets-table")
    def _row_selected(self) -> None:
        self.action_open_objects()

    # --- objects, marks, the encryption check ----------------------------------------------

    def action_open_objects(self) -> None:
        """`enter`: the highlighted bucket's objects, with their encryption and key states."""
        name = self._chosen_bucket()
        if name is None:
            return
        row = self.rows.get(name)
        label = ""
        if row is not None and row.problem is None:
            label = row.encryption_label + (f" with {row.key_label}" if row.key_label else "")
        self.app.push_screen(ObjectsScreen(name, label))

    def action_toggle_mark(self) -> None:
        """`space`: mark or unmark the highlighted bucket for a check of several, move down."""
        name = self.highlighted_bucket
        row = self.rows.get(name) if name else None
        if name is None or row is None:
            return
        self.marked.symmetric_difference_update({name})
        table = self.query_one("#buckets-table", DataTable)
        table.update_cell(name, "mark", self._mark_text(row))
        table.move_cursor(row=table.cursor_row + 1)
        self._show_status()

    def action_check_encryption(self) -> None:
        """`v`: check the highlighted bucket (or every marked one) with a probe object."""
        if not self.writable("the encryption check (it writes a probe object)"):
            return
        if self.marked:
            chosen = [name for name in self.rows if name in self.marked]
            self.marked.clear()
            self._show_rows(list(self.rows.values()))
            self.checks.start(chosen)
            return
        name = self._chosen_bucket()
        if name is not None:
            self.checks.start([name])

    def action_check_all_buckets(self) -> None:
        """The palette's "Check all buckets": every bucket on the server, one verdict each."""
        if self.writable("the encryption check (it writes a probe object)"):
            self.checks.start(None)

    def _show_detail(self) -> None:
        detail = self.query_one("#buckets-detail", Static)
        name = self.highlighted_bucket
        row = self.rows.get(name) if name else None
        if row is None:
            detail.update("no bucket selected (c creates one)" if not self.rows else "")
            return
        text = f"{row.name}: default encryption {row.encryption_label}"
        if row.key_label:
            text += f" with key {row.key_label}"
        if row.key_warning:
            text += f"  {WARNING_MARK} the key is {row.key_warning}: new objects would fail"
        if row.problem:
            text += f"  {WARNING_MARK} {row.problem}"
        detail.update(text)

    # --- changes ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Changes are shown disabled in a read-only session (the banner says why)."""
        if action in _CHANGES and self.is_mounted and self.ctx.read_only:
            return None
        return None if self.permission_reason(action) is not None else True

    def permission_resource(self, iam_action: str) -> str | None:
        """Encryption changes name the highlighted bucket."""
        return self.highlighted_bucket if iam_action == "s3:PutBucketEncryption" else None

    def _chosen_bucket(self) -> str | None:
        name = self.highlighted_bucket
        if name is None:
            self.notify("no bucket selected", severity="warning")
        return name

    def action_create_bucket(self) -> None:
        """`c`: create a bucket with a name checked as it is typed."""
        if self.writable("create bucket"):
            self.create_bucket()

    @work(exclusive=True, group="bucket-change", exit_on_error=False)
    async def create_bucket(self) -> None:
        """Ask for the name, create the bucket, reload; a refused name comes back to be fixed."""
        typed, refusal = "", None
        while True:
            name = await self.app.push_screen_wait(CreateBucketDialog(typed, server_error=refusal))
            if name is None:
                return
            try:
                client = await self.ctx.buckets()
                await client.create_bucket(name)
            except KmsError as err:
                self.report_error("create bucket", name, err)
                typed, refusal = name, error_text(err)
                continue
            break
        self.report_done("create bucket", name, f"created bucket {name}")
        await self.load_buckets().wait()
        if name in self.rows:
            self.select_bucket(name)

    def action_edit_encryption(self) -> None:
        """`e` / Enter: set SSE-S3 or SSE-KMS with a picked key."""
        if self.writable("set bucket encryption"):
            name = self._chosen_bucket()
            if name is not None:
                self.edit_encryption(name)

    @work(exclusive=True, group="bucket-change", exit_on_error=False)
    async def edit_encryption(self, name: str) -> None:
        """Ask for the encryption, apply it, reload."""
        row = self.rows.get(name)
        current = row.encryption if row is not None else None
        refusal: str | None = None
        while True:
            choice = await self.app.push_screen_wait(
                BucketEncryptionDialog(name, current, self.ctx.admin, server_error=refusal)
            )
            if choice is None:
                return
            try:
                client = await self.ctx.buckets()
                await client.put_bucket_encryption(
                    name, algorithm=choice.algorithm, kms_key_id=choice.kms_key_id
                )
            except KmsError as err:
                self.report_error("set bucket encryption", name, err)
                # Back to the dialog with the choice kept and the refusal shown above it.
                current = BucketEncryption(choice.algorithm, choice.kms_key_id)
                refusal = error_text(err)
                continue
            break
        self.report_done(
            "set bucket encryption", name, f"{name}: default encryption {choice.label}"
        )
        await self.load_buckets().wait()

    def action_remove_encryption(self) -> None:
        """`d`: remove the default encryption after a confirmation."""
        if not self.writable("remove bucket encryption"):
            return
        name = self._chosen_bucket()
        if name is None:
            return
        row = self.rows.get(name)
        if row is not None and row.encryption is None and row.problem is None:
            self.notify(f"{name} has no default encryption", severity="information")
            return
        self.remove_encryption(name)

    @work(exclusive=True, group="bucket-change", exit_on_error=False)
    async def remove_encryption(self, name: str) -> None:
        """Confirm, remove, reload."""
        row = self.rows.get(name)
        current = row.encryption_label if row is not None else "its"
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                f"Remove default encryption from {name}?",
                f"{name} uses {current}. New objects will no longer be encrypted by default; "
                "existing objects keep their encryption.",
                "Remove",
            )
        )
        if not confirmed:
            return
        try:
            client = await self.ctx.buckets()
            await client.delete_bucket_encryption(name)
        except KmsError as err:
            self.report_error("remove bucket encryption", name, err)
            return
        self.report_done("remove bucket encryption", name, f"{name}: default encryption removed")
        await self.load_buckets().wait()
