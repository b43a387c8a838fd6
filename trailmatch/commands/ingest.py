"""trailmatch ingest positions|crimes|subjects FILE... --store DIR: validate and store.

Each file gets one summary line on stderr (read / accepted / duplicate / flagged / rejected);
the run's rejected records go, one line per problem, to --rejects FILE (replaced by each run).
The exit code is 1 when a file is unusable as a whole (unreadable, not of the expected
format); the other files are still ingested.
"""

from __future__ import annotations

import argparse
import sys

from trailmatch.commands.argtypes import metric_crs, out_file, positive
from trailmatch.rules import WORKING_CRS


def add_parser(sub) -> None:
    p = sub.add_parser("ingest", help="validate input files and add them to a store",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    kinds.required = True

    def common(q: argparse.ArgumentParser, what: str) -> None:
        q.add_argument("files", nargs="+", metavar="FILE",
                       help={"positions": "position files (tag export CSV, or CSV/Parquet "
                                          "with --mapping)",
                             "crimes": "crime batch CSV files",
                             "subjects": "subjects CSV files"}[what])
        q.add_argument("--store", required=True, metavar="DIR",
                       help="store directory (created when absent)")
        q.add_argument("--rejects", type=out_file, metavar="FILE",
                       help="write the rejected records of this run here, one CSV line per "
                            "problem (replaced on every run)")
        if what != "positions":
            q.add_argument("--forces", metavar="FILE", action="append",
                           help="extra forces CSV (force,code) on top of the shipped list and "
                                "$TRAILMATCH_FORCES; may be repeated")
        q.set_defaults(run=run, forces=None)

    def crs(q: argparse.ArgumentParser) -> None:
        q.add_argument("--crs", type=metric_crs, metavar="EPSG:N",
                       help="metric working CRS of the store (default: the store's, "
                            f"{WORKING_CRS} for a new store)")

    pos = kinds.add_parser("positions", help="tag position exports or mapped CSV/Parquet files")
    common(pos, "positions")
    pos.add_argument("--mapping", metavar="FILE",
                     help="TOML column mapping for files that are not tag exports "
                          "(see docs/ingest.md)")
    pos.add_argument("--timezone", metavar="ZONE",
                     help="zone of times written without an offset, e.g. Europe/London "
                          "(default: the mapping's, else UTC)")
    pos.add_argument("--max-speed-kmh", type=positive, default=200.0, metavar="KMH",
                     help="flag a fix reached and left faster than this (default 200 km/h)")
    crs(pos)

    cr = kinds.add_parser("crimes", help="crime batch CSVs as forces send them")
    common(cr, "crimes")
    cr.add_argument("--max-window-h", type=positive, default=12.0, metavar="H",
                    help="longest allowed crime window in hours (default 12)")
    crs(cr)

    su = kinds.add_parser("subjects", help="subjects, devices, activation periods, licence end")
    common(su, "subjects")


def run(args: argparse.Namespace) -> int:
    from trailmatch.commands.inputs import report_rejects, unusable
    from trailmatch.ingest.forces import load_forces
    from trailmatch.ingest.positions import PositionsFormatError
    from trailmatch.ingest.rejects import CRIME_REJECT_COLUMNS, POSITION_REJECT_COLUMNS
    from trailmatch.ingest.subjects import SubjectsFormatError
    from trailmatch.store import Store
    from trailmatch.store.transformation import check as check_transformation

    try:
        forces = load_forces(args.forces) if args.forces else None
    except (OSError, ValueError) as e:
        print(f"trailmatch ingest: {e}", file=sys.stderr)
        return 2
    store = Store(args.store)
    try:
        working_crs = getattr(args, "crs", None) or store.crs() or WORKING_CRS
    except (OSError, ValueError, KeyError) as e:
        print(f"trailmatch ingest: {args.store}: unreadable store.json ({e})", file=sys.stderr)
        return 1
    check_transformation(store.layout)  # a store made before OSTN15: refused before reading
    failed = 0
    run_rejects = []
    for path in args.files:
        try:
            if args.kind == "positions":
                counts, rejects = store.ingest_positions(
                    path, crs=working_crs, mapping=args.mapping, timezone=args.timezone,
                    max_speed_kmh=args.max_speed_kmh)
            elif args.kind == "crimes":
                counts, rejects, _ = store.ingest_crimes(
                    path, crs=working_crs, forces=forces, max_window_h=args.max_window_h)
            else:
                counts, rejects = store.ingest_subjects(path, forces=forces)
        except (OSError, PositionsFormatError, SubjectsFormatError, ValueError) as e:
            print(unusable(path, e), file=sys.stderr)
            failed += 1
            continue
        print(counts.line(), file=sys.stderr)
        run_rejects.append(rejects)
    report_rejects("ingest", run_rejects, args.rejects,
                   CRIME_REJECT_COLUMNS if args.kind == "crimes" else POSITION_REJECT_COLUMNS)
    return 1 if failed else 0
