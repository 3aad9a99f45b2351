"""Schedule deletion: a 7–30 day window and the key id typed back; then the impact report.

Above the typed key id the form quotes the last object scan of the keys (how many objects
become unreadable, when it was taken, whether it was partial), or offers one (`ctrl+o`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from kms_tui.api.models import KeyDeletion
from kms_tui.tui.dialogs.confirm import FormDialog
from kms_tui.tui.dialogs.form_rules import ScheduleDeletionRequest, schedule_deletion_rules
from kms_tui.tui.formatting import MAX_WINDOW_DAYS, MIN_WINDOW_DAYS, format_date
from kms_tui.tui.impact_results import NOT_SCANNED, SCAN_KEY
from kms_tui.tui.styles import style_path
from kms_tui.tui.widgets.key_detail import impact_lines

__all__ = ["DeletionImpactDialog", "ScanBeforeDeletion", "ScheduleDeletionDialog"]


@dataclass(frozen=True, slots=True)
class ScanBeforeDeletion:
    """The form asked for an object scan first; what was typed comes back with it."""

    window_text: str
    confirmation_text: str


class ScheduleDeletionDialog(FormDialog[ScheduleDeletionRequest | ScanBeforeDeletion]):
    """Ask for the window and a typed confirmation (the key id; for several keys, their count)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(SCAN_KEY, "scan_objects", "Scan objects first", id="schedule_deletion.scan"),
    ]
    submit_label = "Schedule deletion"
    submit_variant = "error"

    def __init__(
        self,
        key_ids: Sequence[str],
        *,
        initial: ScheduleDeletionRequest | None = None,
        server_error: str | None = None,
        impact_text: str = NOT_SCANNED,
    ) -> None:
        super().__init__(server_error=server_error)
        if not key_ids:
            raise ValueError("ScheduleDeletionDialog needs at least one key")
        self.key_ids = tuple(key_ids)
        self.initial = initial
        self.impact_text = impact_text
        if len(self.key_ids) == 1:
            self.title_text = f"Schedule deletion of {self.key_ids[0]}"
            self.expected = self.key_ids[0]
            self.confirm_prompt = f"Type the key id ({self.expected}) to confirm"
        else:
            self.title_text = f"Schedule deletion of {len(self.key_ids)} keys"
            self.expected = str(len(self.key_ids))
            self.confirm_prompt = f"Type the number of keys ({self.expected}) to confirm"

    def compose_fields(self) -> ComposeResult:
        if len(self.key_ids) > 1:
            shown = ", ".join(self.key_ids[:8])
            more = f" and {len(self.key_ids) - 8} more" if len(self.key_ids) > 8 else ""
            yield Static(f"Keys: {shown}{more}", classes="dialog-body", markup=False)
        yield Static(
            "The keys become unusable now and are destroyed when the window ends; "
            "cancel deletion (u) brings them back before then.",
            classes="dialog-body",
        )
        initial = self.initial
        yield from self.field(
            f"Pending window in days ({MIN_WINDOW_DAYS}–{MAX_WINDOW_DAYS})",
            "window",
            initial.window_text if initial else str(MAX_WINDOW_DAYS),
        )
        yield Static(self.impact_text, id="deletion-impact", classes="dialog-body", markup=False)
        yield from self.field(
            self.confirm_prompt, "confirmation", initial.confirmation_text if initial else ""
        )

    def on_mount(self) -> None:
        self.query_one("#confirmation").focus()

    def action_scan_objects(self) -> None:
        """`ctrl+o`: close the form to scan the keys' objects; it comes back as typed."""
        self.dismiss(ScanBeforeDeletion(self.value("window"), self.value("confirmation")))

    def collect(self) -> ScheduleDeletionRequest | None:
        check = schedule_deletion_rules(
            self.value("window"), self.value("confirmation"), self.expected
        )
        for field_id in ("window", "confirmation"):
            self.set_field_error(field_id, check.problems.get(field_id))
        return check.value


class DeletionImpactDialog(ModalScreen[None]):
    """After scheduling: when the key goes, and what the server says still names it."""

    CSS_PATH = style_path("dialogs.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Close", id="dialog.close"),
    ]

    def __init__(self, deletion: KeyDeletion) -> None:
        super().__init__(classes="kms-dialog")
        self.deletion = deletion

    def body_text(self) -> str:
        """The report as plain lines (tests read it)."""
        when = format_date(self.deletion.deletion_date)
        lines = [f"{self.deletion.key_id} will be deleted {when} UTC."]
        if self.deletion.impact is None:
            lines.append("The server sent no impact report.")
        else:
            references = self.deletion.impact.references
            if references:
                lines.append("Still named by these — they stop working when the key is gone:")
            lines.extend(impact_lines(self.deletion.impact))
        return "\n".join(lines)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label("Deletion scheduled", classes="dialog-title")
            yield Static(self.body_text(), id="impact", classes="dialog-body", markup=False)
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
