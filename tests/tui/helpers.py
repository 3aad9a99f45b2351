"""What every pilot test shares: waiting for proof, the next poll round, and opening each screen.

A test never sleeps for a fixed time and then asserts: it waits (bounded) for the state it
expects, and a check that something did *not* happen first waits for the event that would
have come before it (:func:`next_poll` for anything the status poller does, a worker's end,
a notification, a dialog mounted). Used by ``tests/tui``, ``tests/security`` and
``tests/snapshots``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from textual.pilot import Pilot
from textual.screen import Screen

from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.configure import ConfigureDialog
from kms_tui.tui.modes import MODES
from kms_tui.tui.poller import PollRound
from kms_tui.tui.screens.buckets import BucketsScreen
from kms_tui.tui.screens.datakeys import DataKeysScreen
from kms_tui.tui.screens.keys import KeysScreen
from kms_tui.tui.screens.service import ServiceScreen
from kms_tui.tui.screens.stats import StatsScreen
from kms_tui.tui.widgets.header import KmsHeader
from tests.tui.conftest import SEEDED_KEY_IDS

__all__ = [
    "WAIT_LIMIT_SECONDS",
    "FooterEntry",
    "footer_entries",
    "highlighted_mode",
    "kms_app",
    "next_poll",
    "open_buckets",
    "open_configure",
    "open_datakeys",
    "open_keys",
    "open_mode",
    "open_service",
    "open_stats",
    "screen_of",
    "wait_connected",
    "wait_for_workers",
    "wait_until",
]

# Generous: a bound for a broken flow to fail rather than hang, never a timing target (the
# machines these run on differ up to 5x in speed from one session to the next).
WAIT_LIMIT_SECONDS = 20.0
_STEP_SECONDS = 0.05

_S = TypeVar("_S")


def kms_app(pilot: Pilot[Any]) -> KmsTuiApp:
    """The pilot's app, typed."""
    return cast(KmsTuiApp, pilot.app)


async def wait_until(
    pilot: Pilot[Any],
    condition: Callable[[], bool],
    what: str,
    *,
    limit: float = WAIT_LIMIT_SECONDS,
) -> None:
    """Let the app run until ``condition()`` holds; fail naming ``what`` after ``limit`` s."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {limit:g} s waiting for {what}")
        await pilot.pause(_STEP_SECONDS)


async def next_poll(
    app: KmsTuiApp,
    pilot: Pilot[Any],
    *,
    nudge: bool = True,
    limit: float = WAIT_LIMIT_SECONDS,
) -> PollRound | None:
    """Return once a status-poll round that *started after this call* has completed.

    Whatever that round causes (app reactives, ``last_poll``, a notification, an activity
    entry, the Live stats screen drawing it) has happened by then, so a test can assert that
    something else did not. ``nudge`` asks the poller for the round at once
    (:meth:`StatusPoller.poll_now`); without it the test waits for the poller's own schedule
    (two more completed rounds: the one under way may have started before the call).
    Returns the app's ``last_poll`` (None after a profile switch, until its first round).
    """
    if nudge:
        try:
            await asyncio.wait_for(app.poller.poll_now(), limit)
        except TimeoutError:
            raise AssertionError(f"no status-poll round completed within {limit:g} s") from None
    else:
        start = app.poller.rounds
        await wait_until(
            pilot, lambda: app.poller.rounds >= start + 2, "two more poll rounds", limit=limit
        )
    await pilot.pause()  # what the round's watchers posted (repaints, messages) runs too
    return app.last_poll


async def wait_for_workers(app: KmsTuiApp, *groups: str, limit: float = WAIT_LIMIT_SECONDS) -> None:
    """Wait until the app's workers of these groups, those started so far, have finished.

    Never all workers (``app.workers.wait_for_complete()`` with none given, or an empty list):
    the status poller's runs for the whole session.
    """
    assert groups, "name the worker groups to wait for"
    workers = [worker for worker in app.workers if worker.group in groups]
    if not workers:
        return
    try:
        await asyncio.wait_for(app.workers.wait_for_complete(workers), limit)
    except TimeoutError:
        raise AssertionError(f"workers {groups} still running after {limit:g} s") from None


@dataclass(frozen=True, slots=True)
class FooterEntry:
    """One binding as the footer shows it."""

    key: str  # as displayed, after keymap remapping
    enabled: bool


def footer_entries(screen: Screen[Any]) -> dict[str, FooterEntry]:
    """What the screen's footer shows now, by binding description (``FooterKey`` widgets)."""
    shown: dict[str, FooterEntry] = {}
    for widget in screen.query("FooterKey"):
        key: Any = widget  # Textual does not export the class; its attributes are public
        if key.description:
            shown[str(key.description)] = FooterEntry(
                str(key.key_display), not key.has_class("-disabled")
            )
    return shown


