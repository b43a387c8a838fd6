"""The nightly job: every force's crime batch against the trail store, kept and handed out.

Stages, each timed (seconds per stage go to the summary and the run record):

1. **read**    each batch file with ``read_batches`` (rejects kept, with reasons);
2. **store**   the accepted crimes into the hit store as versions (``store_batches``): an
               unchanged resend is recognised and costs nothing; a changed crime is a new
               version whose older version (and its hits) is superseded. Batches stored
               earlier (``trailmatch ingest crimes``, ``--batch``) join here;
3. **trails**  the fixes the crime windows need (``LoadedTrails``: the windows widened by the
               buffers and max gap), from the trail source, prepared once with one segment
               index for every force;
4. **match**   only the crime versions that were never matched under these rules;
               ``save_hits`` keeps one row per (crime version, subject): a rerun adds nothing;
5. **outputs** for each force and batch ``OUT/<force>/<batch_id>/`` the files of the output
               registry (``write_batch_outputs``): ``hits.csv``, ``map/*.geojson``,
               ``report.html``, ``rejects.csv`` and, unless turned off, the coverage of each
               crime (``coverage-summary.csv``, ``coverage-evidence.csv`` and a section of
               the report).

A run is recorded (``runs``: started, ended, algorithm version, rules, counts, status, summary)
whatever happens: a failure is recorded as ``failed`` with its error before it propagates.
The parts are library modules the other jobs share: ``jobs.sources`` (where fixes come from),
``jobs.loading`` (the trails read once), ``jobs.outputs`` and ``report.registry`` (the files),
``jobs.summary`` (the counts and the summary).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from trailmatch import ALGORITHM_VERSION
from trailmatch.atomic import atomic_write
from trailmatch.hitstore import repository as repo
from trailmatch.hitstore.batches import batch_crime_keys, store_batches, stored_batches
from trailmatch.ingest.crime_batch import ReadBatch, read_batches
from trailmatch.jobs.loading import LoadedTrails, match_on_cluster
from trailmatch.jobs.outputs import (
    batch_directory,
    batch_file_inputs,
    safe_name,
    trail_inputs,
    write_batch_outputs,
)
from trailmatch.jobs.sources import TrailSource
from trailmatch.jobs.summary import BatchOutput, RunResult, Tally, format_summary
from trailmatch.progress import Stages
from trailmatch.report.provenance import Production, default_operator
from trailmatch.rules import Rules


@dataclass
class ReportedBatch:
    """One batch (force, batch id) the run reports on: the references of its crimes, its files
    (name -> SHA-256) and the rejects of those read this run (none for a batch stored earlier:
    its rejects went out when it was ingested)."""

    references: set[str] = field(default_factory=set)
    files: dict[str, str] = field(default_factory=dict)
    rejects: list[pd.DataFrame] = field(default_factory=list)


@dataclass
class Night:
    """One run of the job: where it writes, what it is told, and what it has counted."""

    engine: Engine
    run_id: int
    rules: Rules
    trails: TrailSource
    out_dir: Path
    operator: str
    tally: Tally = field(default_factory=Tally)
    digests: dict[Path, str] = field(default_factory=dict)  # each trail partition hashed once
    writer_seconds: dict[str, float] = field(default_factory=dict)


def run_nightly(engine: Engine, crime_files: Sequence[str | Path], trails: TrailSource,
                out_dir: str | Path, rules: Rules | None = None, *, forces=None,
                max_window_h: float = 12.0, client=None, coverage: bool = True,
                batch_ids: Sequence[str] = (), stages: Stages | None = None,
                operator: str | None = None) -> RunResult:
    """The whole nightly job; see the module docstring. Returns the run's record.
    ``coverage=False``: no coverage files and no coverage section (``--no-coverage``).
    ``client``: a Dask client (``--scheduler``) to match on, day partition by day partition;
    the evidence for the reports is still drawn from the trails read here.
    ``batch_ids``: batches already stored (``trailmatch ingest crimes``) to run as well as, or
    instead of, ``crime_files``: nothing is read or stored for them, and their rejects were
    reported when they were ingested. ``operator``: who ran it, for the reports' production
    record (default: the OS user); ``stages``: progress and timing (default: stderr)."""
    rules = rules or Rules()
    night = Night(engine, repo.start_run(engine, "nightly", rules.to_dict(), ALGORITHM_VERSION),
                  rules, trails, Path(out_dir), operator or default_operator())
    timer = stages or Stages("nightly")
    unusable: list[str] = []
    try:
        with timer.stage("read", total=len(crime_files), unit="file") as st:
            read = _read(night, crime_files, forces, max_window_h, unusable)
            st.update(len(read))
        with timer.stage("store", unit="batch") as st:
            batches = _store(night, read, on_batch=st.update)
            _add_stored(night, batches, batch_ids)
            shown = _current_crimes(night, batches)
        with timer.stage("trails", total=1, unit="read") as st:
            loaded = LoadedTrails.load(trails, shown, rules)
            st.update()
        with timer.stage("match", unit="force") as st:
            for force, crimes in st.track(list(shown.groupby("police_force"))):
                _match(night, force, crimes, loaded, client)
        with timer.stage("outputs", unit="batch") as st:
            outputs = [_write_batch(night, key, batch, shown, loaded, coverage)
                       for key, batch in st.track(sorted(batches.items()))]
            _write_file_rejects(night, read)
    except BaseException as e:
        counts = night.tally.counts(timer.seconds, totals=False)
        repo.finish_run(engine, night.run_id, "failed", counts, f"{type(e).__name__}: {e}")
        raise

    counts = night.tally.counts(timer.seconds)
    counts["writers_s"] = {k: round(v, 3) for k, v in night.writer_seconds.items()}
    counts["unusable_files"] = unusable
    summary = format_summary(night.run_id, "ok", counts, rules, outputs)
    repo.finish_run(engine, night.run_id, "ok", counts, summary)
    return RunResult(run_id=night.run_id, status="ok", counts=counts, summary=summary,
                     outputs=outputs, unusable=unusable, rejects=[rb.rejects for rb in read])


def _read(night: Night, crime_files, forces, max_window_h: float,
          unusable: list[str]) -> list[ReadBatch]:
    """1. read: every batch file, its rows counted per force (unusable files named)."""
    t0 = time.perf_counter()
    read = read_batches([Path(p) for p in crime_files], night.rules.crs, forces=forces,
                        max_window_h=max_window_h, unusable=unusable)
    per_file = (time.perf_counter() - t0) / max(len(read), 1)
    for rb in read:
        fc = night.tally[rb.police_force]
        fc["received"] += rb.rows_read
        fc["rejected"] += rb.rows_rejected
        fc["accepted"] += len(rb.crimes)
        fc["seconds"]["read"] += per_file
    return read


def _store(night: Night, read: list[ReadBatch],
           on_batch: Callable[[], None]) -> dict[tuple[str, str], ReportedBatch]:
    """2. store: the batches read, as crime versions, in the order they supersede each other."""
    def stored_one(entry, seconds: float) -> None:
        night.tally[entry.police_force]["seconds"]["store"] += seconds

    batches: dict[tuple[str, str], ReportedBatch] = {}
    for key, entry in store_batches(night.engine, read, night.run_id, night.rules.crs,
                                    on_batch=stored_one).items():
        fc = night.tally[entry.police_force]
        for change in ("new", "changed", "unchanged"):
            fc[f"crimes_{change}"] += entry.changes[change]
        batches[key] = ReportedBatch(references=set(entry.references),
                                     files={rb.path.name: rb.sha256 for rb in entry.files},
                                     rejects=[rb.rejects for rb in entry.files])
        on_batch()
    return batches


def _add_stored(night: Night, batches: dict[tuple[str, str], ReportedBatch],
                batch_ids: Sequence[str]) -> None:
    """The batches stored earlier (``--batch``): their crimes and files join the run's."""
    if not batch_ids:
        return
    rows = stored_batches(night.engine, batch_ids)
    for key, crime_keys in batch_crime_keys(night.engine, rows).items():
        batch = batches.setdefault(key, ReportedBatch())
        batch.references.update(ref for _, ref in crime_keys)
        batch.files.update({r["file_name"]: r["file_sha256"] for r in rows
                            if (r["police_force"], r["batch_id"]) == key})


