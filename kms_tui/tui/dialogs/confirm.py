"""Generic dialogs shared by the console: a yes/no confirmation and the base of every form.

Forms validate each field before anything is sent, mark the field that is wrong and why, and
can be reopened with what was typed plus the server's refusal, so input is never lost.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static
from textual.widgets.button import ButtonVariant

from kms_tui.tui.styles import style_path

__all__ = ["ConfirmDialog", "FormDialog"]

_ResultT = TypeVar("_ResultT")


class ConfirmDialog(ModalScreen[bool]):
    """Ask once before something that cannot be undone; dismisses True only on confirm."""

    CSS_PATH = style_path("dialogs.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(
        self,
        title: str,
        body: str,
        confirm_label: str = "Confirm",
        *,
        destructive: bool = True,
    ) -> None:
        super().__init__(classes="kms-dialog")
        self.dialog_title = title
        self.body = body
        self.confirm_label = confirm_label
        self.destructive = destructive

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.dialog_title, classes="dialog-title", markup=False)
            yield Static(self.body, classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    self.confirm_label,
                    id="confirm",
                    variant="error" if self.destructive else "primary",
                )
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        # Cancel has focus first so a stray Enter never confirms a destructive action.
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        """Escape means no."""
        self.dismiss(False)


class FormDialog(ModalScreen[_ResultT | None]):
    """A form that checks its fields before dismissing with a typed request (None: cancelled)."""

    CSS_PATH = style_path("dialogs.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]
    title_text = "Form"
    submit_label = "OK"
    submit_variant: ButtonVariant = "primary"

    def __init__(self, *, server_error: str | None = None) -> None:
        super().__init__(classes="kms-dialog")
        self.server_error = server_error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            error = Static(
                self.server_error or "", id="server-error", classes="server-error", markup=False
            )
            if self.server_error:
                error.add_class("visible")
            yield error
            yield from self.compose_fields()
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.submit_label, id="submit", variant=self.submit_variant)
                yield Button("Cancel", id="cancel")

    def compose_fields(self) -> ComposeResult:
        """The form's own fields; subclasses yield them (see :meth:`field`)."""
        yield from ()

    @staticmethod
    def field(
        label: str, input_id: str, value: str = "", *, placeholder: str = ""
    ) -> ComposeResult:
        """A labelled input with a place for its error underneath."""
        yield Label(label, classes="field-label", markup=False)
        yield Input(value=value, placeholder=placeholder, id=input_id)
        yield Static("", id=f"{input_id}-error", classes="field-error", markup=False)

    def value(self, input_id: str) -> str:
        """What is typed in one field."""
        return self.query_one(f"#{input_id}", Input).value

    def set_field_error(self, input_id: str, message: str | None) -> None:
        """Mark a field invalid with the reason, or clear the mark."""
        field = self.query_one(f"#{input_id}", Input)
        note = self.query_one(f"#{input_id}-error", Static)
        field.set_class(message is not None, "invalid")
        note.update(message or "")
        note.set_class(message is not None, "visible")

    def field_error(self, input_id: str) -> str | None:
        """The error shown under a field, if any (tests read it)."""
        note = self.query_one(f"#{input_id}-error", Static)
        return str(note.content) if note.has_class("visible") else None

    def collect(self) -> _ResultT | None:
        """Validate every field (marking each one wrong) and build the result, or None."""
        raise NotImplementedError

    def submit(self) -> None:
        """Dismiss with the result when every field is valid; otherwise stay open."""
        result = self.collect()
        if result is not None:
            self.dismiss(result)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        """Escape closes without sending anything."""
        self.dismiss(None)
