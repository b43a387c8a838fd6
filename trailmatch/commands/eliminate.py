"""``trailmatch eliminate``: for every crime and subject, hit / excluded / cannot_exclude /
not_monitored, with the evidence (see ``trailmatch/eliminate.py``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from trailmatch.commands.options import add_rules_args, rules_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eliminate", help="coverage: who was there, who provably was not, and who is unknown",
        description="For every crime and every subject, decide 'hit', 'excluded' (could not "
                    "have been in the vicinity at --max-speed through any gap in its trail), "
                    "'cannot_exclude' (with the worst gap and the speed it needs) or "
                    "'not_monitored' (with the monitored fraction of the window), and write "
                    "one CSV row per pair (times ISO 8601 UTC).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--positions", nargs="+", type=Path, metavar="FILE",
                     help="position files: tag data store export CSV, or CSV/Parquet with "
                          "--mapping")
    src.add_argument("--store", type=Path, metavar="DIR",
                     help="trail store directory; its subjects file gives the activation "
                          "periods")
    p.add_argument("--crimes", nargs="+", type=Path, required=True, metavar="FILE",
                   help="crime batch CSV files (FORMATS.md §1), or generic files with "
                        "--crimes-format generic")
    p.add_argument("--out", type=Path, required=True, metavar="COVERAGE.csv",
                   help="where to write the coverage CSV")
    p.add_argument("--subjects", type=Path, metavar="FILE",
                   help="with --positions: a subjects file whose device activation periods say "
                        "when each subject was monitored (default: from its first to its last "
                        "fix)")
    p.add_argument("--lookback", type=float, default=24.0, metavar="HOURS",
                   help="with --store: read fixes this many hours before and after the crime "
                        "windows, so gaps that began or end outside a window have their fixes "
                        "(default 24; a shorter one only ever excludes fewer subjects)")
    p.add_argument("--positions-format", choices=["auto", "export", "generic"], default="auto",
                   help="'export': the tag data store's position export; 'generic': CSV/Parquet "
                        "described by --mapping; 'auto' (default): export unless --mapping")
    p.add_argument("--mapping", type=Path, metavar="FILE",
                   help="TOML column mapping for generic position files")
    p.add_argument("--timezone", metavar="ZONE",
                   help="zone of position times written without an offset, e.g. Europe/London")
    p.add_argument("--crimes-format", choices=["batch", "generic"], default="batch",
                   help="'batch' (default): the forces' crime batch CSV; 'generic': CSV/Parquet "
                        "with columns crime_reference, police_force, crime_type, time_from, "
                        "time_to and x/y (working CRS) or latitude/longitude")
    add_rules_args(p, speed=True)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from trailmatch.crs import check_metric
    from trailmatch.eliminate import (
        activations_from_subjects,
        eliminate_prepared,
        write_coverage_csv,
    )
    from trailmatch.index.segments import build_index
    from trailmatch.ingest.crime_batch import latest_versions, read_crime_batch
    from trailmatch.io import read_generic_crimes
    from trailmatch.trails import prepare_crimes, prepare_trail

    try:
        rules = rules_from_args(args)
        check_metric(rules.crs)
    except ValueError as e:
        print(f"trailmatch eliminate: {e}", file=sys.stderr)
        return 2
    if args.lookback < 0:
        print("trailmatch eliminate: --lookback must be >= 0", file=sys.stderr)
        return 2
    if args.subjects is not None and args.store is not None:
        print("trailmatch eliminate: --subjects goes with --positions (the store has its own)",
              file=sys.stderr)
        return 2
    started = time.perf_counter()

    parts = []
    for path in args.crimes:
        try:
            if args.crimes_format == "batch":
                batch = read_crime_batch(path, crs=rules.crs)
                parts.append(batch.crimes)
                if len(batch.rejects):
                    print(f"trailmatch eliminate: {path}: {len(batch.rejects)} rejected row "
                          "errors (see trailmatch ingest crimes for the rejects file)",
                          file=sys.stderr)
            else:
                parts.append(read_generic_crimes(path, crs=rules.crs))
        except (OSError, ValueError) as e:
            print(f"trailmatch eliminate: {path}: unusable: {e}", file=sys.stderr)
            return 1
    crimes = pd.concat(parts, ignore_index=True)
    if args.crimes_format == "batch" and len(crimes):
        crimes = latest_versions(crimes)
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)

    activations = None
    if args.store is not None:
        from trailmatch.ingest.trail_store import TrailStore
        store = TrailStore(args.store)
        if prepared.n:
            margin = int(round(args.lookback * 3600e9)) + rules.max_gap_ns
            lo, hi = int(prepared.w0.min()) - margin, int(prepared.w1.max()) + margin
            fixes = store.read_trails(lo, hi)
            subjects = store.subjects()
            if len(subjects):
                # only the periods that can matter; others would list every past subject
                start = subjects["activation_start"].to_numpy("datetime64[ns]").view("i8")
                end = subjects["activation_end"].to_numpy("datetime64[ns]").view("i8")
                end = pd.Series(end).where(pd.notna(subjects["activation_end"]).to_numpy(),
                                           hi).to_numpy()
                activations = activations_from_subjects(subjects[(start <= hi) & (end >= lo)])
        else:
            fixes = store.read_trails(0, 0)
    else:
        from trailmatch.ingest.positions import read_positions
        mapping = args.mapping if args.positions_format != "export" else None
        if args.positions_format == "generic" and mapping is None:
            print("trailmatch eliminate: --positions-format generic needs --mapping FILE",
                  file=sys.stderr)
            return 2
        frames = []
        for path in args.positions:
            try:
                read = read_positions(path, crs=rules.crs, mapping=mapping,
                                      timezone=args.timezone)
            except (OSError, ValueError) as e:
                print(f"trailmatch eliminate: {path}: unusable: {e}", file=sys.stderr)
                return 1
            frames.append(read.fixes)
            if len(read.rejects):
                print(f"trailmatch eliminate: {path}: {len(read.rejects)} rejected position "
                      "rows left out", file=sys.stderr)
        fixes = pd.concat(frames, ignore_index=True)
        if args.subjects is not None:
            from trailmatch.ingest.subjects import read_subjects
            try:
                got = read_subjects(args.subjects)
            except (OSError, ValueError) as e:
                print(f"trailmatch eliminate: {args.subjects}: unusable: {e}", file=sys.stderr)
                return 1
            if len(got.rejects):
                print(f"trailmatch eliminate: {args.subjects}: {len(got.rejects)} rejected "
                      "subject row errors; those records are left out", file=sys.stderr)
            activations = activations_from_subjects(got.subjects)

    trail = prepare_trail(fixes)
    index = build_index(trail, rules.max_gap_s, rules.count_precision)
    coverage = eliminate_prepared(trail, index, prepared, rules, activations=activations)
    write_coverage_csv(coverage, args.out)
    counts = coverage["status"].value_counts()
    seconds = time.perf_counter() - started
    print(f"trailmatch eliminate: {prepared.n} crimes x {coverage['subject'].nunique()} "
          "subjects: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in
                                   ("hit", "excluded", "cannot_exclude", "not_monitored"))
          + f" (v_max {rules.max_speed_mps:g} m/s), {seconds:.2f} s -> {args.out}",
          file=sys.stderr)
    return 0
