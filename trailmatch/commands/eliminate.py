"""``trailmatch eliminate``: per crime, how many subjects were there, provably were not, or
cannot be excluded, with the evidence for those that cannot (``trailmatch/coverage.py``);
``--all-pairs``: the full table, one row per (crime, subject) (``trailmatch/eliminate.py``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from trailmatch.commands.argtypes import non_negative, out_file
from trailmatch.commands.inputs import (
    Unusable,
    add_input_args,
    batch_without_store,
    read_crime_files,
    read_position_files,
    report_rejects,
    unusable,
)
from trailmatch.commands.options import add_rules_args, rules_from_args
from trailmatch.scale.cluster import add_scheduler_arg

STATUS_ORDER = ("hit", "excluded", "cannot_exclude", "not_monitored")


def evidence_path(out: Path) -> Path:
    """Where the evidence table goes by default: beside the summary, ``NAME-evidence.EXT``."""
    return out.with_name(f"{out.stem}-evidence{out.suffix}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eliminate", help="coverage: who was there, who provably was not, and who is unknown",
        description="For every crime, count the subjects that were in the vicinity ('hit'), "
                    "could not have been there at --max-speed-kmh through any gap in their "
                    "trail ('excluded'), could have been ('cannot_exclude') or were not "
                    "monitored through the window ('not_monitored'); write one summary row per "
                    "crime to --out and one evidence row per subject that cannot be excluded "
                    "(its worst gap, the fixes around it and their distances, the speed "
                    "needed) or was monitored for part of the window to --evidence. Excluded "
                    "subjects are counted, not listed (trailmatch explain says why one is). "
                    "--all-pairs writes instead one row per (crime, subject). CSV, or Parquet "
                    "when the file name ends .parquet; times ISO 8601 UTC.")
    add_input_args(p, store_help="trail store directory; its subjects file gives the "
                                 "activation periods")
    p.add_argument("--out", type=out_file, required=True, metavar="COVERAGE.csv",
                   help="where to write the per-crime summary (with --all-pairs: the per-pair "
                        "table)")
    p.add_argument("--evidence", type=out_file, metavar="EVIDENCE.csv",
                   help="where to write the evidence rows (default: beside --out, "
                        "NAME-evidence.csv)")
    p.add_argument("--all-pairs", action="store_true",
                   help="write one row per (crime, subject) instead, for analysts: status, "
                        "fixes and gaps in the window, monitored share, worst gap (written a "
                        "block of crimes at a time)")
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
    from trailmatch.eliminate import activations_from_subjects
    from trailmatch.trails import prepare_crimes

    rules = rules_from_args(args)
    if (problem := batch_without_store(args)) is not None:
        print(f"trailmatch eliminate: {problem}", file=sys.stderr)
        return 2
    if args.subjects is not None and args.store is not None:
        print("trailmatch eliminate: --subjects goes with --positions (the store has its own)",
              file=sys.stderr)
        return 2
    if args.scheduler and not args.all_pairs:
        print("trailmatch eliminate: --scheduler computes the per-pair table: add --all-pairs",
              file=sys.stderr)
        return 2
    if args.all_pairs and args.evidence is not None:
        print("trailmatch eliminate: --evidence goes with the per-crime answer, not --all-pairs",
              file=sys.stderr)
        return 2
    evidence_out = args.evidence or evidence_path(args.out)
    if not args.all_pairs and evidence_out.resolve() == args.out.resolve():
        print(f"trailmatch eliminate: --evidence {evidence_out} is the --out file",
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

    scope = ""
    if args.scheduler:
        from trailmatch.eliminate import write_coverage_csv
        from trailmatch.scale.cluster import client_from_arg
        from trailmatch.scale.coverage import eliminate_distributed
        from trailmatch.scale.run import RunStats

        stats = RunStats()
        with client_from_arg(args.scheduler) as client:
            if fixes is None:
                table = eliminate_distributed(str(args.store), crimes, rules, client,
                                              activations=activations, start_ns=lo,
                                              end_ns=hi, stats=stats)
            else:
                table = eliminate_distributed(fixes, crimes, rules, client,
                                              activations=activations, stats=stats)
        scope = f", {stats.partitions} day partitions on Dask"
        write_coverage_csv(table, args.out)
        status = table["status"].value_counts()
        counts = {s: int(status.get(s, 0)) for s in STATUS_ORDER}
        n_subjects = int(table["subject"].nunique())
        wrote = str(args.out)
    else:
        from trailmatch.index.segments import trail_path
        from trailmatch.trails import prepare_trail

        trail = prepare_trail(fixes)
        path = trail_path(trail, rules.max_gap_s, rules.count_precision)
        if args.all_pairs:
            from trailmatch.eliminate import write_all_pairs

            got = write_all_pairs(trail, path, prepared, rules, args.out,
                                  activations=activations)
            counts = {s: got[s] for s in STATUS_ORDER}
            n_subjects = got["subjects"]
            wrote = str(args.out)
        else:
            from trailmatch.coverage import coverage_prepared, write_coverage

            result = coverage_prepared(trail, path, prepared, rules, activations=activations)
            write_coverage(result, args.out, evidence_out)
            counts = result.totals()
            n_subjects = int(result.summary["subjects"].max()) if len(result.summary) else 0
            scope = f", {len(result.evidence)} evidence rows"
            wrote = f"{args.out}, {evidence_out}"
    report_rejects("eliminate", all_rejects, args.rejects)
    seconds = time.perf_counter() - started
    print(f"trailmatch eliminate: {prepared.n} crimes x {n_subjects} subjects{scope}: "
          + ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER)
          + f" (v_max {rules.max_speed_mps * KMH:g} km/h), {seconds:.2f} s -> {wrote}",
          file=sys.stderr)
    return 0
