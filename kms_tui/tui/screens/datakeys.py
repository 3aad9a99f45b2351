"""Data keys (`3`): generate a data key under a chosen key, and decrypt a blob where possible.

The plaintext key is held only by a :class:`SecretField` (masked until revealed, wiped after
``plaintext_clear_seconds``); the activity log and notifications name the key, never the data.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import ClassVar, TypeVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Input, Label, Select, Static

from kms_tui.api.errors import KmsError, KmsNotSupported
from kms_tui.api.service_models import Capabilities
from kms_tui.api.wire import KeySpec
from kms_tui.tui.dialogs.form_rules import DataKeyRequest, context_rule, data_key_rules
from kms_tui.tui.dialogs.key_picker import KeyPickerDialog
from kms_tui.tui.formatting import FieldError
from kms_tui.tui.screens.base import KmsScreen
from kms_tui.tui.styles import style_path
from kms_tui.tui.widgets.footer import KmsFooter
from kms_tui.tui.widgets.secret_field import SecretField

__all__ = ["DataKeysScreen", "parse_ciphertext"]

NO_DECRYPT_MESSAGE = "this server has no decrypt"
_SPECS: tuple[KeySpec, ...] = (KeySpec.AES_256, KeySpec.AES_128, KeySpec.CHACHA20)
_T = TypeVar("_T")


def parse_ciphertext(text: str) -> bytes:
    """A pasted ciphertext blob: non-empty standard base64 (whitespace ignored)."""
    compact = "".join(text.split())
    if not compact:
        raise FieldError("paste the ciphertext blob (base64)")
    try:
        blob = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise FieldError("the ciphertext blob is not valid base64") from None
    if not blob:
        raise FieldError("the ciphertext blob is empty")
    return blob


class _ParserValidator(Validator):
    """Adapt a field rule (it raises :class:`FieldError`) to Textual's validation."""

    def __init__(self, parse: Callable[[str], object]) -> None:
        super().__init__()
        self._parse = parse

    def validate(self, value: str) -> ValidationResult:
        """Fail with the parser's message."""
        try:
            self._parse(value)
        except FieldError as err:
            return self.failure(str(err))
        return self.success()


