"""``report.html``: one self-contained, printable evidence document per force and batch.

Everything is inline (CSS, SVG maps); the document references nothing outside itself, so it
opens the same offline, in an e-mail attachment, or printed. Per crime with hits: the crime's
details, then per hit subject the figures of the vicinity contract, two maps (the path through
the window, and a detail around the crime) and the table of fixes in the vicinity. Crimes without
hits are listed at the end. ``extra_sections`` lets later parts (e.g. coverage) add their own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from html import escape

import numpy as np
import pandas as pd

from trailmatch.evidence import HitEvidence, clock, duration_text
from trailmatch.report.svgmap import (
    MAP_CSS,
    MAP_DEFS,
    extent_detail,
    extent_overview,
    legend_html,
    svg_map,
)
from trailmatch.rules import Rules

STATEMENT = (
    "A hit means only that the subject's recorded position was within the stated distance of "
    "the crime location during the crime window, as defined below. It does not show that the "
    "subject committed or witnessed the crime. Periods when a subject could not be monitored "
    "(a flat or removed tag, no signal, or any interval between fixes longer than the maximum "
    "gap) are not covered: the absence of a hit does not show that a subject was elsewhere."
)

# Print: A4, a running header (force and batch left, the crime right: each crime with hits is a
# named page carrying its reference, see ``_page_rules``) and "page x of y" at the foot, in
# CSS margin boxes (Chromium >= 131 draws them; string-set is not supported there, hence the
# named pages). Tables repeat their <thead> on every page they span.
CSS = """
@page { size: A4; margin: 17mm 12mm 15mm 12mm;
  @top-left { font-size: 8pt; color: #444; }
  @top-right { font-size: 8pt; }
  @bottom-left { content: "trailmatch evidence report"; font-size: 8pt; color: #444; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 8pt; }
}
thead { display: table-header-group; }
tr { break-inside: avoid; }
.production { border: 1.5px dashed #666; padding: 1.5mm 3mm; margin: 3mm 0; }
.production-label { font-size: 8.5pt; color: #555; margin: 0 0 1mm 0; }
.provenance td.hash { font-family: "DejaVu Sans Mono", monospace; font-size: 7.5pt;
                      word-break: break-all; }
details.verify pre { white-space: pre-wrap; word-break: break-all; font-size: 7pt; }
@media print { details.verify { display: none; } }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif;
       font-size: 10.5pt; color: #111; margin: 0 auto; max-width: 186mm; padding: 8mm 0; }
h1 { font-size: 17pt; margin: 0 0 2mm 0; }
h2 { font-size: 13.5pt; margin: 6mm 0 2mm 0; border-bottom: 2px solid #222; padding-bottom: 1mm; }
h3 { font-size: 11.5pt; margin: 4mm 0 1.5mm 0; }
.meta { color: #333; font-size: 9.5pt; }
.notice { border: 2px solid #b00020; background: #fff4f4; padding: 2.5mm 3.5mm; margin: 4mm 0;
          font-size: 10pt; }
.notice strong { color: #b00020; }
table { border-collapse: collapse; width: 100%; margin: 1.5mm 0 3mm 0; }
th, td { border: 1px solid #bbb; padding: 1mm 1.6mm; text-align: left; vertical-align: top; }
th { background: #f0f0f0; font-weight: bold; }
table.kv th { width: 34%; }
table.kv2 th { width: 17%; }
table.kv2 td { width: 33%; }
table.fixes td, table.fixes th, table.visits td, table.visits th, table.gaps td,
table.gaps th, table.decisions td, table.decisions th { font-size: 8.8pt; padding: 0.6mm 1.2mm; }
.hit table td { overflow-wrap: anywhere; }
table.visits td:nth-child(6) { white-space: nowrap; }  /* the closest instant */
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.crime { break-before: page; }
/* A hit may run onto the next page (the running header names its crime); its parts do not
   break: figures, account, the maps with their key, each table row. */
.hit { border-left: 4px solid #d35400; padding-left: 3mm; margin: 4mm 0; }
.hit .figures, .hit .account, .hit .precision, .hit .meta, .mapkey { break-inside: avoid; }
.maps { display: flex; gap: 4mm; flex-wrap: wrap; }
.legend { margin: 1mm 0 2mm 0; }
.legend svg { display: block; max-width: 100%; height: auto; }
.figures { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 1.5mm;
           margin: 2mm 0; }
.fig { border: 1px solid #ccc; padding: 1mm 1.5mm; }
.fig .k { font-size: 8pt; color: #555; }
.fig .v { font-size: 11pt; font-weight: bold; overflow-wrap: anywhere; }
.nohits { columns: 3; font-size: 9pt; }
.decision { margin-top: 2mm; font-size: 9.5pt; }
.account { font-size: 10.5pt; margin: 2mm 0; }
.precision { font-size: 9.5pt; }
.decision span { display: inline-block; border-bottom: 1px solid #666; min-width: 50mm; }
footer { margin-top: 8mm; font-size: 8.5pt; color: #444; border-top: 1px solid #999;
         padding-top: 2mm; }
table.kv, .notice { break-inside: avoid; }
h2, h3 { break-after: avoid; }
@media print { body { padding: 0; max-width: none; } }
"""


def fmt_time(value, *, fraction: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "-"
    t = pd.Timestamp(value).tz_convert("UTC")
    if fraction:
        return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 100000}" + " UTC"
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_num(value, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{float(value):,.{digits}f}{unit}"


def fmt_duration(seconds: float) -> str:
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{int(m)} min {s:04.1f} s"
    h, m = divmod(m, 60)
    return f"{int(h)} h {int(m):02d} min {s:02.0f} s"


def rules_text(rules: Rules) -> str:
    parts = [f"vicinity radius R = {rules.radius_m:g} m",
             f"fixes more than {rules.max_gap_s:g} s apart are not joined (gap)",
             "fix precision " + ("added to R" if rules.count_precision else "not counted")]
    if rules.buffer_before_s or rules.buffer_after_s:
        parts.append(f"crime window widened by {rules.buffer_before_s:g} s before and "
                     f"{rules.buffer_after_s:g} s after")
    parts.append(f"distances planar in {rules.crs}")
    return "; ".join(parts)


def _kv(rows: Iterable[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _kv2(pairs: list[tuple[str, str]]) -> str:
    """Label/value pairs two to a row (a crime's details in half the height, so that a crime
    and its first hit share a printed page); a pair whose label ends with ``*`` spans the row."""
    rows, row = [], []
    for k, v in pairs:
        if k.endswith("*"):
            if row:
                rows.append("".join(row) + "<td colspan='2'></td>")
                row = []
            rows.append(f"<th>{escape(k[:-1])}</th><td colspan='3'>{v}</td>")
            continue
        row.append(f"<th>{escape(k)}</th><td>{v}</td>")
        if len(row) == 2:
            rows.append("".join(row))
            row = []
    if row:
        rows.append("".join(row) + "<td colspan='2'></td>")
    body = "".join(f"<tr>{r}</tr>" for r in rows)
    return f'<table class="kv kv2">{body}</table>'


def crime_details(crime: dict) -> str:
    rows = [
        ("Crime reference", escape(str(crime["crime_reference"]))),
        ("Police force", escape(str(crime["police_force"]))),
        ("Crime type", escape(f'{crime["crime_type"]} - {crime.get("description") or ""}')),
        ("Batch / version", escape(f'{crime.get("batch_id", "-")} / '
                                   f'version {crime.get("version", "-")}')),
        ("Window (from - to)*",
         f'{fmt_time(crime["time_from"])} - {fmt_time(crime["time_to"])}'),
        ("Location (WGS84)", f'{crime["lat"]:.6f}, {crime["lon"]:.6f}'),
        ("Location (grid)", f'{crime["x"]:,.1f} E, {crime["y"]:,.1f} N'),
    ]
    if crime.get("text"):
        rows.append(("Crime text*", escape(str(crime["text"]))))
    return _kv2(rows)


def _figure(key: str, value: str) -> str:
    return f'<div class="fig"><div class="k">{escape(key)}</div><div class="v">{value}</div></div>'


def fixes_table(ev: HitEvidence) -> str:
    f = ev.fixes_in_arrays
    if not f["seq"].size:
        return ("<p><em>No fix lies in the vicinity itself: the subject's path between two "
                "joined fixes passes through it.</em></p>")
    head = ("<thead><tr><th class='num'>#</th><th>Time (UTC)</th><th class='num'>Latitude</th>"
            "<th class='num'>Longitude</th><th class='num'>Precision</th>"
            "<th class='num'>Speed from previous fix</th><th>Source</th>"
            "<th class='num'>Distance</th></tr></thead>")
    times = np.datetime_as_string(f["time"].view("datetime64[ns]"), unit="s")
    rows = []
    for i, when in enumerate(times.tolist()):
        rows.append(
            f"<tr><td class='num'>{int(f['seq'][i])}</td><td>{when.replace('T', ' ')}</td>"
            f"<td class='num'>{f['lat'][i]:.6f}</td><td class='num'>{f['lon'][i]:.6f}</td>"
            f"<td class='num'>{fmt_num(f['precision_m'][i], 0, ' m')}</td>"
            f"<td class='num'>{fmt_num(f['speed_kmh'][i], 0, ' km/h')}</td>"
            f"<td>{escape(str(f['source'][i]))}</td>"
            f"<td class='num'>{fmt_num(f['distance_m'][i], 1, ' m')}</td></tr>")
    return f'<table class="fixes">{head}{"".join(rows)}</table>'


def _clock_tenths(ns: int, day_ns: int) -> str:
    return f"{clock(ns, day_ns)[:8]}.{(int(ns) % 10**9) // 10**8}{clock(ns, day_ns)[8:]}"


ENTRY_NOTE = {"crossed": "", "window": " (window opened)", "gap": " (first fix after a gap)",
              "isolated": " (isolated fix)"}
EXIT_NOTE = {"crossed": "", "window": " (window closed)", "gap": " (last fix before a gap)",
             "isolated": ""}


def _motion_cell(m) -> str:
    return "-" if m is None else escape(m.text())


def visits_table(ev: HitEvidence) -> str:
    """One row per visit into the vicinity (the model's, trailmatch.evidence)."""
    if not ev.visits:
        return ""
    head = ("<tr><th class='num'>Visit</th><th>Entered (UTC)</th><th>Left (UTC)</th>"
            "<th class='num'>Dwell</th><th class='num'>Closest</th><th>At</th>"
            "<th>Approach</th><th>Departure</th></tr>")
    rows = []
    for v in ev.visits:
        near = fmt_num(v.closest_m, 1, " m")
        if not v.within_radius:
            near += f" (+{v.closest_precision_m:.0f} m precision)"
        rows.append(
            f"<tr class='visit'><td class='num'>{v.number}</td>"
            f"<td>{_clock_tenths(v.entry, ev.w0)}{ENTRY_NOTE[v.entry_kind]}</td>"
            f"<td>{_clock_tenths(v.exit, ev.w0)}{EXIT_NOTE[v.exit_kind]}</td>"
            f"<td class='num'>{escape(duration_text(v.dwell_s))}</td>"
            f"<td class='num'>{near}</td><td>{_clock_tenths(v.closest_time, ev.w0)}</td>"
            f"<td>{_motion_cell(v.approach)}</td><td>{_motion_cell(v.departure)}</td></tr>")
    return (f'<h3>Visits into the vicinity</h3><table class="visits"><thead>{head}</thead>'
            f'{"".join(rows)}</table>')


def gaps_table(ev: HitEvidence) -> str:
    """One row per gap that meets the window: not monitored between its fixes."""
    if not ev.gaps:
        return ""
    head = ("<tr><th>No fix from</th><th>to</th><th class='num'>Fixes either side</th>"
            "<th class='num'>In the window</th></tr>")
    rows = []
    for g in ev.gaps:
        start = clock(g.before, ev.w0) if g.before is not None else \
            f"before the window (none within {ev.rules.max_gap_s:g} s)"
        end = clock(g.after, ev.w0) if g.after is not None else \
            f"after the window (none within {ev.rules.max_gap_s:g} s)"
        fixes = f"#{g.before_seq or '-'} / #{g.after_seq or '-'}"
        rows.append(f"<tr class='gap'><td>{escape(start)}</td><td>{escape(end)}</td>"
                    f"<td class='num'>{fixes}</td>"
                    f"<td class='num'>{escape(duration_text(g.seconds_in_window))}</td></tr>")
    return (f'<h3>Gaps in the window (not monitored)</h3><table class="gaps"><thead>{head}</thead>'
            f'{"".join(rows)}</table>')


def decisions_block(decisions: list[dict] | None) -> str:
    """The decisions recorded so far (who, when, decision, rationale), oldest first, then a
    line for the next one; ``None`` (a batch report): the line only."""
    form = ('<p class="decision">Officer decision: ruled in / ruled out / further enquiries '
            '&nbsp; Rationale: <span>&nbsp;</span> &nbsp; Name, date: <span>&nbsp;</span></p>')
    if decisions is None:
        return form
    if not decisions:
        return f"<h3>Decisions recorded so far</h3><p>None recorded yet.</p>{form}"
    rows = "".join(
        f"<tr class='recorded'><td>{fmt_time(d['at'])}</td><td>{escape(str(d['user_name']))}"
        f"</td><td>{escape(str(d['outcome']).replace('_', ' '))}</td>"
        f"<td>{escape(str(d['rationale']))}</td></tr>" for d in decisions)
    return (f"<h3>Decisions recorded so far</h3><table class='decisions'><thead><tr>"
            f"<th>When</th><th>Who</th><th>Decision</th><th>Rationale</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{form}")


def hit_section(crime: dict, hit: dict, ev: HitEvidence, rules: Rules,
                decisions: list[dict] | None = None) -> str:
    cx, cy = float(crime["x"]), float(crime["y"])
    r = rules.radius_m
    overview = svg_map(ev, cx, cy, r, extent_overview(ev, cx, cy, r),
                       title="Path through the crime window", width=320, height=270)
    detail = svg_map(ev, cx, cy, r, extent_detail(ev, cx, cy, r, float(hit["min_distance_m"])),
                     title="Around the crime location", label_fixes=True, width=320,
                     height=270)
    figures = "".join([
        _figure("Closest approach", fmt_num(hit["min_distance_m"], 1, " m")),
        _figure("At", fmt_time(hit["closest_time"])[11:]),
        _figure("First in vicinity", fmt_time(hit["first_in"], fraction=True)[11:]),
        _figure("Last in vicinity", fmt_time(hit["last_in"], fraction=True)[11:]),
        _figure("Time in vicinity", fmt_duration(hit["duration_s"])),
        _figure("Fixes in vicinity", str(int(hit["fixes_in"]))),
        _figure("Largest precision", fmt_num(hit.get("max_precision_m"), 0, " m")),
        _figure("Fix sources", escape(str(hit.get("sources") or "-"))),
    ])
    where = ""
    if ev.closest is not None:
        where = (f"Closest approach {ev.closest.distance_m:.1f} m on "
                 f"{fmt_time(pd.Timestamp(ev.closest.time, tz='UTC'))} at "
                 f"{ev.closest.lat:.6f}, "
                 f"{ev.closest.lon:.6f}. ")
    precision = ""
    if ev.precision_note:
        precision = (f'<p class="precision"><strong>In the vicinity only with precision '
                     f'counted:</strong> {escape(ev.precision_note)}.</p>')
    hit_id = f" (hit {hit['id']})" if hit.get("id") is not None else ""
    return (
        f'<section class="hit"><h3>Subject {escape(str(ev.subject))}{escape(hit_id)}</h3>'
        f'<div class="figures">{figures}</div>'
        f'<p class="account"><strong>Account:</strong> {escape(ev.account)}</p>{precision}'
        f'<p class="meta">{where}Path shown: {ev.n} fixes, {ev.fixes_in_window} inside the '
        f'window; {len(ev.gaps)} gap(s) in the window (fixes more than '
        f'{rules.max_gap_s:g} s apart: not monitored).</p>'
        f'{visits_table(ev)}{gaps_table(ev)}'
        f'<div class="mapkey"><div class="maps">{overview}{detail}</div>'
        f'<div class="legend">{legend_html()}</div></div>'
        f'<h3>Fixes in the vicinity</h3>{fixes_table(ev)}'
        f'{decisions_block(decisions)}'
        f"</section>"
    )


def css_string(text: str) -> str:
    """``text`` as a CSS string literal that cannot end the string or the style element."""
    out = str(text).replace("\\", "\\5c ").replace('"', "\\22 ").replace("<", "\\3c ")
    return '"' + out.replace("\n", " ") + '"'


def _page_rules(running: str, crimes: list[dict]) -> str:
    """The running header: ``running`` (force, batch) on every page; each crime with hits is a
    named page whose header adds its reference, so every page says whose evidence it is."""
    rules = [f"@page {{ @top-left {{ content: {css_string(running)}; }} }}"]
    for c in crimes:
        rules.append(f"@page c{int(c['id'])} {{ @top-right {{ content: "
                     f"{css_string('Crime ' + str(c['crime_reference']))}; }} }}"
                     f" #crime-{int(c['id'])} {{ page: c{int(c['id'])}; }}")
    return "\n".join(rules)


def _table(head: Iterable[str], rows: str, cls: str = "", num: Iterable[int] = ()) -> str:
    """A table whose header row repeats on every printed page."""
    num = set(num)
    cells = "".join(f"<th class='num'>{escape(h)}</th>" if i in num else f"<th>{escape(h)}</th>"
                    for i, h in enumerate(head))
    klass = f" class='{cls}'" if cls else ""
    return f"<table{klass}><thead><tr>{cells}</tr></thead><tbody>{rows}</tbody></table>"


def render_report(*, title: str, subtitle: str, crimes: list[dict], hits_by_crime: dict,
                  evidence: dict, rules: Rules, meta: list[tuple[str, str]],
                  extra_sections: Iterable[str] = (),
                  decisions: dict | None = None, running_header: str = "",
                  production: str = "", provenance: str = "") -> str:
    """The whole document. ``crimes``: crime dicts (id, crime_reference, police_force,
    crime_type, description, time_from, time_to, lat, lon, x, y, text, batch_id, version);
    ``hits_by_crime``: crime id -> hit dicts (nearest first); ``evidence``: (crime id,
    subject) -> HitEvidence; ``meta``: (label, text) lines for the header, the same every
    run; ``decisions``: hit id -> the decisions recorded on it so far (the per-hit report; a
    batch report has none: it prints a line to write one on); ``running_header``: the top of
    every printed page (e.g. force and batch); ``production``: the run-to-run block
    (``provenance.Production.html``); ``provenance``: the section naming the inputs
    (``provenance.provenance_section``)."""
    with_hits = [c for c in crimes if hits_by_crime.get(c["id"])]
    without = [c for c in crimes if not hits_by_crime.get(c["id"])]
    n_hits = sum(len(hits_by_crime.get(c["id"], [])) for c in crimes)
    index_rows = "".join(
        f"<tr><td><a href='#crime-{c['id']}'>{escape(str(c['crime_reference']))}</a></td>"
        f"<td>{escape(str(c['crime_type']))}</td><td>{fmt_time(c['time_from'])}</td>"
        f"<td class='num'>{len(hits_by_crime[c['id']])}</td>"
        f"<td>{escape(', '.join(str(h['subject']) for h in hits_by_crime[c['id']]))}</td></tr>"
        for c in with_hits)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{CSS}{MAP_CSS}\n"
        f"{_page_rules(running_header or title, with_hits)}</style></head><body>{MAP_DEFS}",
        f"<header><h1>{escape(title)}</h1><p class='meta'>{escape(subtitle)}</p>",
        _kv([(k, escape(v)) for k, v in meta]),
        production,
        f"<div class='notice'><strong>Read this first.</strong> {escape(STATEMENT)}</div>",
        f"<p><strong>Rules:</strong> {escape(rules_text(rules))}. A subject is in the vicinity "
        "at an instant when its position, interpolated linearly between joined fixes, is "
        "within R (plus the interpolated precision, when counted) of the crime location, "
        "inside the crime window.</p></header>",
        f"<h2>Summary</h2><p>{len(crimes)} crime(s) in this batch; {len(with_hits)} with "
        f"hits; {n_hits} hit(s) in total.</p>",
    ]
    if with_hits:
        parts.append(_table(["Crime reference", "Type", "Window from", "Hits", "Subjects"],
                            index_rows, num=[3]))
    for c in with_hits:
        parts.append(f"<section class='crime' id='crime-{c['id']}'>"
                     f"<h2>Crime {escape(str(c['crime_reference']))}</h2>{crime_details(c)}")
        for hit in hits_by_crime[c["id"]]:
            recorded = None if decisions is None else decisions.get(hit.get("id"), [])
            parts.append(hit_section(c, hit, evidence[(c["id"], hit["subject"])], rules,
                                     recorded))
        parts.append("</section>")
    parts.extend(extra_sections)
    if without:
        refs = "".join(f"<li>{escape(str(c['crime_reference']))}</li>" for c in without)
        parts.append(f"<section class='crime' id='no-hits'><h2>Crimes with no hit "
                     f"({len(without)})</h2><p>No monitored subject "
                     f"was found in the vicinity of these crimes during their windows. This "
                     f"does not rule any subject out (see the notice above).</p>"
                     f"<ul class='nohits'>{refs}</ul></section>")
    parts.append(provenance)
    parts.append(f"<footer>{escape(STATEMENT)}</footer></body></html>")
    return "".join(parts)
