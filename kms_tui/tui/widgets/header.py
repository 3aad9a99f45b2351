"""The console's header: who we talk to, in what state, and whether changes are allowed."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

__all__ = ["KmsHeader", "MAIN_HINT", "header_text", "state_label"]

MAIN_HINT = "? help  / filter  c create  d delete  : commands  q quit"


def state_label(connection_state: str, service_status: Any, refused: bool = False) -> str:
    """Connecting / disconnected while there is no link, else the service's own state.

    ``refused``: the server answers but refuses the status poll (see the activity log).
    """
    if connection_state == "connecting":
        return "connecting…"
    if connection_state == "disconnected":
        return "disconnected (r retries)"
    suffix = " · status refused (a shows why)" if refused else ""
    if service_status is None:
        return "connected" + suffix
    state = str(service_status.state)
    if state == "Error" and service_status.error_message:
        return f"Error: {service_status.error_message}{suffix}"
    return state + suffix


def header_text(
    profile: str,
    endpoint: str,
    connection_state: str,
    service_status: Any,
    read_only: bool,
    refused: bool = False,
) -> Text:
    """The header's first line, styled: profile │ endpoint │ state [│ READ-ONLY]."""
    state = state_label(connection_state, service_status, refused)
    state_style = "bold green" if state == "Running" else "bold yellow"
    if connection_state == "disconnected" or state.startswith("Error") or refused:
        state_style = "bold red"
    line = Text.assemble(
        ("kms-tui", "bold"),
        "  profile ",
        (profile, "bold"),
        "  │  ",
        endpoint,
        "  │  ",
        (state, state_style),
    )
    if read_only:
        line.append("  │  ")
        line.append("READ-ONLY", style="bold reverse")
    return line


class KmsHeader(Static):
    """Two lines at the top of every top-level screen, kept current from the app's reactives."""

    DEFAULT_CSS = """
    KmsHeader {
        dock: top;
        height: 2;
        padding: 0 1;
        background: $panel;
    }
    """

    def __init__(self, hint: str = MAIN_HINT) -> None:
        super().__init__(id="kms-header")
        self.hint = hint
        self.plain_line = ""
        self._shown_markup = ""

    def on_mount(self) -> None:
        """Follow the app's connection and service state."""
        for name in ("connection_state", "service_status", "context_generation", "poll_refused"):
            if hasattr(self.app, name):
                self.watch(self.app, name, self._changed, init=False)
        self._changed()

    def _changed(self, *_: object) -> None:
        app: Any = self.app
        context = app.context
        line = header_text(
            context.profile_name,
            context.endpoint_label,
            app.connection_state,
            app.service_status,
            context.read_only,
            bool(getattr(app, "poll_refused", False)),
        )
        if line.plain == self.plain_line and self._shown_markup == line.markup:
            return  # a poll that changed nothing sends nothing to the terminal
        self.plain_line = line.plain
        self._shown_markup = line.markup
        self.update(Text.assemble(line, "\n", (self.hint, "dim")))
