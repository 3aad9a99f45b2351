"""`?`: every binding of the screen in front, with its id (for remapping) and description."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from kms_tui.tui.styles import style_path

__all__ = ["HelpRow", "HelpScreen", "help_rows"]


@dataclass(frozen=True, slots=True)
class HelpRow:
    """One binding as the help table shows it."""

    key: str
    binding_id: str
    description: str
    enabled: bool


def help_rows(screen: Screen[Any]) -> list[HelpRow]:
    """The active bindings of ``screen`` (its own first, then the app's), one row per id."""
    keys_by_id: dict[str, list[str]] = {}
    first: dict[str, HelpRow] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.description:
            continue
        binding_id = binding.id or binding.action
        key = screen.app.get_key_display(binding)
        keys_by_id.setdefault(binding_id, [])
        if key not in keys_by_id[binding_id]:
            keys_by_id[binding_id].append(key)
        first.setdefault(binding_id, HelpRow(key, binding_id, binding.description, active.enabled))
    rows = [
        HelpRow(", ".join(keys_by_id[i]), i, row.description, row.enabled)
        for i, row in first.items()
    ]
    own = [row for row in rows if not row.binding_id.startswith("app.")]
    return own + [row for row in rows if row.binding_id.startswith("app.")]


class HelpScreen(ModalScreen[None]):
    """The bindings of the screen under it; Esc, `q` or `?` closes it."""

    CSS_PATH = style_path("help.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, rows: list[HelpRow], title: str) -> None:
        super().__init__()
        self.rows = rows
        self.screen_title = title

    @classmethod
    def for_screen(cls, screen: Screen[Any]) -> HelpScreen:
        """Help for ``screen`` as it is now (remapped keys included)."""
        return cls(help_rows(screen), type(screen).__name__.removesuffix("Screen") or "Console")

    def compose(self) -> ComposeResult:
        yield Static(f"Keys: {self.screen_title}   (Esc closes)", id="help-title")
        table: DataTable[str] = DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("Key", "Binding id", "Description", "")
        for row in self.rows:
            table.add_row(
                row.key, row.binding_id, row.description, "" if row.enabled else "(disabled)"
            )
        yield table
