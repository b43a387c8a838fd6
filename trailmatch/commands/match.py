"""``trailmatch match``: hits of crime batches against positions files or the trail store."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from trailmatch.commands.options import add_rules_args, rules_from_args
from trailmatch.scale.cluster import add_scheduler_arg


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "match", help="find every (crime, subject) hit and write them as CSV",
        description="Match crime batches against tag trails under the vicinity contract and "
                    "write one CSV row per hit (times ISO 8601 UTC).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--positions", nargs="+", type=Path, metavar="FILE",
                     help="position files: tag data store export CSV, or CSV/Parquet with "
                          "--mapping")
    src.add_argument("--store", type=Path, metavar="DIR",
                     help="trail store directory (trailmatch ingest positions ... --store DIR)")
    p.add_argument("--crimes", nargs="+", type=Path, required=True, metavar="FILE",
                   help="crime batch CSV files (FORMATS.md §1), or generic files with "
                        "--crimes-format")
    p.add_argument("--out", type=Path, required=True, metavar="HITS.csv",
                   help="where to write the hits CSV")
    p.add_argument("--rejects", type=Path, metavar="PREFIX",
                   help="write rejected input rows to PREFIX.crimes.csv and PREFIX.positions.csv "
                        "(default: beside --out, named after it)")
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
    p.add_argument("--include-flagged", action="store_true",
                   help="with --store: also match fixes flagged as suspicious at ingest")
    add_rules_args(p)
    add_scheduler_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from trailmatch.crs import check_metric
    from trailmatch.ingest.crime_batch import read_crime_batch
    from trailmatch.ingest.rejects import write_rejects
    from trailmatch.io import read_generic_crimes, write_hits_csv
    from trailmatch.match import match_prepared
    from trailmatch.progress import Progress
    from trailmatch.trails import prepare_crimes

    rules = rules_from_args(args)
    check_metric(rules.crs)
    started = time.perf_counter()
    progress = Progress(total=len(args.crimes) + (len(args.positions or []) or 1) + 2)
    prefix = args.rejects or args.out.with_name(args.out.stem + ".rejects")

    crime_parts, crime_rejects = [], []
    for path in args.crimes:
        progress.step(f"crimes {path.name}")
        try:
            if args.crimes_format == "batch":
                batch = read_crime_batch(path, crs=rules.crs)
                crime_parts.append(batch.crimes)
                crime_rejects.append(batch.rejects)
            else:
                crime_parts.append(read_generic_crimes(path, crs=rules.crs))
        except (OSError, ValueError) as e:
            progress.close()
            print(f"trailmatch match: {path}: unusable: {e}", file=sys.stderr)
            return 1
    crimes = pd.concat(crime_parts, ignore_index=True) if crime_parts else pd.DataFrame()
    if args.crimes_format == "batch" and len(crimes):
        from trailmatch.ingest.crime_batch import latest_versions
        crimes = latest_versions(crimes)
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)

    position_rejects = []
    if args.store is not None and args.scheduler:
        progress.step("trail store (read by the Dask workers)")
    elif args.store is not None:
        progress.step("trail store")
        trail, index = _from_store(args.store, prepared, rules, args.include_flagged)
    else:
        from trailmatch.index.segments import build_index
        from trailmatch.ingest.positions import read_positions
        from trailmatch.trails import prepare_trail
        mapping = args.mapping if args.positions_format != "export" else None
        if args.positions_format == "generic" and mapping is None:
            print("trailmatch match: --positions-format generic needs --mapping FILE",
                  file=sys.stderr)
            return 2
        parts = []
        for path in args.positions:
            progress.step(f"positions {path.name}")
            try:
                read = read_positions(path, crs=rules.crs, mapping=mapping,
                                      timezone=args.timezone)
            except (OSError, ValueError) as e:
                progress.close()
                print(f"trailmatch match: {path}: unusable: {e}", file=sys.stderr)
                return 1
            parts.append(read.fixes)
            position_rejects.append(read.rejects)
        fixes = pd.concat(parts, ignore_index=True)
        if not args.scheduler:
            trail = prepare_trail(fixes)
            index = build_index(trail, rules.max_gap_s, rules.count_precision)

    progress.step("matching")
    if args.scheduler:
        from trailmatch.scale.cluster import client_from_arg
        from trailmatch.scale.run import RunStats, match_distributed
        stats = RunStats()
        with client_from_arg(args.scheduler) as client:
            hits = match_distributed(fixes if args.store is None else str(args.store), crimes,
                                     rules, client, stats=stats,
                                     read_options={"include_flagged": args.include_flagged}
                                     if args.store is not None else None)
        scope = (f"{stats.partitions} day partitions on Dask, {stats.fixes} fixes matched "
                 "(stretches overlap at midnight)")
    else:
        hits = match_prepared(trail, index, prepared, rules)
        scope = f"{trail.n_subjects} subjects, {trail.n_fixes} fixes"
    progress.step("writing")
    write_hits_csv(hits, args.out)
    notes = []
    for kind, frames in (("crimes", crime_rejects), ("positions", position_rejects)):
        frames = [f for f in frames if len(f)]
        if frames:
            path = prefix.with_name(f"{prefix.name}.{kind}.csv")
            write_rejects(pd.concat(frames, ignore_index=True), path)
            notes.append(f"{sum(len(f) for f in frames)} {kind} reject lines -> {path}")
    progress.close()
    seconds = time.perf_counter() - started
    print(f"trailmatch match: {prepared.n} crimes, {scope}, "
          f"{len(hits)} hits, {seconds:.2f} s -> {args.out}"
          + "".join(f"; {n}" for n in notes), file=sys.stderr)
    return 0


def _from_store(store: Path, crimes, rules, include_flagged: bool):
    """The trail and index that cover every crime window (plus max gap on each side), reading
    only the day partitions needed; the persisted day indexes are used when current."""
    from trailmatch.index.segments import build_index
    from trailmatch.trails import empty_trail, prepare_trail

    if crimes.n == 0:
        trail = empty_trail()
        return trail, build_index(trail, rules.max_gap_s, rules.count_precision)
    lo = int(crimes.w0.min()) - rules.max_gap_ns
    hi = int(crimes.w1.max()) + rules.max_gap_ns
    if include_flagged:
        from trailmatch.ingest.trail_store import TrailStore
        trail = prepare_trail(TrailStore(store).read_trails(lo, hi, include_flagged=True))
        return trail, build_index(trail, rules.max_gap_s, rules.count_precision)
    from trailmatch.index.persist import load_index_for_window
    return load_index_for_window(store, lo + rules.max_gap_ns, hi - rules.max_gap_ns, rules)
