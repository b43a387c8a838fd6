"""``trailmatch nightly``: every force's crime batch against the trail store, kept and reported."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trailmatch.commands.argtypes import out_dir, out_file, positive
from trailmatch.commands.options import add_rules_args, add_store_args, open_inputs
from trailmatch.scale.cluster import add_scheduler_arg


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "nightly", help="the nightly job: match every batch, keep the hits, write each force's "
                        "hits and evidence report",
        description="Ingest the forces' crime batches, match the new and changed crimes against "
                    "the trail store, record the run and its hits in the hit store, and write "
                    "OUT/<force>/<batch_id>/ hits.csv, map/*.geojson, report.html, rejects.csv, "
                    "coverage-summary.csv and coverage-evidence.csv. Running the same night "
                    "again adds nothing.")
    add_store_args(p, flagged=True)
    p.add_argument("--crimes", nargs="+", type=Path, default=[], metavar="FILE",
                   help="crime batch CSV files as the forces send them (docs/formats.md)")
    p.add_argument("--batch", action="append", default=[], metavar="ID",
                   help="a crime batch already stored by trailmatch ingest crimes (e.g. "
                        "HAM20250127-1): its crimes' current versions are matched and reported "
                        "like a file's; may be repeated, and combined with --crimes")
    p.add_argument("--out", type=out_dir, required=True, metavar="DIR",
                   help="output directory: one folder per force and batch")
    p.add_argument("--forces", metavar="FILE", action="append",
                   help="extra forces CSV (force,code) on top of the shipped list and "
                        "$TRAILMATCH_FORCES; may be repeated")
    p.add_argument("--rejects", type=out_file, metavar="FILE",
                   help="also write every rejected record of this run here, one CSV line per "
                        "problem (replaced on every run; each batch folder has its own "
                        "rejects.csv)")
    p.add_argument("--max-window-h", type=positive, default=12.0, metavar="H",
                   help="longest crime window accepted, hours (default 12)")
    p.add_argument("--no-coverage", dest="coverage", action="store_false",
                   help="skip coverage (who can be excluded): no coverage-summary.csv, "
                        "coverage-evidence.csv or coverage section in the report")
    p.add_argument("--operator", metavar="NAME",
                   help="who runs the job, recorded in each report's production record "
                        "(default: the operating-system user)")
    add_rules_args(p)
    add_scheduler_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from trailmatch.hitstore.batches import UnknownBatch, stored_batches
    from trailmatch.ingest.forces import load_forces
    from trailmatch.jobs.nightly import run_nightly

    if not args.crimes and not args.batch:
        print("trailmatch nightly: give the crimes: --crimes FILE... and/or --batch ID",
              file=sys.stderr)
        return 2
    try:
        forces = load_forces(args.forces) if args.forces else None
    except (OSError, ValueError) as e:
        print(f"trailmatch nightly: --forces: {e}", file=sys.stderr)
        return 2
    rules, engine, trails = open_inputs(args, "nightly")
    try:
        stored_batches(engine, args.batch)  # an unknown id: refused before a run is recorded
        if args.scheduler:
            from trailmatch.scale.cluster import client_from_arg
            with client_from_arg(args.scheduler) as client:
                result = run_nightly(engine, args.crimes, trails, args.out, rules,
                                     forces=forces, max_window_h=args.max_window_h,
                                     client=client, coverage=args.coverage,
                                     batch_ids=args.batch, operator=args.operator)
        else:
            result = run_nightly(engine, args.crimes, trails, args.out, rules,
                                 forces=forces, max_window_h=args.max_window_h,
                                 coverage=args.coverage, batch_ids=args.batch,
                                 operator=args.operator)
    except UnknownBatch as e:
        print(f"trailmatch nightly: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"trailmatch nightly: failed: {e}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(result.summary, file=sys.stderr)
    if args.rejects is not None:
        from trailmatch.commands.inputs import report_rejects
        from trailmatch.ingest.rejects import CRIME_REJECT_COLUMNS

        report_rejects("nightly", result.rejects, args.rejects, CRIME_REJECT_COLUMNS)
    return 1 if result.unusable else 0
