"""The evidence report of one hit: the nightly report's renderer (``trailmatch.report``) given
one crime and one hit, with the path evidence computed from the same trail store."""

from __future__ import annotations

import datetime as dt

from service.settings import ns
from service.trails import TrailAccess, to_working
from trailmatch.evidence import fixes_evidence
from trailmatch.report.html import render_report
from trailmatch.rules import Rules


def render_hit_report(row: dict, rules: Rules, trails: TrailAccess, requested_by: str) -> str:
    gap = rules.max_gap_ns
    w0 = ns(row["time_from"]) - rules.buffer_before_ns
    w1 = ns(row["time_to"]) + rules.buffer_after_ns
    # the evidence's path: the fixes inside the window and the one either side within max gap
    fixes = trails.subject_fixes(row["subject"], w0 - gap, w1 + gap)
    cx, cy = to_working([row["crime_lon"]], [row["crime_lat"]], rules.crs)
    cx, cy = float(cx[0]), float(cy[0])
    evidence = fixes_evidence(row["subject"], fixes.t, fixes.x, fixes.y, fixes.precision,
                              fixes.source, row, cx, cy, row["time_from"], row["time_to"], rules)
    crime = {
        "id": row["crime_id"], "crime_reference": row["crime_reference"],
        "police_force": row["police_force"], "crime_type": row["crime_type"],
        "description": row["description"], "time_from": row["time_from"],
        "time_to": row["time_to"], "lat": row["crime_lat"], "lon": row["crime_lon"],
        "x": cx, "y": cy, "text": row["text"], "batch_id": row["batch_id"],
        "version": row["crime_version"],
    }
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    meta = [("Hit", f"{row['id']} ({row['status']})"), ("Run", str(row["updated_run_id"])),
            ("Produced", f"{now} for {requested_by}")]
    return render_report(
        title=f"Evidence report: crime {row['crime_reference']}, subject {row['subject']}",
        subtitle=f"{row['police_force']} - one hit from the trailmatch hit store",
        crimes=[crime], hits_by_crime={row["crime_id"]: [row]},
        evidence={(row["crime_id"], row["subject"]): evidence}, rules=rules, meta=meta)
