"""The live-stats bar chart: newest points on the right, scaled to the tallest, 16 levels."""

from __future__ import annotations

from kms_tui.tui.widgets.metric import chart_rows


def test_two_rows_give_sixteen_levels_scaled_to_the_tallest() -> None:
    top, bottom = chart_rows((0.0, 4.0, 8.0, 16.0), width=4, height=2)
    assert bottom == " ▄██"
    assert top == "   █"
    top, bottom = chart_rows((2.0, 3.0), width=4, height=2)  # 3 is the top: 16 eighths
    assert (top, bottom) == ("  ▃█", "  ██")


def test_only_the_newest_points_that_fit_are_drawn() -> None:
    points = tuple(float(n) for n in range(100))
    (row,) = chart_rows(points, width=8, height=1)
    assert len(row) == 8
    assert row[-1] == "█"  # 99, the newest and tallest
    assert row[0] == "▇"  # 92 of 99 is about 7.4 eighths


def test_zero_draws_nothing_and_bad_sizes_draw_nothing() -> None:
    assert chart_rows((0.0, 0.0, 0.0), width=5, height=2) == ("     ", "     ")
    assert chart_rows((0.0,) * 9, width=5, height=2) == chart_rows((0.0,) * 3, 5, 2)
    assert chart_rows((-5.0, 5.0), width=2, height=1) == (" █",)
    assert chart_rows((1.0,), width=0, height=2) == ()
    assert chart_rows((1.0,), width=3, height=0) == ()
