"""``trailmatch demo``: a synthetic world, ingested into a fresh store, through the nightly job."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from trailmatch.commands.argtypes import out_dir

MARKER = ".trailmatch-demo"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="build a synthetic world, ingest it and run the nightly job on it",
        description="Build a realistic synthetic world with a fixed seed (three forces' towns, "
                    "subjects with home/work routines on a street grid, GPS noise, indoor "
                    "gaps, WiFi/LBS fixes, an uncharged tag, crime batches with a few real "
                    "passes), ingest it into a fresh trail store, run the nightly job, and "
                    "print the summary and each force's report.")
    p.add_argument("--out", type=out_dir, default=Path("demo-output"), metavar="DIR",
                   help="where to put the inputs, the store and the reports "
                        "(default demo-output; a previous demo there is replaced)")
    p.add_argument("--seed", type=int, default=None, metavar="N",
                   help="random seed of the world (default: the fixed demo seed)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from trailmatch.demo_world import SEED, build_world, write_world
    from trailmatch.hitstore import open_store
    from trailmatch.jobs.nightly import run_nightly
    from trailmatch.jobs.sources import StoreTrails
    from trailmatch.rules import Rules
    from trailmatch.store import Store

    out: Path = args.out
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        print(f"trailmatch demo: {out} exists and is not a demo directory; choose another "
              "--out", file=sys.stderr)
        return 1
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by `trailmatch demo`; safe to delete\n")
    t0 = time.perf_counter()

    world = build_world(SEED if args.seed is None else args.seed)
    files = write_world(world, out / "input")
    print(f"demo: world of {world.subjects['subject'].nunique()} subjects, "
          f"{len(world.fixes):,} fixes, {len(files['crimes'])} crime batches "
          f"-> {out / 'input'}", file=sys.stderr)

    store = Store(out / "store")
    counts, rejects = store.ingest_positions(files["positions"])
    print(f"demo: ingested positions: {counts.line()}", file=sys.stderr)
    s_counts, _ = store.ingest_subjects(files["subjects"])
    print(f"demo: ingested subjects: {s_counts.line()}", file=sys.stderr)

    rules = Rules()
    engine = open_store(out / "store")
    try:
        result = run_nightly(engine, files["crimes"], StoreTrails(out / "store"),
                             out / "reports", rules)
    finally:
        engine.dispose()
    print(result.summary, file=sys.stderr)
    planted = world.planted
    print(f"demo: {int(planted['real_pass'].sum())} crimes were placed within 60 m of a "
          f"subject's real path during their window, {int((~planted['real_pass']).sum())} "
          f"150-300 m from a point of one (the path may pass closer elsewhere); the rest are "
          f"random. Done in {time.perf_counter() - t0:.1f} s.", file=sys.stderr)
    for o in result.outputs:
        print(o.directory / "report.html")
    return 0
