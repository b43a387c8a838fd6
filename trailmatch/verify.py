"""Does a report still stand? Recompute its hits from the store and name what changed.

A report records (``trailmatch.report.provenance``) the crime versions and hits it shows, the
rules, and the SHA-256 of every input file. ``verify_report`` checks, in order:

1. the document: its content hash against the one its production block states (an edited
   report is named as such);
2. the crimes: whether a later version of a crime shown has been received since;
3. the trail partitions: whether a partition read has changed since (late fixes, a purge),
   naming the subjects with fixes ingested after the report was produced;
4. the hits: every crime version shown is matched again, under the report's rules, against
   the store as it is now, and the hits compared with the report's: a hit gone, a new one, or
   one whose figures moved.

The report stands when nothing is found. Exit code 1 from ``trailmatch verify`` otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Engine

from trailmatch.hitstore import repository as repo
from trailmatch.report.provenance import (
    PRODUCTION_BEGIN,
    content_hash,
    read_verify_data,
    sha256_file,
    stated_hash,
)
from trailmatch.rules import Rules

# Figures are compared as the report wrote them: distances and durations to the millimetre /
# millisecond it rounds to, times to the microsecond.
FIGURES = ("min_distance_m", "closest_time", "first_in", "last_in", "duration_s", "fixes_in")


@dataclass
class Verdict:
    report: str
    hits: int
    crimes: int
    changes: list[str] = field(default_factory=list)

    @property
    def stands(self) -> bool:
        return not self.changes

    def text(self) -> str:
        if self.stands:
            return (f"verify: {self.report}: stands: the {self.hits} hit(s) of its {self.crimes} "
                    "crime(s) were recomputed from the store and are unchanged; no later crime "
                    "version, no changed trail partition")
        lines = [f"verify: {self.report}: does NOT stand ({len(self.changes)} change(s)):"]
        return "\n".join(lines + [f"  - {c}" for c in self.changes])


def _produced(html: str) -> pd.Timestamp | None:
    start = html.find(PRODUCTION_BEGIN)
    m = re.search(r"Produced</th><td>([0-9-]+ [0-9:]+(?:\.[0-9]+)?) UTC<",
                  html[start:start + 4000])
    return pd.Timestamp(m.group(1), tz="UTC") if m else None


def _record_hits(found: pd.DataFrame) -> dict[tuple[int, str], dict]:
    from trailmatch.report.registry import record_instant as instant

    out = {}
    for h in found.to_dict("records"):
        out[(int(h["crime_id"]), str(h["subject"]))] = {
            "min_distance_m": round(float(h["min_distance_m"]), 3),
            "closest_time": instant(h["closest_time"]), "first_in": instant(h["first_in"]),
            "last_in": instant(h["last_in"]), "duration_s": round(float(h["duration_s"]), 3),
            "fixes_in": int(h["fixes_in"])}
    return out


def verify_report(html: str, engine: Engine, source, *, name: str = "report") -> Verdict:
    """``source``: the trail store as a nightly trail source (``StoreTrails``)."""
    from trailmatch.jobs.loading import LoadedTrails

    data = read_verify_data(html)
    verdict = Verdict(report=name, hits=len(data["hits"]), crimes=len(data["crimes"]))
    changes = verdict.changes

    stated, actual = stated_hash(html), content_hash(html)
    if stated != actual:
        changes.append(f"the document was changed after it was made: its content SHA-256 is "
                       f"{actual}, its production record states {stated}")

    force = data["police_force"]
    shown = {c["id"]: c for c in data["crimes"]}
    current = repo.current_crimes_for(engine, {(force, c["crime_reference"])
                                               for c in data["crimes"]})
    now = {str(r["crime_reference"]): r for r in current.to_dict("records")}
    for c in data["crimes"]:
        cur = now.get(c["crime_reference"])
        if cur is None:
            changes.append(f"crime {c['crime_reference']}: no longer in the hit store")
        elif int(cur["id"]) != c["id"]:
            changes.append(
                f"crime {c['crime_reference']}: a later crime version (version {cur['version']}"
                f", batch {cur['batch_id']}, received {pd.Timestamp(cur['received_at'])}) "
                f"replaces version {c['version']} shown in the report")

    store_dir = getattr(source, "store_dir", None)
    produced = _produced(html)
    for f in data["inputs"]:
        if f["kind"] != "trail partition" or store_dir is None:
            continue
        path = store_dir / f["name"]
        if not path.exists():
            changes.append(f"trail partition {f['name']}: no longer in the store (purged?)")
            continue
        sha = sha256_file(path)
        if sha != f["sha256"]:
            late = ""
            if produced is not None and hasattr(source, "ingested_since"):
                since = source.ingested_since(produced)
                if len(since):
                    subjects = sorted(set(since["subject"].astype(str)))
                    late = (f"; late fixes ingested since the report was produced for "
                            f"{len(subjects)} subject(s): {', '.join(subjects[:10])}"
                            + (" ..." if len(subjects) > 10 else ""))
            changes.append(f"trail partition {f['name']} changed since the report (SHA-256 "
                           f"{f['sha256'][:12]}... now {sha[:12]}...){late}")

    # Recompute: the very crime versions shown, under the report's rules.
    rules = Rules(**data["rules"])
    rows = [repo.get_crime(engine, cid) for cid in shown]
    crimes = pd.DataFrame([r for r in rows if r is not None])
    if len(crimes):
        for col in ("time_from", "time_to"):
            crimes[col] = pd.to_datetime(crimes[col], utc=True)
        crimes = repo.crimes_in_rules_crs(crimes, rules)
        loaded = LoadedTrails.load(source, crimes, rules)
        found = _record_hits(loaded.match(crimes, rules))
    else:
        found = {}
    reported = {(h["crime_id"], h["subject"]): h for h in data["hits"]}
    for key in sorted(reported.keys() - found.keys()):
        h = reported[key]
        changes.append(f"hit {h['hit_id']} (crime {h['crime_reference']}, subject "
                       f"{h['subject']}): no longer a hit when recomputed from the store")
    for key in sorted(found.keys() - reported.keys()):
        ref = shown[key[0]]["crime_reference"]
        changes.append(f"crime {ref}, subject {key[1]}: a hit now that the report does not "
                       f"show (closest approach {found[key]['min_distance_m']} m at "
                       f"{found[key]['closest_time']})")
    for key in sorted(found.keys() & reported.keys()):
        h, now_h = reported[key], found[key]
        moved = [f"{k} {h[k]} -> {now_h[k]}" for k in FIGURES if h[k] != now_h[k]]
        if moved:
            changes.append(f"hit {h['hit_id']} (crime {h['crime_reference']}, subject "
                           f"{h['subject']}) recomputes differently: {'; '.join(moved)}")
    return verdict
