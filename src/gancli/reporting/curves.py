"""curves.png: loss and score curves against iteration, drawn with Pillow (no plotting dependency)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from gancli.fsutil import atomic_write_bytes

PANELS = (
    ("Losses", (("loss_d", "D loss", (214, 39, 40)), ("loss_g", "G loss", (31, 119, 180)))),
    ("Scores", (("score_d", "D score", (214, 39, 40)), ("score_g", "G score", (31, 119, 180)))),
)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    if not (raw > 0 and math.isfinite(raw)):  # a span below float resolution (or beyond its range)
        return [lo]
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _plottable(value: Any) -> bool:
    """A number a chart can place: finite and not absurd (a damaged metrics line may hold 1e308)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) < 1e100
    )


def _panel(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str, series, records, font, small
) -> None:
    left, top, right, bottom = box
    xs = [r["iteration"] for r in records]
    values = [r[k] for r in records for k, _, _ in series if _plottable(r.get(k))]
    if not xs or not values:
        return
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    y0, y1 = min(values), max(values)
    # 5% of the span, but never a pad lost in float rounding (one value of 1e16, or a span of 1e-320)
    pad = max((y1 - y0) * 0.05, max(abs(y0), abs(y1)) * 1e-6, 1e-9) if y1 > y0 else max(abs(y0) * 0.05, 0.5)
    y0, y1 = y0 - pad, y1 + pad
    draw.rectangle(box, outline=(90, 90, 90))
    draw.text((left, top - 22), title, fill=(20, 20, 20), font=font)

    def to_px(x: float, y: float) -> tuple[float, float]:
        return left + (x - x0) / (x1 - x0) * (right - left), bottom - (y - y0) / (y1 - y0) * (bottom - top)

    for tick in _nice_ticks(y0, y1):
        _, py = to_px(x0, tick)
        draw.line((left, py, right, py), fill=(230, 230, 230))
        draw.text((left - 6, py), f"{tick:g}", fill=(60, 60, 60), font=small, anchor="rm")
    for tick in _nice_ticks(x0, x1):
        px, _ = to_px(tick, y0)
        draw.line((px, bottom, px, bottom + 4), fill=(90, 90, 90))
        label = f"{int(tick):,}" if float(tick).is_integer() else f"{tick:g}"  # 2.5 is not "2"
        draw.text((px, bottom + 6), label, fill=(60, 60, 60), font=small, anchor="mt")
    for i, (key, label, colour) in enumerate(series):
        points = [to_px(r["iteration"], r[key]) for r in records if _plottable(r.get(key))]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        elif points:
            draw.ellipse(
                (points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2), fill=colour
            )
        lx = right - 150 + i * 75
        draw.line((lx, top - 12, lx + 18, top - 12), fill=colour, width=3)
        draw.text((lx + 22, top - 12), label, fill=(20, 20, 20), font=small, anchor="lm")


def render_curves(records: list[dict[str, Any]], width: int = 960, height: int = 640) -> Image.Image:
    """A two-panel chart (losses, scores) of metrics records."""
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    font, small = _font(16), _font(12)
    # below the lower panel: its tick labels (6 px down, about 14 tall), a gap, then the axis label
    panel_h = (height - 130) // 2
    for i, (title, series) in enumerate(PANELS):
        top = 40 + i * (panel_h + 45)
        _panel(draw, (70, top, width - 20, top + panel_h), title, series, records, font, small)
    draw.text((width // 2, height - 4), "iteration", fill=(20, 20, 20), font=small, anchor="mb")
    return img


def write_curves(records: list[dict[str, Any]], out: Path) -> Path | None:
    """Render and write curves.png atomically (nothing when there are no records)."""
    if not records:
        return None
    buffer = io.BytesIO()
    render_curves(records).save(buffer, format="PNG")
    atomic_write_bytes(out, buffer.getvalue())
    return out
