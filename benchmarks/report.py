"""Result rows, medians, the printed table and the JSON copy."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import statistics
import sys
import timeit
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Row",
    "Target",
    "median",
    "render_markdown",
    "render_table",
    "write_json",
    "yardstick_ms",
]


def median(values: Sequence[float]) -> float | None:
    """The median, or None for no samples (a case that did not run)."""
    return statistics.median(values) if values else None


@dataclass(frozen=True, slots=True)
class Target:
    """A target: its text for the table, and what it bounds (the ratio or the case figure)."""

    text: str
    bounds: str = "nothing"  # "ratio", "case" or "nothing" (report only)
    limit: float = 0.0

    @classmethod
    def ratio_at_most(cls, limit: float) -> Target:
        """case/baseline ≤ limit."""
        return cls(f"≤ {limit:g}×", "ratio", limit)

    @classmethod
    def case_at_most(cls, limit: float, unit: str) -> Target:
        """The case figure itself ≤ limit."""
        return cls(f"≤ {limit:g} {unit}", "case", limit)

    @classmethod
    def report_only(cls, text: str = "report") -> Target:
        """No pass/fail: the figure is reported."""
        return cls(text)

    def met(self, case: float | None, base: float | None) -> bool | None:
        """Whether the figures meet the target; None when it only reports."""
        if self.bounds == "nothing":
            return None
        value = _ratio(case, base) if self.bounds == "ratio" else case
        return value is not None and value <= self.limit


def _ratio(case: float | None, base: float | None) -> float | None:
    if case is None or base is None or base == 0:
        return None
    return case / base


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a case's metric, its baseline, and whether the target is met."""

    case: str
    metric: str
    unit: str
    case_samples: list[float]
    baseline_samples: list[float] = field(default_factory=list)
    target: Target = field(default_factory=Target.report_only)

    @property
    def case_median(self) -> float | None:
        """Median of the case's samples."""
        return median(self.case_samples)

    @property
    def baseline_median(self) -> float | None:
        """Median of the baseline's samples (None when the case has no baseline)."""
        return median(self.baseline_samples)

    @property
    def ratio(self) -> float | None:
        """case median / baseline median."""
        return _ratio(self.case_median, self.baseline_median)

    @property
    def met(self) -> bool | None:
        """Whether the target is met; None for report-only rows."""
        return self.target.met(self.case_median, self.baseline_median)

    def as_json(self) -> dict[str, Any]:
        """The row with its samples, medians, ratio and verdict."""
        return {
            "case": self.case,
            "metric": self.metric,
            "unit": self.unit,
            "case_median": self.case_median,
            "baseline_median": self.baseline_median,
            "ratio": self.ratio,
            "target": self.target.text,
            "met": self.met,
            "case_samples": self.case_samples,
            "baseline_samples": self.baseline_samples,
        }


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _cells(row: Row) -> list[str]:
    unit = f" {row.unit}" if row.unit else ""
    met = {True: "yes", False: "no", None: "n/a"}[row.met]
    ratio = row.ratio
    return [
        row.case,
        row.metric,
        _number(row.case_median) + unit if row.case_median is not None else "—",
        _number(row.baseline_median) + unit if row.baseline_median is not None else "—",
        f"{ratio:.3g}×" if ratio is not None else "—",
        row.target.text,
        met,
    ]


HEADERS = ["case", "metric", "case median", "baseline median", "ratio", "target", "met"]


def render_table(rows: Sequence[Row]) -> str:
    """A plain-text table for the terminal."""
    lines = [HEADERS, *(_cells(row) for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(HEADERS))]
    out = []
    for number, line in enumerate(lines):
        out.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if number == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def render_markdown(rows: Sequence[Row]) -> str:
    """The same table in Markdown, for the README."""
    out = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    out.extend("| " + " | ".join(_cells(row)) + " |" for row in rows)
    return "\n".join(out)


def yardstick_ms() -> float:
    """The machine's speed in one figure: best of 5 of ``sum(range(1_000_000))``, in ms.

    The same as ``python -m timeit "sum(range(1_000_000))"`` gives, so figures from two
    machines (or two sessions, which differ up to 5×) can be put side by side.
    """
    timer = timeit.Timer("sum(range(1_000_000))")
    loops, _ = timer.autorange()
    return min(timer.repeat(repeat=5, number=loops)) / loops * 1000


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": sys.version.split()[0],
        "textual": _version("textual"),
        "httpx": _version("httpx"),
        "botocore": _version("botocore"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_end": load,
    }


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_json(path: Path, rows: Sequence[Row], extra: dict[str, Any]) -> None:
    """The JSON copy of the run: every row with its samples, plus the raw case details."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": machine(), **extra, "rows": [row.as_json() for row in rows]}
    path.write_text(json.dumps(document, indent=2, default=_default) + "\n")


def _default(value: object) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)  # type: ignore[call-overload]
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
