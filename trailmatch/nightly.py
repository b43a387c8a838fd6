"""The nightly job: every force's crime batch against the trail store, kept and handed out.

Stages, each timed (seconds per stage go to the summary and the run record):

1. **read**    each batch file with ``read_crime_batch`` (rejects kept, with reasons);
2. **store**   the accepted crimes into the hit store as versions: an unchanged resend is
               recognised and costs nothing; a changed crime is a new version whose older
               version (and its hits) is superseded;
3. **trails**  the fixes the crime windows need (widened by the buffers and max gap), from the
               trail store, prepared once with one segment index for every force;
4. **match**   only the crime versions that were never matched under these rules;
               ``save_hits`` keeps one row per (crime version, subject): a rerun adds nothing;
5. **outputs** for each force and batch ``OUT/<force>/<batch_id>/``: ``hits.csv``,
               ``map/*.geojson``, ``report.html``, ``rejects.csv`` (``write_batch_outputs``),
               and the coverage of each crime (``trailmatch.coverage``, unless turned off):
               ``coverage-summary.csv`` (per crime: how many subjects were hit, excluded,
               cannot be excluded, not monitored) and ``coverage-evidence.csv`` (the worst gap
               of each subject that cannot be excluded, the share monitored of each one
               monitored for part of the window); the report gets a section on it.

A run is recorded (``runs``: started, ended, algorithm version, rules, counts, status, summary)
whatever happens: a failure is recorded as ``failed`` with its error before it propagates.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from trailmatch import __version__
from trailmatch.atomic import atomic_write
from trailmatch.evidence import HitEvidence, trail_evidence
from trailmatch.hits import HIT_COLUMNS
from trailmatch.hitstore import repository as repo
from trailmatch.hitstore.batches import (
    StoredBatch,
    batch_crime_keys,
    store_batches,
    stored_batches,
)
from trailmatch.index.segments import build_index
from trailmatch.ingest.crime_batch import read_batches
from trailmatch.match import match_prepared
from trailmatch.progress import Stages
from trailmatch.report.provenance import InputFile, Production, default_operator, sha256_file
from trailmatch.report.registry import Batch, write_batch
from trailmatch.rules import Rules
from trailmatch.trails import Trail, prepare_crimes, prepare_trail

log = logging.getLogger(__name__)

ALGORITHM_VERSION = f"trailmatch {__version__}"
STAGES = ("read", "store", "trails", "match", "outputs")


class TrailSource(Protocol):
    """Where fixes come from: the trail store, or a DataFrame in tests."""

    def read(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Fixes with ``start <= time <= end``: subject, time (UTC), x, y (metres in the working
        CRS), precision_m, source."""

    def ingested_since(self, since: pd.Timestamp) -> pd.DataFrame:
        """What arrived at or after ``since`` (late uploads): one row per stretch of one
        subject's new fixes, ``subject``, ``first_time``, ``last_time`` (the trail store gives
        one per UTC day and subject)."""


@dataclass
class FrameTrails:
    """A TrailSource over an in-memory DataFrame (``ingested_at`` column optional)."""

    frame: pd.DataFrame

    def read(self, start, end) -> pd.DataFrame:
        t = self.frame["time"]
        return self.frame[(t >= start) & (t <= end)].reset_index(drop=True)

    def ingested_since(self, since) -> pd.DataFrame:
        late = (self.frame[self.frame["ingested_at"] >= since]
                if "ingested_at" in self.frame.columns else self.frame.iloc[:0])
        late = late.assign(subject=late["subject"].astype(str),
                           day=late["time"].dt.floor("D"))
        g = late.groupby(["day", "subject"], sort=True)["time"].agg(["size", "min", "max"])
        return g.reset_index().rename(columns={"size": "fixes", "min": "first_time",
                                               "max": "last_time"})


