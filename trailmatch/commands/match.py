"""``trailmatch match``: hits of crime batches against positions files or the trail store."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from trailmatch.commands.argtypes import out_file
from trailmatch.commands.inputs import (
    Unusable,
    add_input_args,
    batch_without_store,
    read_crime_files,
    read_position_files,
)
from trailmatch.commands.options import add_rules_args, rules_from_args
from trailmatch.scale.cluster import add_scheduler_arg


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "match", help="find every (crime, subject) hit and write them as CSV",
        description="Match crime batches against tag trails under the vicinity contract and "
                    "write one CSV row per hit (times ISO 8601 UTC).")
    add_input_args(p, store_help="trail store directory (trailmatch ingest positions ... "
                                 "--store DIR); with --batch, its hit store holds the crimes")
    p.add_argument("--out", type=out_file, required=True, metavar="HITS.csv",
                   help="where to write the hits CSV")
    p.add_argument("--include-flagged", action="store_true",
                   help="with --store: also match fixes flagged as suspicious at ingest")
    add_rules_args(p)
    add_scheduler_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    from trailmatch.commands.inputs import report_rejects
    from trailmatch.hits import write_hits_csv
    from trailmatch.match import match_prepared, match_streamed
    from trailmatch.progress import Progress
    from trailmatch.trails import prepare_crimes

    rules = rules_from_args(args)
    if (problem := batch_without_store(args)) is not None:
        print(f"trailmatch match: {problem}", file=sys.stderr)
        return 2
    if args.store is not None:
        from trailmatch.store import Store
        Store.existing(args.store)
    started = time.perf_counter()
    progress = Progress(total=len(args.crimes or [None]) + (len(args.positions or []) or 1) + 2)

    try:
        crimes, crime_rejects = read_crime_files(args, rules.crs, progress.step)
    except Unusable as e:
        progress.close()
        print(f"trailmatch match: {e}", file=sys.stderr)
        return 1
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)

    position_rejects = []
    if args.store is not None and args.scheduler:
        progress.step("trail store (read by the Dask workers)")
    elif args.store is not None:
        progress.step("trail store")
        trail, index = _from_store(args.store, prepared, rules, args.include_flagged)
    else:
        from trailmatch.trails import prepare_trail
        try:
            fixes, position_rejects = read_position_files(args, rules.crs, progress.step)
        except Unusable as e:
            progress.close()
            print(f"trailmatch match: {e}", file=sys.stderr)
            return 1
        except ValueError as e:
            progress.close()
            print(f"trailmatch match: {e}", file=sys.stderr)
            return 2
        if not args.scheduler:
            trail = prepare_trail(fixes)
            index = None  # matched once: streamed past the crimes, no index to build

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
        hits = (match_streamed(trail, prepared, rules) if index is None
                else match_prepared(trail, index, prepared, rules))
        scope = f"{trail.n_subjects} subjects, {trail.n_fixes} fixes"
    progress.step("writing")
    write_hits_csv(hits, args.out)
    progress.close()
    report_rejects("match", [*crime_rejects, *position_rejects], args.rejects)
    seconds = time.perf_counter() - started
    print(f"trailmatch match: {prepared.n} crimes, {scope}, "
          f"{len(hits)} hits, {seconds:.2f} s -> {args.out}", file=sys.stderr)
    return 0


def _from_store(store: Path, crimes, rules, include_flagged: bool):
    """The trail that covers every crime window (plus max gap on each side), reading only the
    day partitions needed, with its index: the persisted day indexes when current, or None
    (the trail is streamed past the crimes) when flagged fixes are included."""
    from trailmatch.store import Store
    from trailmatch.trails import empty_trail, prepare_trail

    if crimes.n == 0:
        return empty_trail(), None
    w0, w1 = int(crimes.w0.min()), int(crimes.w1.max())
    if include_flagged:
        fixes = Store(store).read_window(w0 - rules.max_gap_ns, w1 + rules.max_gap_ns,
                                         include_flagged=True)
        return prepare_trail(fixes), None
    return Store(store).indexed_window(w0, w1, rules)
