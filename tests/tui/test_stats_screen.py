"""Pilot tests of the Live stats screen against a real embedded server."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import DataTable

from kms_tui.api.models import (
    BackendHealth,
    BackendName,
    CacheStats,
    ClusterConfig,
    ClusterNode,
    KmsStatus,
)
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.settings import Settings
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.confirm import ConfirmDialog
from kms_tui.tui.screens.stats import StatsScreen
from kms_tui.tui.widgets.metric import MetricView
from tests.tui.conftest import APP_SIZE, SEEDED_KEY_IDS, admin_client_for

MakeApp = Callable[..., KmsTuiApp]
FAST = Settings(poll_interval_seconds=0.1)


async def wait_until(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Let the app run until ``condition`` holds (bounded, so a broken flow fails, not hangs)."""
    for _ in range(200):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for: {what}")


async def open_stats(pilot: Pilot[None]) -> StatsScreen:
    await pilot.press("5")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, StatsScreen), "stats screen")
    screen = pilot.app.screen
    assert isinstance(screen, StatsScreen)
    await wait_until(pilot, lambda: screen.last_status is not None, "first poll")
    return screen


async def describe_all(server: EmbeddedServer, rounds: int) -> None:
    async with admin_client_for(server) as admin:
        for _ in range(rounds):
            for key_id in SEEDED_KEY_IDS:
                await admin.describe_key(key_id)


def hits(screen: StatsScreen) -> int:
    status = screen.last_status
    assert status is not None and status.cache_stats is not None
    return status.cache_stats.hit_count


async def test_counters_move_after_describes(kms_server: EmbeddedServer, make_app: MakeApp) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_stats(pilot)
        start_hits = hits(screen)
        hits_view = screen.query_one("#metric-hits", MetricView)
        before_text = hits_view.text
        await describe_all(kms_server, rounds=3)
        await pilot.press("r")
        await wait_until(pilot, lambda: hits(screen) > start_hits, "hit counter moved")
        assert hits_view.text != before_text
        assert f"{hits(screen):,}" in hits_view.text
        assert screen.query_one("#metric-latency", MetricView).text.endswith("ms")
        ratio = screen.query_one("#metric-ratio", MetricView).text
        assert ratio.endswith("%")
        assert screen.shown_text("#stats-last-poll").startswith("last successful poll: 12:00:00")


async def test_polling_pauses_while_hidden(kms_server: EmbeddedServer, make_app: MakeApp) -> None:
    app = make_app(kms_server, settings=FAST)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_stats(pilot)
        seen = screen.poll_count
        await wait_until(pilot, lambda: screen.poll_count >= seen + 3, "timer polls while shown")
        await pilot.press("1")
        await wait_until(pilot, lambda: app.screen is not screen, "stats hidden")
        hidden_at = screen.poll_count
        await pilot.pause(0.6)  # six intervals
        assert screen.poll_count == hidden_at
        assert not screen.polling
        await pilot.press("5")
        await wait_until(pilot, lambda: screen.poll_count > hidden_at, "polling resumed")
        assert screen.polling


async def test_user_pause_stops_the_timer(kms_server: EmbeddedServer, make_app: MakeApp) -> None:
    app = make_app(kms_server, settings=FAST)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_stats(pilot)
        await pilot.press("p")
        paused_at = screen.poll_count
        await pilot.pause(0.5)
        assert screen.poll_count == paused_at
        assert "paused" in screen.shown_text("#stats-poll-state")


async def test_last_error_shown_when_the_kms_is_stopped(
    kms_server: EmbeddedServer, make_app: MakeApp
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_stats(pilot)
        assert screen.last_error is None
        async with admin_client_for(kms_server) as admin:
            await admin.stop()
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.last_error is not None, "poll error shown")
        error_line = screen.shown_text("#stats-last-error")
        assert "not initialized" in error_line
        assert "HTTP 500" in error_line or "HTTP 503" in error_line
        # The last good poll stays on screen; the failure is logged once, not every poll.
        assert screen.shown_text("#stats-last-poll").startswith("last successful poll: 12:")
        await pilot.press("r")
        await pilot.pause(0.3)
        polls = [e for e in app.context.activity.entries if e.action == "poll /kms/status"]
        assert len(polls) == 1 and not polls[0].ok


async def test_cluster_consistency_and_nodes(kms_server: EmbeddedServer, make_app: MakeApp) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_stats(pilot)
        assert screen.shown_text("#stats-consistency").startswith("cluster: consistent")
        table = screen.query_one("#stats-nodes", DataTable)
        assert table.row_count == 1
        host, fingerprint, error = table.get_row_at(0)
        assert host == "local"
        assert fingerprint == kms_server.service.config.fingerprint()  # type: ignore[union-attr]
        assert error == ""
        assert "healthy" in screen.shown_text("#stats-backend")

        inconsistent = KmsStatus(
            backend_type=BackendName.LOCAL,
            backend_status=BackendHealth.HEALTHY,
            cache_enabled=True,
            cache_stats=CacheStats(1, 1, 1, 0),
            default_key_id=None,
            capabilities=None,
            cluster_config=ClusterConfig(
                False,
                (ClusterNode("node-a", "abc", None), ClusterNode("node-b", None, "timeout")),
            ),
        )
        screen._show_status(inconsistent, 1.0)
        await pilot.pause()
        assert "INCONSISTENT" in screen.shown_text("#stats-consistency")
        assert screen.has_class("-inconsistent")
        assert table.row_count == 2
        assert table.get_row_at(1) == ["node-b", "–", "timeout"]


async def test_same_values_do_not_redraw_and_history_is_bounded(
    kms_server: EmbeddedServer, make_app: MakeApp
) -> None:
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_stats(pilot)
        status = screen.last_status
        assert status is not None
        entries = screen.query_one("#metric-entries", MetricView)
        for _ in range(3 * entries.capacity):
            screen._show_status(status, 2.0)
        redraws, chart_updates = entries.value_updates, entries.chart_updates
        for _ in range(10):
            screen._show_status(status, 2.0)
        assert entries.value_updates == redraws
        assert entries.chart_updates == chart_updates
        assert len(entries.history) == entries.capacity
        assert len(screen.query_one("#metric-latency", MetricView).history) == entries.capacity


async def test_clear_cache_from_stats(kms_server: EmbeddedServer, make_app: MakeApp) -> None:
    await describe_all(kms_server, rounds=1)
    before = kms_server.service.cache_stats()
    assert before is not None and before.entry_count > 0
    app = make_app(kms_server)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_stats(pilot)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "confirm")
        await pilot.click("#confirm")
        await wait_until(
            pilot,
            lambda: any(e.action == "clear cache" and e.ok for e in app.context.activity.entries),
            "clear cache done",
        )
        await wait_until(
            pilot,
            lambda: screen.query_one("#metric-entries", MetricView).text == "0",
            "entries shown as 0",
        )
    after = kms_server.service.cache_stats()
    assert after is not None and after.entry_count == 0
    assert after.hit_count >= before.hit_count


async def test_read_only_disables_clear_cache(
    kms_server: EmbeddedServer, make_app: MakeApp
) -> None:
    await describe_all(kms_server, rounds=1)
    app = make_app(kms_server, read_only=True)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_stats(pilot)
        assert screen.check_action("clear_cache", ()) is None
        await pilot.press("x")
        screen.action_clear_cache()
        await pilot.pause(0.2)
        assert app.screen is screen
    stats = kms_server.service.cache_stats()
    assert stats is not None and stats.entry_count > 0
