"""`a`: what this session changed and what failed, newest last, as the JSON-lines file has it."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static

from kms_tui.tui.activity import ActivityEntry
from kms_tui.tui.styles import style_path

if TYPE_CHECKING:
    from kms_tui.tui.activity import ActivityLog
    from kms_tui.tui.app import KmsTuiApp

__all__ = ["ActivityScreen", "activity_row"]


def activity_row(entry: ActivityEntry) -> tuple[str, str, str, str, str, str]:
    """time, action, target, result, message, request id."""
    return (
        entry.time.strftime("%Y-%m-%d %H:%M:%S"),
        entry.action,
        entry.target or "",
        entry.result,
        entry.message,
        entry.request_id or "",
    )


class ActivityScreen(Screen[None]):
    """The session's activity log; Esc goes back."""

    CSS_PATH = style_path("activity.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.go_back", "Back", id="activity.back"),
    ]

    @property
    def activity_log(self) -> ActivityLog:
        """The session's activity log."""
        return cast("KmsTuiApp", self.app).context.activity

    def compose(self) -> ComposeResult:
        yield Static(
            f"Activity log  ({self.activity_log.path})   Esc goes back", id="activity-title"
        )
        table: DataTable[str] = DataTable(
            id="activity-table", cursor_type="row", zebra_stripes=True
        )
        table.add_columns("Time (UTC)", "Action", "Target", "Result", "Message", "Request id")
        yield table

    def on_mount(self) -> None:
        """Fill the table from the log and show the newest entry."""
        for entry in self.activity_log.entries:
            self.add_entry(entry)

    def add_entry(self, entry: ActivityEntry) -> None:
        """Append one entry and keep it in view."""
        table = self.query_one("#activity-table", DataTable)
        table.add_row(*activity_row(entry))
        table.move_cursor(row=table.row_count - 1)
