"""Registrations over time as a small SVG chart, built on the server (no JavaScript):
figures in, SVG text out. Pure: no database, no request; every text is escaped.

One stacked bar per day of the registration period: seats confirmed at the bottom,
seats on the waitlist on top (a registration counts on the day it was made, in its
present status). Daily bars rather than a cumulative line: organisers look for the
days demand came in (a mailing, a press article), which a running total flattens.

The picture is `role="img"`, named by its <title> and described by its <desc>, which
says the period and the totals; the page puts the day-by-day figures in a table beside
it. Texts arrive translated (`ChartTexts`); dates and numbers are formatted by Babel in
`locale`. Presentation attributes only (the CSP forbids style=)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from babel.dates import format_skeleton
from babel.numbers import format_decimal

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 44, 56  # the plot's margins
CONFIRMED_FILL = "#0033a0"
WAITING_FILL = "#b45309"
INK, GRID = "#1f2933", "#d5dae3"
MAX_DATE_LABELS = 8


@dataclass(frozen=True)
class Day:
    day: date
    confirmed_seats: int
    waiting_seats: int

    @property
    def seats(self) -> int:
        return self.confirmed_seats + self.waiting_seats


@dataclass(frozen=True)
class ChartTexts:
    """The chart's words, already in the reader's language."""

    title: str
    description: str
    confirmed: str  # the legend: "Confirmed"
    waiting: str  # "Waitlist"
    x_axis: str  # "Day registered (UTC)"
    y_axis: str  # "Seats"
    day: str  # one day's figures, with %(day)s, %(confirmed)s and %(waiting)s


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def nice_ceiling(value: int) -> tuple[int, int]:
    """(top, step) of the vertical axis: the smallest 1, 2 or 5 × 10^k step that reaches
    `value` in at most five steps, and the top it reaches (at least 1)."""
    value = max(1, value)
    magnitude = 10 ** max(0, int(math.log10(value)) - 1)
    for scale in (1, 2, 5, 10, 20, 50, 100):
        step = scale * magnitude
        if step * 5 >= value:
            return step * math.ceil(value / step), step
    raise AssertionError("unreachable: 100 × 10^(digits-1) × 5 exceeds any value")


def _number(value: int, locale: str) -> str:
    return format_decimal(value, locale=locale)


def day_label(day: date, locale: str) -> str:
    """'5 Dec' (en_GB), 'Dec 5' (en_US), '٥ ديسمبر' ...: day and short month."""
    return format_skeleton("MMMd", day, locale=locale)


def registrations_svg(days: Sequence[Day], texts: ChartTexts, *, locale: str,
                      id_prefix: str = "chart") -> str:
    """An SVG document fragment (the <svg> element) of `days` (in order, one per day of
    the period, zeros included): one <g class="chart__day"> per day holding a bar for
    each non-zero figure."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top, step = nice_ceiling(max((d.seats for d in days), default=0))
    slot = plot_w / max(1, len(days))
    bar_w = max(1.0, slot * 0.7)
    base = TOP + plot_h

    def y(value: int) -> float:
        return base - plot_h * value / top

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}"'
           f' width="{WIDTH}" height="{HEIGHT}" role="img" direction="ltr"'
           f' aria-labelledby="{_e(id_prefix)}-title {_e(id_prefix)}-desc"'
           ' font-family="system-ui, sans-serif" font-size="12">',
           f'<title id="{_e(id_prefix)}-title">{_e(texts.title)}</title>',
           f'<desc id="{_e(id_prefix)}-desc">{_e(texts.description)}</desc>']
    # Legend, above the plot.
    out.append('<g class="chart__legend">'
               f'<rect x="{LEFT}" y="12" width="12" height="12" fill="{CONFIRMED_FILL}"/>'
               f'<text x="{LEFT + 18}" y="22" fill="{INK}">{_e(texts.confirmed)}</text>'
               f'<rect x="{LEFT + 160}" y="12" width="12" height="12" fill="{WAITING_FILL}"/>'
               f'<text x="{LEFT + 178}" y="22" fill="{INK}">{_e(texts.waiting)}</text></g>')
    # Vertical axis: grid lines and their numbers.
    out.append('<g class="chart__y-axis">')
    for tick in range(0, top + 1, step):
        ty = y(tick)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}"'
                   f' stroke="{GRID}" stroke-width="1"/>'
                   f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end"'
                   f' fill="{INK}">{_e(_number(tick, locale))}</text>')
    out.append(f'<text x="14" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" fill="{INK}"'
               f' transform="rotate(-90 14 {TOP + plot_h / 2:.1f})">{_e(texts.y_axis)}</text>')
    out.append('</g>')
    # One group of bars per day.
    every = max(1, math.ceil(len(days) / MAX_DATE_LABELS))
    for i, d in enumerate(days):
        x = LEFT + i * slot + (slot - bar_w) / 2
        label = day_label(d.day, locale)
        out.append(f'<g class="chart__day" data-day="{d.day.isoformat()}">')
        tip = texts.day % {"day": label, "confirmed": _number(d.confirmed_seats, locale),
                           "waiting": _number(d.waiting_seats, locale)}
        out.append(f'<title>{_e(tip)}</title>')
        if d.confirmed_seats:
            out.append(f'<rect class="chart__bar chart__bar--confirmed" x="{x:.1f}"'
                       f' y="{y(d.confirmed_seats):.1f}" width="{bar_w:.1f}"'
                       f' height="{base - y(d.confirmed_seats):.1f}" fill="{CONFIRMED_FILL}"/>')
        if d.waiting_seats:
            out.append(f'<rect class="chart__bar chart__bar--waiting" x="{x:.1f}"'
                       f' y="{y(d.seats):.1f}" width="{bar_w:.1f}"'
                       f' height="{y(d.confirmed_seats) - y(d.seats):.1f}" fill="{WAITING_FILL}"/>')
        out.append('</g>')
        if i % every == 0:
            cx = LEFT + i * slot + slot / 2
            out.append(f'<text class="chart__date" x="{cx:.1f}" y="{base + 18}"'
                       f' text-anchor="middle" fill="{INK}">{_e(label)}</text>')
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"'
               f' stroke="{INK}" stroke-width="1"/>')
    out.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle"'
               f' fill="{INK}">{_e(texts.x_axis)}</text>')
    out.append('</svg>')
    return "".join(out)
