"""Ask for a new bucket's name, refusing at the field what S3 would refuse."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Input, Label, Static

from kms_tui.tui.dialogs.form_rules import bucket_name_problem, bucket_name_rules
from kms_tui.tui.styles import style_path

__all__ = ["BucketNameValidator", "CreateBucketDialog"]


class BucketNameValidator(Validator):
    """The S3 naming rules (the client's and S3's reserved names), applied while typing."""

    def validate(self, value: str) -> ValidationResult:
        """Fail with the rule the name breaks."""
        problem = bucket_name_problem(value)
        return self.failure(problem) if problem else self.success()


class CreateBucketDialog(ModalScreen[str | None]):
    """A one-field form; dismisses with the valid name, or None on cancel.

    ``initial`` and ``server_error`` let a caller reopen the form after the server refused the
    name, with the name still typed and the refusal shown.
    """

    CSS_PATH = style_path("dialogs.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="create_bucket.cancel"),
    ]

    def __init__(self, initial: str = "", *, server_error: str | None = None) -> None:
        super().__init__(classes="kms-dialog")
        self.initial = initial
        self.server_error = server_error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label("Create a bucket", classes="dialog-title")
            error = Static(
                self.server_error or "", id="server-error", classes="server-error", markup=False
            )
            error.set_class(bool(self.server_error), "visible")
            yield error
            yield Label("Name (3–63 of a-z 0-9 . -)", classes="field-label")
            yield Input(
                value=self.initial,
                placeholder="my-bucket",
                id="bucket-name",
                validators=[BucketNameValidator()],
                validate_on=["changed", "submitted"],
            )
            yield Label("", id="bucket-name-error", classes="field-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Create", id="create", variant="primary", disabled=True)
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#bucket-name", Input).focus()
        self._show(self.problem if self.initial else None)

    @property
    def problem(self) -> str | None:
        """Why the typed name is refused (None when it is acceptable)."""
        return bucket_name_rules(self.query_one("#bucket-name", Input).value).problems.get("name")

    @property
    def field_error(self) -> str | None:
        """The problem shown under the name, if any (tests read it)."""
        error = self.query_one("#bucket-name-error", Label)
        return str(error.content) if error.has_class("visible") else None

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
        check = bucket_name_rules(self.query_one("#bucket-name", Input).value)
        if check.value is None:
            self._show(check.problems.get("name"))
            return
        self.dismiss(check.value)

    def action_cancel(self) -> None:
        """Escape creates nothing."""
        self.dismiss(None)