def _current_crimes(night: Night, batches: dict[tuple[str, str], ReportedBatch]) -> pd.DataFrame:
    """What the outputs show: the current version of every crime the batches name."""
    wanted = {(force, ref) for (force, _), b in batches.items() for ref in b.references}
    return repo.crimes_in_rules_crs(repo.current_crimes_for(night.engine, wanted), night.rules)


def _match(night: Night, force: str, crimes: pd.DataFrame, loaded: LoadedTrails,
           client) -> None:
    """4. match: one force's crime versions never matched under these rules; hits saved."""
    t0 = time.perf_counter()
    rules, fc, totals = night.rules, night.tally[force], night.tally.totals
    digest = repo.rules_digest(rules.to_dict())
    fc["subjects_monitored"] = loaded.subjects_monitored(crimes, rules)
    todo = crimes[crimes["matched_rules"].ne(digest) | crimes["matched_rules"].isna()]
    fc["crimes_matched"] = len(todo)
    if len(todo):
        found = (loaded.match(todo, rules) if client is None else
                 match_on_cluster(client, night.trails, todo, rules))
        with night.engine.begin() as conn:
            saved = repo.save_hits(conn, night.run_id, todo, found)
            repo.mark_matched(conn, todo["id"], night.run_id, digest)
        fc["hits_new"] += len(saved["new"])
        fc["hits_withdrawn"] += len(saved["withdrawn"])
        for change in ("new", "updated", "withdrawn"):
            totals[f"hits_{change}"] += len(saved[change])
    fc["seconds"]["match"] += time.perf_counter() - t0


