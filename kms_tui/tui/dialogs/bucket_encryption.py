"""Choose a bucket's default encryption: SSE-S3, or SSE-KMS with a key from the picker."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, RadioButton, RadioSet, Static

from kms_tui.api.buckets import BucketEncryption
from kms_tui.tui.dialogs.form_rules import EncryptionChoice, encryption_rules
from kms_tui.tui.dialogs.key_picker import AdminLoader, KeyPickerDialog
from kms_tui.tui.styles import style_path

__all__ = ["BucketEncryptionDialog"]


class BucketEncryptionDialog(ModalScreen[EncryptionChoice | None]):
    """SSE-S3 or SSE-KMS; SSE-KMS needs a key, picked from every key on the server."""

    CSS_PATH = style_path("dialogs.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="bucket_encryption.cancel"),
        Binding("k", "pick_key", "Choose key", id="bucket_encryption.pick_key"),
        Binding("ctrl+s", "apply", "Apply", id="bucket_encryption.apply"),
    ]

    def __init__(
        self,
        bucket: str,
        current: BucketEncryption | None,
        load_admin: AdminLoader,
        *,
        server_error: str | None = None,
    ) -> None:
        """``current`` preselects the choice; ``server_error`` says why the last one failed."""
        super().__init__(classes="kms-dialog")
        self.bucket = bucket
        self.server_error = server_error
        self._load_admin = load_admin
        self.kms_key_id: str | None = current.kms_key_id if current is not None else None
        self.use_kms = current is None or current.is_sse_kms

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(
                f"Default encryption for {self.bucket}", classes="dialog-title", markup=False
            )
            refusal = Static(
                self.server_error or "", id="server-error", classes="server-error", markup=False
            )
            refusal.set_class(bool(self.server_error), "visible")
            yield refusal
            with RadioSet(id="algorithm"):
                yield RadioButton(
                    "SSE-S3 (keys managed by the server)", id="sse-s3", value=not self.use_kms
                )
                yield RadioButton("SSE-KMS (a KMS key)", id="sse-kms", value=self.use_kms)
            yield Label("KMS key", classes="field-label")
            yield Label(self._key_text(), id="kms-key", markup=False)
            yield Button("Choose key… (k)", id="pick-key")
            yield Label("", id="encryption-error", classes="field-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#algorithm", RadioSet).focus()
        self._sync()

    def _key_text(self) -> str:
        return self.kms_key_id or "(none chosen)"

    def _sync(self) -> None:
        self.query_one("#pick-key", Button).disabled = not self.use_kms
        self.query_one("#kms-key", Label).update(self._key_text() if self.use_kms else "–")

    @on(RadioSet.Changed, "#algorithm")
    def _algorithm_changed(self, event: RadioSet.Changed) -> None:
        self.use_kms = event.pressed.id == "sse-kms"
        self._show_error(None)
        self._sync()

    def _show_error(self, problem: str | None) -> None:
        error = self.query_one("#encryption-error", Label)
        error.update(problem or "")
        error.set_class(problem is not None, "visible")

    def action_pick_key(self) -> None:
        """Open the key picker (SSE-KMS only)."""
        if not self.use_kms:
            self._show_error("choose SSE-KMS first; SSE-S3 uses no KMS key")
            return
        picker = KeyPickerDialog(
            self._load_admin, title=f"KMS key for {self.bucket}", preselect=self.kms_key_id
        )
        self.app.push_screen(picker, self._key_picked)

    def _key_picked(self, key_id: str | None) -> None:
        if key_id is not None:
            self.kms_key_id = key_id
            self._show_error(None)
            self._sync()

    @property
    def choice(self) -> EncryptionChoice | None:
        """The current choice, or None while SSE-KMS has no usable key."""
        return encryption_rules(self.use_kms, self.kms_key_id).value

    @property
    def field_error(self) -> str | None:
        """The problem shown under the key, if any (tests read it)."""
        error = self.query_one("#encryption-error", Label)
        return str(error.content) if error.has_class("visible") else None

    @on(Button.Pressed)
    def _button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "pick-key":
            self.action_pick_key()
        elif event.button.id == "apply":
            self.action_apply()
        else:
            self.dismiss(None)

    def action_apply(self) -> None:
        """Dismiss with the choice, or say at the key what is missing."""
        check = encryption_rules(self.use_kms, self.kms_key_id)
        if check.value is None:
            self._show_error(check.problems.get("kms_key"))
            return
        self.dismiss(check.value)

    def action_cancel(self) -> None:
        """Escape changes nothing."""
        self.dismiss(None)
