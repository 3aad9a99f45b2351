"""Live stats (`5`): charts the cache counters of every ``/kms/status`` poll.

The app's status poller does the polling (every ``poll_interval_seconds``, for the header too);
this screen renders each round it completes (``app.last_poll``). Built to stay open for hours:
nothing is drawn while the screen is hidden or paused, every history is a bounded deque, and a
widget is only touched when the text or points it shows actually change.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import DataTable, Static

from kms_tui.api.errors import KmsAccessDenied, KmsError
from kms_tui.api.service_models import ClusterConfig, KmsStatus
from kms_tui.api.wire import ServiceState
from kms_tui.tui.dialogs.confirm import ConfirmDialog
from kms_tui.tui.poller import MAX_BACKOFF_SECONDS, PollRound
from kms_tui.tui.screens.base import KmsScreen
from kms_tui.tui.styles import style_path
from kms_tui.tui.widgets.footer import KmsFooter
from kms_tui.tui.widgets.metric import DEFAULT_HISTORY, MetricView

__all__ = ["StatsScreen"]

_METRICS: tuple[tuple[str, str], ...] = (
    ("hits", "Cache hits"),
    ("misses", "Cache misses"),
    ("entries", "Cached entries"),
    ("evictions", "Evictions"),
    ("ratio", "Hit ratio"),
    ("latency", "Poll latency"),
)


def _counter_text(total: int, previous: int | None) -> str:
    if previous is None or total == previous:
        return f"{total:,}"
    change = total - previous
    return f"{total:,} ({change:+,})"


def _time_text(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S UTC")


class StatsScreen(KmsScreen):
    """Cache counters, hit ratio and poll latency with their recent history; cluster config."""

    CSS_PATH = style_path("stats.tcss")
    IAM_ACTIONS: ClassVar[dict[str, tuple[str, ...]]] = {"clear_cache": ("kms:ClearCache",)}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh_data", "Poll now", id="screen.refresh"),
        Binding("x", "clear_cache", "Clear cache", id="stats.clear_cache"),
        Binding("p", "toggle_pause", "Pause/resume", id="stats.pause"),
    ]

    def __init__(self, *, history: int = DEFAULT_HISTORY) -> None:
        super().__init__()
        self.history_points = history
        self.rounds_shown = 0  # poll rounds drawn; tests read it to see drawing pause
        self.last_status: KmsStatus | None = None
        self.last_success: datetime | None = None
        self.last_error: str | None = None
        self.paused_by_user = False
        self._visible = False
        self._previous_counts: dict[str, int] = {}
        self._shown: dict[str, str] = {}
        self._shown_cluster: ClusterConfig | None = None
        self._drawn_round = 0

    # --- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="stats-body"):
            yield Static("", id="stats-poll-state", markup=False)
            with Grid(id="stats-metrics"):
                for metric_id, title in _METRICS:
                    yield MetricView(title, history=self.history_points, id=f"metric-{metric_id}")
            with Horizontal(id="stats-health-row"):
                yield Static("backend: –", id="stats-backend", markup=False)
                yield Static("", id="stats-consistency", markup=False)
            yield DataTable(id="stats-nodes", cursor_type="row", zebra_stripes=True)
            yield Static("last successful poll: never", id="stats-last-poll", markup=False)
            yield Static("last error: none", id="stats-last-error", markup=False)
        yield KmsFooter()

    def on_mount(self) -> None:
        table = self.query_one("#stats-nodes", DataTable)
        table.add_columns("host", "config fingerprint", "error")
        self._show_poll_state()
        self.watch(self.kms_app, "last_poll", self._round_completed, init=False)
        self.watch(self.kms_app, "context_generation", self._context_switched, init=False)

    def _context_switched(self, generation: int) -> None:
        """Another profile: history of the old server means nothing for the new one."""
        self._previous_counts.clear()
        self._shown_cluster = None
        self._drawn_round = 0
        self.last_status = None
        self.last_error = None
        for metric in self.query(MetricView):
            metric.reset()

    @property
    def interval(self) -> float:
        """Seconds between the poller's rounds, from the settings (2 s by default)."""
        return float(self.ctx.settings.poll_interval_seconds)

    @property
    def drawing(self) -> bool:
        """Whether poll rounds are drawn (visible and not paused by the user)."""
        return self._visible and not self.paused_by_user

    # --- visibility ------------------------------------------------------------------------

    def on_screen_resume(self) -> None:
        self._visible = True
        self._show_poll_state()
        self._draw_latest()

    def on_screen_suspend(self) -> None:
        self._visible = False
        self._show_poll_state()

    def _show_poll_state(self) -> None:
        if self.paused_by_user:
            state = "paused (p to resume)"
        elif self._visible:
            state = f"polling every {self.interval:g} s"
        else:
            state = "paused while hidden"
        self._set_text("#stats-poll-state", f"Live stats · /kms/status · {state}")

    def _round_completed(self, round_: PollRound | None) -> None:
        if round_ is not None and self.drawing:
            self._show_round(round_)

    def _draw_latest(self) -> None:
        """Catch up with the poller's newest round (after being hidden or paused)."""
        round_ = self.kms_app.last_poll
        if round_ is not None and self.drawing:
            self._show_round(round_)

    # --- actions ---------------------------------------------------------------------------

    def refresh_data(self) -> None:
        """Poll now, even when paused (the poller polls; this screen draws the round)."""
        self._poll_now()

    @work(exclusive=True, group="stats-poll-now", exit_on_error=False)
    async def _poll_now(self) -> None:
        await self.kms_app.poller.poll_now()
        round_ = self.kms_app.last_poll
        if round_ is not None and not self.drawing:
            self._show_round(round_)  # shown even while paused: the user asked for it

    def action_toggle_pause(self) -> None:
        """Stop or restart drawing without leaving the screen."""
        self.paused_by_user = not self.paused_by_user
        self._show_poll_state()
        self._draw_latest()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_cache" and self.ctx.read_only:
            return None
        return None if self.permission_reason(action) is not None else True

    def action_clear_cache(self) -> None:
        """Drop the server's cached key metadata, after a confirmation."""
        if not self.writable("clear cache"):
            return
        self._clear_cache()

    @work(exclusive=True, group="stats-clear-cache", exit_on_error=False)
    async def _clear_cache(self) -> None:
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog(
                "Clear the KMS cache?",
                "Cached key metadata is dropped; the next lookups go to the backend. "
                "The hit and miss counters keep counting.",
                "Clear cache",
            )
        )
        if not confirmed:
            return
        try:
            admin = await self.ctx.admin()
            result = await admin.clear_cache()
        except KmsError as err:
            self.report_error("clear cache", None, err)
            return
        self.report_done("clear cache", None, result.message or "cache cleared")
        self.refresh_data()

    # --- drawing a round -------------------------------------------------------------------

    def _show_round(self, round_: PollRound) -> None:
        if round_.number == self._drawn_round:
            return  # already drawn (a resume or a poll-now after the timer's round)
        self._drawn_round = round_.number
        self.rounds_shown += 1
        if round_.kms_status is not None and round_.latency_ms is not None:
            self._show_status(round_.kms_status, round_.latency_ms, round_.at)
            return
        if round_.error is not None:
            self._show_failure(round_.error, round_.at)
            return
        self.last_status = None
        running = (
            round_.service_status is not None
            and round_.service_status.state is ServiceState.RUNNING
        )
        self._set_text(
            "#stats-backend", "backend: no status" if running else "backend: the KMS is not running"
        )

    def _show_failure(self, err: KmsError, at: datetime) -> None:
        # The poller has notified and logged it (once per cause); this screen only shows it.
        denied = self.ctx.permissions.reason("kms:ServiceControl")
        if denied is not None and isinstance(err, KmsAccessDenied):
            self.last_error = None
            self._set_text(
                "#stats-last-error",
                f"live stats need kms:ServiceControl: {denied}; polled every "
                f"{MAX_BACKOFF_SECONDS:.0f} s in case it is granted",
            )
            self._set_text("#stats-backend", "backend: not visible to this account")
            return
        parts = [err.message]
        if err.status is not None:
            parts.append(f"HTTP {err.status}")
        if err.request_id:
            parts.append(f"request id {err.request_id}")
        self.last_error = " · ".join(parts)
        self._set_text("#stats-last-error", f"last error: {_time_text(at)} {self.last_error}")
        self._set_text("#stats-backend", "backend: unreachable or not running")

    def _show_status(self, status: KmsStatus, latency_ms: float, at: datetime) -> None:
        self.last_status = status
        self.last_success = at
        self._set_text("#stats-last-poll", f"last successful poll: {_time_text(self.last_success)}")
        stats = status.cache_stats
        if stats is not None:
            self._push_counter("hits", stats.hit_count)
            self._push_counter("misses", stats.miss_count)
            self._push_counter("entries", stats.entry_count, delta=False)
            self._push_counter("evictions", stats.eviction_count)
            ratio = stats.hit_ratio
            ratio_text = "n/a (no lookups yet)" if ratio is None else f"{ratio:.1%}"
            self._metric("ratio").push(0.0 if ratio is None else ratio * 100.0, ratio_text)
        else:
            for metric_id, _ in _METRICS[:5]:
                self._metric(metric_id).show_text("cache disabled")
        self._metric("latency").push(latency_ms, f"{latency_ms:.1f} ms")
        cache = "cache on" if status.cache_enabled else "cache off"
        self._set_text(
            "#stats-backend",
            f"backend: {status.backend_type} · {status.backend_status} · {cache}",
        )
        self._show_cluster(status.cluster_config)

    def _push_counter(self, metric_id: str, total: int, *, delta: bool = True) -> None:
        """Cumulative counters chart their change per poll; levels chart themselves."""
        previous = self._previous_counts.get(metric_id)
        self._previous_counts[metric_id] = total
        if delta:
            change = 0 if previous is None else max(total - previous, 0)
            self._metric(metric_id).push(float(change), _counter_text(total, previous))
        else:
            self._metric(metric_id).push(float(total), f"{total:,}")

    def _show_cluster(self, cluster: ClusterConfig | None) -> None:
        if cluster is None:
            self._set_text("#stats-consistency", "cluster: not reported by this server")
        elif cluster.consistent:
            self._set_text(
                "#stats-consistency", f"cluster: consistent ({len(cluster.nodes)} node(s))"
            )
        else:
            self._set_text(
                "#stats-consistency",
                f"cluster: INCONSISTENT configuration across {len(cluster.nodes)} node(s)",
            )
        self.set_class(cluster is not None and not cluster.consistent, "-inconsistent")
        if cluster == self._shown_cluster:
            return
        self._shown_cluster = cluster
        table = self.query_one("#stats-nodes", DataTable)
        table.clear()
        for node in cluster.nodes if cluster is not None else ():
            table.add_row(node.host, node.fingerprint or "–", node.error or "")

    # --- helpers ---------------------------------------------------------------------------

    def _metric(self, metric_id: str) -> MetricView:
        return self.query_one(f"#metric-{metric_id}", MetricView)

    def _set_text(self, selector: str, text: str) -> None:
        if self._shown.get(selector) == text:
            return
        self._shown[selector] = text
        self.query_one(selector, Static).update(text)

    def shown_text(self, selector: str) -> str:
        """What a status line shows now (for tests and the screenshot script)."""
        return self._shown.get(selector, "")
