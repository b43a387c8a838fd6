"""trailmatch ingest positions|crimes|subjects FILE... --store DIR: validate and store.

Positions and subjects go to the trail store DIR; crime batches go to the hit store (DIR's
SQLite file, or --db URL) as crime versions, where match --batch ID and nightly --batch ID read
them. Each file gets one summary line on stderr (read / accepted / duplicate / flagged /
rejected); the run's rejected records go, one line per problem, to --rejects FILE (replaced by
each run). The exit code is 1 when a file is unusable as a whole (unreadable, not of the
expected format); the other files are still ingested.
"""

from __future__ import annotations

import argparse
import sys

from trailmatch.commands.argtypes import mapping_file, metric_crs, out_file, positive, time_zone
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
    pos.add_argument("--mapping", type=mapping_file, metavar="FILE",
                     help="TOML column mapping for files that are not tag exports "
                          "(see docs/ingest.md)")
    pos.add_argument("--timezone", type=time_zone, metavar="ZONE",
                     help="zone of times written without an offset, e.g. Europe/London "
                          "(default: the mapping's, else UTC)")
    pos.add_argument("--max-speed-kmh", type=positive, default=200.0, metavar="KMH",
                     help="flag a fix reached and left faster than this (default 200 km/h)")
    crs(pos)

    cr = kinds.add_parser("crimes", help="crime batch CSVs as forces send them, into the hit "
                                         "store as crime versions")
    common(cr, "crimes")
    cr.add_argument("--db", metavar="URL",
                    help="hit store database URL (default: the SQLite file in the store "
                         "directory)")
    cr.add_argument("--max-window-h", type=positive, default=12.0, metavar="H",
                    help="longest allowed crime window in hours (default 12)")
    crs(cr)

    su = kinds.add_parser("subjects", help="subjects, devices, activation periods, licence end")
    common(su, "subjects")


def run(args: argparse.Namespace) -> int:
    from trailmatch.commands.inputs import report_rejects, unusable
    from trailmatch.ingest.crime_batch import read_batches
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
    crime_run = CrimeIngest(args.store, args.db, working_crs) if args.kind == "crimes" else None
    try:
        for path in args.files:
            try:
                if args.kind == "positions":
                    counts, rejects = store.ingest_positions(
                        path, crs=working_crs, mapping=args.mapping, timezone=args.timezone,
                        max_speed_kmh=args.max_speed_kmh)
                elif args.kind == "crimes":
                    [batch] = read_batches([path], working_crs, forces=forces,
                                           max_window_h=args.max_window_h)
                    rejects = batch.rejects
                    counts = crime_run.add(batch)
                else:
                    counts, rejects = store.ingest_subjects(path, forces=forces)
            except (OSError, PositionsFormatError, SubjectsFormatError, ValueError) as e:
                print(unusable(path, e), file=sys.stderr)
                failed += 1
                continue
            print(counts.line(), file=sys.stderr)
            run_rejects.append(rejects)
    except BaseException as e:
        if crime_run is not None:
            crime_run.finish("failed", f"{type(e).__name__}: {e}")
        raise
    if crime_run is not None:
        crime_run.finish("ok", f"{len(args.files)} file(s), {failed} unusable")
    report_rejects("ingest", run_rejects, args.rejects,
                   CRIME_REJECT_COLUMNS if args.kind == "crimes" else POSITION_REJECT_COLUMNS)
    return 1 if failed else 0


class CrimeCounts:
    """One crime batch file's line: read = accepted + duplicate + rejected, where accepted
    rows became crime versions and duplicates were the same as the current version."""

    def __init__(self, file: str, read: int, rejected: int, changes) -> None:
        self.file, self.read, self.rejected, self.changes = file, read, rejected, changes

    def line(self) -> str:
        c = self.changes
        accepted = c["new"] + c["changed"] + c["stale"]
        return (f"{self.file}: read {self.read}, accepted {accepted}, duplicate "
                f"{c['unchanged']}, rejected {self.rejected} (crime versions: {c['new']} new, "
                f"{c['changed']} changed, {c['stale']} from an older batch)")


class CrimeIngest:
    """``ingest crimes``: one ``ingest`` run in the hit store, each file's batches stored as
    crime versions by ``store_batches`` (the nightly job's store stage)."""

    def __init__(self, store_dir, db_url: str | None, crs: str) -> None:
        from trailmatch import ALGORITHM_VERSION
        from trailmatch.hitstore import open_store, repository

        self.crs = crs
        self.engine = open_store(store_dir, db_url)
        self.run_id = repository.start_run(self.engine, "ingest", {"crs": crs},
                                           ALGORITHM_VERSION)
        self.totals: dict[str, int] = {"files": 0, "read": 0, "rejected": 0, "new": 0,
                                       "changed": 0, "unchanged": 0, "stale": 0}

    def add(self, batch) -> CrimeCounts:
        from collections import Counter

        from trailmatch.hitstore.batches import store_batches

        changes: Counter = Counter()
        for stored in store_batches(self.engine, [batch], self.run_id, self.crs).values():
            changes.update(stored.changes)
        for key in ("new", "changed", "unchanged", "stale"):
            self.totals[key] += changes[key]
        self.totals["files"] += 1
        self.totals["read"] += batch.rows_read
        self.totals["rejected"] += batch.rows_rejected
        return CrimeCounts(str(batch.path), batch.rows_read, batch.rows_rejected, changes)

    def finish(self, status: str, summary: str) -> None:
        from trailmatch.hitstore import repository

        try:
            repository.finish_run(self.engine, self.run_id, status, self.totals, summary)
        finally:
            self.engine.dispose()
