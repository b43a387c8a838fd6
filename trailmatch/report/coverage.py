"""The coverage section of ``report.html``: per crime, how many subjects were hit, excluded,
cannot be excluded and not monitored, and the evidence for each one that cannot be excluded
(``trailmatch.coverage``). Excluded subjects are counted, not listed: one subject's exclusion is
explained on demand (``trailmatch explain``, ``GET /coverage/explain``). Plugged into
``render_report(extra_sections=...)``."""

from __future__ import annotations

import math
from html import escape

from trailmatch.report.html import fmt_num, fmt_time
from trailmatch.rules import Rules


def _by_speed(r: dict) -> tuple:
    """Least speed needed first, then subject."""
    v = float(r["min_speed_needed_mps"])
    return (math.isnan(v), 0.0 if math.isnan(v) else v, str(r["subject"]))


def coverage_section(crimes: list[dict], coverage, rules: Rules) -> str:
    """HTML for every crime of the batch (``crimes``: dicts with ``crime_reference``,
    ``police_force``), from the batch's ``trailmatch.coverage.Coverage``: one table of counts
    (a row per crime) and one of the subjects that cannot be excluded (a row per subject and
    crime), each with its header row repeated on every printed page."""
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
        "to have been there; the gap needing the least speed is shown below. <strong>Not "
        "monitored</strong>: the window is not wholly inside the subject's monitoring "
        "(device activation, or first to last fix); nothing can be said. Why one subject is "
        "excluded: <code>trailmatch explain</code>.</p>"]
    if coverage is None:
        parts.append("<p>No coverage was computed for this batch.</p></section>")
        return "".join(parts)
    counts = {(str(r["police_force"]), str(r["crime_reference"])): r
              for r in coverage.summary.to_dict("records")}
    rows = []
    for c in sorted(crimes, key=lambda c: str(c["crime_reference"])):
        r = counts.get((str(c["police_force"]), str(c["crime_reference"])))
        cells = (["-"] * 5 if r is None else
                 [str(int(r[k])) for k in ("hit", "excluded", "cannot_exclude",
                                           "not_monitored", "partly_monitored")])
        rows.append(f"<tr><td>{escape(str(c['crime_reference']))}</td>"
                    + "".join(f"<td class='num'>{x}</td>" for x in cells) + "</tr>")
    parts.append(
        "<table class='coverage-counts'><thead><tr><th>Crime reference</th>"
        "<th class='num'>Hit</th><th class='num'>Excluded</th>"
        "<th class='num'>Cannot be excluded</th><th class='num'>Not monitored</th>"
        "<th class='num'>of which partly</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>")
    ev = coverage.evidence
    ce = ev[ev["status"].astype(str) == "cannot_exclude"].to_dict("records")
    if not ce:
        parts.append("<p>No subject that cannot be excluded.</p></section>")
        return "".join(parts)
    ce.sort(key=lambda r: (str(r["crime_reference"]), *_by_speed(r)))
    body = "".join(
        f"<tr><td>{escape(str(r['crime_reference']))}</td><td>{escape(str(r['subject']))}</td>"
        f"<td>{fmt_time(r['worst_gap_from'])}</td>"
        f"<td class='num'>{fmt_num(r['distance_before_m'], 0, ' m')}</td>"
        f"<td>{fmt_time(r['worst_gap_to'])}</td>"
        f"<td class='num'>{fmt_num(r['distance_after_m'], 0, ' m')}</td>"
        f"<td class='num'>{fmt_num(r['min_speed_needed_mps'], 2, ' m/s')}</td>"
        f"<td class='num'>{int(r['gaps'])}</td>"
        f"<td class='num'>{int(r['fixes_in_window'])}</td></tr>"
        for r in ce)
    parts.append(
        "<h3>Cannot be excluded</h3>"
        "<p>The worst gap of each subject (the one needing the least speed): the fix before it "
        "and the fix after it, their distances to the crime, and the speed that would have "
        "been needed to be in the vicinity during the window.</p>"
        "<table class='coverage-evidence'><thead><tr><th>Crime reference</th><th>Subject</th>"
        "<th>Gap from (fix before)</th><th class='num'>its distance</th>"
        "<th>Gap to (fix after)</th><th class='num'>its distance</th>"
        "<th class='num'>Speed needed</th><th class='num'>Gaps in window</th>"
        f"<th class='num'>Fixes in window</th></tr></thead><tbody>{body}</tbody></table>"
        "</section>")
    return "".join(parts)
