"""One batch's outputs as the jobs make them: where they go, what the report rests on, and the
hand-over to the output registry (``trailmatch.report.registry``), which writes every file.

``write_batch_outputs`` draws the evidence of the batch's hits once (what the report and the
map data both show) and runs the registry's writers; ``batch_directory`` is the batch's folder
``OUT/<force>/<batch_id>/``; ``trail_inputs`` and ``batch_file_inputs`` are the files the
report's provenance names, with their SHA-256.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from trailmatch import ALGORITHM_VERSION
from trailmatch.evidence import HitEvidence
from trailmatch.hitstore import repository as repo
from trailmatch.jobs.sources import TrailSource, trail_spans
from trailmatch.report.provenance import InputFile, Production, sha256_file
from trailmatch.report.registry import Batch, write_batch
from trailmatch.rules import Rules

Evidence = Callable[[list[dict], list[dict], Rules], list[HitEvidence]]


def safe_name(text: str) -> str:
    """A force or batch id as a directory name (they are plain codes; anything else is masked)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(text)) or "_"


def batch_directory(out_dir: Path, police_force: str, batch_id: str) -> Path:
    """Where one force's batch goes: ``OUT/<force>/<batch_id>/``."""
    return Path(out_dir) / safe_name(police_force) / safe_name(batch_id)


def batch_file_inputs(files: dict[str, str]) -> list[InputFile]:
    """The batch files (name -> SHA-256, "" when unknown) as the report's inputs, by name."""
    return [InputFile("batch file", name, sha) for name, sha in sorted(files.items())]


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


def write_batch_outputs(directory: Path, *, police_force: str, batch_id: str,
                        crimes: pd.DataFrame, hits: pd.DataFrame, evidence: Evidence,
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
