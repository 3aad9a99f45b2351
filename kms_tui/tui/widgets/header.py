"""The console's header: who we talk to, in what state, and whether changes are allowed."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static

from kms_tui.api.service_models import ServiceStatus
from kms_tui.api.wire import ServiceState
from kms_tui.tui.modes import MODES

if TYPE_CHECKING:
    from kms_tui.tui.app import KmsTuiApp

__all__ = ["KmsHeader", "header_text", "mode_strip", "state_label"]


def state_label(
    connection_state: str,
    service_status: ServiceStatus | None,
    refused: bool = False,
    denied: bool = False,
) -> str:
    """Connecting / disconnected while there is no link, else the service's own state.

    ``refused``: the server answers but refuses the status poll (see the activity log);
    ``denied``: because this account may not read it (kms:ServiceControl), which is no fault.
    """
    if connection_state == "connecting":
        return "connecting…"
    if connection_state == "disconnected":
        return "disconnected (r retries)"
    if denied:
        suffix = " · status denied for this account"
    else:
        suffix = " · status refused (a shows why)" if refused else ""
    if service_status is None:
        return "connected" + suffix
    state = str(service_status.state)
    if service_status.state is ServiceState.ERROR and service_status.error_message:
        return f"Error: {service_status.error_message}{suffix}"
    return state + suffix


def header_text(
    profile: str,
    endpoint: str,
    connection_state: str,
    service_status: ServiceStatus | None,
    read_only: bool,
    refused: bool = False,
    denied: bool = False,
) -> Text:
    """The header's first line, styled: profile │ endpoint │ state [│ READ-ONLY]."""
    state = state_label(connection_state, service_status, refused, denied)
    running = (
        connection_state == "connected"
        and not refused
        and service_status is not None
        and service_status.state is ServiceState.RUNNING
    )
    state_style = "bold green" if running else "bold yellow"
    failed = service_status is not None and service_status.state is ServiceState.ERROR
    if connection_state == "disconnected" or failed or (refused and not denied):
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


def mode_strip(current: str | None, keys: dict[str, str]) -> Text:
    """The header's second line: every screen by its key, the one in front highlighted."""
    line = Text()
    for mode in MODES.values():
        if line:
            line.append("  ")
        label = f" {keys.get(mode.name, mode.key)} {mode.title} "
        line.append(label, style="bold reverse" if mode.name == current else "dim")
    return line


class KmsHeader(Static):
    """Two lines at the top of every top-level screen: where you are, kept current from the
    app's reactives, and the screens you can switch to."""

    DEFAULT_CSS = """
    KmsHeader {
        dock: top;
        height: 2;
        padding: 0 1;
        background: $panel;
    }
    """

    def __init__(self) -> None:
        super().__init__(id="kms-header")
        self.plain_line = ""
        self.modes_line = Text()
        self._shown_markup = ""

    @property
    def kms_app(self) -> KmsTuiApp:
        """The console app, typed."""
        return cast("KmsTuiApp", self.app)

    def on_mount(self) -> None:
        """Follow the app's connection and service state."""
        app = self.kms_app
        current = next((m for m, s in app.mode_screens.items() if s is self.screen), None)
        keymap = app.context.settings.keymap
        keys = {
            mode.name: app.get_key_display(
                Binding(keymap.get(mode.binding_id, mode.key).split(",")[0].strip(), "")
            )
            for mode in MODES.values()
        }
        self.modes_line = mode_strip(current, keys)
        for name in (
            "connection_state",
            "service_status",
            "context_generation",
            "poll_refused",
            "permissions_version",
        ):
            self.watch(app, name, self._changed, init=False)
        self._changed()

    def _changed(self, *_: object) -> None:
        app = self.kms_app
        context = app.context
        line = header_text(
            context.profile_name,
            context.endpoint_label,
            app.connection_state,
            app.service_status,
            context.read_only,
            app.poll_refused,
            app.poll_refused and context.permissions.denied("kms:ServiceControl"),
        )
        if line.plain == self.plain_line and self._shown_markup == line.markup:
            return  # a poll that changed nothing sends nothing to the terminal
        self.plain_line = line.plain
        self._shown_markup = line.markup
        self.update(Text.assemble(line, "\n", self.modes_line))