class DataKeysScreen(KmsScreen):
    """Generate (key picker, spec, context) and decrypt; the plaintext is masked and short-lived."""

    CSS_PATH = style_path("datakeys.tcss")
    IAM_ACTIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        "generate": ("kms:GenerateDataKey",),
        "decrypt": ("kms:Decrypt",),
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh_data", "Refresh", id="datakeys.refresh"),
        Binding("k", "pick_key", "Choose key", id="datakeys.pick_key"),
        Binding("g", "generate", "Generate", id="datakeys.generate"),
        Binding("v", "toggle_reveal", "Reveal/hide", id="datakeys.reveal"),
        Binding("y", "copy_ciphertext", "Copy blob", id="datakeys.copy"),
        Binding("x", "clear_result", "Clear", id="datakeys.clear"),
        Binding("D", "decrypt", "Decrypt", id="datakeys.decrypt"),
    ]

    plaintext_clear_seconds: ClassVar[float] = 30.0
    """How long a plaintext stays on screen (and in the widget); tests shorten it."""

    def __init__(self) -> None:
        super().__init__()
        self.key_id: str | None = None
        self.ciphertext_b64: str | None = None
        self.decrypt_unsupported = False

    # --- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="datakeys-body"):
            with Horizontal(id="datakeys-forms"):
                with Vertical(id="generate-pane", classes="pane"):
                    yield Label("Key", classes="field-label")
                    with Horizontal(classes="key-row"):
                        yield Label(self._key_text(), id="datakey-key", markup=False)
                        yield Button("Choose key… (k)", id="pick-key")
                    yield Label("Key spec", classes="field-label")
                    yield Select(
                        [(spec.value, spec) for spec in _SPECS],
                        value=KeySpec.AES_256,
                        allow_blank=False,
                        id="key-spec",
                    )
                    yield Label("Encryption context (key=value, …)", classes="field-label")
                    yield self._context_input("generate-context")
                    yield Label("", id="generate-context-error", classes="field-error")
                    yield Button("Generate (g)", id="generate", variant="primary")
                with Vertical(id="decrypt-pane", classes="pane"):
                    yield Label("Ciphertext blob (base64)", classes="field-label")
                    yield Input(
                        placeholder="paste a blob",
                        id="decrypt-blob",
                        validators=[_ParserValidator(parse_ciphertext)],
                        validate_on=["changed", "submitted"],
                    )
                    yield Label("", id="decrypt-blob-error", classes="field-error")
                    yield Label("Encryption context (key=value, …)", classes="field-label")
                    yield self._context_input("decrypt-context")
                    yield Label("", id="decrypt-context-error", classes="field-error")
                    yield Button("Decrypt (D)", id="decrypt")
                    yield Label("", id="decrypt-unavailable", classes="field-error")
            with Vertical(id="result-pane", classes="pane"):
                yield Label("Key", classes="field-label")
                yield Static("–", id="result-key", markup=False)
                yield Label("Ciphertext blob (base64)", classes="field-label")
                yield Static("–", id="result-ciphertext", markup=False)
                yield Label("Plaintext data key", classes="field-label")
                yield SecretField(placeholder="(nothing to show)", id="result-plaintext")
                with Horizontal(classes="result-buttons"):
                    yield Button("Reveal/hide (v)", id="reveal")
                    yield Button("Copy blob (y)", id="copy")
                    yield Button("Clear (x)", id="clear")
        yield KmsFooter()

    @staticmethod
    def _context_input(input_id: str) -> Input:
        return Input(
            placeholder="app=billing, env=prod",
            id=input_id,
            validators=[_ParserValidator(context_rule)],
            validate_on=["changed", "submitted"],
        )

    def on_mount(self) -> None:
        self.query_one("#generate-pane").border_title = "Generate"
        self.query_one("#decrypt-pane").border_title = "Decrypt"
        self.query_one("#result-pane").border_title = "Result"
        self.watch(self.kms_app, "capabilities", self._capabilities_changed)

    def _capabilities_changed(self, _capabilities: Capabilities | None) -> None:
        self._sync_controls()

    # --- state shown -----------------------------------------------------------------------

    @property
    def plaintext_field(self) -> SecretField:
        """The widget holding the last plaintext."""
        return self.query_one("#result-plaintext", SecretField)

    def use_key(self, key_id: str) -> None:
        """Choose the wrapping key: from the picker, or sent by the Keys screen's ``g``.

        Works before the screen is first composed too (the label is then built with the key).
        """
        self.key_id = key_id
        for label in self.query("#datakey-key").results(Label):
            label.update(self._key_text())

    def _key_text(self) -> str:
        return self.key_id or "(none chosen)"

    def generate_problem(self) -> str | None:
        """Why generating is unavailable, or None."""
        return self.capability_problem("generate_data_key", "generating a data key")

    def decrypt_problem(self) -> str | None:
        """Why decrypting is unavailable, or None."""
        if self.decrypt_unsupported:
            return NO_DECRYPT_MESSAGE
        return self.capability_problem("decrypt", "decrypt")

    def _sync_controls(self) -> None:
        generate_problem = self.generate_problem()
        decrypt_problem = self.decrypt_problem()
        self.query_one("#generate", Button).disabled = generate_problem is not None
        self.query_one("#decrypt", Button).disabled = decrypt_problem is not None
        note = self.query_one("#decrypt-unavailable", Label)
        note.update(decrypt_problem or "")
        note.set_class(decrypt_problem is not None, "visible")
        has_result = self.ciphertext_b64 is not None or self.plaintext_field.has_secret
        self.query_one("#copy", Button).disabled = self.ciphertext_b64 is None
        self.query_one("#reveal", Button).disabled = not self.plaintext_field.has_secret
        self.query_one("#clear", Button).disabled = not has_result
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Show generate/decrypt disabled where the backend lacks them."""
        if action == "generate" and self.is_mounted and self.generate_problem():
            return None
        if action == "decrypt" and self.is_mounted and self.decrypt_problem():
            return None
        return None if self.permission_reason(action) is not None else True

    def permission_resource(self, iam_action: str) -> str | None:
        """A data key is generated under the chosen key."""
        return self.key_id if iam_action == "kms:GenerateDataKey" else None

    def _show_field_problem(self, input_id: str, problem: str | None) -> None:
        error = self.query_one(f"#{input_id}-error", Label)
        error.update(problem or "")
        error.set_class(problem is not None, "visible")

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        if event.input.id is None:
            return
        result = event.validation_result
        problem = None
        if event.value and result is not None and not result.is_valid:
            problem = "; ".join(result.failure_descriptions)
        self._show_field_problem(event.input.id, problem)

    def _read_field(self, input_id: str, parse: Callable[[str], _T]) -> _T:
        """Parse one input, marking it when refused; raises FieldError."""
        value = self.query_one(f"#{input_id}", Input).value
        try:
            parsed = parse(value)
        except FieldError as err:
            self._show_field_problem(input_id, str(err))
            self.query_one(f"#{input_id}", Input).focus()
            raise
        self._show_field_problem(input_id, None)
        return parsed

    # --- actions ---------------------------------------------------------------------------

    def refresh_data(self) -> None:
        """Nothing here is listed; `r` only re-reads what the backend can do."""
        self._sync_controls()

    def action_pick_key(self) -> None:
        """Choose the wrapping key from every key on the server."""
        picker = KeyPickerDialog(
            self.ctx.admin, title="Key for the data key", preselect=self.key_id
        )
        self.app.push_screen(picker, self._key_picked)

    def _key_picked(self, key_id: str | None) -> None:
        if key_id is not None:
            self.use_key(key_id)

    @on(Button.Pressed)
    def _button_pressed(self, event: Button.Pressed) -> None:
        actions = {
            "pick-key": self.action_pick_key,
            "generate": self.action_generate,
            "decrypt": self.action_decrypt,
            "reveal": self.action_toggle_reveal,
            "copy": self.action_copy_ciphertext,
            "clear": self.action_clear_result,
        }
        handler = actions.get(event.button.id or "")
        if handler is not None:
            event.stop()
            handler()

    @on(Input.Submitted, "#generate-context")
    def _generate_submitted(self) -> None:
        self.action_generate()

    @on(Input.Submitted, "#decrypt-blob, #decrypt-context")
    def _decrypt_submitted(self) -> None:
        self.action_decrypt()

    def action_generate(self) -> None:
        """Check the form with its rules and generate in a worker."""
        problem = self.generate_problem()
        if problem is not None:
            self.notify(problem, severity="warning")
            return
        check = data_key_rules(
            self.key_id,
            self.query_one("#key-spec", Select).value,
            self.query_one("#generate-context", Input).value,
        )
        if "key" in check.problems:
            self.notify(check.problems["key"], severity="warning")
            self.action_pick_key()
            return
        context_problem = check.problems.get("context")
        self._show_field_problem("generate-context", context_problem)
        if context_problem is not None:
            self.query_one("#generate-context", Input).focus()
        if check.value is not None:
            self.generate_data_key(check.value)

    @work(exclusive=True, group="datakeys", exit_on_error=False)
    async def generate_data_key(self, request: DataKeyRequest) -> None:
        """Ask the server for a data key and hand the plaintext straight to the secret field."""
        key_id = request.key_id
        try:
            admin = await self.ctx.admin()
            data_key = await admin.generate_data_key(
                key_id,
                key_spec=request.key_spec,
                encryption_context=dict(request.encryption_context) or None,
            )
        except KmsError as err:
            self.report_error("generate data key", key_id, err)
            return
        self._show_result(data_key.key_id, data_key.ciphertext_blob, data_key.plaintext)
        self.report_done("generate data key", key_id, f"generated data key for {key_id}")

    def action_decrypt(self) -> None:
        """Validate the blob and context and decrypt in a worker."""
        problem = self.decrypt_problem()
        if problem is not None:
            self.notify(problem, severity="information")
            return
        try:
            blob = self._read_field("decrypt-blob", parse_ciphertext)
            context = self._read_field("decrypt-context", context_rule)
        except FieldError:
            return
        self.decrypt_blob(blob, context)

    @work(exclusive=True, group="datakeys", exit_on_error=False)
    async def decrypt_blob(self, blob: bytes, context: dict[str, str]) -> None:
        """Unwrap a blob; a server without decrypt (501) is information, not a failure."""
        try:
            admin = await self.ctx.admin()
            decrypted = await admin.decrypt(blob, encryption_context=context or None)
        except KmsNotSupported as err:
            self.decrypt_unsupported = True
            self._sync_controls()
            self.notify(NO_DECRYPT_MESSAGE, title="Decrypt", severity="information")
            self.ctx.activity.record(
                "decrypt data key",
                None,
                False,
                message=NO_DECRYPT_MESSAGE,
                request_id=err.request_id,
            )
            return
        except KmsError as err:
            self.report_error("decrypt data key", None, err)
            return
        self._show_result(decrypted.key_id, blob, decrypted.plaintext)
        self.report_done(
            "decrypt data key", decrypted.key_id, f"decrypted a data key of {decrypted.key_id}"
        )

    def _show_result(self, key_id: str, ciphertext: bytes, plaintext: bytes) -> None:
        self.ciphertext_b64 = base64.b64encode(ciphertext).decode("ascii")
        self.query_one("#result-key", Static).update(key_id)
        self.query_one("#result-ciphertext", Static).update(self.ciphertext_b64)
        self.plaintext_field.set_secret(plaintext, clear_after=self.plaintext_clear_seconds)
        self._sync_controls()

    def action_toggle_reveal(self) -> None:
        """Show or mask the plaintext."""
        if not self.plaintext_field.has_secret:
            self.notify("no plaintext to show (generate or decrypt first)", severity="warning")
            return
        self.plaintext_field.toggle_reveal()

    def action_copy_ciphertext(self) -> None:
        """Put the ciphertext blob (base64) on the clipboard; the plaintext is never copied."""
        if self.ciphertext_b64 is None:
            self.notify("no ciphertext blob yet", severity="warning")
            return
        self.app.copy_to_clipboard(self.ciphertext_b64)
        self.notify("ciphertext blob copied to the clipboard", title="Copied")

    def action_clear_result(self) -> None:
        """Forget the plaintext and the blob now."""
        self.plaintext_field.clear()
        self.ciphertext_b64 = None
        self.query_one("#result-key", Static).update("–")
        self.query_one("#result-ciphertext", Static).update("–")
        self._sync_controls()

    @on(SecretField.Cleared, "#result-plaintext")
    def _plaintext_cleared(self, event: SecretField.Cleared) -> None:
        if event.expired:
            self.notify("the plaintext data key was cleared from the screen", title="Cleared")
        self._sync_controls()
