"""One live number with a bounded chart of its recent history, cheap to update for hours."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline, Static

__all__ = ["DEFAULT_HISTORY", "MetricView"]

DEFAULT_HISTORY = 60


class MetricView(Vertical):
    """A titled value over a sparkline; children are touched only when what they show changes."""

    DEFAULT_CSS = """
    MetricView { height: auto; }
    MetricView > .metric-title { text-style: bold; }
    MetricView > Sparkline { height: 2; }
    """

    def __init__(
        self,
        title: str,
        *,
        history: int = DEFAULT_HISTORY,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        if history < 1:
            raise ValueError("history must keep at least one point")
        self.metric_title = title
        self._points: deque[float] = deque(maxlen=history)
        self._shown_text = "–"
        self._shown_points: tuple[float, ...] = ()
        self.value_updates = 0  # how often the value text was redrawn (tests and benchmarks)
        self.chart_updates = 0  # how often the chart data was replaced

    def compose(self) -> ComposeResult:
        yield Label(self.metric_title, classes="metric-title")
        yield Static(self._shown_text, classes="metric-value", markup=False)
        yield Sparkline(_drawable(self._shown_points), classes="metric-chart")

    @property
    def text(self) -> str:
        """What the value line shows now."""
        return self._shown_text

    @property
    def history(self) -> tuple[float, ...]:
        """The recent points, oldest first (never more than the history bound)."""
        return tuple(self._points)

    @property
    def capacity(self) -> int:
        """How many points the chart keeps."""
        return self._points.maxlen or 0

    def push(self, point: float, text: str) -> None:
        """Add a point to the chart and show ``text``, redrawing only what changed."""
        self._points.append(point)
        self.show_text(text)
        points = tuple(self._points)
        if points != self._shown_points:
            self._shown_points = points
            self.chart_updates += 1
            if self.is_mounted:
                self.query_one(Sparkline).data = _drawable(points)

    def show_text(self, text: str) -> None:
        """Change the value line without adding a point (e.g. to show it is stale)."""
        if text == self._shown_text:
            return
        self._shown_text = text
        self.value_updates += 1
        if self.is_mounted:
            self.query_one(".metric-value", Static).update(text)

    def reset(self, points: Iterable[float] = ()) -> None:
        """Forget the history (e.g. after a reconnect to another server)."""
        self._points.clear()
        self._points.extend(points)
        self._shown_points = tuple(self._points)
        if self.is_mounted:
            self.query_one(Sparkline).data = _drawable(self._shown_points)


def _drawable(points: tuple[float, ...]) -> tuple[float, ...]:
    """No chart from a single point: Textual draws one point as a full block, which misleads."""
    return points if len(points) > 1 else ()
