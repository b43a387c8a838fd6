"""Re-match after late uploads: which hits appear, change or disappear given fixes that arrived
since a moment.

A fix at instant ``t`` can only change the path within one max gap of ``t`` (it joins at most
its neighbours, which are at most ``max_gap`` away). So a crime can be affected only when some
late fix lies in ``[w0 - max_gap, w1 + max_gap]`` (``W = [w0, w1]`` its widened window), and only
for the subjects that own such fixes. Those (crime, subject) pairs are matched again on the full
trails; their hits are inserted, updated or withdrawn in the hit store, and nothing else is
touched. Crime versions never matched under these rules are left to the nightly job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from trailmatch import ALGORITHM_VERSION
from trailmatch.hitstore import repository as repo
from trailmatch.jobs.loading import LoadedTrails, match_on_cluster
from trailmatch.jobs.outputs import batch_directory, trail_inputs, write_batch_outputs
from trailmatch.jobs.sources import SubjectTrails, TrailSource
from trailmatch.progress import Timer
from trailmatch.report.provenance import Production, default_operator
from trailmatch.rules import Rules

CHANGE_COLUMNS = ["change", "hit_id", "police_force", "crime_reference", "subject",
                  "min_distance_m", "closest_time", "first_in", "last_in", "duration_s",
                  "fixes_in"]


@dataclass
class RematchResult:
    run_id: int
    changes: pd.DataFrame  # CHANGE_COLUMNS; change is new | updated | withdrawn
    crimes_rematched: int
    late_fixes: int
    summary: str


def affected_crimes(crimes: pd.DataFrame, late: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """The crimes with late fixes within one max gap of their widened window: some late stretch
    ``[first_time, last_time]`` meets ``[w0 - max_gap, w1 + max_gap]``."""
    if crimes.empty or late.empty:
        return crimes.iloc[:0]
    first = pd.to_datetime(late["first_time"], utc=True).to_numpy(dtype="datetime64[ns]")
    last = pd.to_datetime(late["last_time"], utc=True).to_numpy(dtype="datetime64[ns]")
    order = np.argsort(first.view(np.int64))
    first = first.view(np.int64)[order]
    # Of the stretches starting by some instant, the latest end: a prefix maximum.
    reach = np.maximum.accumulate(last.view(np.int64)[order])
    gap = rules.max_gap_ns
    lo = (crimes["time_from"].to_numpy(dtype="datetime64[ns]").view(np.int64)
          - rules.buffer_before_ns - gap)
    hi = (crimes["time_to"].to_numpy(dtype="datetime64[ns]").view(np.int64)
          + rules.buffer_after_ns + gap)
    k = np.searchsorted(first, hi, side="right")  # stretches starting by hi
    hit = (k > 0) & (reach[np.maximum(k - 1, 0)] >= lo)
    return crimes[hit].reset_index(drop=True)


def _late_span(late: pd.DataFrame, rules: Rules):
    """The crime windows that can meet the late stretches lie within this span (or None)."""
    if late.empty:
        return None
    margin = pd.Timedelta(seconds=rules.max_gap_s + max(rules.buffer_before_s,
                                                         rules.buffer_after_s))
    first = pd.to_datetime(late["first_time"], utc=True).min() - margin
    last = pd.to_datetime(late["last_time"], utc=True).max() + margin
    return first.to_pydatetime(), last.to_pydatetime()


def run_rematch(engine: Engine, trails: TrailSource, since, rules: Rules | None = None, *,
                out_dir: str | Path | None = None, client=None) -> RematchResult:
    """``client``: a Dask client (``--scheduler``) to match on, day partition by day partition,
    the workers reading the trails themselves; the hits are identical."""
    rules = rules or Rules()
    since = pd.Timestamp(since)
    since = since.tz_localize("UTC") if since.tzinfo is None else since.tz_convert("UTC")
    run_id = repo.start_run(engine, "rematch", {**rules.to_dict(), "since": since.isoformat()},
                            ALGORITHM_VERSION)
    timer = Timer()
    try:
        with timer.stage("read"):
            late = trails.ingested_since(since)
            digest = repo.rules_digest(rules.to_dict())
            span = _late_span(late, rules)
            current = (repo.current_crimes(engine, overlapping=span) if span is not None
                       else repo.current_crimes(engine, ids=[]))
            current = repo.crimes_in_rules_crs(current, rules)
            # Only versions already matched under these rules: their hits are what can change.
            # Those matched under other rules are named, so nobody takes silence for "no change".
            other = affected_crimes(current[current["matched_rules"].notna()
                                            & (current["matched_rules"] != digest)], late, rules)
            other_runs = sorted({int(r) for r in other["matched_run_id"]})
            current = current[current["matched_rules"] == digest]
            crimes = affected_crimes(current, late, rules)
            subjects = set(late["subject"].astype(str))
        if client is None:
            with timer.stage("trails"):
                loaded = LoadedTrails.load(SubjectTrails(trails, subjects), crimes, rules)
        with timer.stage("match"):
            found = (loaded.match(crimes, rules) if client is None else
                     match_on_cluster(client, SubjectTrails(trails, subjects), crimes, rules))
            with engine.begin() as conn:
                saved = repo.save_hits(conn, run_id, crimes, found, subjects=subjects)
        changes = _changes(engine, saved)
        with timer.stage("outputs"):
            if out_dir is not None and len(changes):
                _rewrite_outputs(engine, Path(out_dir), changes, crimes, trails, rules, run_id)
    except BaseException as e:
        repo.finish_run(engine, run_id, "failed", {"stages_s": dict(timer.seconds)},
                        f"{type(e).__name__}: {e}")
        raise
    n_late = int(late["fixes"].sum()) if len(late) else 0
    counts = {"late_fixes": n_late, "subjects_with_late_fixes": len(subjects),
              "crimes_rematched": len(crimes), "hits_new": len(saved["new"]),
              "hits_updated": len(saved["updated"]), "hits_withdrawn": len(saved["withdrawn"]),
              "stages_s": {k: round(v, 3) for k, v in timer.seconds.items()},
              "crimes_under_other_rules": len(other), "other_rules_runs": other_runs}
    summary = (f"rematch run {run_id}: ok; {n_late} fixes of {len(subjects)} subject(s) "
               f"ingested since {since.isoformat()}; {len(crimes)} crime(s) re-matched; hits "
               f"{len(saved['new'])} new, {len(saved['updated'])} updated, "
               f"{len(saved['withdrawn'])} withdrawn")
    if len(other):
        summary += (f"\nNOT re-matched: {len(other)} crime(s) with late fixes were matched under "
                    f"other rules (run(s) {', '.join(map(str, other_runs))}); rerun rematch "
                    f"with those runs' rules flags (trailmatch runs are listed in the hit store)")
    repo.finish_run(engine, run_id, "ok", counts, summary)
    return RematchResult(run_id=run_id, changes=changes, crimes_rematched=len(crimes),
                         late_fixes=n_late, summary=summary)


def _changes(engine: Engine, saved: dict) -> pd.DataFrame:
    rows = []
    for change in ("new", "updated", "withdrawn"):
        for hit_id in saved[change]:
            hit = repo.get_hit(engine, hit_id)
            rows.append({"change": change, "hit_id": hit_id,
                         **{c: hit[c] for c in CHANGE_COLUMNS[2:]}})
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)


def changes_csv(changes: pd.DataFrame) -> str:
    """The changed hits as CSV, numbers and times written as in hits.csv."""
    out = changes.copy()
    for col in ("closest_time", "first_in", "last_in"):
        out[col] = pd.to_datetime(out[col], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    for col in ("min_distance_m", "duration_s"):
        out[col] = out[col].astype(float).round(3)
    return out.to_csv(index=False, lineterminator="\n")


def _rewrite_outputs(engine, out_dir: Path, changes: pd.DataFrame, crimes: pd.DataFrame,
                     trails: TrailSource, rules: Rules, run_id: int) -> None:
    """Refresh hits.csv, map/*.geojson, the coverage files and report.html of every batch with a
    changed hit (the batch that brought the crime's current version; its rejects.csv is left
    as it is)."""
    touched = crimes[crimes["crime_reference"].isin(changes["crime_reference"])]
    current = repo.crimes_in_rules_crs(repo.current_crimes(engine), rules)
    for (force, batch_id), _ in touched.groupby(["police_force", "batch_id"]):
        batch = current[(current["police_force"] == force) & (current["batch_id"] == batch_id)]
        loaded = LoadedTrails.load(trails, batch, rules)
        hits = repo.hits_for_crime_ids(engine, batch["id"])
        meta = [("Police force", force), ("Batch", batch_id)]
        production = Production.now(f"rematch run {run_id} (after late uploads)",
                                    default_operator())
        write_batch_outputs(batch_directory(out_dir, force, batch_id),
                            police_force=force, batch_id=batch_id, crimes=batch, hits=hits,
                            evidence=loaded.evidence, rules=rules, meta=meta,
                            coverage=loaded.coverage(batch, rules),
                            inputs=trail_inputs(trails, batch, rules, {}),
                            production=production)
