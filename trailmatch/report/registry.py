"""The output registry: every file a force gets for one batch, each made by one writer.

``write_batch(batch)`` runs the writers of ``WRITERS`` in order on one ``Batch`` (the batch's
crimes, hits, their evidence, rejects, coverage, inputs and production record) and returns
the files written, each atomically. A new output is a new writer here, so the nightly job,
rematch and anyone else get it alike. Every output grows with what was found (hits, their
evidence, the coverage answer per crime), never with crimes x subjects.

Writers, in order: ``hits.csv``; the map layers (``map/*.geojson``); the coverage files when
coverage was computed (they add the report's coverage section); ``rejects.csv``; and last
``report.html``, which carries the sections the others added.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trailmatch.atomic import atomic_write
from trailmatch.evidence import HitEvidence as Evidence
from trailmatch.hits import hits_csv
from trailmatch.report.html import render_report
from trailmatch.report.map_layers import write_map_layers
from trailmatch.report.provenance import (
    InputFile,
    Production,
    provenance_section,
    seal,
)
from trailmatch.rules import Rules


def record_instant(value) -> str | None:
    """An instant as the report's verify record writes it (``trailmatch verify`` compares
    these)."""
    if value is None or pd.isna(value):
        return None
    # to the microsecond, rounded as the hit store keeps it
    return pd.Timestamp(value).tz_convert("UTC").round("us").strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Batch:
    """One force's batch, as its outputs need it. ``crimes``: current crime versions (dicts,
    x/y in ``rules.crs``), in reference order; ``hits``: their current hits (hit store rows,
    ``id`` the hit id); ``evidence``: (crime id, subject) -> Evidence."""

    directory: Path
    police_force: str
    batch_id: str
    crimes: list[dict]
    hits: pd.DataFrame
    evidence: dict
    rules: Rules
    algorithm_version: str
    rules_digest: str = ""
    meta: list[tuple[str, str]] = field(default_factory=list)
    rejects: pd.DataFrame | None = None
    coverage: object | None = None  # trailmatch.coverage.Coverage
    inputs: list[InputFile] = field(default_factory=list)
    production: Production | None = None
    sections: list[str] = field(default_factory=list)  # added to the report by writers

    def __post_init__(self) -> None:
        self.hits = self.hits.sort_values(["crime_reference", "min_distance_m", "subject"])
        self.hits_by_crime: dict[int, list[dict]] = defaultdict(list)
        for hit in self.hits.to_dict("records"):
            self.hits_by_crime[int(hit["crime_id"])].append(hit)
        self.by_id = {int(c["id"]): c for c in self.crimes}

    def hit_pairs(self) -> Iterator[tuple[dict, dict]]:
        """(crime, hit) in report order: crime reference, nearest first."""
        for crime in self.crimes:
            for hit in self.hits_by_crime.get(int(crime["id"]), []):
                yield crime, hit

    def hits_in_order(self) -> Iterator[tuple[dict, dict, Evidence]]:
        """(crime, hit, evidence) in report order: crime reference, nearest first."""
        for crime in self.crimes:
            for hit in self.hits_by_crime.get(int(crime["id"]), []):
                yield crime, hit, self.evidence[(int(crime["id"]), hit["subject"])]

    def verify_record(self) -> dict:
        """What ``trailmatch verify`` checks: the batch, its crime versions and hits."""
        crimes = [{"id": int(c["id"]), "crime_reference": str(c["crime_reference"]),
                   "version": int(c.get("version") or 0),
                   "content_sha256": str(c.get("content_sha256") or "")}
                  for c in self.crimes]
        hits = [{"hit_id": int(h["id"]), "crime_id": int(h["crime_id"]),
                 "crime_reference": str(h["crime_reference"]), "subject": str(h["subject"]),
                 "min_distance_m": round(float(h["min_distance_m"]), 3),
                 "closest_time": record_instant(h["closest_time"]),
                 "first_in": record_instant(h["first_in"]),
                 "last_in": record_instant(h["last_in"]),
                 "duration_s": round(float(h["duration_s"]), 3),
                 "fixes_in": int(h["fixes_in"])}
                for _, h, _ in self.hits_in_order()]
        return {"police_force": self.police_force, "batch_id": self.batch_id,
                "crimes": crimes, "hits": hits}


Writer = Callable[[Batch], dict[str, Path]]


def write_hits_csv(batch: Batch) -> dict[str, Path]:
    """The columns of ``trailmatch match``, plus ``hit_id`` for the hit store and API."""
    path = batch.directory / "hits.csv"
    atomic_write(path, hits_csv(batch.hits.sort_values(["crime_reference", "subject"])
                                .rename(columns={"id": "hit_id"}), extra=("hit_id",)))
    return {"hits.csv": path}


def write_map(batch: Batch) -> dict[str, Path]:
    layers = write_map_layers(batch.directory / "map", batch.hits_in_order(), batch.rules)
    return {f"map/{p.name}": p for p in layers.values()}


def write_coverage(batch: Batch) -> dict[str, Path]:
    """The per-crime coverage (``trailmatch.coverage``): summary and evidence rows, and the
    report's coverage section."""
    if batch.coverage is None:
        return {}
    from trailmatch.coverage import write_coverage as write_tables
    from trailmatch.report.coverage import coverage_section

    paths = {name: batch.directory / name
             for name in ("coverage-summary.csv", "coverage-evidence.csv")}
    write_tables(batch.coverage, paths["coverage-summary.csv"], paths["coverage-evidence.csv"])
    batch.sections.append(coverage_section(batch.crimes, batch.coverage, batch.rules))
    return paths


