"""curves.png: drawn from any records, with finite and non-finite values alike."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from gancli.reporting.curves import _nice_ticks, render_curves, write_curves


def _records(n: int) -> list[dict]:
    return [
        {"iteration": i, "loss_d": 1.0 / i, "loss_g": 2.0 - 1.0 / i, "score_d": 0.5, "score_g": 0.1 * (i % 3)}
        for i in range(1, n + 1)
    ]


def test_curves_draw_each_series_in_its_colour(tmp_path):
    out = write_curves(_records(50), tmp_path / "curves.png")
    with Image.open(out) as img:
        pixels = np.asarray(img.convert("RGB")).reshape(-1, 3)
    colours = {tuple(p) for p in pixels}
    assert (214, 39, 40) in colours and (31, 119, 180) in colours  # D and G lines


def test_no_records_write_nothing(tmp_path):
    assert write_curves([], tmp_path / "curves.png") is None
    assert not (tmp_path / "curves.png").exists()


def test_non_finite_and_missing_values_do_not_break_the_drawing():
    records = _records(5) + [
        {"iteration": 6, "loss_d": math.nan, "loss_g": math.inf, "score_d": -math.inf},
        {"iteration": 7, "loss_d": 1e308, "loss_g": -1e308, "score_d": "text", "score_g": None},
    ]
    img = render_curves(records, width=400, height=300)
    assert img.size == (400, 300)


def test_ticks_are_round_and_cover_the_range():
    ticks = _nice_ticks(0.13, 0.92)
    assert ticks[0] >= 0.13 and ticks[-1] <= 0.92 and len(ticks) >= 3
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1 and steps.pop() in (0.1, 0.2, 0.25)
    assert _nice_ticks(5.0, 5.0)  # a flat series still gets a tick


def test_the_axis_label_stands_apart_from_the_tick_labels_on_a_short_run():
    # a 21-iteration run puts a tick at the middle, under the "iteration" label
    rows = np.asarray(render_curves(_records(21)).convert("L"))[-60:]
    inked = [bool((row < 200).any()) for row in rows]
    bands = sum(1 for i, ink in enumerate(inked) if ink and (i == 0 or not inked[i - 1]))
    assert bands >= 2  # the tick labels, a blank row, then the axis label (or the panel above)
    last = max(i for i, ink in enumerate(inked) if ink)
    first_of_label = max(i for i in range(last + 1) if not inked[i]) + 1
    ticks = [i for i in range(first_of_label) if inked[i]]
    assert ticks and first_of_label - max(ticks) >= 3  # at least 2 blank rows between them
