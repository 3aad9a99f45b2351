"""Pilot tests of the Live stats screen against a real embedded server."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import DataTable, Static

from kms_tui.api.service_models import CacheStats, ClusterConfig, ClusterNode, KmsStatus
from kms_tui.api.wire import BackendHealth, BackendName
from kms_tui.embedded.server import EmbeddedServer
from kms_tui.settings import Settings
from kms_tui.tui.app import KmsTuiApp
from kms_tui.tui.dialogs.confirm import ConfirmDialog
from kms_tui.tui.screens.stats import StatsScreen
from kms_tui.tui.widgets.metric import MetricView
from tests.fakes.misbehaving import misbehaving, xml_error
from tests.tui.conftest import APP_SIZE, FIXED_NOW, SEEDED_KEY_IDS, admin_client_for
from tests.tui.fault_support import app_via, record_notes, titled
from tests.tui.helpers import next_poll, open_service, open_stats, wait_until

MakeApp = Callable[..., KmsTuiApp]
FAST = Settings(poll_interval_seconds=0.1)


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


async def test_drawing_pauses_while_hidden(kms_server: EmbeddedServer, make_app: MakeApp) -> None:
    app = make_app(kms_server, settings=FAST)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_stats(pilot)
        seen = screen.rounds_shown
        await wait_until(pilot, lambda: screen.rounds_shown >= seen + 3, "rounds drawn while shown")
        await open_service(pilot)
        assert not screen.drawing
        hidden_at = screen.rounds_shown
        # The poller goes on (the header needs it); the hidden screen draws none of its rounds.
        await next_poll(app, pilot)
        await next_poll(app, pilot)
        assert screen.rounds_shown == hidden_at
        assert screen.shown_text("#stats-poll-state").endswith("paused while hidden")
        shown_again = await open_stats(pilot)
        assert shown_again is screen and screen.drawing
        # Shown again, it catches up with the newest round at once, then follows the poller.
        caught_up = screen.rounds_shown
        assert caught_up > hidden_at
        await wait_until(pilot, lambda: screen.rounds_shown > caught_up, "drawing resumed")


async def test_user_pause_stops_drawing(kms_server: EmbeddedServer, make_app: MakeApp) -> None:
    app = make_app(kms_server, settings=FAST)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_stats(pilot)
        await pilot.press("p")
        assert screen.paused_by_user and not screen.drawing
        paused_at = screen.rounds_shown
        await next_poll(app, pilot)
        await next_poll(app, pilot)
        assert screen.rounds_shown == paused_at
        assert "paused (p to resume)" in screen.shown_text("#stats-poll-state")
        # `r` polls now and draws that one round, even while paused; later rounds are not drawn.
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.rounds_shown == paused_at + 1, "the round asked for")
        await next_poll(app, pilot)
        assert screen.rounds_shown == paused_at + 1
        await pilot.press("p")
        assert screen.drawing
        await wait_until(pilot, lambda: screen.rounds_shown > paused_at + 1, "drawing resumed")


async def test_poll_error_is_shown_and_said_once_per_cause(kms_server: EmbeddedServer) -> None:
    with misbehaving(kms_server.endpoint) as front:
        app = app_via(front.url, kms_server)
        notes = record_notes(app)
        async with app.run_test(size=APP_SIZE) as pilot:
            screen = await open_stats(pilot)
            assert screen.last_error is None
            front.set(
                "GET",
                "/kms/status",
                xml_error(500, "InternalError", "Backend error: vault is sealed", request_id="S-1"),
            )
            await pilot.press("r")
            await wait_until(pilot, lambda: screen.last_error is not None, "the poll error shown")
            error_line = screen.shown_text("#stats-last-error")
            assert error_line.startswith("last error: 12:00:00 UTC")
            assert "vault is sealed" in error_line
            assert "HTTP 500" in error_line and "request id S-1" in error_line
            # The last good poll stays on screen.
            assert screen.shown_text("#stats-last-poll").startswith("last successful poll: 12:")
            # The poller said it once; two more failing rounds add nothing.
            await next_poll(app, pilot)
            await next_poll(app, pilot)
            assert len(titled(notes, "poll failed")) == 1
            failed = [e for e in app.context.activity.entries if e.action == "poll"]
            assert len(failed) == 1 and not failed[0].ok and failed[0].request_id == "S-1"
            # Another cause is news again.
            front.set(
                "GET",
                "/kms/status",
                xml_error(503, "ServiceUnavailable", "Backend is rebuilding", request_id="S-2"),
            )
            await wait_until(pilot, lambda: "S-2" in (screen.last_error or ""), "the new error")
            await next_poll(app, pilot)
            assert len(titled(notes, "poll failed")) == 2
            assert len([e for e in app.context.activity.entries if e.action == "poll"]) == 2
            # Healed: the next round is drawn as a successful poll again.
            front.heal()
            shown = screen.rounds_shown
            await next_poll(app, pilot)
            assert screen.rounds_shown > shown
            assert screen.last_status is not None
            assert "healthy" in screen.shown_text("#stats-backend")


async def test_stopped_kms_is_shown_as_not_running_not_as_an_error(
    kms_server: EmbeddedServer, make_app: MakeApp
) -> None:
    app = make_app(kms_server)
    notes = record_notes(app)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_stats(pilot)
        async with admin_client_for(kms_server) as admin:
            await admin.stop()
        await pilot.press("r")
        await wait_until(
            pilot,
            lambda: "not running" in screen.shown_text("#stats-backend"),
            "the stopped KMS shown",
        )
        # The poller knows from the service status that the KMS is stopped: it does not ask
        # ``/kms/status`` then, so nothing failed; two more rounds say nothing either.
        await next_poll(app, pilot)
        await next_poll(app, pilot)
        assert screen.last_error is None
        assert str(screen.query_one("#stats-last-error", Static).content) == "last error: none"
        assert not titled(notes, "poll failed")
        assert not [e for e in app.context.activity.entries if e.action == "poll"]
        assert app.service_status is not None and app.service_status.state == "Configured"
        assert screen.shown_text("#stats-last-poll").startswith("last successful poll: 12:")


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
        screen._show_status(inconsistent, 1.0, FIXED_NOW)
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
            screen._show_status(status, 2.0, FIXED_NOW)
        redraws, chart_updates = entries.value_updates, entries.chart_updates
        for _ in range(10):
            screen._show_status(status, 2.0, FIXED_NOW)
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
    notes = record_notes(app)
    async with app.run_test(size=APP_SIZE) as pilot:
        screen = await open_stats(pilot)
        assert screen.check_action("clear_cache", ()) is None
        await pilot.press("x")  # disabled: the key does nothing, not even the notice below
        screen.action_clear_cache()  # as the palette would: refused, with the reason
        await wait_until(pilot, lambda: bool(titled(notes, "Read-only")), "the read-only notice")
        assert len(titled(notes, "Read-only")) == 1
        assert "clear cache is disabled" in titled(notes, "Read-only")[0].message
        # The refusal comes before the worker that would ask for confirmation: none started.
        assert not [w for w in app.workers if w.group == "stats-clear-cache"]
        assert app.screen is screen
    stats = kms_server.service.cache_stats()
    assert stats is not None and stats.entry_count > 0
