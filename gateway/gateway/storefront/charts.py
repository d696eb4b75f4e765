"""The sales chart, drawn on the server as SVG: no script, nothing loaded from elsewhere."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

WIDTH, HEIGHT = 640, 240
MARGIN = {"left": 64, "right": 16, "top": 16, "bottom": 40}


def revenue_by_day(rows: Iterable[Mapping[str, Any]]) -> str | None:
    """A bar per day of the report, its height the day's revenue over every product; None
    when there is nothing to draw."""
    per_day: dict[str, int] = defaultdict(int)
    for row in rows:
        per_day[str(row["day"])] += int(row["revenue_cents"])
    if not per_day:
        return None
    days = sorted(per_day)
    top = max(max(per_day.values()), 1)
    inner_w = WIDTH - MARGIN["left"] - MARGIN["right"]
    inner_h = HEIGHT - MARGIN["top"] - MARGIN["bottom"]
    step = inner_w / len(days)
    bar = max(step * 0.7, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'role="img" aria-labelledby="chart-title" class="chart">',
        '<title id="chart-title">Revenue per day</title>',
        f'<text x="{MARGIN["left"] - 8}" y="{MARGIN["top"] + 10}" text-anchor="end">'
        f"{top / 100:,.0f}</text>",
        f'<text x="{MARGIN["left"] - 8}" y="{HEIGHT - MARGIN["bottom"]}" '
        'text-anchor="end">0</text>',
    ]
    for index, day in enumerate(days):
        value = max(per_day[day], 0)
        height = inner_h * value / top
        x = MARGIN["left"] + index * step + (step - bar) / 2
        y = MARGIN["top"] + inner_h - height
        label = escape(f"{day}: {value / 100:,.2f}")
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}">'
            f"<title>{label}</title></rect>"
        )
    for index in {0, len(days) - 1}:
        x = MARGIN["left"] + index * step + step / 2
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 12}" text-anchor="middle">{escape(days[index])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