def _write_batch(night: Night, key: tuple[str, str], batch: ReportedBatch,
                 shown: pd.DataFrame, loaded: LoadedTrails, coverage: bool) -> BatchOutput:
    """5. outputs: one batch's files, showing its crimes' current versions and hits."""
    t0 = time.perf_counter()
    force, batch_id = key
    crimes = shown[(shown["police_force"] == force)
                   & shown["crime_reference"].isin(batch.references)]
    hits = repo.hits_for_crime_ids(night.engine, crimes["id"])
    rejects = pd.concat(batch.rejects, ignore_index=True) if batch.rejects else None
    meta = [("Police force", force), ("Batch", batch_id),
            ("Files", ", ".join(sorted(batch.files))),
            ("Rejected rows",
             "reported when the batch was ingested" if rejects is None else
             f"{int(rejects['row'].nunique()) if len(rejects) else 0} (see rejects.csv)")]
    inputs = (batch_file_inputs(batch.files)
              + trail_inputs(night.trails, crimes, night.rules, night.digests))
    directory = batch_directory(night.out_dir, force, batch_id)
    write_batch_outputs(directory, police_force=force, batch_id=batch_id, crimes=crimes,
                        hits=hits, evidence=loaded.evidence, rules=night.rules, meta=meta,
                        rejects=rejects,
                        coverage=loaded.coverage(crimes, night.rules) if coverage else None,
                        inputs=inputs,
                        production=Production.now(f"nightly run {night.run_id}", night.operator),
                        seconds=night.writer_seconds)
    night.tally[force]["hits"] += len(hits)
    night.tally[force]["seconds"]["outputs"] += time.perf_counter() - t0
    return BatchOutput(force, batch_id, directory, len(crimes), len(hits))


def _write_file_rejects(night: Night, read: list[ReadBatch]) -> None:
    """A file with no accepted row still gets its rejects reported."""
    for rb in read:
        if rb.crimes.empty and len(rb.rejects):
            path = night.out_dir / "rejects" / f"{safe_name(rb.path.name)}.rejects.csv"
            atomic_write(path, rb.rejects.to_csv(index=False, lineterminator="\n"))
