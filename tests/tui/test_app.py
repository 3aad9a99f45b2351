"""The console shell against a real server: header, modes, help, palette, activity, failures."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import stat
from pathlib import Path
from types import MappingProxyType

import pytest
from textual.command import Command, CommandList, CommandPalette
from textual.widgets import DataTable

from kms_tui import cli
from kms_tui.api.errors import KmsNotFound
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.factory import build_app
from kms_tui.settings import Connection, Profile, Settings
from kms_tui.tui.activity import ActivityLog
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.commands import palette_commands, screen_bindings
from kms_tui.tui.dialogs.confirm import ConfirmDialog
from kms_tui.tui.modes import MODES, screen_class
from kms_tui.tui.screens.activity import ActivityScreen
from kms_tui.tui.screens.base import KmsScreen
from kms_tui.tui.screens.help import HelpScreen
from kms_tui.tui.screens.service import ServiceScreen
from kms_tui.tui.widgets.header import KmsHeader, state_label
from tests.tui.conftest import (
    APP_SIZE,
    SEEDED_KEY_IDS,
    TEST_ENDPOINT_LABEL,
    TEST_PROFILE,
    fixed_clock,
)
from tests.tui.helpers import (
    footer_entries,
    highlighted_mode,
    next_poll,
    screen_of,
    wait_connected,
    wait_until,
)

DEFAULT_MODE_STRIP = " 1 Service    2 Keys    3 Data keys    4 Buckets    5 Live stats "


def header_of(app: KmsTuiApp) -> KmsHeader:
    return app.screen.query_one(KmsHeader)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def remote_connection(endpoint: str, server: EmbeddedServer | None = None) -> Connection:
    return Connection(
        name="remote",
        endpoint=endpoint,
        region="us-east-1",
        access_key=server.access_key if server else "nobody-access",
        secret_key=server.secret_key if server else "nobody-secret-value",
        timeout_seconds=2.0,
    )


async def test_lands_on_keys_with_mode_strip_and_live_header(kms_server, make_app) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        assert app.current_mode == "keys"
        header = header_of(app)
        await wait_until(pilot, lambda: "Running" in header.plain_line, "Running in the header")
        assert TEST_PROFILE in header.plain_line
        assert TEST_ENDPOINT_LABEL in header.plain_line
        assert "READ-ONLY" not in header.plain_line
        # The second line: the five screens by their keys, the one in front highlighted.
        assert header.modes_line.plain == DEFAULT_MODE_STRIP
        assert highlighted_mode(header) == " 2 Keys "
        assert DEFAULT_MODE_STRIP.strip() in str(header.render())
        assert app.service_status is not None and app.service_status.state == "Running"
        assert app.kms_status is not None and app.kms_status.capabilities is not None


async def test_start_up_polls_once(kms_server, make_app) -> None:
    """The first round waits for the connection and reports it: connecting starts no second
    round, so a round asked for next is the second of the session."""
    app = make_app(kms_server, settings=Settings(poll_interval_seconds=3600.0))
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_until(pilot, lambda: app.poller.rounds >= 1, "the first poll round")
        await wait_connected(pilot, app)
        await next_poll(app, pilot)
        assert app.poller.rounds == 2


async def test_read_only_header_marker(kms_server, make_app) -> None:
    app = make_app(kms_server, read_only=True)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        assert app.context.read_only
        await wait_until(
            pilot, lambda: "READ-ONLY" in header_of(app).plain_line, "READ-ONLY in the header"
        )


async def test_number_keys_switch_modes(kms_server, make_app) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        for mode in MODES.values():
            await pilot.press(mode.key)
            await screen_of(pilot, screen_class(mode.name), mode.title)
            assert app.current_mode == mode.name
            assert type(app.screen).__name__ == mode.class_name
            assert isinstance(app.screen, KmsScreen)
            # Every top screen carries the header, its own mode highlighted.
            assert header_of(app).plain_line.startswith("kms-tui")
            assert highlighted_mode(header_of(app)) == f" {mode.key} {mode.title} "


async def test_help_lists_current_screen_bindings(kms_server, make_app) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        under = app.screen
        await pilot.press("question_mark")
        help_screen = await screen_of(pilot, HelpScreen, "help")
        ids = {row.binding_id for row in help_screen.rows}
        own = {b.id for b in screen_bindings(type(under)) if b.id}
        assert own and own <= ids
        assert {"app.help", "app.commands", "app.quit", "app.mode_keys"} <= ids
        help_row = next(row for row in help_screen.rows if row.binding_id == "app.help")
        assert help_row.key == "?" and help_row.description == "Help"
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is under, "help closed")


async def test_colon_opens_palette_that_runs_commands(kms_server, make_app) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        texts = [command.text for command in palette_commands(app)]
        assert "Go to Service" in texts and "Activity log" in texts
        for mode in MODES.values():
            assert any(text.startswith(f"{mode.title}: ") for text in texts)
        await pilot.press("colon")
        palette = await screen_of(pilot, CommandPalette, "the command palette")
        await pilot.press(*"Activity log")

        def activity_log_highlighted() -> bool:
            commands = palette.query_one(CommandList)
            index = commands.highlighted
            if index is None:
                return False
            option = commands.get_option_at_index(index)
            return isinstance(option, Command) and option.hit.text == "Activity log"

        await wait_until(pilot, activity_log_highlighted, "the palette to offer Activity log")
        await pilot.press("enter")
        await screen_of(pilot, ActivityScreen, "the activity log")


async def test_activity_log_records_and_writes_private_jsonl(kms_server, make_app) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        screen = app.screen
        assert isinstance(screen, KmsScreen)
        screen.report_done("create key", "alpha-key", "created alpha-key")
        screen.report_error(
            "delete key",
            "beta-key",
            KmsNotFound(f"key not found; secret {kms_server.secret_key}", request_id="REQ123"),
        )
        await pilot.press("a")
        activity = await screen_of(pilot, ActivityScreen, "the activity log")
        table = activity.query_one("#activity-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 2, "the two entries listed")
        # A new entry appears on the open screen.
        app.context.activity.record("rotate key", "gamma-key", True, message="rotated")
        await wait_until(pilot, lambda: table.row_count == 3, "the new entry listed")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, "the activity log closed")
    path: Path = app.context.activity.path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert kms_server.secret_key not in text
    entries = ActivityLog.read_file(path)
    assert [(e.action, e.target, e.ok) for e in entries] == [
        ("create key", "alpha-key", True),
        ("delete key", "beta-key", False),
        ("rotate key", "gamma-key", True),
    ]
    assert entries[1].request_id == "REQ123"
    assert entries[0].time == fixed_clock()


async def test_unreachable_server_shows_disconnected_and_retries() -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    app = build_app(remote_connection(endpoint), Settings(), clock=fixed_clock)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_until(pilot, lambda: app.connection_state == "disconnected", "disconnected")
        await wait_until(
            pilot,
            lambda: "disconnected" in header_of(app).plain_line,
            "disconnected in the header",
        )
        assert endpoint in header_of(app).plain_line
        failures = [e for e in app.context.activity.entries if e.action == "connect"]
        assert len(failures) == 1 and not failures[0].ok
        # `r` retries at once; the app stays up, and the same failure is not said again.
        rounds = app.poller.rounds
        await pilot.press("r")
        await wait_until(pilot, lambda: app.poller.rounds > rounds, "the retry's poll round")
        await next_poll(app, pilot)
        assert app.is_running
        assert app.connection_state == "disconnected"
        assert len([e for e in app.context.activity.entries if e.action == "connect"]) == 1


class TcpRelay:
    """A loopback TCP forwarder we can cut and restore on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update({writer, up_writer})


