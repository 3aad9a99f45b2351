"""What the fault tests share: a console on a given endpoint, a record of its notifications,
and the checks every fault ends with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kms_tui.embedded.server import EmbeddedServer
from kms_tui.factory import build_app
from kms_tui.settings import Connection, Settings
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.screens.keys import KeysScreen
from tests.tui.conftest import SEEDED_KEY_IDS, fixed_clock
from tests.tui.helpers import wait_until


@dataclass(frozen=True, slots=True)
class Note:
    """One notification as the app was asked to show it."""

    message: str
    title: str
    severity: str


def record_notes(app: KmsTuiApp) -> list[Note]:
    """Wrap ``app.notify`` (screens' notify goes through it) so a test can read every call."""
    notes: list[Note] = []
    original = app.notify

    def notify(
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        notes.append(Note(str(message), title, str(severity)))
        original(message, title=title, severity=severity, timeout=timeout, markup=markup)

    app.notify = notify  # type: ignore[method-assign]
    return notes


def titled(notes: list[Note], title: str) -> list[Note]:
    """The notifications with this title."""
    return [note for note in notes if note.title == title]


def app_via(
    endpoint: str,
    server: EmbeddedServer,
    *,
    secret_key: str | None = None,
    verify: bool | str = True,
    endpoint_label: str | None = "http://127.0.0.1:faults",
) -> KmsTuiApp:
    """The console against ``endpoint`` with ``server``'s credentials and a 1 s timeout."""
    connection = Connection(
        name="faults",
        endpoint=endpoint,
        region="us-east-1",
        access_key=server.access_key,
        secret_key=secret_key or server.secret_key,
        verify=verify,
        timeout_seconds=1.0,
    )
    return build_app(
        connection,
        Settings(poll_interval_seconds=0.3),
        clock=fixed_clock,
        endpoint_label=endpoint_label,
    )


async def keys_loaded(app: KmsTuiApp, pilot: Any) -> KeysScreen:
    """Wait for the Keys screen to show the seeded keys."""
    await wait_until(
        pilot,
        lambda: (
            isinstance(app.screen, KeysScreen)
            and not app.screen.listing
            and app.screen.key_table.total_count == len(SEEDED_KEY_IDS)
        ),
        "the Keys screen to list the seeded keys",
    )
    screen = app.screen
    assert isinstance(screen, KeysScreen)
    return screen


def no_unexpected_errors(app: KmsTuiApp, notes: list[Note]) -> None:
    """Nothing reached the worker-error funnel: every failure was an expected KmsError."""
    assert app.is_running
    assert not titled(notes, "Unexpected error")
    assert not [e for e in app.context.activity.entries if e.action.startswith("worker ")]
