"""Inline SVG maps of a hit: the path through the window around the crime, drawn to scale.

Drawn directly in the metric working CRS (grid north up, equal scale on both axes), so circles
are circles and the scale bar is exact. No tiles, fonts or scripts: nothing is fetched.

A report carries two maps per hit, hundreds of hits per force, so every byte of a map is paid
hundreds of times. The styles live once in the document's CSS (``MAP_CSS``, classes on the
elements), the fix dot is one shared marker and the key's symbols are drawn once
(``MAP_DEFS``, emitted once at the top of the document); a map carries only its geometry, in
whole pixels (a pixel is 0.3 mm printed), as relative path data, and a vertex that falls on the
pixel of the one before adds nothing it would draw.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np

from trailmatch.evidence import HitEvidence

COLORS = {
    "path": "#1f4e9c", "gap": "#8a8a8a", "fix": "#1f4e9c", "fix_in": "#d35400",
    "confidence": "#1f4e9c", "crime": "#b00020", "vicinity": "#b00020", "closest": "#000000",
    "grid": "#e4e4e4",
}
DOT_R = 2.6  # a fix's dot (its radius as drawn, stroke included)

# Every map's styles, once per document (``render_report`` puts them in its <style>).
MAP_CSS = f"""
svg.map {{ overflow: hidden; }}
svg.map .bg {{ fill: #fbfbf8; stroke: #999; }}
svg.map .grid {{ fill: none; stroke: {COLORS["grid"]}; stroke-width: 1; }}
svg.map .vic {{ fill: {COLORS["vicinity"]}; fill-opacity: 0.08; stroke: {COLORS["vicinity"]};
  stroke-width: 1.5; stroke-dasharray: 5 3; }}
svg.map .ring {{ fill: none; stroke: {COLORS["confidence"]}; stroke-opacity: 0.25;
  stroke-width: 0.8; }}
svg.map .path {{ fill: none; stroke: {COLORS["path"]}; stroke-width: 1.6;
  stroke-linejoin: round; marker: url(#tm-fix); }}
svg.map .gap {{ fill: none; stroke: {COLORS["gap"]}; stroke-width: 1.2;
  stroke-dasharray: 2 3; }}
svg.map .edge {{ fill: #fff; stroke: {COLORS["fix"]}; stroke-width: 0.8; }}
svg.map .in {{ fill: {COLORS["fix_in"]}; stroke: #000; stroke-width: 0.6; }}
svg.map .crime {{ fill: none; stroke: {COLORS["crime"]}; stroke-width: 2.5; }}
svg.map .reach {{ fill: none; stroke: {COLORS["closest"]}; stroke-width: 1;
  stroke-dasharray: 1 2; }}
svg.map .closest {{ fill: #ffd400; stroke: {COLORS["closest"]}; stroke-width: 1.2; }}
svg.map .bar {{ fill: none; stroke: #000; stroke-width: 1.5; }}
svg.map .barbg {{ fill: #fff; fill-opacity: 0.85; }}
svg.map text {{ font-size: 9px; }}
svg.map text.mid {{ text-anchor: middle; }}
svg.map text.title {{ font-size: 10px; font-weight: bold; }}
svg.map .north {{ fill: #000; }}
"""

# Shared by every map and key of the document: the fix dot (a marker on every vertex of the
# path) and the key's symbols.
_KEY_SYMBOLS = [  # drawn once, so styled in place (a <use> copy does not see MAP_CSS)
    ('<path d="M4,4 L14,14 M4,14 L14,4" stroke="{crime}" stroke-width="2.5"/>', "crime"),
    ('<circle cx="9" cy="9" r="7" fill="{vicinity}" fill-opacity="0.08" stroke="{vicinity}" '
     'stroke-dasharray="4,2"/>', "vicinity radius"),
    ('<line x1="1" y1="9" x2="17" y2="9" stroke="{path}" stroke-width="1.6"/>'
     '<circle cx="9" cy="9" r="2.6" fill="{fix}"/>', "path and fixes in the window"),
    ('<circle cx="9" cy="9" r="2.2" fill="#fff" stroke="{fix}" stroke-width="0.8"/>',
     "fix just outside the window"),
    ('<circle cx="9" cy="9" r="3.6" fill="{fix_in}" stroke="#000" stroke-width="0.6"/>',
     "fix in the vicinity (numbered)"),
    ('<circle cx="9" cy="9" r="7" fill="none" stroke="{confidence}" stroke-opacity="0.35"/>',
     "fix confidence circle"),
    ('<line x1="1" y1="9" x2="17" y2="9" stroke="{gap}" stroke-width="1.2" '
     'stroke-dasharray="2,3"/>', "gap: not joined, not monitored"),
    ('<path d="M9,3 L15,9 L9,15 L3,9 Z" fill="#ffd400" stroke="#000"/>',
     "closest approach"),
]
LEGEND_W, LEGEND_H = 656, 46  # the key: three rows of three symbols and their labels
# the symbols, in reading order (row by row)
_KEY_ORDER = (0, 1, 7, 2, 3, 5, 4, 6)


def _key_symbol() -> str:
    """The whole key as one symbol, so each hit's key is one <use>."""
    items = []
    for k, i in enumerate(_KEY_ORDER):
        symbol, label = _KEY_SYMBOLS[i]
        x, y = (k % 3) * 220, (k // 3) * 15
        items.append(f'<svg x="{x}" y="{y}" width="16" height="16" viewBox="0 0 18 18">'
                     f'{symbol.format(**COLORS)}</svg>'
                     f'<text x="{x + 20}" y="{y + 12}">{escape(label)}</text>')
    return (f'<symbol id="tm-key" viewBox="0 0 {LEGEND_W} {LEGEND_H}" font-size="10" '
            f'font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" fill="#111">'
            f'{"".join(items)}</symbol>')


MAP_DEFS = (
    '<svg class="map defs" width="0" height="0" aria-hidden="true" '
    'style="position:absolute"><defs>'
    f'<marker id="tm-fix" viewBox="-3 -3 6 6" markerWidth="6" markerHeight="6" '
    f'markerUnits="userSpaceOnUse"><circle r="{DOT_R}" fill="{COLORS["fix"]}"/></marker>'
    + _key_symbol() + "</defs></svg>")


def _nice(step: float) -> float:
    """The largest 1/2/5 x 10^k not above ``step``."""
    if step <= 0 or not math.isfinite(step):
        return 1.0
    k = 10 ** math.floor(math.log10(step))
    for m in (5, 2, 1):
        if m * k <= step:
            return m * k
    return k


def _fmt_m(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def extent_overview(ev: HitEvidence, cx: float, cy: float, radius: float) -> tuple:
    xs = np.concatenate([ev.arrays["x"], [cx - radius, cx + radius]])
    ys = np.concatenate([ev.arrays["y"], [cy - radius, cy + radius]])
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def extent_detail(ev: HitEvidence, cx: float, cy: float, radius: float,
                  min_distance: float) -> tuple:
    near = ev.fixes_in_arrays["distance_m"]
    far = float(near.max()) if near.size else 0.0
    half = max(1.5 * radius, 1.15 * far, 1.3 * min_distance)
    return cx - half, cy - half, cx + half, cy + half


def _runs_path(ix: np.ndarray, iy: np.ndarray, runs: list[tuple[int, int]]) -> str:
    """Path data of polylines through the pixels ``ix/iy[a:b]`` of each run: absolute move,
    then relative lines; a vertex on the pixel of the vertex before it is left out."""
    out = []
    for a, b in runs:
        x, y = ix[a:b], iy[a:b]
        keep = np.ones(x.size, bool)
        keep[1:] = (x[1:] != x[:-1]) | (y[1:] != y[:-1])
        x, y = x[keep], y[keep]
        if x.size < 2:
            out.append(f"M{x[0]} {y[0]}h0")
            continue
        d = np.column_stack([np.diff(x), np.diff(y)]).ravel().tolist()
        # "l3 -2 1 0" written "l3-2 1 0": a minus sign separates numbers by itself
        out.append(f"M{x[0]} {y[0]}l" + " ".join(map(str, d)).replace(" -", "-"))
    return "".join(out)


def svg_map(ev: HitEvidence, cx: float, cy: float, radius: float, extent: tuple, *,
            title: str, width: int = 340, height: int = 300,
            label_fixes: bool = False) -> str:
    """One map: grid, vicinity circle, path (gaps dotted), fixes with confidence circles, fixes
    in the vicinity highlighted (numbered when ``label_fixes``), closest approach, scale bar.
    Styles and the fix dot come from ``MAP_CSS`` and ``MAP_DEFS`` (once per document)."""
    x0, y0, x1, y1 = extent
    pad = 0.08
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    x0, x1, y0, y1 = x0 - pad * w, x1 + pad * w, y0 - pad * h, y1 + pad * h
    # Equal scale on both axes: grow the shorter side to the SVG's aspect ratio.
    scale = min(width / (x1 - x0), height / (y1 - y0))
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2

    def px(x):
        return width / 2 + (np.asarray(x) - mx) * scale

    def py(y):
        return height / 2 - (np.asarray(y) - my) * scale

    out = [f'<svg class="map" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
           f'<rect class="bg" width="{width}" height="{height}"/>']
    # Grid lines every "nice" distance, so distances can be read off the map.
    step = _nice((width / scale) / 5)
    k0 = math.floor((mx - width / 2 / scale) / step)
    gx = px((k0 + np.arange(int((mx + width / 2 / scale) / step - k0) + 1)) * step)
    k0 = math.floor((my - height / 2 / scale) / step)
    gy = py((k0 + np.arange(int((my + height / 2 / scale) / step - k0) + 1)) * step)
    grid = [f"M{v} 0v{height}" for v in np.round(gx).astype(np.int64).tolist()]
    grid += [f"M0 {v}h{width}" for v in np.round(gy).astype(np.int64).tolist()]
    out.append(f'<path class="grid" d="{"".join(grid)}"/>')
    out.append(f'<circle class="vic" cx="{px(cx):.0f}" cy="{py(cy):.0f}" '
               f'r="{radius * scale:.1f}"/>')

    path = ev.arrays
    xs, ys = px(path["x"]), py(path["y"])
    # Only what can show: fixes in the frame (with a dot's margin), and both ends of every
    # segment whose box meets the frame (a segment can cross the frame with no fix inside
    # it: the closest approach often lies on one).
    margin = 6.0
    inside = (xs > -margin) & (xs < width + margin) & (ys > -margin) & (ys < height + margin)
    shown = inside.copy()
    if xs.size > 1:
        crosses = ((np.maximum(xs[1:], xs[:-1]) > -margin)
                   & (np.minimum(xs[1:], xs[:-1]) < width + margin)
                   & (np.maximum(ys[1:], ys[:-1]) > -margin)
                   & (np.minimum(ys[1:], ys[:-1]) < height + margin))
        shown[1:] |= crosses
        shown[:-1] |= crosses
    # Whole pixels, clamped far outside the frame (a far fix still points the right way).
    ix = np.clip(np.round(xs), -5 * width, 6 * width).astype(np.int64)
    iy = np.clip(np.round(ys), -5 * height, 6 * height).astype(np.int64)
    prec = path["precision_m"]
    # A confidence circle no larger than the fix's dot is hidden under it: only larger ones
    # that reach into the frame are drawn.
    r = np.where(np.isfinite(prec), prec * scale, 0.0)
    seen = (r > DOT_R) & (xs + r > 0) & (xs - r < width) & (ys + r > 0) & (ys - r < height)
    rings = [f'<circle cx="{ix[i]}" cy="{iy[i]}" r="{r[i]:.0f}"/>'
             for i in np.flatnonzero(seen)]
    if rings:
        out.append(f'<g class="ring">{"".join(rings)}</g>')
    # Runs of shown, joined fixes: one path, a dot (marker) on every vertex; a gap between
    # two shown fixes is a dotted line.
    joined = np.asarray(path["joined_to_previous"], bool)
    cut = np.ones(ev.n, bool)  # a run starts here
    if ev.n > 1:
        cut[1:] = ~(joined[1:] & shown[1:] & shown[:-1])
    starts = np.flatnonzero(cut)
    ends = np.append(starts[1:], ev.n)
    runs = [(int(a), int(b)) for a, b in zip(starts, ends, strict=True) if shown[a]]
    gaps = np.flatnonzero(~joined[1:] & shown[1:] & shown[:-1]) + 1 if ev.n > 1 else []
    if len(gaps):
        d = "".join(f"M{ix[i - 1]} {iy[i - 1]}L{ix[i]} {iy[i]}" for i in gaps)
        out.append(f'<path class="gap" d="{d}"/>')
    if runs:
        out.append(f'<path class="path" d="{_runs_path(ix, iy, runs)}"/>')
    in_v = np.asarray(path["in_vicinity"], bool)
    in_w = np.asarray(path["in_window"], bool)
    # The fix either side of the window: hollow, over its dot.
    edge = "".join(f'<circle cx="{ix[i]}" cy="{iy[i]}" r="2.2"/>'
                   for i in np.flatnonzero(~in_v & inside & ~in_w))
    if edge:
        out.append(f'<g class="edge">{edge}</g>')
    seq = path["seq"]
    marks = "".join(f'<circle cx="{ix[i]}" cy="{iy[i]}" r="3.6"/>'
                    for i in np.flatnonzero(in_v & inside))
    if marks:
        out.append(f'<g class="in">{marks}</g>')
    if label_fixes and in_v.sum() <= 30:
        labels = "".join(f'<text x="{ix[i] + 5}" y="{iy[i] - 4}">{int(seq[i])}</text>'
                         for i in np.flatnonzero(in_v & inside))
        if labels:
            out.append(f"<g>{labels}</g>")

    ccx, ccy = round(float(px(cx))), round(float(py(cy)))
    out.append(f'<path class="crime" d="M{ccx - 6} {ccy - 6}l12 12m-12 0l12-12"/>')
    qx, qy = ev.closest_xy
    if math.isfinite(qx) and math.isfinite(qy):
        kx, ky = round(float(px(qx))), round(float(py(qy)))
        out.append(f'<path class="reach" d="M{ccx} {ccy}L{kx} {ky}"/>'
                   f'<path class="closest" d="M{kx} {ky - 6}l6 6-6 6-6-6z"/>')

    # Scale bar (bottom left) and grid-north arrow (top right).
    bar = _nice((width / scale) / 4)
    bl = bar * scale
    out.append(f'<rect class="barbg" x="8" y="{height - 24}" width="{bl + 12:.0f}" '
               f'height="18"/>'
               f'<path class="bar" d="M14 {height - 12}h{bl:.1f}M14 {height - 16}v8'
               f'M{14 + bl:.1f} {height - 16}v8"/>'
               f'<text class="mid" x="{14 + bl / 2:.0f}" y="{height - 15}">{_fmt_m(bar)}'
               f'</text>'
               f'<path class="north" d="M{width - 16} 8l5 14h-10z"/>'
               f'<text class="mid" x="{width - 16}" y="32">N</text>'
               f'<text class="title" x="8" y="14">{escape(title)}</text></svg>')
    return "".join(out)


def legend_html() -> str:
    """The key to the map symbols (drawn once in ``MAP_DEFS``)."""
    return (f'<svg class="key" width="{LEGEND_W}" height="{LEGEND_H}" '
            f'viewBox="0 0 {LEGEND_W} {LEGEND_H}" role="img" aria-label="Key to the maps">'
            f'<use href="#tm-key"/></svg>')
