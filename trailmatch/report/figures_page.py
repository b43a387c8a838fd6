"""figures.html: the scheme figures as a self-contained page (inline SVG, no network) that
prints: a small trend chart per measure over the last 12 months, each with its table, then the
month's full table. The same bytes for the same figures (nothing in it says when it was made).
"""

from __future__ import annotations

import math
from html import escape

import pandas as pd

from trailmatch.figures import ALL, COHORTS, FIGURE_COLUMNS, SUPPRESSED

# (column, title, unit) of each charted measure, in the order an IOM report reads them.
MEASURES = [
    ("subjects_monitored", "Subjects monitored", ""),
    ("coverage_median", "Trail coverage (median share of monitored time)", ""),
    ("gaps", "Gaps in trails", ""),
    ("crimes_received", "Crimes received", ""),
    ("crimes_matched", "Crimes matched", ""),
    ("hits", "Hits", ""),
    ("hits_per_100_crimes", "Hits per 100 crimes matched", ""),
    ("hits_not_reviewed", "Hits not yet reviewed", ""),
    ("decision_hours_median", "Hours from hit to first decision (median)", "h"),
    ("outcomes_recorded", "Outcomes recorded", ""),
]
FORCE_LEVEL = {"crimes_received", "crimes_matched"}  # given on the cohort 'all' rows only
SERIES = [*COHORTS, ALL]
# Distinguishable in colour and in print (dash pattern).
STYLE = {"fixed": ("#1b6ca8", ""), "flex": ("#c45b00", "6 3"), "free": ("#2e7d32", "2 3"),
         "unknown": ("#6d4c9f", "8 3 2 3"), ALL: ("#111111", "")}

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; color: #111; margin: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 0 0 6px; }
.lead { color: #333; margin: 0 0 16px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr));
        gap: 16px; }