@dataclass
class StoreTrails:
    """A TrailSource over the trail store directory (``trailmatch ingest positions``)."""

    store_dir: Path
    include_flagged: bool = False

    def _store(self):
        from trailmatch.store import Store

        return Store(self.store_dir)

    def read(self, start, end) -> pd.DataFrame:
        return self._store().read_window(pd.Timestamp(start).value, pd.Timestamp(end).value,
                                         include_flagged=self.include_flagged)

    def ingested_since(self, since) -> pd.DataFrame:
        return self._store().ingested_since(pd.Timestamp(since).value)

    def activations(self, start=None, end=None) -> pd.DataFrame | None:
        """Device activation periods (subjects file) meeting ``[start, end]``, for coverage;
        None when there are none."""
        return self._store().activations(start, end)

    def partition_files(self, spans: Sequence[tuple[int, int]]) -> dict[str, Path]:
        """The day partitions (``positions/YYYY-MM-DD.parquet`` -> file) a read of these
        ``[start, end]`` ns spans opens, in day order."""
        from trailmatch.store.layout import Layout, days_between, relative_partition

        layout = Layout(self.store_dir)
        days = sorted({d for a, b in spans for d in days_between(a, b)})
        return {relative_partition(d): layout.partition(d) for d in days
                if layout.partition(d).exists()}


@dataclass
class Timer:
    seconds: dict = field(default_factory=lambda: defaultdict(float))

    @contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0


@dataclass
class BatchOutput:
    police_force: str
    batch_id: str
    directory: Path
    crimes: int
    hits: int


@dataclass
class RunResult:
    run_id: int
    status: str
    counts: dict
    summary: str
    outputs: list[BatchOutput]
    unusable: list[str] = field(default_factory=list)  # batch files that could not be read


def safe_name(text: str) -> str:
    """A force or batch id as a directory name (they are plain codes; anything else is masked)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(text)) or "_"


# --- matching ----------------------------------------------------------------------------------

def trail_spans(crimes: pd.DataFrame, rules: Rules) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The stretches of time whose fixes can bear on these crimes: their widened windows plus
    one max gap each side (the fixes joined to the path at the window's edges), overlapping
    ones merged - so a resent crime from last month does not pull in the month between.

    Reading only these is exact: a fix inside some window W is more than max gap away from
    any fix outside every stretch, so no segment that touches a window is lost or invented.
    """
    if crimes.empty:
        return []
    margin_before = pd.Timedelta(seconds=rules.buffer_before_s + rules.max_gap_s)
    margin_after = pd.Timedelta(seconds=rules.buffer_after_s + rules.max_gap_s)
    starts = (crimes["time_from"] - margin_before).to_numpy(dtype="datetime64[ns]")
    ends = (crimes["time_to"] + margin_after).to_numpy(dtype="datetime64[ns]")
    order = np.argsort(starts, kind="stable")
    spans: list[list] = []
    for a, b in zip(starts[order], ends[order], strict=True):
        if spans and a <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    return [(pd.Timestamp(a, tz="UTC"), pd.Timestamp(b, tz="UTC")) for a, b in spans]


