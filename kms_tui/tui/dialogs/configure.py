"""Configure or reconfigure the KMS in one form, checked locally as the server would check it.

The dialog sends through a callable the screen hands in; when the server refuses, its message
is shown and the dialog stays open with everything that was typed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Select, Static

from kms_tui.api.backends import BackendConfig, FieldProblem
from kms_tui.api.errors import KmsError
from kms_tui.api.service_models import ServiceStatus
from kms_tui.api.wire import ServiceState
from kms_tui.tui.dialogs.configure_rules import build_config
from kms_tui.tui.styles import style_path
from kms_tui.tui.widgets.config_fields import (
    AUTH_METHODS,
    BACKENDS,
    FIELDS,
    FieldRow,
    field_dom_id,
    group_visible,
    prefill,
)

__all__ = ["ConfigureDialog", "SendConfig"]

# Sends the config (reconfigure=True uses /kms/reconfigure); raises KmsError when refused.
SendConfig = Callable[[BackendConfig, bool], Awaitable[str]]

_LOCAL_FROZEN = (
    "The server already has a Local configuration: its key directory, file permissions, "
    "master key and development flag cannot change. Leave the master key blank to keep the "
    "current one; a non-empty master key is refused."
)


class ConfigureDialog(ModalScreen[bool]):
    """Backend, its fields and the common options; dismisses True once the server accepted."""

    CSS_PATH = [style_path("dialogs.tcss"), style_path("service.tcss")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="configure.cancel"),
        Binding("ctrl+s", "submit", "Apply", id="configure.submit"),
    ]

    def __init__(self, status: ServiceStatus | None, send: SendConfig) -> None:
        super().__init__(classes="kms-dialog")
        self.status = status
        self.send = send
        summary = status.config_summary if status is not None else None
        self.summary = summary
        self.existing = summary is not None
        self.running = status is not None and status.state == ServiceState.RUNNING
        self.backend, self.auth, self._initial = prefill(summary)
        self.existing_local = self.existing and self.backend == "Local"
        self.sent_count = 0  # requests made to the server (tests check refusals send nothing)
        self.server_message: str | None = None

    def compose(self) -> ComposeResult:
        verb = "Reconfigure" if self.existing else "Configure"
        with Vertical(classes="dialog-box configure-box"):
            yield Label(f"{verb} the KMS", classes="dialog-title")
            with VerticalScroll(classes="configure-fields"):
                yield Label("Backend", classes="field-label")
                yield Select(
                    [(label, value) for value, label in BACKENDS],
                    value=self.backend,
                    allow_blank=False,
                    id="configure-backend",
                )
                yield Static(
                    "", id="configure-backend-problem", classes="field-error", markup=False
                )
                yield Static(
                    _LOCAL_FROZEN if self.existing_local else "",
                    id="configure-note",
                    classes="configure-note",
                    markup=False,
                )
                yield Label("Vault authentication", classes="field-label group-vault")
                yield Select(
                    [(label, value) for value, label in AUTH_METHODS],
                    value=self.auth,
                    allow_blank=False,
                    id="configure-auth",
                    classes="group-vault",
                )
                for spec in FIELDS:
                    yield FieldRow(spec, self._initial.get(spec.name, ""))
            yield Static("", id="configure-server-error", classes="server-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(verb, id="configure-apply", variant="primary")
                yield Button("Cancel", id="configure-cancel")

    def on_mount(self) -> None:
        self._show_groups()

    # --- form state ------------------------------------------------------------------------

    @on(Select.Changed, "#configure-backend")
    def _backend_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str):
            self.backend = event.value
            self._show_groups()

    @on(Select.Changed, "#configure-auth")
    def _auth_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str):
            self.auth = event.value
            self._show_groups()

    def _show_groups(self) -> None:
        for row in self.query(FieldRow):
            row.display = group_visible(row.spec.group, self.backend, self.auth)
        vault = group_visible("vault", self.backend, self.auth)
        for widget in self.query(".group-vault"):
            widget.display = vault
        frozen = self.existing_local and self.backend == "Local"
        self.query_one("#configure-note", Static).display = frozen
        # The server keeps a Local config's development flag whatever is sent.
        flag = self.query_one(f"#{field_dom_id('allow_insecure_dev_defaults')}", Checkbox)
        flag.disabled = frozen

    def values(self) -> dict[str, str | bool]:
        """Every field's current value, by request field name."""
        return {row.spec.name: row.value() for row in self.query(FieldRow)}

    def row(self, name: str) -> FieldRow:
        """The row of one request field (``"key_dir"``, ``"auth_method.token"``)."""
        for row in self.query(FieldRow):
            if row.spec.name == name:
                return row
        raise KeyError(name)

    def problems_shown(self) -> dict[str, str]:
        """Field name → reason, for every field currently marked invalid (``backend_type`` too)."""
        shown = {
            row.spec.name: row.problem
            for row in self.query(FieldRow)
            if row.problem is not None and row.display
        }
        backend = self.query_one("#configure-backend-problem", Static)
        if backend.has_class("visible"):
            shown["backend_type"] = str(backend.content)
        return shown

    def _show_problems(self, problems: list[FieldProblem]) -> None:
        by_field: dict[str, list[str]] = {}
        for problem in problems:
            by_field.setdefault(problem.field, []).append(problem.message)
        unplaced: list[str] = []
        names = {"backend_type"}
        backend_messages = by_field.get("backend_type")
        backend_note = self.query_one("#configure-backend-problem", Static)
        backend_note.update("; ".join(backend_messages) if backend_messages else "")
        backend_note.set_class(backend_messages is not None, "visible")
        for row in self.query(FieldRow):
            names.add(row.spec.name)
            messages = by_field.get(row.spec.name)
            row.show_problem("; ".join(messages) if messages else None)
        for name, messages in by_field.items():
            if name not in names:
                unplaced.extend(messages)
        self._show_server_error("; ".join(unplaced) if unplaced else None)
        first = next((row for row in self.query(FieldRow) if row.problem), None)
        if first is not None:
            first.scroll_visible()

    def _show_server_error(self, message: str | None) -> None:
        self.server_message = message
        box = self.query_one("#configure-server-error", Static)
        box.update(message or "")
        box.set_class(message is not None, "visible")

    # --- submit ----------------------------------------------------------------------------

    @on(Button.Pressed, "#configure-apply")
    def _apply_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_submit()

    @on(Button.Pressed, "#configure-cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    def action_cancel(self) -> None:
        """Leave without sending anything."""
        self.dismiss(False)

    def action_submit(self) -> None:
        """Check the form as the server would; send only when nothing is wrong."""
        config, problems = build_config(
            self.backend, self.auth, self.values(), current=self.summary
        )
        self._show_problems(problems)
        if config is None or problems:
            return
        self._send(config)

    @work(exclusive=True, group="configure-send", exit_on_error=False)
    async def _send(self, config: BackendConfig) -> None:
        apply = self.query_one("#configure-apply", Button)
        apply.disabled = True
        self.sent_count += 1
        try:
            await self.send(config, self.running)
        except KmsError as err:
            text = err.message
            if err.request_id:
                text += f" (request id {err.request_id})"
            self._show_server_error(f"The server refused it: {text}")
            return
        finally:
            apply.disabled = False
        self.dismiss(True)
