"""The nightly run's record: what each force sent and got, how long each stage took, and the
summary people read (stderr and the hit store's ``runs`` row).

``Tally`` keeps the counts force by force while the job runs; ``Tally.counts`` is the run
record's counts (``forces``, ``stages_s`` and the run's totals); ``format_summary`` the summary.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trailmatch import ALGORITHM_VERSION
from trailmatch.rules import Rules

STAGES = ("read", "store", "trails", "match", "outputs")
FORCE_COUNTS = ("received", "accepted", "rejected", "crimes_new", "crimes_changed",
                "crimes_unchanged", "crimes_matched", "subjects_monitored", "hits", "hits_new",
                "hits_withdrawn")


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
    rejects: list = field(default_factory=list)  # the rejects of each file read (DataFrames)


def _force() -> dict:
    return {**dict.fromkeys(FORCE_COUNTS, 0), "seconds": defaultdict(float)}


@dataclass
class Tally:
    """The run's counts: per force (``FORCE_COUNTS`` and seconds per stage) and in total."""

    forces: dict[str, dict] = field(default_factory=lambda: defaultdict(_force))
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("hits_new", "hits_updated", "hits_withdrawn"), 0))

    def __getitem__(self, police_force: str) -> dict:
        return self.forces[police_force]

    def counts(self, stage_seconds: dict[str, float], *, totals: bool = True) -> dict:
        """The run record's counts; ``totals=False`` (a failed run) leaves the totals out."""
        forces = {}
        for force, fc in sorted(self.forces.items()):
            fc = dict(fc)
            fc["seconds"] = {k: round(v, 3) for k, v in fc["seconds"].items()}
            forces[force] = fc
        return {"forces": forces,
                "stages_s": {s: round(stage_seconds.get(s, 0.0), 3) for s in STAGES},
                **(self.totals if totals else {})}


def format_summary(run_id: int, status: str, counts: dict, rules: Rules,
                   outputs: Sequence[BatchOutput]) -> str:
    """The run summary as people read it (stderr and the run record). A run that could not
    read every batch file says so in its first line, not "ok" (the command exits 1)."""
    stages = counts["stages_s"]
    total = sum(stages.values())
    unusable = len(counts.get("unusable_files", []))
    if status == "ok" and unusable:
        status = (f"{unusable} batch file(s) UNUSABLE (named below), the other batches done")
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