async def test_server_lost_mid_session_then_reconnects(kms_server) -> None:
    port = int(kms_server.endpoint.rsplit(":", 1)[1])
    relay = TcpRelay(port)
    await relay.start()
    connection = remote_connection(f"http://127.0.0.1:{relay.port}", kms_server)
    app = build_app(connection, Settings(poll_interval_seconds=0.2), clock=fixed_clock)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        await relay.stop()
        await wait_until(pilot, lambda: app.connection_state == "disconnected", "disconnected")
        assert "disconnected" in header_of(app).plain_line
        assert app.is_running
        await relay.start()
        await pilot.press("r")
        await wait_until(pilot, lambda: app.connection_state == "connected", "reconnected")
        await wait_until(
            pilot, lambda: "Running" in header_of(app).plain_line, "Running in the header"
        )
        assert any(e.action == "reconnect" and e.ok for e in app.context.activity.entries)
    await relay.stop()


async def test_keymap_remaps_bindings_by_id(kms_server, make_app) -> None:
    keymap = {"app.help": "f1", "app.mode_service": "f2", "service.stop": "f4"}
    app = make_app(kms_server, settings=Settings(keymap=MappingProxyType(keymap)))
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        # The header's mode strip names the remapped mode key, the others as they were.
        assert header_of(app).modes_line.plain == DEFAULT_MODE_STRIP.replace(" 1 ", " f2 ")
        await pilot.press("question_mark")  # handled (and ignored) before press() returns
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        help_screen = await screen_of(pilot, HelpScreen, "help")
        row = next(r for r in help_screen.rows if r.binding_id == "app.help")
        assert row.key == "f1"
        await pilot.press("escape")
        await pilot.press("f2")
        screen = await screen_of(pilot, ServiceScreen, "the Service screen")
        assert app.current_mode == "service"
        assert highlighted_mode(header_of(app)) == " f2 Service "
        # The footer shows the screen's bindings (and the app's) under their remapped keys.
        await wait_until(pilot, lambda: "Stop" in footer_entries(screen), "the Service footer")
        footer = footer_entries(screen)
        assert footer["Stop"].key == "f4"
        assert footer["Start"].key == "s"
        assert footer["Help"].key == "f1"
        await pilot.press("f4")
        await screen_of(pilot, ConfirmDialog, "the stop confirmation")


