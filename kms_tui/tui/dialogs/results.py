"""Per-key results of a bulk action: which keys changed and what the server said for the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from kms_tui.tui.styles import style_path

__all__ = ["KeyResult", "ResultsDialog"]


@dataclass(frozen=True, slots=True)
class KeyResult:
    """One key's outcome in a bulk action."""

    key_id: str
    ok: bool
    message: str


class ResultsDialog(ModalScreen[None]):
    """Lists every key of a bulk action with its outcome."""

    CSS_PATH = style_path("dialogs.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="dialog.close"),
    ]

    def __init__(self, title: str, results: Sequence[KeyResult]) -> None:
        super().__init__(classes="kms-dialog")
        self.dialog_title = title
        self.results = tuple(results)

    @property
    def summary(self) -> str:
        """``3 succeeded, 1 failed``."""
        done = sum(1 for result in self.results if result.ok)
        return f"{done} succeeded, {len(self.results) - done} failed"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.dialog_title, classes="dialog-title", markup=False)
            yield Static(self.summary, id="summary", classes="dialog-body")
            with VerticalScroll(classes="results-list"):
                for result in self.results:
                    mark = "✓" if result.ok else "✗"
                    yield Static(
                        f"{mark} {result.key_id}: {result.message}",
                        classes="result-ok" if result.ok else "result-failed",
                        markup=False,
                    )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        """Done reading."""
        self.dismiss(None)