def write_rejects(batch: Batch) -> dict[str, Path]:
    if batch.rejects is None:
        return {}
    path = batch.directory / "rejects.csv"
    atomic_write(path, batch.rejects.to_csv(index=False, lineterminator="\n"))
    return {"rejects.csv": path}


def report_html(batch: Batch) -> str:
    """The evidence report: deterministic outside its production block, then sealed with its
    content hash."""
    provenance = provenance_section(
        algorithm_version=batch.algorithm_version, rules=batch.rules.to_dict(),
        rules_digest=batch.rules_digest, inputs=batch.inputs, record=batch.verify_record())
    production = batch.production or Production(run="-", operator="-", produced="-")
    html = render_report(
        title=f"Evidence report: {batch.police_force}, batch {batch.batch_id}",
        subtitle=f"Hits of the crimes in batch {batch.batch_id} against the monitored "
                 f"subjects' trails ({batch.algorithm_version}).",
        crimes=batch.crimes, hits_by_crime=batch.hits_by_crime, evidence=batch.evidence,
        rules=batch.rules, meta=batch.meta, extra_sections=batch.sections,
        running_header=f"{batch.police_force} \u00b7 batch {batch.batch_id}",
        production=production.html(), provenance=provenance)
    return seal(html)


def write_report(batch: Batch) -> dict[str, Path]:
    path = batch.directory / "report.html"
    atomic_write(path, report_html(batch))
    return {"report.html": path}


WRITERS: dict[str, Writer] = {
    "hits": write_hits_csv,
    "map": write_map,
    "coverage": write_coverage,
    "rejects": write_rejects,
    "report": write_report,  # last: it carries the sections the others added
}


def write_batch(batch: Batch, writers: dict[str, Writer] | None = None,
                seconds: dict[str, float] | None = None) -> dict[str, Path]:
    """Run every writer on ``batch``; the files written, by name. ``seconds``: each writer's
    time is added to it (the run record keeps the output stage writer by writer)."""
    paths: dict[str, Path] = {}
    for name, writer in (writers or WRITERS).items():
        t0 = time.perf_counter()
        paths.update(writer(batch))
        if seconds is not None:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
    return paths