.measure { border: 1px solid #bbb; border-radius: 4px; padding: 10px; break-inside: avoid; }
table { border-collapse: collapse; font-size: 12px; width: 100%; }
th, td { border: 1px solid #ccc; padding: 2px 5px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
.legend span { margin-right: 12px; white-space: nowrap; }
.note { font-size: 12px; color: #333; }
.full table { font-size: 10px; } .full th { vertical-align: bottom; }
svg text { font: 10px system-ui, sans-serif; fill: #222; }
@page { size: A4 portrait; margin: 14mm; }
@page wide { size: A4 landscape; margin: 10mm; }
@media print { body { margin: 0; } .grid { grid-template-columns: 1fr 1fr; gap: 8px; }
  .full { break-before: page; page: wide; } .full table { font-size: 7.5px; } }
"""


def _value(v) -> float | None:
    if v is None or v is pd.NA or v == SUPPRESSED or v == "":
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f


def _cell(v) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return "–"
    if v == SUPPRESSED:
        return f'<abbr title="withheld: small count">{SUPPRESSED}</abbr>'
    if isinstance(v, float):
        return f"{v:.0f}" if v.is_integer() else f"{v:g}"
    return escape(str(v))


def _nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above ``value`` (a round axis top)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def _tick(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:.2g}"
    return f"{text}{unit}"


def _chart(months: list[str], series: dict[str, list[float | None]], unit: str) -> str:
    w, h, left, right, bottom, top = 400, 150, 48, 22, 22, 8
    values = [v for vals in series.values() for v in vals if v is not None]
    high = _nice_top(max(values) if values else 1.0)
    step = (w - left - right) / max(len(months) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top + (h - top - bottom) * (1 - v / high)

    parts = [f'<svg viewBox="0 0 {w} {h}" width="100%" role="img" '
             f'aria-label="trend over {len(months)} months">',
             f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" '
             'stroke="#888"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="#888"/>']
    for frac in (0.0, 0.5, 1.0):
        _, y = xy(0, high * frac)
        parts.append(f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end">'
                     f'{escape(_tick(high * frac, unit))}</text>')
    for i, m in enumerate(months):
        if len(months) <= 6 or i % 2 == (len(months) - 1) % 2:
            x, _ = xy(i, 0)
            parts.append(f'<text x="{x:.1f}" y="{h - 6}" text-anchor="middle">{m}</text>')
    for name, vals in series.items():
        colour, dash = STYLE[name]
        run: list[str] = []
        runs: list[list[str]] = []
        for i, v in enumerate(vals):
            if v is None:
                if run:
                    runs.append(run)
                run = []
                continue
            x, y = xy(i, v)
            run.append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.2" fill="{colour}"/>')
        if run:
            runs.append(run)
        for r in runs:
            if len(r) > 1:
                parts.append(f'<polyline points="{" ".join(r)}" fill="none" stroke="{colour}" '
                             f'stroke-width="1.6" stroke-dasharray="{dash}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(names: list[str]) -> str:
    items = []
    for name in names:
        colour, dash = STYLE[name]
        items.append(f'<span><svg width="26" height="8" aria-hidden="true"><line x1="0" y1="4" '
                     f'x2="26" y2="4" stroke="{colour}" stroke-width="2" '
                     f'stroke-dasharray="{dash}"/></svg> {escape(name)}</span>')
    return f'<p class="legend">{"".join(items)}</p>'


def render_figures(trend: pd.DataFrame, month: str, *, scope: str, published: bool,
                   threshold: int) -> str:
    """The page for ``month``: ``trend`` holds the figures of every month charted (the rows of
    ``scope``: a force, or ``all`` for the total over forces), ``month`` the last of them."""
    months = sorted(trend["month"].unique())
    rows = trend[trend["police_force"] == scope]
    cells = {(r.month, r.cohort): r for r in rows.itertuples(index=False)}
    blocks = []
    for col, title, unit in MEASURES:
        names = [ALL] if col in FORCE_LEVEL else SERIES
        series = {n: [_value(getattr(cells[(m, n)], col)) if (m, n) in cells else None
                      for m in months] for n in names}
        head = "".join(f"<th>{escape(n)}</th>" for n in names)
        body = "".join(
            f"<tr><td>{m}</td>" + "".join(
                f"<td>{_cell(getattr(cells[(m, n)], col)) if (m, n) in cells else '–'}</td>"
                for n in names) + "</tr>" for m in months)
        blocks.append(f'<section class="measure"><h2>{escape(title)}</h2>'
                      f"{_chart(months, series, unit)}"
                      f"<table><thead><tr><th>month</th>{head}</tr></thead>"
                      f"<tbody>{body}</tbody></table></section>")
    current = trend[(trend["month"] == month)]
    head = "".join(f"<th>{escape(c).replace('_', '_<wbr>')}</th>" for c in FIGURE_COLUMNS
                   if c != "month")
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for c, v in r.items()
                                    if c != "month") + "</tr>"
                   for _, r in current[FIGURE_COLUMNS].iterrows())
    where = "all forces" if scope == ALL else scope
    control = (f"Counts from 1 to {threshold - 1} are withheld ({SUPPRESSED}), with the cells "
               "that would let them be worked out from the totals; rates and medians over a "
               "withheld or small count are withheld too." if published else
               "Unsuppressed figures: for the processing team only, not for publication.")
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>trailmatch scheme figures {escape(month)} — {escape(where)}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<h1>GPS trail monitoring: scheme figures, {escape(month)}</h1>"
        f'<p class="lead">{escape(where)}; trends over {len(months)} months. Definitions: '
        "docs/figures.md. Monitoring from the trail store, casework from the hit store; a "
        "crime and its hits belong to the month the crime was first received.</p>"
        f'<p class="note">{escape(control)}</p>'
        f"{_legend(SERIES)}"
        f'<div class="grid">{"".join(blocks)}</div>'
        f'<section class="full"><h2>All figures, {escape(month)}</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>"
        "</body></html>\n")
