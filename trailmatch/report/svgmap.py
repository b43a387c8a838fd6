"""Inline SVG maps of a hit: the path through the window around the crime, drawn to scale.

Drawn directly in the metric working CRS (grid north up, equal scale on both axes), so circles
are circles and the scale bar is exact. No tiles, fonts or scripts: nothing is fetched.
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


def svg_map(ev: HitEvidence, cx: float, cy: float, radius: float, extent: tuple, *,
            title: str, width: int = 340, height: int = 300, label_fixes: bool = False,
            map_id: str = "m") -> str:
    """One map: grid, vicinity circle, path (gaps dotted), fixes with confidence circles, fixes
    in the vicinity highlighted (numbered when ``label_fixes``), closest approach, scale bar."""
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

    out = [f'<svg class="map" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}">',
           f'<defs><clipPath id="{map_id}-clip"><rect x="0" y="0" width="{width}" '
           f'height="{height}"/></clipPath></defs>',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fbfbf8" '
           f'stroke="#999"/>',
           f'<g clip-path="url(#{map_id}-clip)">']
    # Grid lines every "nice" distance, so distances can be read off the map.
    step = _nice((width / scale) / 5)
    gx = math.floor((mx - width / 2 / scale) / step) * step
    while gx <= mx + width / 2 / scale:
        out.append(f'<line x1="{px(gx):.1f}" y1="0" x2="{px(gx):.1f}" y2="{height}" '
                   f'stroke="{COLORS["grid"]}" stroke-width="1"/>')
        gx += step
    gy = math.floor((my - height / 2 / scale) / step) * step
    while gy <= my + height / 2 / scale:
        out.append(f'<line x1="0" y1="{py(gy):.1f}" x2="{width}" y2="{py(gy):.1f}" '
                   f'stroke="{COLORS["grid"]}" stroke-width="1"/>')
        gy += step

    out.append(f'<circle cx="{px(cx):.1f}" cy="{py(cy):.1f}" r="{radius * scale:.1f}" '
               f'fill="{COLORS["vicinity"]}" fill-opacity="0.08" stroke="{COLORS["vicinity"]}" '
               f'stroke-width="1.5" stroke-dasharray="5,3"/>')

    path = ev.arrays
    xs, ys = px(path["x"]), py(path["y"])
    # Only what can show: fixes in or near the frame, and the neighbours that draw lines into it.
    # A symbol is drawn when it can be seen: fixes in the frame (with a dot's margin), and
    # both ends of every segment whose box meets the frame (a segment can cross the frame
    # with no fix inside it: the closest approach often lies on one).
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
    prec = path["precision_m"]
    # Many symbols of one style share it through a group: a long path's fixes cost bytes and
    # drawing time per element, and a report carries hundreds of maps.
    # A confidence circle no larger than the fix's dot (radius 2.6) is hidden under it: only
    # larger ones that reach into the frame are drawn.
    r = np.where(np.isfinite(prec), prec * scale, 0.0)
    seen = (r > 2.6) & (xs + r > 0) & (xs - r < width) & (ys + r > 0) & (ys - r < height)
    rings = [f'<circle cx="{xs[i]:.1f}" cy="{ys[i]:.1f}" r="{r[i]:.1f}"/>'
             for i in np.flatnonzero(seen)]
    if rings:
        out.append(f'<g fill="none" stroke="{COLORS["confidence"]}" stroke-opacity="0.25" '
                   f'stroke-width="0.8">{"".join(rings)}</g>')
    joined = path["joined_to_previous"]
    run: list[str] = []
    for i in range(ev.n):
        if not shown[i]:
            if len(run) > 1:
                out.append(_polyline(run))
            run = []
            continue
        if i > 0 and not joined[i] and shown[i - 1]:
            out.append(f'<line x1="{xs[i - 1]:.1f}" y1="{ys[i - 1]:.1f}" x2="{xs[i]:.1f}" '
                       f'y2="{ys[i]:.1f}" stroke="{COLORS["gap"]}" stroke-width="1.2" '
                       f'stroke-dasharray="2,3"/>')
            if len(run) > 1:
                out.append(_polyline(run))
            run = []
        run.append(f"{xs[i]:.1f},{ys[i]:.1f}")
    if len(run) > 1:
        out.append(_polyline(run))
    in_v = path["in_vicinity"]
    in_w = path["in_window"]
    # Fixes in the window: filled dots (r 2.2 + half the 0.8 stroke), drawn as the round caps
    # of zero-length strokes in one path; the two just outside the window stay hollow circles.
    dots = "".join(f"M{xs[i]:.1f} {ys[i]:.1f}h0" for i in np.flatnonzero(~in_v & inside & in_w))
    if dots:
        out.append(f'<path d="{dots}" stroke="{COLORS["fix"]}" stroke-width="5.2" '
                   f'stroke-linecap="round"/>')
    for i in np.flatnonzero(~in_v & inside & ~in_w):
        out.append(f'<circle cx="{xs[i]:.1f}" cy="{ys[i]:.1f}" r="2.2" fill="#ffffff" '
                   f'stroke="{COLORS["fix"]}" stroke-width="0.8"/>')
    seq = path["seq"]
    marks = "".join(f'<circle cx="{xs[i]:.1f}" cy="{ys[i]:.1f}" r="3.6"/>'
                    for i in np.flatnonzero(in_v))
    if marks:
        out.append(f'<g fill="{COLORS["fix_in"]}" stroke="#000" stroke-width="0.6">{marks}</g>')
    if label_fixes and in_v.sum() <= 30:
        labels = "".join(f'<text x="{xs[i] + 5:.1f}" y="{ys[i] - 4:.1f}">{int(seq[i])}</text>'
                         for i in np.flatnonzero(in_v))
        if labels:
            out.append(f'<g font-size="9" fill="#000">{labels}</g>')

    ccx, ccy = float(px(cx)), float(py(cy))
    out.append(f'<path d="M{ccx - 6:.1f},{ccy - 6:.1f} L{ccx + 6:.1f},{ccy + 6:.1f} '
               f'M{ccx - 6:.1f},{ccy + 6:.1f} L{ccx + 6:.1f},{ccy - 6:.1f}" '
               f'stroke="{COLORS["crime"]}" stroke-width="2.5"/>')
    qx, qy = ev.closest_xy
    if math.isfinite(qx) and math.isfinite(qy):
        kx, ky = float(px(qx)), float(py(qy))
        out.append(f'<line x1="{ccx:.1f}" y1="{ccy:.1f}" x2="{kx:.1f}" y2="{ky:.1f}" '
                   f'stroke="{COLORS["closest"]}" stroke-width="1" stroke-dasharray="1,2"/>')
        out.append(f'<path d="M{kx:.1f},{ky - 6:.1f} L{kx + 6:.1f},{ky:.1f} L{kx:.1f},'
                   f'{ky + 6:.1f} L{kx - 6:.1f},{ky:.1f} Z" fill="#ffd400" '
                   f'stroke="{COLORS["closest"]}" stroke-width="1.2"/>')
    out.append("</g>")

    # Scale bar (bottom left) and grid-north arrow (top right).
    bar = _nice((width / scale) / 4)
    bl = bar * scale
    out.append(f'<rect x="8" y="{height - 24}" width="{bl + 12:.1f}" height="18" fill="#fff" '
               f'fill-opacity="0.85"/>')
    out.append(f'<path d="M14,{height - 12} h{bl:.1f} M14,{height - 16} v8 M{14 + bl:.1f},'
               f'{height - 16} v8" stroke="#000" stroke-width="1.5" fill="none"/>')
    out.append(f'<text x="{14 + bl / 2:.1f}" y="{height - 15}" font-size="9" '
               f'text-anchor="middle">{_fmt_m(bar)}</text>')
    out.append(f'<path d="M{width - 16},8 l5,14 h-10 Z" fill="#000"/>'
               f'<text x="{width - 16}" y="32" font-size="9" text-anchor="middle">N</text>')
    out.append(f'<text x="8" y="14" font-size="10" font-weight="bold">{escape(title)}</text>')
    out.append("</svg>")
    return "".join(out)


def _polyline(points: list[str]) -> str:
    return (f'<polyline points="{" ".join(points)}" fill="none" stroke="{COLORS["path"]}" '
            f'stroke-width="1.6" stroke-linejoin="round"/>')


def legend_html() -> str:
    """The key to the map symbols: one small inline SVG per symbol, wrapping like text."""
    items = [
        ('<path d="M4,4 L14,14 M4,14 L14,4" stroke="{crime}" stroke-width="2.5"/>', "crime"),
        ('<circle cx="9" cy="9" r="7" fill="{vicinity}" fill-opacity="0.08" stroke="{vicinity}" '
         'stroke-dasharray="4,2"/>', "vicinity radius"),
        ('<line x1="1" y1="9" x2="17" y2="9" stroke="{path}" stroke-width="1.6"/>'
         '<circle cx="9" cy="9" r="2.2" fill="{fix}"/>', "path and fixes in the window"),
        ('<circle cx="9" cy="9" r="2.2" fill="#fff" stroke="{fix}"/>',
         "fix just outside the window"),
        ('<circle cx="9" cy="9" r="3.6" fill="{fix_in}" stroke="#000" stroke-width="0.6"/>',
         "fix in the vicinity (numbered as in the table)"),
        ('<circle cx="9" cy="9" r="7" fill="none" stroke="{confidence}" stroke-opacity="0.35"/>',
         "fix confidence circle"),
        ('<line x1="1" y1="9" x2="17" y2="9" stroke="{gap}" stroke-width="1.2" '
         'stroke-dasharray="2,3"/>', "gap: fixes not joined, not monitored"),
        ('<path d="M9,3 L15,9 L9,15 L3,9 Z" fill="#ffd400" stroke="#000"/>',
         "closest approach"),
    ]
    return "".join(
        f'<span class="key"><svg width="18" height="18" viewBox="0 0 18 18">'
        f'{symbol.format(**COLORS)}</svg> {escape(label)}</span>' for symbol, label in items)
