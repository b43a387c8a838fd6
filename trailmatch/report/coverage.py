"""The coverage section of ``report.html``: per crime, who was excluded and who cannot be, and
why (``trailmatch.eliminate``). Plugged into ``render_report(extra_sections=...)``."""

from __future__ import annotations

import math
from html import escape

import pandas as pd

from trailmatch.report.html import fmt_num, fmt_time
from trailmatch.rules import Rules


def _subjects(rows: list[dict], note=None) -> str:
    names = [escape(str(r["subject"])) + (f" ({note(r)})" if note else "") for r in rows]
    return ", ".join(names) if names else "none"


def _by_speed(r: dict) -> tuple:
    """Least speed needed first (unknown last), then subject: as pandas' sort_values did."""
    v = float(r["min_speed_needed_mps"])
    return (math.isnan(v), 0.0 if math.isnan(v) else v, r["subject"])


def coverage_section(crimes: list[dict], coverage: pd.DataFrame, rules: Rules) -> str:
    """HTML for every crime of the batch (``crimes``: dicts with ``id``, ``crime_reference``,
    ``police_force``), from the coverage rows of those crimes."""
    v = rules.max_speed_mps
    parts = [
        "<section class='crime' id='coverage'><h2>Coverage and elimination</h2>",
        "<p>For each crime, every subject known to the system is in one of four groups. "
        "<strong>Hit</strong>: in the vicinity (above). <strong>Excluded</strong>: no hit, and "
        "in every interval of the window when the tag gave no position (a gap longer than "
        f"{rules.max_gap_s:g} s), the subject could not have reached the vicinity from its fix "
        f"before the gap and still reached its fix after it, moving at {v:g} m/s "
        f"({v * 3.6:g} km/h) at most: with the fixes as recorded it could not have been there. "
        "<strong>Cannot be excluded</strong>: no hit, but at least one such gap leaves time "
        "to have been there; the gap needing the least speed is shown. <strong>Not "
        "monitored</strong>: the window is not wholly inside the subject's monitoring "
        "(device activation, or first to last fix); nothing can be said.</p>"]
    if coverage is None or coverage.empty:
        parts.append("<p>No coverage was computed for this batch.</p></section>")
        return "".join(parts)
    cov = coverage.assign(crime_reference=coverage["crime_reference"].astype(str),
                          police_force=coverage["police_force"].astype(str),
                          status=coverage["status"].astype(str),
                          subject=coverage["subject"].astype(str))
    # Plain records bucketed once: per-crime DataFrame filtering cost seconds per batch.
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in cov.to_dict("records"):
        groups.setdefault((r["police_force"], r["crime_reference"]), []).append(r)
    for c in crimes:
        rows = groups.get((str(c["police_force"]), str(c["crime_reference"])))
        parts.append(f"<h3>Crime {escape(str(c['crime_reference']))}</h3>")
        if rows is None:
            parts.append("<p>No subject known for this window.</p>")
            continue
        by: dict[str, list[dict]] = {s: [] for s in
                                     ("hit", "excluded", "cannot_exclude", "not_monitored")}
        for r in rows:
            if r["status"] in by:
                by[r["status"]].append(r)
        parts.append(
            f"<p>{len(by['hit'])} hit, {len(by['excluded'])} excluded, "
            f"{len(by['cannot_exclude'])} cannot be excluded, {len(by['not_monitored'])} not "
            "monitored through the window.</p>")
        ce = sorted(by["cannot_exclude"], key=_by_speed)
        if ce:
            body = "".join(
                f"<tr><td>{escape(str(r['subject']))}</td>"
                f"<td>{fmt_time(r['worst_gap_from'])}</td><td>{fmt_time(r['worst_gap_to'])}</td>"
                f"<td class='num'>{fmt_num(r['min_speed_needed_mps'], 2, ' m/s')}</td>"
                f"<td class='num'>{int(r['gaps'])}</td>"
                f"<td class='num'>{int(r['fixes_in_window'])}</td></tr>"
                for r in ce)
            parts.append(
                "<table><tr><th>Cannot be excluded</th><th>Gap from (fix before)</th>"
                "<th>Gap to (fix after)</th><th class='num'>Speed needed</th>"
                "<th class='num'>Gaps in window</th><th class='num'>Fixes in window</th></tr>"
                f"{body}</table>")
        ex = by["excluded"]
        parts.append(
            "<p><strong>Excluded</strong> (fixes in the window / gaps in the window, none "
            f"passable at {v:g} m/s): "
            + _subjects(ex, lambda r: f"{int(r['fixes_in_window'])} fixes, {int(r['gaps'])} gaps")
            + "</p>")
        nm = by["not_monitored"]
        if nm:
            parts.append("<p><strong>Not monitored through the window</strong> (share of the "
                         "window monitored): "
                         + _subjects(nm, lambda r: f"{100 * float(r['covered_fraction']):.0f}%")
                         + "</p>")
    parts.append("</section>")
    return "".join(parts)