def _concat_trails(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The stretches' fixes as one frame for ``prepare_trail``, subjects as they came: the
    store's categoricals stay one categorical (no string per fix is made; prepare_trail
    groups the rows by subject in O(n))."""
    if len(parts) == 1:
        return parts[0]
    subjects = [p["subject"] for p in parts]
    if all(isinstance(s.dtype, pd.CategoricalDtype) for s in subjects):
        subject = pd.api.types.union_categoricals(subjects, ignore_order=True)
    else:
        subject = pd.concat([s.astype(str) for s in subjects], ignore_index=True)
    frame = pd.concat([p.drop(columns="subject") for p in parts], ignore_index=True)
    frame.insert(0, "subject", subject)
    return frame


@dataclass
class LoadedTrails:
    trail: Trail
    index: object
    codes: dict
    activations: pd.DataFrame | None = None  # for coverage: None = first to last fix

    @classmethod
    def load(cls, source: TrailSource, crimes: pd.DataFrame, rules: Rules) -> LoadedTrails:
        parts = [p for p in (source.read(a, b) for a, b in trail_spans(crimes, rules)) if len(p)]
        if parts:
            frame = _concat_trails(parts)
        else:
            frame = pd.DataFrame({"subject": pd.Series(dtype=str),
                                  "time": pd.Series(dtype="datetime64[ns, UTC]"),
                                  "x": pd.Series(dtype=float), "y": pd.Series(dtype=float)})
        trail = prepare_trail(frame)
        index = build_index(trail, rules.max_gap_s, rules.count_precision)
        codes = {s: i for i, s in enumerate(trail.subjects.tolist())}
        activations = None
        if hasattr(source, "activations"):
            # only periods meeting the fixes read: others would list every past subject
            activations = (source.activations(frame["time"].min(), frame["time"].max())
                           if len(frame) else source.activations())
        return cls(trail=trail, index=index, codes=codes, activations=activations)

    def coverage(self, crimes: pd.DataFrame, rules: Rules):
        """The per-crime coverage (``trailmatch.coverage.Coverage``) of these crimes against
        the loaded trails. Only the fixes read for matching are known here (windows widened by
        max gap): a gap reaching beyond them loses its outer fix, which can only make fewer
        exclusions."""
        from trailmatch.coverage import coverage_prepared

        prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
        return coverage_prepared(self.trail, self.index, prepared, rules,
                                 activations=self.activations)

    def match(self, crimes: pd.DataFrame, rules: Rules) -> pd.DataFrame:
        """Hits of stored crime versions (``id`` column) with a ``crime_id`` column added."""
        if crimes.empty:
            return pd.DataFrame(columns=[*HIT_COLUMNS, "crime_id"])
        prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
        found = match_prepared(self.trail, self.index, prepared, rules)
        ids = crimes.set_index(["police_force", "crime_reference"])["id"]
        key = pd.MultiIndex.from_arrays([found["police_force"], found["crime_reference"]])
        return found.assign(crime_id=ids.reindex(key).to_numpy())

    def subjects_monitored(self, crimes: pd.DataFrame, rules: Rules) -> int:
        """Subjects with at least one fix inside some crime's widened window."""
        t = self.trail.t
        if crimes.empty or t.size == 0:
            return 0
        w0 = crimes["time_from"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        w1 = crimes["time_to"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        w0 = w0 - rules.buffer_before_ns
        w1 = w1 + rules.buffer_after_ns
        order = np.argsort(w0)
        w0, w1 = w0[order], np.maximum.accumulate(w1[order])
        # A fix is inside some window iff the latest-starting window before it still covers it.
        k = np.searchsorted(w0, t, side="right") - 1
        inside = (k >= 0) & (w1[np.maximum(k, 0)] >= t)
        return int(np.unique(self.trail.subject[inside]).size)

    def evidence(self, crimes: list[dict], hits: list[dict], rules: Rules) -> list[HitEvidence]:
        """The evidence of each hit (``crimes[k]`` is ``hits[k]``'s crime), all at once. A
        subject whose fixes are gone (purged or flagged since) gets an empty path."""
        return trail_evidence(self.trail, hits, crimes, rules, codes=self.codes)


# --- outputs -----------------------------------------------------------------------------------

def match_on_cluster(client, source, crimes: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """``LoadedTrails.match`` on Dask (``trailmatch.scale``, ``--scheduler``): the workers read
    their day partitions from ``source`` themselves; same hits, same ``crime_id``."""
    from trailmatch.scale.run import match_distributed

    if crimes.empty:
        return pd.DataFrame(columns=[*HIT_COLUMNS, "crime_id"])
    found = match_distributed(source, crimes, rules, client)
    ids = crimes.set_index(["police_force", "crime_reference"])["id"]
    key = pd.MultiIndex.from_arrays([found["police_force"], found["crime_reference"]])
    return found.assign(crime_id=ids.reindex(key).to_numpy())


def write_batch_outputs(directory: Path, *, police_force: str, batch_id: str,
                        crimes: pd.DataFrame, hits: pd.DataFrame,
                        evidence: Callable[[list[dict], list[dict], Rules], list[HitEvidence]],
                        rules: Rules,
                        meta: list[tuple[str, str]], rejects: pd.DataFrame | None = None,
                        extra_sections: Sequence[str] = (),
                        coverage=None,
                        inputs: Sequence[InputFile] = (),
                        production: Production | None = None,
                        seconds: dict[str, float] | None = None) -> dict[str, Path]:
    """Every file a force gets for one batch, written atomically into ``directory`` by the
    output registry (``trailmatch.report.registry``).

    ``crimes``: the batch's current crime versions (``id`` and the ``crimes`` columns, x/y in
    ``rules.crs``); ``hits``: their current hits (``repository.hits_for_crime_ids``);
    ``evidence(crimes, hits, rules)``: the evidence of the hits (``trailmatch.evidence``: what
    the report and the map data both show, computed once); ``coverage``: the batch's
    ``trailmatch.coverage.Coverage`` (None: no coverage files, no coverage section);
    ``inputs``: the files the report rests on (batch files, trail partitions) with their
    SHA-256; ``production``: the run, operator and time (the one part of the report that
    differs between runs); ``seconds``: each output's time is added to it, by writer.
    """
    crime_rows = crimes.sort_values("crime_reference").to_dict("records")
    batch = Batch(directory=directory, police_force=police_force, batch_id=batch_id,
                  crimes=crime_rows, hits=hits, evidence={}, rules=rules,
                  algorithm_version=ALGORITHM_VERSION,
                  rules_digest=repo.rules_digest(rules.to_dict()), meta=meta, rejects=rejects,
                  coverage=coverage, inputs=list(inputs), production=production,
                  sections=list(extra_sections))
    t0 = time.perf_counter()
    keys = list(batch.hit_pairs())
    found = evidence([c for c, _ in keys], [h for _, h in keys], rules)
    batch.evidence = {(int(c["id"]), h["subject"]): e
                      for (c, h), e in zip(keys, found, strict=True)}
    if seconds is not None:
        seconds["evidence"] = seconds.get("evidence", 0.0) + time.perf_counter() - t0
    return write_batch(batch, seconds=seconds)


def trail_inputs(source: TrailSource, crimes: pd.DataFrame, rules: Rules,
                 digests: dict[Path, str]) -> list[InputFile]:
    """The trail partitions these crimes were matched against, with their SHA-256 (each file
    hashed once a run: ``digests``). Sources without partitions (frames in tests) give none."""
    files = getattr(source, "partition_files", None)
    if files is None:
        return []
    spans = trail_spans(crimes, rules)
    out = []
    for name, path in files([(a.value, b.value) for a, b in spans]).items():
        if path not in digests:
            digests[path] = sha256_file(path)
        out.append(InputFile("trail partition", name, digests[path]))
    return out


# --- the job -----------------------------------------------------------------------------------

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
    out_dir = Path(out_dir)
    digest = repo.rules_digest(rules.to_dict())
    run_id = repo.start_run(engine, "nightly", rules.to_dict(), ALGORITHM_VERSION)
    timer = stages or Stages("nightly")
    force_counts: dict[str, dict] = defaultdict(lambda: {
        "received": 0, "accepted": 0, "rejected": 0, "crimes_new": 0, "crimes_changed": 0,
        "crimes_unchanged": 0, "crimes_matched": 0, "subjects_monitored": 0, "hits": 0,
        "hits_new": 0, "hits_withdrawn": 0, "seconds": defaultdict(float)})
    try:
        with timer.stage("read", total=len(crime_files), unit="file") as st:
            t0 = time.perf_counter()
            unusable: list[str] = []
            read = read_batches([Path(p) for p in crime_files], rules.crs, forces=forces,
                                max_window_h=max_window_h, unusable=unusable)
            st.update(len(read))
            per_file = (time.perf_counter() - t0) / max(len(read), 1)
            for rb in read:
                fc = force_counts[rb.police_force]
                fc["received"] += rb.rows_read
                fc["rejected"] += rb.rows_rejected
                fc["accepted"] += len(rb.crimes)
                fc["seconds"]["read"] += per_file

        # Batches (force + batch id) in the order their versions supersede each other.
        with timer.stage("store", unit="batch") as st:
            def stored_one(entry: StoredBatch, seconds: float) -> None:
                fc = force_counts[entry.police_force]
                fc["seconds"]["store"] += seconds

            batch_crimes: dict[tuple[str, str], dict] = {}
            for key, entry in store_batches(engine, read, run_id, rules.crs,
                                            on_batch=stored_one).items():
                fc = force_counts[entry.police_force]
                for change in ("new", "changed", "unchanged"):
                    fc[f"crimes_{change}"] += entry.changes[change]
                batch_crimes[key] = {"refs": entry.references,
                                     "files": [rb.path.name for rb in entry.files],
                                     "sha256": {rb.path.name: rb.sha256 for rb in entry.files},
                                     "rejects": [rb.rejects for rb in entry.files]}
                st.update()
            if batch_ids:
                rows = stored_batches(engine, batch_ids)
                for key, crime_keys in batch_crime_keys(engine, rows).items():
                    entry = batch_crimes.setdefault(key, {"refs": set(), "files": [],
                                                          "sha256": {}, "rejects": []})
                    entry["refs"].update(ref for _, ref in crime_keys)
                    entry["files"] += [r["file_name"] for r in rows
                                       if (r["police_force"], r["batch_id"]) == key]
                    entry["sha256"].update({r["file_name"]: r["file_sha256"] for r in rows
                                            if (r["police_force"], r["batch_id"]) == key})

            # What the outputs show: the current version of every crime the batches name.
            wanted = {(f, r) for (f, _), e in batch_crimes.items() for r in e["refs"]}
            shown = repo.crimes_in_rules_crs(repo.current_crimes_for(engine, wanted), rules)
            to_match = shown[shown["matched_rules"].ne(digest) | shown["matched_rules"].isna()]

        with timer.stage("trails", total=1, unit="read") as st:
            loaded = LoadedTrails.load(trails, shown, rules)
            st.update()

        totals = {"hits_new": 0, "hits_updated": 0, "hits_withdrawn": 0}
        with timer.stage("match", unit="force") as st:
            for force, crimes in st.track(list(shown.groupby("police_force"))):
                t0 = time.perf_counter()
                fc = force_counts[force]
                fc["subjects_monitored"] = loaded.subjects_monitored(crimes, rules)
                todo = to_match[to_match["police_force"] == force]
                fc["crimes_matched"] = len(todo)
                if len(todo):
                    found = (loaded.match(todo, rules) if client is None else
                             match_on_cluster(client, trails, todo, rules))
                    with engine.begin() as conn:
                        saved = repo.save_hits(conn, run_id, todo, found)
                        repo.mark_matched(conn, todo["id"], run_id, digest)
                    fc["hits_new"] += len(saved["new"])
                    fc["hits_withdrawn"] += len(saved["withdrawn"])
                    totals["hits_new"] += len(saved["new"])
                    totals["hits_updated"] += len(saved["updated"])
                    totals["hits_withdrawn"] += len(saved["withdrawn"])
                fc["seconds"]["match"] += time.perf_counter() - t0

        outputs = []
        operator = operator or default_operator()
        digests: dict[Path, str] = {}
        writer_seconds: dict[str, float] = {}
        with timer.stage("outputs", unit="batch") as st:
            for (force, batch_id), entry in st.track(sorted(batch_crimes.items())):
                t0 = time.perf_counter()
                crimes = shown[(shown["police_force"] == force)
                               & shown["crime_reference"].isin(entry["refs"])]
                hits = repo.hits_for_crime_ids(engine, crimes["id"])
                rejects = (pd.concat(entry["rejects"], ignore_index=True) if entry["rejects"]
                           else None)  # a stored batch's rejects went out when it was ingested
                directory = out_dir / safe_name(force) / safe_name(batch_id)
                files = sorted({(name, entry["sha256"].get(name, "")) for name in entry["files"]})
                meta = [("Police force", force), ("Batch", batch_id),
                        ("Files", ", ".join(name for name, _ in files)),
                        ("Rejected rows",
                         "reported when the batch was ingested" if rejects is None else
                         f"{int(rejects['row'].nunique()) if len(rejects) else 0}"
                         " (see rejects.csv)")]
                inputs = [InputFile("batch file", name, sha) for name, sha in files]
                inputs += trail_inputs(trails, crimes, rules, digests)
                production = Production.now(f"nightly run {run_id}", operator)
                write_batch_outputs(directory, police_force=force, batch_id=batch_id,
                                    crimes=crimes, hits=hits, evidence=loaded.evidence,
                                    rules=rules, meta=meta, rejects=rejects,
                                    coverage=loaded.coverage(crimes, rules) if coverage
                                    else None, inputs=inputs, production=production,
                                    seconds=writer_seconds)
                force_counts[force]["hits"] += len(hits)
                force_counts[force]["seconds"]["outputs"] += time.perf_counter() - t0
                outputs.append(BatchOutput(force, batch_id, directory, len(crimes), len(hits)))
            for rb in read:  # a file with no accepted row still gets its rejects reported
                if rb.crimes.empty and len(rb.rejects):
                    path = out_dir / "rejects" / f"{safe_name(rb.path.name)}.rejects.csv"
                    atomic_write(path, rb.rejects.to_csv(index=False, lineterminator="\n"))
    except BaseException as e:
        counts = _counts(force_counts, timer, {})
        repo.finish_run(engine, run_id, "failed", counts, f"{type(e).__name__}: {e}")
        raise

    counts = _counts(force_counts, timer, totals)
    counts["writers_s"] = {k: round(v, 3) for k, v in writer_seconds.items()}
    counts["unusable_files"] = unusable
    summary = format_summary(run_id, "ok", counts, rules, outputs)
    repo.finish_run(engine, run_id, "ok", counts, summary)
    return RunResult(run_id=run_id, status="ok", counts=counts, summary=summary,
                     outputs=outputs, unusable=unusable)


def _counts(force_counts: dict, timer: Stages, totals: dict) -> dict:
    forces = {}
    for force, fc in sorted(force_counts.items()):
        fc = dict(fc)
        fc["seconds"] = {k: round(v, 3) for k, v in fc["seconds"].items()}
        forces[force] = fc
    return {"forces": forces, "stages_s": {s: round(timer.seconds.get(s, 0.0), 3)
                                           for s in STAGES}, **totals}


def format_summary(run_id: int, status: str, counts: dict, rules: Rules,
                   outputs: Sequence[BatchOutput]) -> str:
    """The run summary as people read it (stderr and the run record)."""
    stages = counts["stages_s"]
    total = sum(stages.values())
    lines = [
        f"nightly run {run_id}: {status} in {total:.1f} s ({ALGORITHM_VERSION}; "
        f"R {rules.radius_m:g} m, max gap {rules.max_gap_s:g} s, precision "
        f"{'counted' if rules.count_precision else 'not counted'})",
        f"{'force':<16}{'received':>9}{'accepted':>9}{'rejected':>9}{'matched':>8}"
        f"{'subjects':>9}{'hits':>6}{'new':>5}{'withdrawn':>10}   seconds (read/store/match/out)",
    ]
    for force, fc in counts["forces"].items():
        s = fc["seconds"]
        secs = "/".join(f"{s.get(k, 0.0):.2f}" for k in ("read", "store", "match", "outputs"))
        lines.append(f"{force:<16}{fc['received']:>9}{fc['accepted']:>9}{fc['rejected']:>9}"
                     f"{fc['crimes_matched']:>8}{fc['subjects_monitored']:>9}{fc['hits']:>6}"
                     f"{fc['hits_new']:>5}{fc['hits_withdrawn']:>10}   {secs}")
    lines.append("stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
    if counts.get("writers_s"):
        lines.append("outputs: " + ", ".join(f"{k} {v:.2f} s"
                                             for k, v in counts["writers_s"].items()))
    for line in counts.get("unusable_files", []):
        lines.append(f"UNUSABLE batch file (nothing read from it): {line}")
    for o in outputs:
        lines.append(f"report {o.police_force} {o.batch_id}: {o.directory / 'report.html'} "
                     f"({o.crimes} crimes, {o.hits} hits)")
    return "\n".join(lines)
