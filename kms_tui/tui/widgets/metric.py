"""One live number with a bounded chart of its recent history, cheap to update for hours."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.segment import Segment
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Label, Static

__all__ = ["DEFAULT_HISTORY", "BarChart", "MetricView", "chart_rows"]

DEFAULT_HISTORY = 60
_EIGHTHS = " ▁▂▃▄▅▆▇█"


def chart_rows(points: tuple[float, ...], width: int, height: int) -> tuple[str, ...]:
    """The newest ``width`` points as bars, one column each, right-aligned, top row first.

    Bars are scaled to the largest point shown, in eighths of a cell, so two rows give 16
    levels; zero draws nothing, so an idle counter's chart does not change as it scrolls.
    """
    if width <= 0 or height <= 0:
        return ()
    shown = points[-width:]
    top = max(shown, default=0.0)
    levels = [round(max(point, 0.0) / top * height * 8) if top > 0 else 0 for point in shown]
    rows = []
    for row in range(height):
        floor = (height - 1 - row) * 8
        cells = "".join(_EIGHTHS[min(max(level - floor, 0), 8)] for level in levels)
        rows.append(cells.rjust(width))
    return tuple(rows)


class BarChart(Widget):
    """A small bar chart in one colour, one segment per row, repainted only when it changes.

    Textual's Sparkline writes a colour and a reset for every cell; watched for hours over SSH
    that is most of what the console sends, so this chart keeps each row one run of text.
    """

    DEFAULT_CSS = """
    BarChart { height: 2; width: 1fr; color: $accent; }
    """

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._points: tuple[float, ...] = ()
        self._rows: tuple[str, ...] = ()

    @property
    def points(self) -> tuple[float, ...]:
        """The points the chart draws (oldest first)."""
        return self._points

    @points.setter
    def points(self, points: tuple[float, ...]) -> None:
        self._points = points
        rows = chart_rows(points, self.size.width, self.size.height)
        if rows != self._rows:
            self._rows = rows
            self.refresh()

    def on_resize(self) -> None:
        self._rows = chart_rows(self._points, self.size.width, self.size.height)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self.rich_style
        if y >= len(self._rows):
            return Strip.blank(width, style)
        return Strip([Segment(self._rows[y], style)], width)


class MetricView(Vertical):
    """A titled value over a sparkline; children are touched only when what they show changes."""

    DEFAULT_CSS = """
    MetricView { height: auto; }
    MetricView > .metric-title { text-style: bold; }
    MetricView > BarChart { height: 2; }
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
        chart = BarChart(classes="metric-chart")
        chart.points = _drawable(self._shown_points)
        yield chart

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
                self.query_one(BarChart).points = _drawable(points)

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
            self.query_one(BarChart).points = _drawable(self._shown_points)


def _drawable(points: tuple[float, ...]) -> tuple[float, ...]:
    """No chart from a single point: one point scaled to itself is a full bar, which misleads."""
    return points if len(points) > 1 else ()
