"""The baseline consoles: minimal Textual apps that cost what Textual itself costs.

    python -m benchmarks.baseline_app bare      # Header, a one-column DataTable, no rows, Footer
    python -m benchmarks.baseline_app rows N    # the same with the console's 5 columns, N rows
    python -m benchmarks.baseline_app echo      # an Input whose every keystroke a Static echoes

``bare`` is the start-up baseline: its first frame shows the column label ``BARE_MARKER``.
``rows`` shows the same ids as the console's key table, so a key id means "first frame with
table rows" for both (the second start-up row, and the memory and live baselines). ``echo``
is the keystroke baseline: it writes ``match '<text>'`` as the console's status line does when
the filter is applied, and its Input has the console's filter placeholder. No server, no HTTP.
"""

from __future__ import annotations

import sys

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer, Header, Input, Static

from benchmarks.dataset import synthetic_row

BARE_MARKER = "BASELINECOLUMN"
FILTER_PLACEHOLDER = "filter id, description"  # the console's filter Input placeholder starts so


class BareApp(App[None]):
    """Header, a DataTable with one column and no rows, Footer."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="table")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        self.fill(table)
        table.focus()

    def fill(self, table: DataTable[str]) -> None:
        """The table's columns and rows (a subclass's ``on_mount`` would run as well as this
        one's: Textual calls the handler of every class in the MRO)."""
        table.add_column(BARE_MARKER)


class RowsApp(BareApp):
    """The bare app with the console's five columns; the rows are filled in on mount."""

    def __init__(self, rows: int) -> None:
        super().__init__()
        self.row_count = rows

    def fill(self, table: DataTable[str]) -> None:
        table.add_columns("ID", "DESCRIPTION", "STATE", "CREATED", "TAGS")
        table.add_rows(synthetic_row(index) for index in range(self.row_count))


class EchoApp(App[None]):
    """An Input and a Static that shows what the Input holds after every keystroke."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder=FILTER_PLACEHOLDER + ", tag")
        yield Static("", id="echo")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#echo", Static).update(f"match {event.value!r}")


def main(argv: list[str]) -> None:
    """Run the app the command line names (``rows`` with no count: 1,000 rows)."""
    mode = argv[0] if argv else "rows"
    if mode == "bare":
        BareApp().run()
    elif mode == "echo":
        EchoApp().run()
    elif mode == "rows":
        RowsApp(int(argv[1]) if len(argv) > 1 else 1000).run()
    else:
        raise SystemExit(f"unknown baseline {mode!r}: bare, rows N or echo")


if __name__ == "__main__":
    main(sys.argv[1:])
