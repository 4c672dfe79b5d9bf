"""The day's takings by hour as an inline SVG, drawn on the server (no script, no library, no CDN).

Bars are the chosen day's paid amounts per hour of payment (store time zone);
the line is the average of the same weekday in the weeks before, so "is today
slow?" is answered at a glance. Only the hours the shop trades in (any takings
on any of those days, padded by an hour) are drawn, so a 08:00-22:00 shop does
not get a chart that is mostly empty night. Colours and fonts come from the
page's stylesheet (classes), which the till's Content-Security-Policy allows;
the numbers a person may want exactly are in each bar's <title> (hover, or a
screen reader).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from pos.money import format_price

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 16, 28


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 2.5, 5 x 10^n fen at or above ``value`` (the axis top)."""
    if value <= 0:
        return 100
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return int(step * magnitude)
    return 10 * magnitude  # pragma: no cover


def trading_hours(day: Sequence[int], earlier: Sequence[Sequence[int]]) -> range:
    """The hours with any takings on the day or the earlier days, one hour either side (0-23)."""
    used = [h for h in range(24) if day[h] or any(other[h] for other in earlier)]
    if not used:
        return range(8, 22)
    return range(max(0, used[0] - 1), min(24, used[-1] + 2))


def takings_svg(
    day: Sequence[int], earlier: Sequence[Sequence[int]], *, label: str, earlier_label: str
) -> str:
    """The SVG element (a string, already escaped) for 24 hourly amounts in fen and the earlier days'."""
    average = [sum(other[h] for other in earlier) / len(earlier) if earlier else 0 for h in range(24)]
    hours = trading_hours(day, earlier)
    top = nice_ceiling(max([day[h] for h in hours] + [int(average[h] + 0.5) for h in hours] + [0]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(hours)

    def y(fen: float) -> float:
        return TOP + plot_h - plot_h * fen / top

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    for fraction in (0, 0.5, 1):
        level = top * fraction
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(level):.1f}" y2="{y(level):.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y(level) + 4:.1f}" text-anchor="end">'
            f"{escape(_short_price(int(level)))}</text>"
        )
    for i, hour in enumerate(hours):
        x = LEFT + i * slot
        fen = day[hour]
        if fen:
            bar_y = y(fen)
            parts.append(
                f'<rect class="bar" x="{x + slot * 0.15:.1f}" y="{bar_y:.1f}" width="{slot * 0.7:.1f}" '
                f'height="{TOP + plot_h - bar_y:.1f}"><title>{hour:02d}:00 {escape(format_price(fen))}'
                f"</title></rect>"
            )
        if hour % 2 == 0 or len(hours) <= 12:
            parts.append(
                f'<text class="axis" x="{x + slot / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                f"{hour:02d}</text>"
            )
    if earlier:
        points = " ".join(f"{LEFT + (i + 0.5) * slot:.1f},{y(average[h]):.1f}" for i, h in enumerate(hours))
        parts.append(
            f'<polyline class="line" points="{points}"><title>{escape(earlier_label)}</title></polyline>'
        )
        for i, h in enumerate(hours):
            parts.append(
                f'<circle class="dot" cx="{LEFT + (i + 0.5) * slot:.1f}" cy="{y(average[h]):.1f}" r="3">'
                f"<title>{h:02d}:00 {escape(earlier_label)} "
                f"{escape(format_price(int(average[h] + 0.5)))}</title>"
                "</circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _short_price(fen: int) -> str:
    """Axis labels: ￥1.2万 would be ambiguous across languages, so whole yuan with separators."""
    return f"￥{fen // 100:,}"
