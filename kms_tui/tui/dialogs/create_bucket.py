"""Ask for a new bucket's name, refusing at the field what S3 would refuse."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Input, Label

from kms_tui.api.buckets import validate_bucket_name
from kms_tui.tui.styles import style_path

__all__ = ["BucketNameValidator", "CreateBucketDialog"]


class BucketNameValidator(Validator):
    """The S3 naming rules, as the client checks them, applied while typing."""

    def validate(self, value: str) -> ValidationResult:
        """Fail with the rule the name breaks."""
        problem = validate_bucket_name(value)
        return self.failure(f"bucket name {problem}") if problem else self.success()


class CreateBucketDialog(ModalScreen[str | None]):
    """A one-field form; dismisses with the valid name, or None on cancel."""

    CSS_PATH = style_path("dialogs.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="create_bucket.cancel"),
    ]

    def __init__(self) -> None:
        super().__init__(classes="kms-dialog")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label("Create a bucket", classes="dialog-title")
            yield Label("Name (3–63 of a-z 0-9 . -)", classes="field-label")
            yield Input(
                placeholder="my-bucket",
                id="bucket-name",
                validators=[BucketNameValidator()],
                validate_on=["changed", "submitted"],
            )
            yield Label("", id="bucket-name-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Create", id="create", variant="primary", disabled=True)
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#bucket-name", Input).focus()

    @property
    def problem(self) -> str | None:
        """Why the typed name is refused (None when it is acceptable)."""
        problem = validate_bucket_name(self.query_one("#bucket-name", Input).value)
        return f"bucket name {problem}" if problem else None

    @on(Input.Changed, "#bucket-name")
    def _name_changed(self, event: Input.Changed) -> None:
        self._show(self.problem if event.value else None)

    def _show(self, problem: str | None) -> None:
        error = self.query_one("#bucket-name-error", Label)
        error.update(problem or "")
        error.set_class(problem is not None, "visible")
        self.query_one("#bucket-name", Input).set_class(problem is not None, "invalid")
        self.query_one("#create", Button).disabled = self.problem is not None

    @on(Input.Submitted, "#bucket-name")
    def _submitted(self) -> None:
        self._try_create()

    @on(Button.Pressed)
    def _button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "create":
            self._try_create()
        else:
            self.dismiss(None)

    def _try_create(self) -> None:
        problem = self.problem
        if problem is not None:
            self._show(problem)
            return
        self.dismiss(self.query_one("#bucket-name", Input).value)

    def action_cancel(self) -> None:
        """Escape creates nothing."""
        self.dismiss(None)
