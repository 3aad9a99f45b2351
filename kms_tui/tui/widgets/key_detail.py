"""The detail pane: the full metadata of the highlighted key, and its impact report on demand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from kms_tui.api.models import KeyDescription, KeyImpactReport
from kms_tui.tui.formatting import format_countdown, format_date, format_tags
from kms_tui.tui.widgets.key_table import KeyRow

__all__ = ["KeyDetail", "impact_lines"]


def impact_lines(report: KeyImpactReport) -> list[str]:
    """The impact report as lines a person can read: what still names the key, how sure."""
    lines = [f"impact ({report.completeness.value}):"]
    if report.references:
        for reference in report.references:
            detail = f" — {reference.detail}" if reference.detail else ""
            lines.append(f"  {reference.kind}: {reference.id}{detail}")
    else:
        lines.append("  nothing scanned still names this key")
    if report.coverage.not_scanned:
        lines.append("  not scanned: " + ", ".join(report.coverage.not_scanned))
    return lines


class KeyDetail(Static):
    """Shows one key; the screen feeds it rows from the table and answers from describe."""

    DEFAULT_CSS = """
    KeyDetail {
        height: auto;
        min-height: 6;
        max-height: 14;
        border-top: solid $primary;
        padding: 0 1;
    }
    """

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__("No key selected.", id=id, classes=classes, markup=False)
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.key_id: str | None = None
        self.description: KeyDescription | None = None

    def show_nothing(self, message: str = "No key selected.") -> None:
        """An empty table or a filter that matches nothing."""
        self.key_id = None
        self.description = None
        self.update(message)

    def show_row(self, row: KeyRow) -> None:
        """What the listing knows, shown at once while describe is on its way."""
        if row.key_id != self.key_id:
            self.description = None
        self.key_id = row.key_id
        if row.damaged:
            self.update(Text(f"{row.key_id}\nThe server listed this key but cannot read it."))
            return
        if self.description is not None:
            return
        grid = self._grid()
        grid.add_row("id", row.key_id)
        grid.add_row("state", row.state.value)
        grid.add_row("description", row.description or "—")
        grid.add_row("created", format_date(row.created))
        grid.add_row("tags", row.tags_text or "—")
        grid.add_row("", Text("loading details…", style="dim"))
        self.update(grid)

    def show_description(self, description: KeyDescription) -> None:
        """The full describe answer (with impact when it was asked for)."""
        metadata = description.metadata
        self.key_id = metadata.key_id
        self.description = description
        grid = self._grid()
        grid.add_row("id", metadata.key_id)
        grid.add_row("state", metadata.key_state.value)
        grid.add_row("description", metadata.description or "—")
        grid.add_row("usage", metadata.key_usage.value)
        grid.add_row("created", format_date(metadata.creation_date))
        if metadata.deletion_date is not None:
            countdown = format_countdown(metadata.deletion_date, self.clock())
            grid.add_row("deletion", f"{format_date(metadata.deletion_date)} ({countdown})")
        grid.add_row("origin", metadata.origin)
        grid.add_row("key manager", metadata.key_manager)
        grid.add_row("tags", format_tags(metadata.tags) or "—")
        if description.impact is not None:
            grid.add_row("", "\n".join(impact_lines(description.impact)))
        else:
            grid.add_row("", Text("press i for the impact report", style="dim"))
        self.update(grid)

    def show_error(self, key_id: str, message: str) -> None:
        """Describe failed; say so in place of the details."""
        self.key_id = key_id
        self.description = None
        self.update(Text(f"{key_id}\ncould not load details: {message}"))

    @staticmethod
    def _grid() -> Table:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        return grid
