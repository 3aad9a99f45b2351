"""The baseline console: a minimal Textual app with a Header, a DataTable and a Footer.

It shows the same number of rows as the console's key table, with the same ids, so the
start-up marker (a key id) means "first frame with table rows" for both. No server, no HTTP:
what is left is what Textual itself costs. Run: ``python -m benchmarks.baseline_app ROWS``.
"""

from __future__ import annotations

import sys

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer, Header

from benchmarks.dataset import synthetic_row


class BaselineApp(App[None]):
    """Header, DataTable, Footer; the rows are filled in on mount."""

    def __init__(self, rows: int) -> None:
        super().__init__()
        self.row_count = rows

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="table")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("ID", "DESCRIPTION", "STATE", "CREATED", "TAGS")
        table.add_rows(synthetic_row(index) for index in range(self.row_count))
        table.focus()


def main(argv: list[str]) -> None:
    """Run the app with the row count from the command line (default 1,000)."""
    rows = int(argv[0]) if argv else 1000
    BaselineApp(rows).run()


if __name__ == "__main__":
    main(sys.argv[1:])
