"""``trailmatch eliminate``: for every crime and subject, hit / excluded / cannot_exclude /
not_monitored, with the evidence (see ``trailmatch/eliminate.py``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from trailmatch.commands.argtypes import non_negative, out_file
from trailmatch.commands.inputs import (
    Unusable,
    add_input_args,
    read_crime_files,
    read_position_files,
    report_rejects,
    unusable,
)
from trailmatch.commands.options import add_rules_args, rules_from_args
from trailmatch.scale.cluster import add_scheduler_arg


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eliminate", help="coverage: who was there, who provably was not, and who is unknown",
        description="For every crime and every subject, decide 'hit', 'excluded' (could not "
                    "have been in the vicinity at --max-speed through any gap in its trail), "
                    "'cannot_exclude' (with the worst gap and the speed it needs) or "
                    "'not_monitored' (with the monitored fraction of the window), and write "
                    "one CSV row per pair (times ISO 8601 UTC).")
    add_input_args(p, store_help="trail store directory; its subjects file gives the "
                                 "activation periods")
    p.add_argument("--out", type=out_file, required=True, metavar="COVERAGE.csv",
                   help="where to write the coverage CSV")
    p.add_argument("--subjects", type=Path, metavar="FILE",
                   help="with --positions: a subjects file whose device activation periods say "
                        "when each subject was monitored (default: from its first to its last "
                        "fix)")
    p.add_argument("--lookback", type=non_negative, default=24.0, metavar="HOURS",
                   help="with --store: read fixes this many hours before and after the crime "
                        "windows, so gaps that began or end outside a window have their fixes "
                        "(default 24; a shorter one only ever excludes fewer subjects)")
    add_rules_args(p, speed=True)
    add_scheduler_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    from trailmatch.commands.options import KMH
    from trailmatch.eliminate import (
        activations_from_subjects,
        eliminate_prepared,
        write_coverage_csv,
    )
    from trailmatch.index.segments import trail_path
    from trailmatch.trails import prepare_crimes, prepare_trail

    rules = rules_from_args(args)
    if args.subjects is not None and args.store is not None:
        print("trailmatch eliminate: --subjects goes with --positions (the store has its own)",
              file=sys.stderr)
        return 2
    started = time.perf_counter()

    try:
        crimes, rejects = read_crime_files(args, rules.crs)
    except Unusable as e:
        print(f"trailmatch eliminate: {e}", file=sys.stderr)
        return 1
    all_rejects = list(rejects)
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)

    activations = None
    if args.store is not None:
        from trailmatch.store import Store
        store = Store.existing(args.store)
        if prepared.n:
            margin = int(round(args.lookback * 3600e9)) + rules.max_gap_ns
            lo, hi = int(prepared.w0.min()) - margin, int(prepared.w1.max()) + margin
            # on Dask the workers read the store, day by day
            fixes = None if args.scheduler else store.read_window(lo, hi)
            activations = store.activations(lo, hi)
        else:
            lo = hi = 0
            fixes = store.read_window(0, 0)
    else:
        try:
            fixes, position_rejects = read_position_files(args, rules.crs)
        except Unusable as e:
            print(f"trailmatch eliminate: {e}", file=sys.stderr)
            return 1
        except ValueError as e:
            print(f"trailmatch eliminate: {e}", file=sys.stderr)
            return 2
        all_rejects += position_rejects
        if args.subjects is not None:
            from trailmatch.ingest.subjects import read_subjects
            try:
                got = read_subjects(args.subjects)
            except (OSError, ValueError) as e:
                print(f"trailmatch eliminate: {unusable(args.subjects, e)}", file=sys.stderr)
                return 1
            all_rejects.append(got.rejects)
            activations = activations_from_subjects(got.subjects)

    if args.scheduler:
        from trailmatch.scale.cluster import client_from_arg
        from trailmatch.scale.coverage import eliminate_distributed
        from trailmatch.scale.run import RunStats

        stats = RunStats()
        with client_from_arg(args.scheduler) as client:
            if fixes is None:
                coverage = eliminate_distributed(str(args.store), crimes, rules, client,
                                                  activations=activations, start_ns=lo,
                                                  end_ns=hi, stats=stats)
            else:
                coverage = eliminate_distributed(fixes, crimes, rules, client,
                                                  activations=activations, stats=stats)
        scope = f", {stats.partitions} day partitions on Dask"
    else:
        trail = prepare_trail(fixes)
        path = trail_path(trail, rules.max_gap_s, rules.count_precision)
        coverage = eliminate_prepared(trail, path, prepared, rules, activations=activations)
        scope = ""
    write_coverage_csv(coverage, args.out)
    report_rejects("eliminate", all_rejects, args.rejects)
    counts = coverage["status"].value_counts()
    seconds = time.perf_counter() - started
    print(f"trailmatch eliminate: {prepared.n} crimes x {coverage['subject'].nunique()} "
          f"subjects{scope}: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in
                                   ("hit", "excluded", "cannot_exclude", "not_monitored"))
          + f" (v_max {rules.max_speed_mps * KMH:g} km/h), {seconds:.2f} s -> {args.out}",
          file=sys.stderr)
    return 0