def highlighted_mode(header: KmsHeader) -> str:
    """The label the header's mode strip highlights (the screen in front), e.g. " 2 Keys "."""
    line = header.modes_line
    spans = [span for span in line.spans if "reverse" in str(span.style)]
    assert len(spans) == 1, spans
    return line.plain[spans[0].start : spans[0].end]


async def wait_connected(pilot: Pilot[Any], app: KmsTuiApp) -> None:
    """Wait for the first successful poll (service status known)."""
    await wait_until(
        pilot,
        lambda: app.connection_state == "connected" and app.service_status is not None,
        "the first successful status poll",
    )


async def screen_of(pilot: Pilot[Any], kind: type[_S], what: str | None = None) -> _S:
    """Wait until a ``kind`` (screen or dialog) is in front, mounted; return it."""
    app = pilot.app
    await wait_until(
        pilot, lambda: isinstance(app.screen, kind) and app.screen.is_mounted, what or kind.__name__
    )
    screen = app.screen
    assert isinstance(screen, kind)
    return screen


async def open_mode(pilot: Pilot[Any], mode: str, kind: type[_S]) -> _S:
    """Press the mode's (default) key unless it is already in front; wait for its screen."""
    if kms_app(pilot).current_mode != mode or not isinstance(pilot.app.screen, kind):
        await pilot.press(MODES[mode].key)
    return await screen_of(pilot, kind, f"the {MODES[mode].title} screen")


async def open_service(pilot: Pilot[Any]) -> ServiceScreen:
    """The Service screen (`1`), once it shows the poller's service status."""
    screen = await open_mode(pilot, "service", ServiceScreen)
    await wait_until(pilot, lambda: screen.status is not None, "the service status")
    return screen


async def open_keys(pilot: Pilot[Any], *, count: int = len(SEEDED_KEY_IDS)) -> KeysScreen:
    """The Keys screen (`2`, where the app starts) once it has streamed in ``count`` keys."""
    screen = await open_mode(pilot, "keys", KeysScreen)
    await wait_until(
        pilot,
        lambda: not screen.listing and screen.key_table.total_count >= count,
        f"the Keys screen to list {count} keys",
    )
    return screen


async def open_datakeys(pilot: Pilot[Any]) -> DataKeysScreen:
    """The Data keys screen (`3`), its key chooser focused."""
    screen = await open_mode(pilot, "datakeys", DataKeysScreen)
    screen.query_one("#pick-key").focus()
    await pilot.pause()
    return screen


async def open_buckets(pilot: Pilot[Any]) -> BucketsScreen:
    """The Buckets screen (`4`) once the bucket list has loaded, its table focused."""
    screen = await open_mode(pilot, "buckets", BucketsScreen)
    await wait_until(pilot, lambda: screen.loaded, "the bucket list")
    screen.query_one("#buckets-table").focus()
    await pilot.pause()
    return screen


async def open_stats(pilot: Pilot[Any]) -> StatsScreen:
    """The Live stats screen (`5`) once it has drawn a ``/kms/status`` round."""
    screen = await open_mode(pilot, "stats", StatsScreen)
    await wait_until(pilot, lambda: screen.last_status is not None, "a drawn status round")
    return screen


async def open_configure(pilot: Pilot[Any]) -> ConfigureDialog:
    """The configure form (`c` on the Service screen), mounted and laid out."""
    await pilot.press("c")
    dialog = await screen_of(pilot, ConfigureDialog, "the configure form")
    await pilot.pause()
    return dialog
