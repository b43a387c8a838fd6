"""The evidence report of one hit: the nightly report's renderer (``trailmatch.report``) given
one crime and one hit, its evidence (``trailmatch.evidence``) from the trail store, and the
decisions recorded on it so far."""

from __future__ import annotations

import datetime as dt

from service.trails import TrailAccess, hit_evidence
from trailmatch.report.html import render_report
from trailmatch.rules import Rules


def render_hit_report(row: dict, rules: Rules, trails: TrailAccess, requested_by: str,
                      decisions: list[dict]) -> str:
    """The report of one hit: its evidence and the decisions recorded on it so far."""
    evidence = hit_evidence(trails, row, rules)
    cx, cy = evidence.crime_x, evidence.crime_y
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
        evidence={(row["crime_id"], row["subject"]): evidence}, rules=rules, meta=meta,
        decisions={row["id"]: decisions})
