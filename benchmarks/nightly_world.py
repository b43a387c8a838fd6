"""The nightly job's inputs as users have them: a tag position export CSV and one crime batch
CSV per force (FORMATS.md sections 1 and 2), built from ``trailmatch.synthetic``.

Quarter-national day: 2,500 subjects x 1,440 fixes (3.6 M) and 5,000 crimes in five forces'
batches; national day: 10,000 subjects and 20,000 crimes in 19 forces. Subjects and crimes
spread over a square whose area grows with the subjects: England and Wales (151,000 km2) for
10,000, a quarter of it (194 km square) for 2,500. (On the 60 km square of the engine
benchmarks the same 2,500 subjects give seven hits a crime: denser than any force sees.)
``build`` writes ``positions.csv`` and ``batches/<CODE><date>.csv`` into a directory once (a
marker file says it is complete) and returns the paths.

    PYTHONPATH=. .venv/bin/python -m benchmarks.nightly_world DIR --subjects 2500 \
        --crimes 5000 --forces 5
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

import pyarrow.csv as pacsv

from trailmatch import synthetic
from trailmatch.ingest.forces import load_forces

DAY = "2025-01-20"
NATIONAL_KM2 = 151_000.0  # England and Wales
ORIGIN = (150_000.0, 50_000.0)  # south-west corner: the national square stays on the grid


def extent_m(n_subjects: int) -> float:
    """Side of the square holding ``n_subjects`` at the national density."""
    return (NATIONAL_KM2 * n_subjects / 10_000) ** 0.5 * 1000.0


@dataclass
class World:
    directory: Path
    positions: Path
    batches: list[Path]


def _force_list(n: int) -> list[tuple[str, str]]:
    return sorted(load_forces().items())[:n]


def write_batches(directory: Path, n_crimes: int, n_forces: int, extent: float,
                  seed: int = 1) -> list[Path]:
    """One batch CSV per force (no header, 13 columns, grid locations), crimes spread evenly."""
    forces = _force_list(n_forces)
    crimes = synthetic.crimes(n_crimes=n_crimes, days=1, start=DAY, extent_m=extent,
                              origin=ORIGIN, forces=tuple(f for f, _ in forces), seed=seed)
    code = dict(forces)
    directory.mkdir(parents=True, exist_ok=True)
    date = DAY.replace("-", "")
    paths = []
    for force, rows in crimes.groupby("police_force", sort=True):
        path = directory / f"{code[force]}{date}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            for r in rows.itertuples(index=False):
                w.writerow([force, r.crime_type, "synthetic", f"{code[force]}{date}",
                            r.crime_reference, r.time_from.strftime("%Y%m%d%H%M%S"),
                            r.time_to.strftime("%Y%m%d%H%M%S"), f"{r.x:.1f}", f"{r.y:.1f}",
                            "", "", "OSGB36", ""])
        paths.append(path)
    return paths


def write_positions(path: Path, n_subjects: int) -> None:
    from benchmarks.test_ingest_throughput import export_table

    pacsv.write_csv(export_table(n_subjects, extent_m=extent_m(n_subjects), origin=ORIGIN), path,
                    write_options=pacsv.WriteOptions(quoting_style="none"))


def build(directory: str | Path, n_subjects: int, n_crimes: int, n_forces: int) -> World:
    directory = Path(directory)
    marker = directory / ".complete"
    positions = directory / "positions.csv"
    if not marker.exists():
        directory.mkdir(parents=True, exist_ok=True)
        write_positions(positions, n_subjects)
        write_batches(directory / "batches", n_crimes, n_forces, extent_m(n_subjects))
        marker.write_text(f"{n_subjects} {n_crimes} {n_forces}\n")
    return World(directory, positions, sorted((directory / "batches").glob("*.csv")))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("directory")
    p.add_argument("--subjects", type=int, default=2500)
    p.add_argument("--crimes", type=int, default=5000)
    p.add_argument("--forces", type=int, default=5)
    a = p.parse_args()
    w = build(a.directory, a.subjects, a.crimes, a.forces)
    print(w.positions, *w.batches, sep="\n")


if __name__ == "__main__":
    main()
