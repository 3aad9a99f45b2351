"""The console app: five modes, the header's live state, help, palette, activity, profiles.

Build it with :func:`kms_tui.factory.build_app`; this module wires nothing itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from kms_tui.api.errors import KmsError
from kms_tui.api.service_models import Capabilities, KmsStatus, ServiceStatus
from kms_tui.settings import SettingsError
from kms_tui.tui.activity import ActivityLog
from kms_tui.tui.commands import KmsCommands
from kms_tui.tui.context import AppContext
from kms_tui.tui.modes import MODES, screen_class
from kms_tui.tui.poller import Connector, PollRound, StatusPoller
from kms_tui.tui.screens.base import KmsScreen
from kms_tui.tui.styles import style_path

__all__ = ["ContextBuilder", "KmsTuiApp"]

logger = logging.getLogger("kms_tui.tui.app")

ContextBuilder = Callable[[str], AppContext]


class KmsTuiApp(App[None]):
    """The RustFS KMS console."""

    TITLE = "kms-tui"
    # Keys is the first screen (DEFAULT_MODE), its stylesheet parsed with the app's: Textual
    # parses every stylesheet again whenever a mode's first screen brings new CSS or is
    # switched to, and starting on Keys by a switch cost three such passes before the first
    # frame (about 30 ms).
    CSS_PATH = [
        style_path("app.tcss"),
        style_path("help.tcss"),
        style_path("activity.tcss"),
        style_path("keys.tcss"),
    ]
    DEFAULT_MODE = "keys"
    COMMANDS: ClassVar[set[Any]] = {KmsCommands}
    ENABLE_COMMAND_PALETTE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        # The header's second line shows these (with their current keys); the footer shows
        # what the screen in front can do.
        *(
            Binding(m.key, f"switch_mode('{m.name}')", m.title, id=m.binding_id, show=False)
            for m in MODES.values()
        ),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("colon", "command_palette", "Commands", id="app.commands"),
        # In help and the palette; the footer keeps its room for the screen's own actions.
        Binding("a", "activity", "Activity log", id="app.activity", show=False),
        Binding("escape", "go_back", "Back", id="app.back", show=False),
        Binding("q", "quit_top", "Quit", id="app.quit", show=False),
    ]

    # State for watchers only (the header, the screens): changing it must not repaint the
    # whole app, or every 2 s poll would send a full screen to the terminal.
    kms_status: reactive[KmsStatus | None] = reactive(None, always_update=True, repaint=False)
    # What the backend can do, derived from kms_status; it changes (and its watchers run) only
    # when the capabilities do, not on every poll.
    capabilities: reactive[Capabilities | None] = reactive(None, repaint=False)
    service_status: reactive[ServiceStatus | None] = reactive(
        None, always_update=True, repaint=False
    )
    connection_state: reactive[str] = reactive("connecting", repaint=False)
    # The server answers but refuses (or garbles) the status poll: the header says so.
    poll_refused: reactive[bool] = reactive(False, repaint=False)
    context_generation: reactive[int] = reactive(0, repaint=False)
    # Every completed poll round, for the Live stats screen's charts (latency, errors).
    last_poll: reactive[PollRound | None] = reactive(None, always_update=True, repaint=False)
    # Bumped when the session learns what its account may do (screens grey denied actions).
    permissions_version: reactive[int] = reactive(0, repaint=False)

    def __init__(
        self,
        context: AppContext,
        *,
        connector: Connector,
        context_builder: ContextBuilder | None = None,
        profile_names: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.context = context
        self._context_builder = context_builder
        self.profile_names = profile_names
        self.mode_screens: dict[str, KmsScreen] = {}
        self.poller = StatusPoller(self, connector)
        for mode in MODES:
            self.add_mode(mode, self._mode_factory(mode))

    def _mode_factory(self, mode: str) -> Callable[[], Screen[Any]]:
        def make() -> Screen[Any]:
            screen = screen_class(mode)()
            self.mode_screens[mode] = screen
            return screen

        return make

    # --- start-up and shutdown -------------------------------------------------------------

    def on_mount(self) -> None:
        """Keymap and activity wiring (Keys is the first mode); connect after the first frame."""
        if self.context.settings.keymap:
            self.set_keymap(dict(self.context.settings.keymap))
        self._wire_activity(self.context.activity)
        self.call_after_refresh(self._begin_session)

    def _wire_activity(self, activity: ActivityLog) -> None:
        activity.listen(lambda entry: self.post_message(ActivityLog.Changed(entry)))

    def _begin_session(self) -> None:
        self._connect(self.context)
        self._poll_forever()

    @work(exclusive=True, group="app.connect", exit_on_error=False)
    async def _connect(self, context: AppContext) -> None:
        await self.poller.connect(context)

    async def on_unmount(self) -> None:
        """Close the clients and stop the embedded server."""
        await self.context.aclose()

    # --- live state (kms_tui.tui.poller keeps it current) ---------------------------------

    @property
    def last_connection_error(self) -> str | None:
        """The message of the failure that made the connection count as lost, if it is."""
        return self.poller.last_error

    def retry_connection_now(self) -> None:
        """`r`: poll again now, and start a failed embedded server again."""
        if self.poller.retry_now():
            self._connect(self.context)

    @work(exclusive=True, group="app.poll", exit_on_error=False)
    async def _poll_forever(self) -> None:
        await self.poller.run()

    def learn_refusal(self, err: KmsError) -> bool:
        """A policy refusal from any call: remember it; True when the action is newly denied."""
        if self.context.permissions.learn_refusal(err):
            self.permissions_version += 1
            return True
        return False

    def watch_kms_status(self, status: KmsStatus | None) -> None:
        self.capabilities = status.capabilities if status is not None else None

    # --- notifications ----------------------------------------------------------------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification is plain text: server messages, key ids and typed tags may hold
        ``[``, which Textual would otherwise read as markup (and fail on)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    # --- the worker-error funnel -----------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The app's own workers; screens forward theirs through :meth:`worker_failed`."""
        if event.state is WorkerState.ERROR:
            self.worker_failed(event.worker)

    def worker_failed(self, worker: Worker[Any]) -> None:
        """Anything unexpected a worker raised: notify and record, never crash."""
        error = worker.error
        if error is None:
            return
        logger.error("worker %s failed", worker.name, exc_info=error)
        if isinstance(error, KmsError):
            message = error.message
        else:
            message = f"{type(error).__name__}: {error}"
        self.context.activity.record(f"worker {worker.group}", None, False, message=message)
        self.notify(message, title="Unexpected error", severity="error")

    # --- actions ---------------------------------------------------------------------------

    def action_help(self) -> None:
        """Show the bindings of the screen in front."""
        from kms_tui.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen.for_screen(self.screen))

    def action_activity(self) -> None:
        """Show the activity log."""
        from kms_tui.tui.screens.activity import ActivityScreen

        if not isinstance(self.screen, ActivityScreen):
            self.push_screen(ActivityScreen())

    def action_go_back(self) -> None:
        """Esc: leave a pushed screen (help, activity, details); top screens stay."""
        if len(self.screen_stack) > 1:
            self.pop_screen()

    def action_quit_top(self) -> None:
        """`q` quits from a top screen and closes a pushed one."""
        if len(self.screen_stack) > 1:
            self.pop_screen()
        else:
            self.exit()

    def on_activity_log_changed(self, message: ActivityLog.Changed) -> None:
        """Let an open activity screen show the new entry."""
        from kms_tui.tui.screens.activity import ActivityScreen

        for screen in self.screen_stack:
            if isinstance(screen, ActivityScreen):
                screen.add_entry(message.entry)

    async def run_screen_action(self, mode: str, action: str) -> None:
        """Switch to ``mode`` and run one of its actions (the palette's "every action")."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        await self.switch_mode(mode)
        screen = self.mode_screens.get(mode)
        reason = screen.disabled_reason(action) if screen is not None else None
        if reason is not None:
            # Textual ignores a binding its screen disables; the palette says why instead.
            self.notify(reason, title="Not available now", severity="warning")
            return
        await self.screen.run_action(action)

    async def jump_to_key(self, key_id: str) -> None:
        """Switch to Keys and highlight ``key_id``."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        await self.switch_mode("keys")
        screen = self.mode_screens.get("keys")
        if screen is not None:
            screen.jump_to_key(key_id)

    def loaded_key_ids(self) -> tuple[str, ...]:
        """Key ids the Keys screen has loaded (empty until it has)."""
        screen = self.mode_screens.get("keys")
        return tuple(screen.command_key_ids()) if screen is not None else ()

    def switch_profile(self, name: str) -> None:
        """Rebuild the context for profile ``name`` and reconnect; the process keeps running."""
        if self._context_builder is None:
            self.notify("profile switching is not available here", severity="warning")
            return
        try:
            context = self._context_builder(name)
        except SettingsError as err:
            self.notify(str(err), title="Cannot switch profile", severity="error")
            return
        self._swap_context(context)

    @work(exclusive=True, group="app.switch", exit_on_error=False)
    async def _swap_context(self, context: AppContext) -> None:
        old = self.context
        await old.aclose()  # the embedded server's data dir must be free before a restart
        if context.activity is not old.activity:
            self._wire_activity(context.activity)
        self.context = context
        self.service_status = None
        self.kms_status = None
        self.connection_state = "connecting"
        self.poll_refused = False
        self.last_poll = None
        self.permissions_version += 1  # the new context knows nothing of its account yet
        self.poller.forget()
        self.context_generation += 1
        context.activity.record("switch profile", context.profile_name, True)
        self._connect(context)
        self._poll_forever()
        for screen in self.mode_screens.values():
            screen.refresh_data()