async def test_each_screen_footer_shows_its_own_bindings(kms_server, make_app) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        for mode in MODES.values():
            await pilot.press(mode.key)
            screen = await screen_of(pilot, screen_class(mode.name), mode.title)
            own = {
                str(binding.description): app.get_key_display(binding)
                for binding in screen_bindings(type(screen))
                if binding.show
            }

            def footer_lists_own(screen: KmsScreen = screen, own: dict[str, str] = own) -> bool:
                shown = {name: entry.key for name, entry in footer_entries(screen).items()}
                return own.items() <= shown.items()

            await wait_until(pilot, footer_lists_own, f"the {mode.title} footer")
            footer = footer_entries(screen)
            assert footer["Help"].key == "?"
            # Mode keys are in the header's strip, not the footer.
            assert mode.title not in footer


async def test_switch_profile_rebuilds_context(kms_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T1_TEST_SECRET", kms_server.secret_key)
    profile = Profile(
        name="lab",
        endpoint=kms_server.endpoint,
        access_key=kms_server.access_key,
        secret_key_env="T1_TEST_SECRET",
    )
    settings = Settings(profiles=MappingProxyType({"lab": profile}))
    endpoint = f"http://127.0.0.1:{closed_port()}"
    app = build_app(remote_connection(endpoint), settings, clock=fixed_clock)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_until(pilot, lambda: app.connection_state == "disconnected", "disconnected")
        old = app.context
        assert any(c.text == "Switch profile: lab" for c in palette_commands(app))
        app.switch_profile("lab")
        await wait_until(pilot, lambda: app.context is not old, "the new context")
        await wait_connected(pilot, app)
        assert app.context.profile_name == "lab"
        await wait_until(
            pilot, lambda: "profile lab" in header_of(app).plain_line, "profile lab in the header"
        )
        assert app.context.activity is old.activity


def test_cli_endpoint_without_credentials_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.run(["--endpoint", f"http://127.0.0.1:{closed_port()}"])
    captured = capsys.readouterr()
    assert code == 2
    assert "RUSTFS_ACCESS_KEY" in captured.err and "Traceback" not in captured.err
    assert captured.out == ""


def test_cli_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text("unknown_key = 1\n")
    code = cli.run(["--config", str(config)])
    assert code == 2
    assert str(config) in capsys.readouterr().err


async def test_palette_jumps_to_a_loaded_key(kms_server, make_app) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        await wait_until(
            pilot, lambda: set(SEEDED_KEY_IDS) <= set(app.loaded_key_ids()), "the keys loaded"
        )
        texts = {command.text for command in palette_commands(app)}
        assert {f"Jump to key {key_id}" for key_id in SEEDED_KEY_IDS} <= texts
        await pilot.press("1")
        await screen_of(pilot, ServiceScreen, "the Service screen")
        jump = next(c for c in palette_commands(app) if c.text == "Jump to key gamma-key")
        await jump.run()
        await pilot.pause()
        assert app.current_mode == "keys"
        highlighted = app.screen.key_table.highlighted
        assert highlighted is not None and highlighted.key_id == "gamma-key"


def test_header_state_labels() -> None:
    assert state_label("connecting", None) == "connecting…"
    assert state_label("disconnected", None).startswith("disconnected")
    assert state_label("connected", None) == "connected"


async def test_unexpected_worker_error_is_reported_not_fatal(kms_server, make_app) -> None:
    app = make_app(kms_server)

    async def explode() -> None:
        raise RuntimeError("boom in a worker")

    async with app.run_test(size=APP_SIZE) as pilot:
        await wait_connected(pilot, app)
        app.screen.run_worker(explode(), group="test.explode", exit_on_error=False)
        await wait_until(
            pilot,
            lambda: any("boom in a worker" in e.message for e in app.context.activity.entries),
            "the worker's error in the activity log",
        )
        assert app.is_running


async def test_notifications_are_plain_text(kms_server, make_app) -> None:
    app = make_app(kms_server)
    # Toasts are drawn only when the test asks for them.
    async with app.run_test(size=APP_SIZE, notifications=True) as pilot:
        await wait_connected(pilot, app)
        # A server message or key id with brackets: as markup, "[/]" would crash the app.
        app.screen.notify("key team=[/]x refused [bold]", title="create key [/] failed")
        await wait_until(
            pilot,
            lambda: "key team=[/]x refused [bold]" in [n.message for n in app._notifications],
            "the notification",
        )
        # And it is drawn: the toast is mounted and a frame with its text renders.
        await wait_until(pilot, lambda: bool(app.screen.query("Toast")), "the toast")
        frame = app.export_screenshot().replace("&#160;", " ")
        assert "key team=[/]x refused [bold]" in frame
        assert app.is_running
